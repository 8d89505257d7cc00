// fsync(2), fdatasync(2) and msync(2). Only files whose file_operations have .fsync
// can be synced: shmem (memfd) has noop_fsync, while guest_memfd, /dev/kvm, VM and vCPU
// fds and /dev/null or /dev/zero have none, so vfs_fsync_range() answers EINVAL.
// msync(MS_SYNC) calls vfs_fsync_range() on the file of every shared file mapping in
// the range (mm/msync.c), so it meets the same EINVAL for a guest_memfd mapping.
import { fail } from "../lib/errno.js";
import { U64_MAX } from "../lib/u64.js";
import type { OpenFile, SyscallContext } from "./file.js";
import { ShmemFile } from "./shmem.js";

const MS_ASYNC = 1;
const MS_INVALIDATE = 2;
const MS_SYNC = 4;

/** vfs_fsync_range(): EINVAL without a .fsync method; shmem's is a no-op. */
function vfsFsync(f: OpenFile): void {
  if (!(f instanceof ShmemFile)) fail("EINVAL");
}

export function sysFsync(ctx: SyscallContext, fd: bigint): bigint {
  vfsFsync(ctx.process.files.get(fd));
  return 0n;
}

export function sysMsync(ctx: SyscallContext, addr: bigint, len: bigint, flags: bigint): bigint {
  const { page } = ctx.kernel;
  const fl = Number(BigInt.asIntN(32, flags));
  if (fl & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) fail("EINVAL");
  const start = BigInt.asUintN(64, addr);
  if (!page.aligned(start)) fail("EINVAL");
  if (fl & MS_ASYNC && fl & MS_SYNC) fail("EINVAL");
  // len = (len + ~PAGE_MASK) & PAGE_MASK in unsigned long arithmetic: a length near 2^64 wraps to 0
  const size = page.align64(len);
  if (start + size > U64_MAX) fail("ENOMEM");
  if (size === 0n) return 0n;
  const first = page.page(start);
  const end = page.page(start + size);
  let at = first;
  let unmapped = false;
  for (const vma of ctx.process.mm.vmasIn(first, end)) {
    if (at < vma.start) {
      if (fl === MS_ASYNC) fail("ENOMEM");
      unmapped = true;
    }
    if (fl & MS_SYNC && vma.file !== null && vma.shared) vfsFsync(vma.file);
    at = vma.end;
  }
  if (at < end || unmapped) fail("ENOMEM");
  return 0n;
}
