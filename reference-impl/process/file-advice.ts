// posix_fadvise(2), readahead(2), syncfs(2) and sync_file_range(2): the calls that
// advise or sync without the file's own methods. generic_fadvise() only checks its
// arguments on a filesystem without writeback (every file the model has: shmem, the
// anonymous-inode and guest_memfd pseudo filesystems); readahead(2) is fadvise
// WILLNEED on a regular file (and, from the S_ANON_INODE series, not an anonymous one);
// syncfs has nothing to write; sync_file_range() needs a regular file (or block device,
// directory, symlink) and then finds nothing to write back. None needs .fsync: where
// fsync(2) fails with EINVAL on a guest_memfd (SYNC-002), these succeed.
import { fail } from "../lib/errno.js";
import { asS64, S64_MAX } from "../lib/u64.js";
import { FMODE_READ, type Inode, type SyscallContext } from "./file.js";

const S_IFMT = 0o170000;
const S_IFIFO = 0o010000;

/** Whether the inode comes from alloc_anon_inode(): VM and vCPU files, and guest_memfd. */
export function anonymousFile(inode: Inode): boolean {
  const fs = inode.kernel.fs;
  return inode.fs === fs.anonInode || inode.fs === fs.guestMemfd;
}

function isRegular(ctx: SyscallContext, inode: Inode): boolean {
  return (inode.mode & S_IFMT) === ctx.kernel.K.s.IFREG;
}

export function sysFadvise(ctx: SyscallContext, fd: bigint, offset: bigint, len: bigint, advice: bigint): bigint {
  const f = ctx.process.files.get(fd);
  if ((f.inode.mode & S_IFMT) === S_IFIFO) fail("ESPIPE");
  if (asS64(len) < 0n) fail("EINVAL");
  const A = ctx.kernel.K.fadv;
  const known = [A.NORMAL, A.RANDOM, A.SEQUENTIAL, A.WILLNEED, A.DONTNEED, A.NOREUSE];
  if (!known.includes(Number(BigInt.asIntN(32, advice)))) fail("EINVAL");
  void offset; // advice only: no page is read, written or dropped
  return 0n;
}

export function sysReadahead(ctx: SyscallContext, fd: bigint, offset: bigint, count: bigint): bigint {
  const f = ctx.process.files.get(fd);
  if (!(f.fmode & FMODE_READ)) fail("EBADF");
  if (!isRegular(ctx, f.inode)) fail("EINVAL");
  if (ctx.kernel.revision.anonFileChecks && anonymousFile(f.inode)) fail("EINVAL");
  return sysFadvise(ctx, fd, offset, BigInt.asIntN(64, count), BigInt(ctx.kernel.K.fadv.WILLNEED!));
}

export function sysSyncfs(ctx: SyscallContext, fd: bigint): bigint {
  ctx.process.files.get(fd);
  return 0n;
}

export function sysSyncFileRange(ctx: SyscallContext, fd: bigint, offset: bigint, nbytes: bigint, flags: bigint): bigint {
  const f = ctx.process.files.get(fd);
  const R = ctx.kernel.K.syncRange;
  if (BigInt.asUintN(32, flags) & ~BigInt(R.WAIT_BEFORE! | R.WRITE! | R.WAIT_AFTER!)) fail("EINVAL");
  const off = asS64(offset);
  const n = asS64(nbytes);
  if (off < 0n) fail("EINVAL");
  const end = off + n;
  // loff_t arithmetic: an end past S64_MAX wraps negative
  if (end > S64_MAX || end < 0n || end < off) fail("EINVAL");
  const type = f.inode.mode & S_IFMT;
  if (![ctx.kernel.K.s.IFREG, 0o060000, 0o040000, 0o120000].includes(type)) fail("ESPIPE");
  return 0n;
}
