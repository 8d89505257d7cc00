// Memory system calls (mm/mmap.c, mm/mprotect.c, mm/madvise.c) and the CPU's view
// of memory: load/store through the page tables, which raise SIGSEGV or SIGBUS.
import { DriverFailure, type OpResult } from "../../spec/driver/contract.js";
import { GmemFile } from "../guest_memfd/file.js";
import { GmemInode } from "../guest_memfd/inode.js";
import { checkPageBudget } from "../lib/budget.js";
import { fail } from "../lib/errno.js";
import { U64_MAX } from "../lib/u64.js";
import { FMODE_READ, FMODE_WRITE, type OpenFile, type SyscallContext } from "./file.js";
import { ShmemFile, ShmemInode } from "./shmem.js";
import { vfsFallocate } from "./vfs.js";
import { Vma, type MappingBacking } from "./vma.js";

/** LEGACY_MAP_MASK: flags MAP_SHARED silently ignores beyond these, and MAP_SHARED_VALIDATE refuses */
const LEGACY_MAP_MASK = 0x1f3f7b;
/** mmap_base: where top-down allocation starts */
const MMAP_BASE = 0x7f0000000000n;
/** madvise(2) advice numbers the model knows but does not implement */
const UNMODELLED_ADVICE = new Set([12, 13, 16, 17, 18, 19, 20, 21, 24, 101, 102, 103]);
const PROT_KNOWN = 0x7 | 0x8 | 0x01000000 | 0x02000000;

export function sysMmap(ctx: SyscallContext, addr: bigint, len: bigint, prot: bigint, flags: bigint, fd: bigint, offset: bigint): bigint {
  const { kernel } = ctx;
  const { K, page } = kernel;
  const mm = ctx.process.mm;
  const f = Number(BigInt.asUintN(32, flags));
  const p = Number(BigInt.asUintN(32, prot)) & 0x7;
  if (!page.aligned(offset)) fail("EINVAL");
  const anonymous = (f & K.map.ANONYMOUS) !== 0;
  const file: OpenFile | null = anonymous ? null : ctx.process.files.get(BigInt.asUintN(32, fd));
  if (BigInt.asUintN(64, len) === 0n) fail("EINVAL");
  const size = page.pagesUp(BigInt.asUintN(64, len)) << page.shift;
  const end = kernel.host.taskSize;
  if (size > end) fail("ENOMEM");
  const pgoff = page.page(BigInt.asUintN(64, offset));
  const npages = page.page(size);
  if (pgoff + npages > 2 ** 52) fail("EOVERFLOW");

  // MAP_FIXED_NOREPLACE asks for exactly addr, like MAP_FIXED.
  const fixed = (f & (K.map.FIXED | K.map.FIXED_NOREPLACE)) !== 0;
  const start = fixed ? fixedAddress(addr, size, end, page.aligned(addr)) : findAddress(ctx, addr, size);
  const first = page.page(start);
  if (f & K.map.FIXED_NOREPLACE && mm.vmas.intersects(first, first + npages)) fail("EEXIST");

  const type = f & 0xf;
  let shared = false;
  let mayWrite = true;
  let mayExec = true;
  if (file !== null) {
    if (type === K.map.SHARED || type === K.map.SHARED_VALIDATE) {
      if (type === K.map.SHARED_VALIDATE && f & ~LEGACY_MAP_MASK) fail("EOPNOTSUPP");
      if (p & K.prot.WRITE && !(file.fmode & FMODE_WRITE)) fail("EACCES");
      shared = true;
      mayWrite = (file.fmode & FMODE_WRITE) !== 0;
    } else if (type !== K.map.PRIVATE) fail("EINVAL");
    if (!(file.fmode & FMODE_READ)) fail("EACCES");
    if (file.inode.fs.noexec) {
      if (p & K.prot.EXEC) fail("EPERM");
      mayExec = false;
    }
    if (file.mmap === undefined) fail("ENODEV");
  } else if (type === K.map.SHARED) shared = true;
  else if (type !== K.map.PRIVATE) fail("EINVAL");

  let backing: MappingBacking | null = null;
  let mapped = file;
  if (file !== null) backing = backingOf(file);
  else if (shared) {
    // A shared anonymous mapping is backed by a hidden shmem file ("/dev/zero").
    kernel.allocate();
    const inode = new ShmemInode(kernel, size, 0o777);
    mapped = new ShmemFile(inode, K.o.RDWR | K.o.LARGEFILE, "/dev/zero", K.f.SEAL_SEAL);
    backing = inode;
  }
  if (f & K.map.POPULATE) checkPageBudget(npages, "mmap(MAP_POPULATE)");
  const vma = new Vma(first, first + npages, p, shared, mapped?.get() ?? null, backing, file === null ? 0 : pgoff, mayWrite, mayExec);
  try {
    kernel.allocate();
    file?.mmap!(ctx, vma);
  } catch (err) {
    mapped?.put();
    throw err;
  }
  // MAP_FIXED replaces what was there only once the new mapping is known to be good.
  mm.unmap(first, first + npages);
  mm.vmas.set(first, first + npages, vma);
  if (f & K.map.POPULATE) for (let pg = first; pg < first + npages; pg++) mm.fault(pg, false);
  return start;
}

