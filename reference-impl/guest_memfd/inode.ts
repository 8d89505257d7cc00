// The guest_memfd inode (struct gmem_inode): the memory itself, shared by the
// per-VM files (struct gmem_file) that view it. Size and flags are fixed at
// creation. Sources: virt/kvm/guest_memfd.c at torvalds/linux 0f94e51b (6.18),
// 01f492e1 (7.0) and f8479adb (7.2): kvm_gmem_get_folio, kvm_gmem_punch_hole,
// kvm_gmem_allocate, kvm_gmem_fault_user_mapping, kvm_gmem_error_folio,
// kvm_gmem_setattr, kvm_gmem_get_invalidate_filter.
import { gmemFolioFreed } from "../arch/x86/vm-types.js";
import { fail } from "../lib/errno.js";
import { invariant } from "../lib/invariants.js";
import type { Kernel } from "../kernel.js";
import type { Folio, FolioOwner } from "../mm/folio.js";
import { PageCache } from "../mm/page-cache.js";
import { Inode, type Filesystem } from "../process/file.js";
import { fillByPolicy, sharedPolicyNode, type MemPolicy, type SharedPolicyOwner } from "../process/mempolicy.js";
import type { MappingBacking } from "../process/vma.js";
import { IntervalMap } from "../lib/interval-map.js";
import { ZAP_ALL, ZAP_PRIVATE, ZAP_SHARED, type ZapFilter } from "../vm/mmu.js";
import { GmemAttributes, gmemAttributesInUse } from "./attributes.js";
import type { GmemFile } from "./file.js";

/** Page indices of a byte range, as the kernel computes them for whole pages. */
export function pageRange(kernel: Kernel, offset: bigint, len: bigint): [number, number] {
  return [Number(offset >> kernel.page.shift), Number((offset + len) >> kernel.page.shift)];
}

export class GmemInode extends Inode implements FolioOwner, MappingBacking, SharedPolicyOwner {
  readonly kind = "guest_memfd";
  readonly cache: PageCache;
  /** NUMA policies by file range (gmem_inode.policy, 6.19); null where the VMA keeps them */
  readonly sharedPolicy: IntervalMap<MemPolicy> | null;
  /** gmem_file_list: one file per VM viewing this memory */
  readonly files = new Set<GmemFile>();
  /** shared/private per page where guest_memfd tracks it (in-place conversion); null otherwise */
  readonly attributes: GmemAttributes | null;

  constructor(
    kernel: Kernel,
    fs: Filesystem,
    ino: number,
    readonly sizeBytes: bigint,
    readonly flags: bigint,
  ) {
    super(kernel, fs, ino, kernel.K.s.IFREG | 0o600);
    this.cache = new PageCache(this, kernel.page.bytes);
    this.sharedPolicy = kernel.revision.gmemSharedPolicy ? new IntervalMap<MemPolicy>({ same: (a, b) => a === b }) : null;
    this.attributes = gmemAttributesInUse(kernel) ? new GmemAttributes(kernel, this.pages, this.initShared) : null;
  }

  get owner(): FolioOwner {
    return this;
  }

  override get size(): bigint {
    return this.sizeBytes;
  }

  get pages(): number {
    return this.kernel.page.page(this.sizeBytes);
  }

  get supportsMmap(): boolean {
    return (this.flags & this.kernel.K.gmemFlag.MMAP) !== 0n;
  }

  get initShared(): boolean {
    return (this.flags & this.kernel.K.gmemFlag.INIT_SHARED) !== 0n;
  }

  /** kvm_gmem_setattr(): the size and every other attribute are immutable. */
  override setMode(): void {
    fail("EINVAL");
  }

  override setSize(): void {
    fail("EINVAL");
  }

  /** kvm_gmem_get_folio(): the page at index, allocating it (the allocation may fail). */
  getFolio(index: number): Folio {
    const cached = this.cache.find(index);
    if (cached) return cached;
    this.kernel.allocate();
    return this.cache.findOrCreate(index, this.allocNode(index));
  }

  /** kvm_gmem_get_folio(): a new page follows the inode's policy for its index (6.19); before, the task's. */
  private allocNode(index: number): number {
    return sharedPolicyNode(this.kernel, this.sharedPolicy, index);
  }

  cachedPage(index: number): Folio | undefined {
    return this.cache.has(index) ? this.cache.find(index) : undefined;
  }

