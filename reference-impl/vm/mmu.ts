// KVM's stage-2 MMU (x86 TDP MMU): per address space a root of mappings from guest
// frames to folios, plus the mirror root TDX keeps for private memory. Mappings
// are one page each (guest_memfd only allocates order-0 folios). Every removal
// goes through zap(), bracketed by the invalidation sequence as in the kernel, and a
// fault that an invalidation overtook is retried instead of installed (vcpu/fault.ts).
import { invariant } from "../lib/invariants.js";
import { IntervalMap } from "../lib/interval-map.js";
import type { Folio } from "../mm/folio.js";
import type { Memslot } from "./memslots.js";
import type { Vm } from "./vm.js";

/** A leaf stage-2 mapping (SPTE). */
export class Spte {
  constructor(
    readonly folio: Folio,
    readonly writable: boolean,
    /** mapped as private memory (the fault was private) */
    readonly isPrivate: boolean,
  ) {}
}

/** enum kvm_gfn_range_filter: which mappings an invalidation concerns. Only roots that tell them apart (TDX) care. */
export interface ZapFilter {
  shared: boolean;
  private: boolean;
}

export const ZAP_ALL: ZapFilter = { shared: true, private: true };
export const ZAP_SHARED: ZapFilter = { shared: true, private: false };
export const ZAP_PRIVATE: ZapFilter = { shared: false, private: true };

export class Mmu {
  /** direct roots, one per memslot address space */
  private readonly roots: IntervalMap<Spte>[];
  /** TDX: private mappings live in a separate mirror root */
  private readonly mirror: IntervalMap<Spte> | null;
  /** mmu_invalidate_seq / mmu_invalidate_in_progress */
  invalidateSeq = 0;
  invalidateInProgress = 0;

  constructor(private readonly vm: Vm) {
    this.roots = Array.from({ length: vm.addressSpaceCount }, () => new IntervalMap<Spte>());
    this.mirror = vm.type.mirroredPrivateRoot ? new IntervalMap<Spte>() : null;
  }

  private rootFor(asId: number, isPrivate: boolean): IntervalMap<Spte> {
    return isPrivate && this.mirror !== null ? this.mirror : this.roots[asId]!;
  }

  /** The mapping a guest access of this kind would use, if present. */
  lookup(asId: number, gfn: number, isPrivate: boolean): Spte | undefined {
    return this.rootFor(asId, isPrivate).get(gfn)?.value;
  }

  /** mmu_invalidate_retry(): an invalidation ran or is running since the fault took its snapshot. */
  retryNeeded(seq: number): boolean {
    return this.invalidateInProgress > 0 || this.invalidateSeq !== seq;
  }

  /**
   * Install a mapping resolved after snapshot seq. The fault path (vcpu/fault.ts) retries
   * instead when retryNeeded(seq); this assertion catches a path that maps without asking.
   */
  map(asId: number, gfn: number, spte: Spte, seq: number): void {
    invariant(!this.retryNeeded(seq), () => `mapping gfn ${gfn} although an invalidation ran since the fault began`);
    this.rootFor(asId, spte.isPrivate).set(gfn, gfn + 1, spte);
    if (spte.isPrivate) this.vm.type.privateSpteSet?.(this.vm, gfn, spte);
  }

  /** kvm_mmu_invalidate_start/end around a zap: faults racing it must retry. */
  invalidate(body: () => void): void {
    this.invalidateInProgress++;
    try {
      body();
    } finally {
      this.invalidateSeq++;
      this.invalidateInProgress--;
    }
  }

  /** kvm_unmap_gfn_range(): drop the mappings of [start, end) the filter selects. */
  zap(asId: number, start: number, end: number, filter: ZapFilter): void {
    if (start >= end) return;
    const zapRoot = (root: IntervalMap<Spte>) => {
      for (const piece of root.delete(start, end)) {
        if (!piece.value.isPrivate) continue;
        this.vm.type.privateSpteRemoved?.(this.vm, piece.start, piece.value);
        this.vm.type.privatePageUnmapped(piece.value.folio);
      }
    };
    if (this.mirror === null) zapRoot(this.roots[asId]!);
    else {
      if (filter.private && asId === 0) zapRoot(this.mirror);
      if (filter.shared) zapRoot(this.roots[asId]!);
    }
  }

  /** kvm_arch_flush_shadow_memslot(): nothing may stay mapped through a slot being deleted or moved. */
  zapSlot(slot: Memslot): void {
    this.invalidate(() => this.zap(slot.asId, slot.baseGfn, slot.endGfn, ZAP_ALL));
  }

  /** Drop every mapping (VM teardown). */
  zapAll(): void {
    this.invalidate(() => {
      for (let as = 0; as < this.roots.length; as++) this.zap(as, 0, Number.MAX_SAFE_INTEGER, ZAP_ALL);
    });
  }

  /** Mappings of [start, end) in every root, for invariant checks and tests. */
  mappings(start = 0, end = Number.MAX_SAFE_INTEGER): { asId: number; gfn: number; spte: Spte }[] {
    const out: { asId: number; gfn: number; spte: Spte }[] = [];
    this.roots.forEach((root, asId) => {
      for (const iv of root.overlapping(start, end)) out.push({ asId, gfn: iv.start, spte: iv.value });
    });
    if (this.mirror) for (const iv of this.mirror.overlapping(start, end)) out.push({ asId: 0, gfn: iv.start, spte: iv.value });
    return out;
  }

  checkInvariants(): void {
    for (const r of this.roots) r.checkInvariants();
    this.mirror?.checkInvariants();
  }
}