function backingOf(file: OpenFile): MappingBacking {
  if (file instanceof GmemFile) return file.inode;
  if (file instanceof ShmemFile) return file.inode;
  throw new DriverFailure("unsupported", `mmap of ${file.link()}`);
}

function fixedAddress(addr: bigint, size: bigint, end: bigint, aligned: boolean): bigint {
  if (addr > end - size) fail("ENOMEM");
  if (!aligned) fail("EINVAL");
  return addr;
}

/** get_unmapped_area(): the hint if it is free, else the highest free range below mmap_base. */
export function findAddress(ctx: SyscallContext, hint: bigint, size: bigint): bigint {
  const { page } = ctx.kernel;
  const vmas = ctx.process.mm.vmas;
  const npages = page.page(size);
  const aligned = (hint + page.mask) & ~page.mask;
  if (aligned !== 0n && aligned <= ctx.kernel.host.taskSize - size && !vmas.intersects(page.page(aligned), page.page(aligned) + npages)) return aligned;
  const gaps = vmas.gaps(16, page.page(MMAP_BASE));
  for (let i = gaps.length - 1; i >= 0; i--) {
    const [s, e] = gaps[i]!;
    if (e - s >= npages) return page.address(e - npages);
  }
  return fail("ENOMEM");
}

/** [start, end) in pages for a byte range the caller has checked (end <= 2^64). */
function pages(ctx: SyscallContext, addr: bigint, size: bigint): [number, number] {
  const { page } = ctx.kernel;
  return [page.page(addr), page.page(addr + size)];
}

/** __vm_munmap() / do_vmi_munmap(): the range must lie below TASK_SIZE. */
export function sysMunmap(ctx: SyscallContext, addr: bigint, len: bigint): bigint {
  const { page, host } = ctx.kernel;
  const start = BigInt.asUintN(64, addr);
  const n = BigInt.asUintN(64, len);
  if (!page.aligned(start) || start > host.taskSize || n > host.taskSize - start) fail("EINVAL");
  const size = ctx.kernel.page.align64(n);
  if (size === 0n) fail("EINVAL");
  const [first, last] = pages(ctx, start, size);
  ctx.process.mm.unmap(first, last);
  return 0n;
}

/** do_mprotect_pkey(): no TASK_SIZE check; a range past the mappings fails with ENOMEM. */
export function sysMprotect(ctx: SyscallContext, addr: bigint, len: bigint, prot: bigint): bigint {
  const { K, page } = ctx.kernel;
  const start = BigInt.asUintN(64, addr);
  if (!page.aligned(start)) fail("EINVAL");
  if (BigInt.asUintN(64, len) === 0n) return 0n;
  const size = ctx.kernel.page.align64(len);
  if (size === 0n || start + size > U64_MAX) fail("ENOMEM");
  // arch_validate_prot() comes after the range checks.
  const p = Number(BigInt.asUintN(32, prot));
  if (p & ~PROT_KNOWN) fail("EINVAL");
  const [first, end] = pages(ctx, start, size);
  const mm = ctx.process.mm;
  let at = first;
  for (const vma of mm.vmasIn(first, end)) {
    if (vma.start > at) break;
    if (p & K.prot.WRITE && !vma.mayWrite) fail("EACCES");
    if (p & K.prot.EXEC && !vma.mayExec) fail("EACCES");
    mm.notify(vma.start, vma.end);
    vma.prot = p & 0x7;
    at = vma.end;
  }
  if (at < end) fail("ENOMEM");
  return 0n;
}

/** x86 PMD mapping size: the unit of MADV_COLLAPSE. */
const PMD_SIZE = 2n << 20n;

export function sysMadvise(ctx: SyscallContext, addr: bigint, len: bigint, advice: bigint): bigint {
  const { kernel } = ctx;
  const M = kernel.K.madv;
  const a = Number(BigInt.asIntN(32, advice));
  const known = Object.values(M).includes(a) && (a !== M.HWPOISON || kernel.host.memoryFailure);
  if (!known && !UNMODELLED_ADVICE.has(a)) fail("EINVAL");
  const first = BigInt.asUintN(64, addr);
  if (!kernel.page.aligned(first)) fail("EINVAL");
  const size = ctx.kernel.page.align64(len);
  if (BigInt.asUintN(64, len) !== 0n && size === 0n) fail("EINVAL");
  if (first + size > U64_MAX) fail("EINVAL");
  if (size === 0n) return 0n;
  if (UNMODELLED_ADVICE.has(a)) throw new DriverFailure("unsupported", `madvise advice ${a} is not modelled`);
  const [start, end] = pages(ctx, first, size);
  const mm = ctx.process.mm;
  if (a === M.HWPOISON || a === M.POPULATE_READ || a === M.POPULATE_WRITE) checkPageBudget(end - start, `madvise(${a})`);
  if (a === M.HWPOISON) return injectMemoryFailure(ctx, start, end);
  let at = start;
  let hole = false;
  for (const vma of mm.vmasIn(start, end)) {
    if (vma.start > at) hole = true;
    at = vma.end;
    applyAdvice(ctx, vma, a);
  }
  if (hole || at < end) fail("ENOMEM");
  return 0n;
}

