// mremap(2) (mm/mremap.c: check_mremap_params, remap_is_valid, mremap_to, mremap_at,
// move_vma, dontunmap_complete): resize a mapping in place or move it. A moved
// mapping keeps its file, offset and private pages; the old range is unmapped unless
// MREMAP_DONTUNMAP leaves it mapped and empty. No VMA the model makes is VM_DONTEXPAND
// or VM_PFNMAP: kvm_gmem_mmap() sets neither, so a guest_memfd mapping may grow.
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "../process/file.js";
import { findAddress } from "../process/mman.js";
import type { Vma } from "../process/vma.js";
import { populateLocked, unlockKeepingCount } from "./mlock.js";

const MREMAP_MAYMOVE = 1n;
const MREMAP_FIXED = 2n;
const MREMAP_DONTUNMAP = 4n;

interface Remap {
  addr: bigint;
  oldSize: bigint;
  newSize: bigint;
  flags: bigint;
  newAddr: bigint;
}

export function sysMremap(ctx: SyscallContext, addr: bigint, oldLen: bigint, newLen: bigint, flags: bigint, newAddr: bigint): bigint {
  const { page } = ctx.kernel;
  const r: Remap = { addr: BigInt.asUintN(64, addr), oldSize: 0n, newSize: 0n, flags: BigInt.asUintN(64, flags), newAddr: BigInt.asUintN(64, newAddr) };
  // check_mremap_params()
  if (r.flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) fail("EINVAL");
  if (!page.aligned(r.addr)) fail("EINVAL");
  if (page.align64(newLen) === 0n) fail("EINVAL");
  const impliesNewAddr = (r.flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0n;
  if (impliesNewAddr) {
    if (!page.aligned(r.newAddr)) fail("EINVAL");
    if (!(r.flags & MREMAP_MAYMOVE)) fail("EINVAL");
    // compared before page alignment
    if (r.flags & MREMAP_DONTUNMAP && BigInt.asUintN(64, oldLen) !== BigInt.asUintN(64, newLen)) fail("EINVAL");
  }
  r.oldSize = page.align64(oldLen);
  r.newSize = page.align64(newLen);
  const vma = ctx.process.mm.vmas.get(page.page(r.addr))?.value ?? fail("EFAULT");
  return impliesNewAddr ? remapTo(ctx, r, vma) : remapAt(ctx, r, vma);
}

/** remap_is_valid(): what a move or a growth requires of the VMA. */
function checkRemap(ctx: SyscallContext, r: Remap, vma: Vma): void {
  const { page } = ctx.kernel;
  // mremap(old_len = 0) duplicates a shared mapping; a private one has nothing to share
  if (r.oldSize === 0n && !vma.shared) fail("EINVAL");
  if (r.oldSize > page.address(vma.end) - r.addr) fail("EFAULT");
}

/** mremap_to(): MREMAP_FIXED or MREMAP_DONTUNMAP: always a move, to new_addr or near it. */
function remapTo(ctx: SyscallContext, r: Remap, vma: Vma): bigint {
  const { page, host } = ctx.kernel;
  const mm = ctx.process.mm;
  if (r.newSize > host.taskSize || r.newAddr > host.taskSize - r.newSize) fail("EINVAL");
  if (r.addr + r.oldSize > r.newAddr && r.newAddr + r.newSize > r.addr) fail("EINVAL");
  let source = vma;
  if (r.flags & MREMAP_FIXED) {
    mm.unmap(page.page(r.newAddr), page.page(r.newAddr + r.newSize));
    source = mm.vmas.get(page.page(r.addr))?.value ?? fail("EFAULT");
  }
  if (r.oldSize > r.newSize) {
    mm.unmap(page.page(r.addr + r.newSize), page.page(r.addr + r.oldSize));
    r.oldSize = r.newSize;
    source = mm.vmas.get(page.page(r.addr))?.value ?? fail("EFAULT");
  }
  checkRemap(ctx, r, source);
  const to = r.flags & MREMAP_FIXED ? r.newAddr : findAddress(ctx, r.newAddr, r.newSize);
  return moveVma(ctx, r, source, to);
}

/** mremap_at(): same size, shrink in place, or grow in place and else move (MREMAP_MAYMOVE). */
function remapAt(ctx: SyscallContext, r: Remap, vma: Vma): bigint {
  const { page } = ctx.kernel;
  const mm = ctx.process.mm;
  if (r.newSize === r.oldSize) return r.addr;
  if (r.newSize < r.oldSize) {
    mm.unmap(page.page(r.addr + r.newSize), page.page(r.addr + r.oldSize));
    return r.addr;
  }
  checkRemap(ctx, r, vma);
  const oldEnd = page.page(r.addr + r.oldSize);
  const newEnd = page.page(r.addr) + page.page(r.newSize);
  // vrm_can_expand_in_place(): the range ends the VMA and the pages after it are free
  if (oldEnd === vma.end && r.addr + r.newSize <= ctx.kernel.host.taskSize && !mm.vmas.intersects(vma.end, newEnd)) {
    mm.vmas.set(vma.start, newEnd, vma);
    vma.end = newEnd;
    if (vma.locked === "locked") populateLocked(ctx, oldEnd, newEnd);
    return r.addr;
  }
  if (!(r.flags & MREMAP_MAYMOVE)) fail("ENOMEM");
  return moveVma(ctx, r, vma, findAddress(ctx, 0n, r.newSize));
}

/** move_vma(): a copy of the VMA at `to` takes the private pages; the source is unmapped, or emptied (MREMAP_DONTUNMAP). */
function moveVma(ctx: SyscallContext, r: Remap, vma: Vma, to: bigint): bigint {
  const { page } = ctx.kernel;
  const mm = ctx.process.mm;
  const from = page.page(r.addr);
  const oldPages = page.page(r.oldSize);
  const first = page.page(to);
  const last = first + page.page(r.newSize);
  const moved = vma.piece(from, from + Math.max(oldPages, 1));
  moved.start = first;
  moved.end = last;
  mm.vmas.set(first, last, moved);
  // move_page_tables(): private pages follow the mapping; shared ones stay in their file
  mm.notify(from, from + oldPages);
  if (oldPages > 0)
    for (const { start, value } of mm.privatePages.delete(from, from + oldPages)) mm.privatePages.set(first + (start - from), first + (start - from) + 1, value);
  if (r.flags & MREMAP_DONTUNMAP) {
    // dontunmap_complete(): the old range stays mapped but unlocked (still counted in locked_vm)
    for (const v of mm.vmasIn(from, from + oldPages)) unlockKeepingCount(ctx, v);
  } else if (oldPages > 0) mm.unmap(from, from + oldPages);
  if (moved.locked === "locked" && last > first + oldPages) populateLocked(ctx, first + oldPages, last);
  return to;
}
