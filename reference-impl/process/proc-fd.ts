// open("/proc/self/fd/N"): the magic link leads to the file's own dentry, and the open
// is a fresh one of that inode (do_dentry_open with the inode's i_fop), a new file
// description with its own offset and access mode. Inodes made by alloc_anon_inode() keep
// the i_fop inode_init_always() gave them, no_open_fops, whose open fails with ENXIO:
// VM and vCPU files, and guest_memfd in every release (anon_inode_create_getfile in 6.8
// to 7.1, its own pseudo-filesystem in 7.2), whatever file_operations the file itself has.
import { DriverFailure } from "../../spec/driver/contract.js";
import { GmemFile } from "../guest_memfd/file.js";
import { fail } from "../lib/errno.js";
import { KvmDeviceFile } from "../system/kvm-device.js";
import { AnonInode, type OpenFile, type SyscallContext } from "./file.js";
import { NullFile } from "./devices.js";
import { PipeFile } from "./pipe.js";
import { ShmemFile } from "./shmem.js";
import { TmpFile } from "./tmpfile.js";
import { sysOpen } from "./vfs.js";

const PROC_FD = /^\/proc\/self\/fd\/(\d+)$/;

export function isProcFdPath(path: string): boolean {
  return PROC_FD.test(path);
}

/** Reopen the file behind descriptor N of the calling process. */
export function sysOpenProcFd(ctx: SyscallContext, path: string, flags: bigint): bigint {
  const { kernel } = ctx;
  const O = kernel.K.o;
  const n = BigInt(PROC_FD.exec(path)![1]!);
  let target: OpenFile;
  try {
    target = ctx.process.files.get(n);
  } catch {
    return fail("ENOENT");
  }
  if (target instanceof KvmDeviceFile || target instanceof NullFile) return sysOpen(ctx, target.link(), flags);
  if (target instanceof GmemFile || target.inode instanceof AnonInode) fail("ENXIO");
  const f = Number(BigInt.asUintN(32, flags));
  const fileFlags = (f & ~(O.CREAT | O.EXCL | O.TRUNC | O.CLOEXEC)) | O.LARGEFILE;
  let opened: OpenFile;
  if (target instanceof PipeFile) opened = new PipeFile(target.inode, f & ~(O.CREAT | O.EXCL | O.TRUNC | O.CLOEXEC));
  else if (target instanceof TmpFile) opened = new TmpFile(target.inode, fileFlags, target.dir);
  else if (target instanceof ShmemFile) opened = new ShmemFile(target.inode, fileFlags, target.link().replace(/ \(deleted\)$/, ""), target.seals);
  else throw new DriverFailure("unsupported", `reopening ${target.link()} through /proc/self/fd is not modelled`);
  if (f & O.TRUNC && opened.fmode & 2) opened.inode.setSize(0n);
  return BigInt(ctx.process.files.install(opened, (f & O.CLOEXEC) !== 0));
}