  /** kvm_gmem_fault_user_mapping(): a host access through an mmap of this file. */
  userFault(index: number): Folio | "SIGBUS" | "SIGSEGV" | "HWPOISON" {
    if (index >= this.pages) return "SIGBUS";
    // A protected pKVM guest's memory: the guest_memfd library and the host stage-2 decide (arch/arm64/pkvm).
    const pkvm = this.kernel.pkvm;
    const protectedGuest = pkvm?.isProtectedInode(this) === true;
    if (protectedGuest) {
      const access = pkvm!.hostFault(this, index);
      if (access !== "ok") return access;
    }
    // A Gunyah VM's memory: a page lent to the guest is reclaimed for the host (arch/arm64/gunyah).
    else if (this.kernel.gunyah?.isGunyahInode(this) === true) {
      const access = this.kernel.gunyah.hostFault(this, index);
      if (access !== "ok") return access;
    }
    // In-place conversion: the page's current attribute decides (CONV-007).
    else if (this.attributes !== null) {
      if (this.attributes.isPrivate(index)) return "SIGBUS";
    }
    // Memory that does not start shared is private: the host may never map it.
    else if (!this.initShared) return "SIGBUS";
    const folio = this.cache.findOrCreate(index, this.allocNode(index));
    if (folio.hwpoison) return "HWPOISON";
    this.clearForUse(folio);
    return folio;
  }

  /** Clear a page the first time it is used, so no stale host data leaks. */
  clearForUse(folio: Folio): void {
    if (folio.uptodate) return;
    folio.clear();
    folio.uptodate = true;
  }

  /** kvm_gmem_get_invalidate_filter(): INIT_SHARED memory is mapped shared, other memory private. */
  get invalidateFilter(): ZapFilter {
    // With per-page attributes the filter is derived per range (CONV-015); zapping both views is the same to userspace.
    if (this.attributes !== null) return ZAP_ALL;
    return this.initShared ? ZAP_SHARED : ZAP_PRIVATE;
  }

  /** kvm_gmem_invalidate_start/end: zap what every VM maps from [start, end). */
  invalidate(start: number, end: number): void {
    for (const f of this.files) f.invalidate(start, end, this.invalidateFilter);
  }

  /** kvm_gmem_punch_hole(): zap guest mappings, unmap host mappings, free the pages. */
  punchHole(start: number, end: number): void {
    if (start >= end) return;
    this.kernel.gunyah?.invalidateBegin(this, start, end);
    this.invalidate(start, end);
    this.kernel.unmapMappingRange(this, start, end);
    this.freeFolios(this.cache.remove(start, end));
  }

  private freeFolios(folios: Folio[]): void {
    for (const f of folios) gmemFolioFreed(this.kernel.rmp, f);
  }

  /** kvm_gmem_allocate(): populate [start, end); a pending signal stops it after some pages (EINTR). */
  allocate(start: number, end: number): void {
    const wanted = end - start;
    const beforeSignal = this.kernel.inject.pagesBeforeSignal(wanted);
    const stop = start + beforeSignal;
    // Allocations fail at the page where the injected ENOMEM strikes, counting only new pages.
    const holes = this.cache.holes(start, stop);
    const newPages = holes.reduce((n, [s, e]) => n + (e - s), 0);
    let budget = newPages > 0 ? this.kernel.inject.allocations(newPages) : 0;
    for (const [s, e] of holes) {
      const take = Math.min(e - s, budget);
      if (take > 0) fillByPolicy(this.kernel, this.cache, this.sharedPolicy, s, s + take);
      budget -= take;
      if (take < e - s) fail("ENOMEM");
    }
    if (beforeSignal < wanted) fail("EINTR");
  }

  /** kvm_gmem_error_folio(): a memory error on a page: zap guest mappings, keep the page (poisoned). */
  poison(folio: Folio): void {
    folio.hwpoison = true;
    this.invalidate(folio.index, folio.index + 1);
    this.kernel.unmapMappingRange(this, folio.index, folio.index + 1);
  }

  /** The inode is evicted once no file refers to it: its pages go back to the allocator. */
  evict(): void {
    this.freeFolios(this.cache.remove(0, Number.MAX_SAFE_INTEGER));
  }

  checkInvariants(): void {
    this.cache.checkInvariants();
    const attrs = this.attributes;
    if (attrs === null) return;
    attrs.checkInvariants();
    // In-place conversion's exclusive views: no host page table maps a page that is private now.
    for (const p of this.kernel.processes.values())
      for (const { start, value: pte } of p.mm.ptes.all())
        if (pte.folio.owner === this) invariant(!attrs.isPrivate(pte.folio.index), () => `guest_memfd ${this.ino}: private page ${pte.folio.index} is mapped by process ${p.pid} at page ${start}`);
  }
}
