// mlock(2), mlock2(2) and munlock(2) (mm/mlock.c: do_mlock, apply_vma_lock_flags,
// mlock_fixup; mm/gup.c: __mm_populate, populate_vma_page_range). Locking marks the
// VMAs VM_LOCKED (and VM_LOCKONFAULT for MLOCK_ONFAULT) and then faults every page in
// as get_user_pages would; a page that cannot be faulted in (a private guest_memfd
// page: SIGBUS; any page of a PROT_NONE mapping) fails the call with ENOMEM (__mlock_posix_error_return turns GUP's
// EFAULT into ENOMEM) after the VMAs were locked. mlock_fixup() skips special VMAs
// (VM_SPECIAL, hugetlb, DAX, secretmem, droppable); guest_memfd VMAs are none of them.
// RLIMIT_MEMLOCK (do_mlock, can_do_mlock): without CAP_IPC_LOCK a limit of 0 refuses with
// EPERM, and a range that would take the process's locked pages (those already locked in
// it not counted twice) past the limit fails with ENOMEM; CAP_IPC_LOCK ignores the limit.
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "../process/file.js";
import type { Vma } from "../process/vma.js";
import { capable, rlimit } from "../process/rlimit.js";

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
    if (vma.locked !== "locked") continue;
    // populate_vma_page_range(): a write fault for private writable mappings (to break COW), else a read; no FOLL_FORCE for PROT_NONE, whose fault fails
    const write = !vma.shared && (vma.prot & ctx.kernel.K.prot.WRITE) !== 0;
    for (let pg = Math.max(start, vma.start); pg < Math.min(end, vma.end); pg++) {
      const found = mm.fault(pg, write);
      if (typeof found !== "string") continue;
      if (ignoreErrors) break;
      fail(found === "HWPOISON" ? "EHWPOISON" : "ENOMEM");
    }
  }
}

/**
 * Pages mm->locked_vm still counts though no VMA is VM_LOCKED there: MREMAP_DONTUNMAP of a
 * locked range clears VM_LOCKED on the old range without taking its pages off locked_vm
 * (mm/mremap.c dontunmap_complete), and nothing takes them off later. Per address space.
 */
const LEAKED_LOCKED = new WeakMap<object, number>();

/** dontunmap_complete(): the old range loses VM_LOCKED but stays counted in locked_vm. */
export function unlockKeepingCount(ctx: SyscallContext, vma: Vma): void {
  if (vma.locked === "") return;
  const mm = ctx.process.mm;
  LEAKED_LOCKED.set(mm, (LEAKED_LOCKED.get(mm) ?? 0) + vma.end - vma.start);
  vma.locked = "";
}

/** mm->locked_vm: pages of VM_LOCKED VMAs, or those of them inside [start, end) (count_mm_mlock_page_nr). */
function lockedPages(ctx: SyscallContext, start = 0, end = Number.MAX_SAFE_INTEGER): number {
  let n = 0;
  for (const vma of ctx.process.mm.vmasIn(start, end)) if (vma.locked !== "") n += Math.min(end, vma.end) - Math.max(start, vma.start);
  return n;
}

/** do_mlock()'s RLIMIT_MEMLOCK checks, before the range is looked at. */
function checkMemlockLimit(ctx: SyscallContext, addr: bigint, len: bigint): void {
  const K = ctx.kernel.config.spec;
  const profile = ctx.kernel.revision.profile;
  const ipcLock = capable(ctx, K.constant("CAP_IPC_LOCK", profile)!);
  const limitBytes = rlimit(ctx, K.constant("RLIMIT_MEMLOCK", profile)!);
  if (limitBytes === 0n && !ipcLock) fail("EPERM"); // can_do_mlock()
  if (ipcLock) return;
  const { page } = ctx.kernel;
  const a = BigInt.asUintN(64, addr);
  const pages = page.align64(BigInt.asUintN(64, len) + (a & page.mask)) / BigInt(page.bytes);
  const limit = limitBytes / BigInt(page.bytes);
  let locked = pages + BigInt(lockedPages(ctx) + (LEAKED_LOCKED.get(ctx.process.mm) ?? 0));
  if (locked > limit) {
    const start = page.page(a & ~page.mask);
    locked -= BigInt(lockedPages(ctx, start, start + Number(pages)));
  }
  if (locked > limit) fail("ENOMEM");
}

function doMlock(ctx: SyscallContext, addr: bigint, len: bigint, locked: "locked" | "onfault"): bigint {
  checkMemlockLimit(ctx, addr, len);
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
