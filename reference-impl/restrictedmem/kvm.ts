// KVM's side of restrictedmem (UPM v9 [PATCH v9 2/8] and 8/8, v10 3/9 and 9/9, virt/kvm/kvm_main.c):
// a KVM_MEM_PRIVATE memslot takes a reference on its restricted file and registers a
// notifier that zaps the slot's guest mappings of the pages fallocate changes; a private
// fault takes the page from the file (kvm_restricted_mem_get_pfn()).
import { fail, SyscallError } from "../lib/errno.js";
import type { Folio } from "../mm/folio.js";
import type { OpenFile, SyscallContext } from "../process/file.js";
import type { Memslot } from "../vm/memslots.js";
import { ZAP_ALL } from "../vm/mmu.js";
import type { Vm } from "../vm/vm.js";
import { RestrictedFile, type RestrictedmemNotifier } from "./file.js";

/** slot->restricted_file, slot->restricted_offset and slot->notifier */
export class RestrictedBinding implements RestrictedmemNotifier {
  /**
   * Pages a v9 punch freed while the slot kept mapping them: the notifier was handed byte
   * offsets and zapped the wrong gfns (seed 000). The guest goes on using the freed page;
   * the model keeps it visible instead of checking it away.
   */
  readonly stale = new Set<Folio>();

  constructor(
    readonly vm: Vm,
    readonly slot: Memslot,
    readonly file: RestrictedFile,
    /** restricted_offset in bytes */
    readonly offset: bigint,
  ) {}

  /** restricted_offset >> PAGE_SHIFT */
  get basePgoff(): number {
    return this.vm.kernel.page.page(this.offset);
  }

  /** The file page behind a gfn of the slot (kvm_restricted_mem_get_pfn's index). */
  index(gfn: number): number {
    return gfn - this.slot.baseGfn + this.basePgoff;
  }

  /** restrictedmem_range_is_valid(): the gfns of the slot that file pages [start, end) back, if any. */
  private gfnRange(start: bigint, end: bigint): [number, number] | undefined {
    const base = BigInt(this.basePgoff);
    const npages = BigInt(this.slot.npages);
    const lo = start > base ? BigInt(this.slot.baseGfn) + start - base : BigInt(this.slot.baseGfn);
    const hi = end < base + npages ? BigInt(this.slot.baseGfn) + end - base : BigInt(this.slot.endGfn);
    return lo < hi ? [Number(lo), Number(hi)] : undefined;
  }

  /** kvm_restrictedmem_invalidate_begin(): kvm_mmu_invalidate_begin, then zap the range. */
  invalidateStart(start: bigint, end: bigint): void {
    const range = this.gfnRange(start, end);
    if (range === undefined) return;
    this.vm.mmu.invalidateInProgress++;
    this.vm.mmu.zap(this.slot.asId, range[0], range[1], ZAP_ALL);
  }

  /** kvm_restrictedmem_invalidate_end(): kvm_mmu_invalidate_end. */
  invalidateEnd(start: bigint, end: bigint): void {
    for (const { spte } of this.vm.mmu.mappings(this.slot.baseGfn, this.slot.endGfn)) if (spte.folio.freed) this.stale.add(spte.folio);
    if (this.gfnRange(start, end) === undefined) return;
    this.vm.mmu.invalidateSeq++;
    this.vm.mmu.invalidateInProgress--;
  }

  /** kvm_restricted_mem_get_pfn() for a private fault */
  getPage(gfn: number): Folio {
    return this.file.inode.getPage(this.index(gfn));
  }

  /** What a private mapping of gfn may point at: the file's page, or a page v9 left stale. */
  backs(gfn: number, folio: Folio): boolean {
    return this.stale.has(folio) || this.file.inode.memfd.cachedPage(this.index(gfn)) === folio;
  }
}

/**
 * The restricted_fd part of __kvm_set_memory_region(): fget() of a descriptor that names a
 * restrictedmem file, else EINVAL (RMEM-020); the slot holds the file until it is freed.
 */
export function bindRestricted(ctx: SyscallContext, vm: Vm, slot: Memslot, fd: bigint, offset: bigint): void {
  let entry: OpenFile | undefined;
  try {
    entry = ctx.process.files.get(BigInt.asUintN(32, fd));
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
  }
  if (!(entry instanceof RestrictedFile)) fail("EINVAL");
  const binding = new RestrictedBinding(vm, slot, entry.get(), offset);
  slot.restricted = binding;
  // kvm_prepare_memory_region(): kvm_restrictedmem_register() for a new private slot
  entry.inode.notifiers.add(binding);
}

/** kvm_free_memslot(): kvm_restrictedmem_unregister(), then fput(). */
export function unbindRestricted(slot: Memslot): void {
  const binding = slot.restricted;
  if (!binding) return;
  binding.file.inode.notifiers.delete(binding);
  slot.restricted = null;
  binding.file.put();
}
