// The ioctls the VFS answers before a file's own ioctl (fs/ioctl.c do_vfs_ioctl):
// FIGETBSZ (the filesystem's block size: a page on every filesystem the model has),
// FIONREAD on a regular file (bytes from the position to the end; from the S_ANON_INODE
// series not on an anonymous inode such as guest_memfd's, which falls through to the
// file's ioctl), FS_IOC_FIEMAP (EOPNOTSUPP without inode_operations.fiemap: shmem and
// guest_memfd have none) and FS_IOC_GETFLAGS (shmem reports its flags, 0 here; files
// without fileattr_get fall through to their ioctl, ENOTTY).
import { fail } from "../lib/errno.js";
import { anonymousFile } from "./file-advice.js";
import type { IoctlCall, OpenFile, SyscallContext } from "./file.js";
import { ShmemInode } from "./shmem.js";

/** The VFS's answer to request `name` on `f`, or undefined when the file's own ioctl answers it. */
export function vfsIoctl(ctx: SyscallContext, f: OpenFile, name: string, call: IoctlCall): bigint | undefined {
  const inode = f.inode;
  switch (name) {
    case "FIGETBSZ":
      call.writeStruct({ value: ctx.kernel.page.size });
      return 0n;
    case "FIONREAD": {
      const regular = (inode.mode & 0o170000) === ctx.kernel.K.s.IFREG;
      if (!regular || (ctx.kernel.revision.anonFileChecks && anonymousFile(inode))) return undefined;
      call.writeStruct({ value: BigInt.asIntN(32, inode.size - f.pos) });
      return 0n;
    }
    case "FS_IOC_FIEMAP":
      return fail("EOPNOTSUPP");
    case "FS_IOC_GETFLAGS":
      if (!(inode instanceof ShmemInode)) return undefined;
      call.writeStruct({ value: 0n });
      return 0n;
  }
  return undefined;
}
