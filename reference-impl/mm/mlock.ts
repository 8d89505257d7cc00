// mlock(2), mlock2(2) and munlock(2) (mm/mlock.c: do_mlock, apply_vma_lock_flags,
// mlock_fixup; mm/gup.c: __mm_populate, populate_vma_page_range). Locking marks the
// VMAs VM_LOCKED (and VM_LOCKONFAULT for MLOCK_ONFAULT) and then faults every page in
// as get_user_pages would; a page that cannot be faulted in (a private guest_memfd
// page: SIGBUS) fails the call with ENOMEM (__mlock_posix_error_return turns GUP's
// EFAULT into ENOMEM) after the VMAs were locked. mlock_fixup() skips special VMAs
// (VM_SPECIAL, hugetlb, DAX, secretmem, droppable); guest_memfd VMAs are none of them.
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "../process/file.js";
import { PROT_NONE } from "../process/vma.js";

const MLOCK_ONFAULT = 1n;

/** [start, end) in pages of the range mlock/munlock work on: start rounded down, length rounded up. */
function lockRange(ctx: SyscallContext, addr: bigint, len: bigint): [number, number] {
  const { page } = ctx.kernel;
  const a = BigInt.asUintN(64, addr);
  const start = a & ~page.mask;
  const size = page.align64(BigInt.asUintN(64, len) + (a & page.mask));
  const end = start + size;
  if (end > (1n << 64n) - 1n) fail("EINVAL"); // end < start in unsigned long
  if (end > ctx.kernel.host.taskSize) fail("ENOMEM"); // no VMA reaches there
  return [page.page(start), page.page(end)];
}

/** apply_vma_lock_flags(): every VMA of the range gets the flags; a hole stops it with ENOMEM. */
function applyLockFlags(ctx: SyscallContext, start: number, end: number, locked: "" | "locked" | "onfault"): void {
  if (start === end) return;
  const mm = ctx.process.mm;
  if (mm.vmas.get(start) === undefined) fail("ENOMEM");
  let at = start;
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.start > at) fail("ENOMEM");
    vma.locked = locked;
    at = vma.end;
  }
  if (at < end) fail("ENOMEM");
}

/** __mm_populate(start, len, ignore_errors): fault in the locked pages of [start, end), stopping at the first failure. */
export function populateLocked(ctx: SyscallContext, start: number, end: number, ignoreErrors = true): void {
  const mm = ctx.process.mm;
  for (const { value: vma } of mm.vmas.overlapping(start, end)) {
    if (vma.locked !== "locked" || vma.prot === PROT_NONE) continue;
    // populate_vma_page_range(): a write fault for private writable mappings (to break COW), else a read
    const write = !vma.shared && (vma.prot & ctx.kernel.K.prot.WRITE) !== 0;
    for (let pg = Math.max(start, vma.start); pg < Math.min(end, vma.end); pg++) {
      const found = mm.fault(pg, write);
      if (typeof found !== "string") continue;
      if (ignoreErrors) break;
      fail(found === "HWPOISON" ? "EHWPOISON" : "ENOMEM");
    }
  }
}

function doMlock(ctx: SyscallContext, addr: bigint, len: bigint, locked: "locked" | "onfault"): bigint {
  const [start, end] = lockRange(ctx, addr, len);
  applyLockFlags(ctx, start, end, locked);
  populateLocked(ctx, start, end, false);
  return 0n;
}

export function sysMlock(ctx: SyscallContext, addr: bigint, len: bigint): bigint {
  return doMlock(ctx, addr, len, "locked");
}

export function sysMlock2(ctx: SyscallContext, addr: bigint, len: bigint, flags: bigint): bigint {
  const f = BigInt.asUintN(32, flags);
  if (f & ~MLOCK_ONFAULT) fail("EINVAL");
  return doMlock(ctx, addr, len, f & MLOCK_ONFAULT ? "onfault" : "locked");
}

export function sysMunlock(ctx: SyscallContext, addr: bigint, len: bigint): bigint {
  const [start, end] = lockRange(ctx, addr, len);
  applyLockFlags(ctx, start, end, "");
  return 0n;
}
