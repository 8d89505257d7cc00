// open(dir, O_TMPFILE): an unnamed regular file (nlink 0) in a directory of the
// driver's choosing, on a tmpfs mounted at /dev/shm (`tmpfs`) or on a disk filesystem
// (`disk`, ext4-like: it does direct I/O, process/direct-io.ts). Each is its own
// filesystem, apart from the internal mount memfds live on, so copy_file_range between a
// memfd and either crosses filesystems (fs/namei.c do_tmpfile, vfs_tmpfile; mm/shmem.c).
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import { ST_RELATIME, ST_VALID, type Filesystem, type SyscallContext } from "./file.js";
import { ShmemFile, ShmemInode } from "./shmem.js";

export type TmpfileDir = "tmpfs" | "disk";

const EXT4_SUPER_MAGIC = 0xef53n;
const DIRS: Record<TmpfileDir, string> = { tmpfs: "/dev/shm", disk: "/tmp" };

const FILESYSTEMS = new WeakMap<Kernel, Record<TmpfileDir, Filesystem>>();
function filesystems(kernel: Kernel): Record<TmpfileDir, Filesystem> {
  let fs = FILESYSTEMS.get(kernel);
  if (fs === undefined) {
    fs = {
      tmpfs: { name: "tmpfs", magic: kernel.K.tmpfsMagic, statfsFlags: ST_VALID | ST_RELATIME, dev: 24n, noexec: false },
      disk: { name: "ext4", magic: EXT4_SUPER_MAGIC, statfsFlags: ST_VALID | ST_RELATIME, dev: 0xfe00n, noexec: false },
    };
    FILESYSTEMS.set(kernel, fs);
  }
  return fs;
}

/** A file made with O_TMPFILE. On the disk filesystem, O_DIRECT I/O bypasses the page cache. */
export class TmpFile extends ShmemFile {
  constructor(
    inode: ShmemInode,
    flags: number,
    readonly dir: TmpfileDir,
  ) {
    super(inode, flags, `${DIRS[dir]}/#${inode.ino}`, inode.kernel.K.f.SEAL_SEAL);
  }

  /** O_DIRECT on the disk filesystem: the user buffer is pinned and the device reads or writes it (tmpfs copies as usual). */
  get direct(): boolean {
    return this.dir === "disk" && (this.flags & this.kernel.K.o.DIRECT!) !== 0;
  }
}

/**
 * open(dir, O_TMPFILE | flags, 0600): the access mode must allow writing (EINVAL), as
 * build_open_flags() requires for O_TMPFILE.
 */
export function sysTmpfile(ctx: SyscallContext, dir: TmpfileDir, flags: bigint): bigint {
  const { kernel } = ctx;
  const O = kernel.K.o;
  const f = Number(BigInt.asUintN(32, flags)) & ~O.TMPFILE!;
  if ((f & 3) !== O.WRONLY && (f & 3) !== O.RDWR) fail("EINVAL");
  ctx.process.files.ensureFree();
  const inode = new ShmemInode(kernel, 0n, 0o600, filesystems(kernel)[dir]);
  const fileFlags = (f & ~(O.CREAT | O.EXCL | O.TRUNC | O.CLOEXEC)) | O.LARGEFILE;
  return BigInt(ctx.process.files.install(new TmpFile(inode, fileFlags, dir), (f & O.CLOEXEC) !== 0));
}