function applyAdvice(ctx: SyscallContext, vma: Vma, a: number): void {
  const { kernel } = ctx;
  const M = kernel.K.madv;
  const mm = ctx.process.mm;
  switch (a) {
    case M.DONTFORK:
    case M.DOFORK:
      vma.dontFork = a === M.DONTFORK;
      return;
    case M.DONTNEED:
      mm.notify(vma.start, vma.end);
      mm.dropPrivatePages(vma.start, vma.end);
      return;
    case M.FREE:
      if (vma.backing !== null) fail("EINVAL");
      mm.notify(vma.start, vma.end);
      return;
    case M.REMOVE: {
      if (vma.file === null) fail("EINVAL");
      // vma_is_shared_maywrite() since 6.7: VM_SHARED and VM_MAYWRITE, whatever the current
      // protection, so a PROT_READ shared mapping of a file opened for writing qualifies.
      if (!vma.shared || !vma.mayWrite) fail("EACCES");
      const { KEEP_SIZE, PUNCH_HOLE } = kernel.K.falloc;
      vfsFallocate(ctx, vma.file, KEEP_SIZE | PUNCH_HOLE, kernel.page.address(vma.pgoff), kernel.page.address(vma.end - vma.start));
      return;
    }
    case M.POPULATE_READ:
    case M.POPULATE_WRITE:
      for (let pg = vma.start; pg < vma.end; pg++) if (typeof mm.fault(pg, a === M.POPULATE_WRITE) === "string") fail("EFAULT");
      return;
    case M.COLLAPSE: {
      // madvise_collapse(): a mapping that may not take a transparent huge page is refused
      // outright (guest_memfd); elsewhere only whole PMD-aligned blocks are collapsed.
      if (vma.backing instanceof GmemInode) fail("EINVAL");
      if (vma.backing !== null || vma.shared) throw new DriverFailure("unsupported", "MADV_COLLAPSE of shared or file memory (shmem huge pages) is not modelled");
      const pmd = Math.max(1, Number(PMD_SIZE / kernel.page.size));
      const hstart = Math.ceil(vma.start / pmd) * pmd;
      const hend = Math.floor(vma.end / pmd) * pmd;
      // A range that ends before the next PMD boundary counts a negative number of blocks.
      if (hend < hstart) fail("EINVAL");
      return; // collapsing changes no data
    }
    default:
      return; // NORMAL, RANDOM, SEQUENTIAL, WILLNEED, HUGEPAGE, NOHUGEPAGE: hints only
  }
}

/** madvise(MADV_HWPOISON): fault each page in, then memory_failure() on it. Only guest_memfd pages are modelled. */
function injectMemoryFailure(ctx: SyscallContext, start: number, end: number): bigint {
  const mm = ctx.process.mm;
  for (let pg = start; pg < end; pg++) {
    const vma = mm.vmas.get(pg)?.value;
    if (vma !== undefined && !(vma.backing instanceof GmemInode)) throw new DriverFailure("unsupported", "memory failure outside guest_memfd pages");
    const folio = mm.fault(pg, false);
    if (typeof folio === "string") fail("EFAULT");
    (vma!.backing as GmemInode).poison(folio);
  }
  return 0n;
}

/** A CPU access through the page tables: data, or the signal the access raised. */
export function cpuAccess(ctx: SyscallContext, addr: bigint, len: number, store: Uint8Array | null): OpResult {
  if (len > 65536) throw new DriverFailure("protocol", `memory access of ${len} bytes (at most 65536)`);
  const { page } = ctx.kernel;
  const out = new Uint8Array(store === null ? len : 0);
  for (let done = 0; done < len; ) {
    const at = BigInt.asUintN(64, addr) + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const r = ctx.process.mm.fault(page.page(at), store !== null);
    if (typeof r === "string") return { ret: -1n, signal: r === "HWPOISON" ? "SIGBUS" : r };
    if (store === null) out.set(r.read(offset, n), done);
    else r.write(offset, store.subarray(done, done + n));
    done += n;
  }
  return store === null ? { ret: 0n, out: { data: out } } : { ret: 0n };
}
