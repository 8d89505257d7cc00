// Memory attributes by index (gfn or page offset) as ranges: only non-zero values are
// stored, so "no entry" reads as 0 (shared). Kept by the VM (kvm->mem_attr_array) and, for
// in-place conversion, by each guest_memfd inode (its maple tree).
import { IntervalMap } from "./interval-map.js";
import { invariant } from "./invariants.js";

export class AttributeRanges {
  protected readonly store = new IntervalMap<bigint>({ same: (a, b) => a === b });

  get(index: number): bigint {
    return this.store.get(index)?.value ?? 0n;
  }

  /** Every index of [start, end) has exactly attrs (kvm_range_has_memory_attributes with mask ~0). */
  rangeHas(start: number, end: number, attrs: bigint): boolean {
    if (attrs === 0n) return !this.store.intersects(start, end);
    return this.store.gaps(start, end).length === 0 && this.store.overlapping(start, end).every((iv) => iv.value === attrs);
  }

  assign(start: number, end: number, attrs: bigint): void {
    if (attrs === 0n) this.store.delete(start, end);
    else this.store.set(start, end, attrs);
  }

  /** The store's own invariants, and no zero stored; `allowed` bounds the values where given. */
  checkRanges(what: string, allowed?: bigint): void {
    this.store.checkInvariants();
    for (const iv of this.store.all())
      invariant(iv.value !== 0n && (allowed === undefined || (iv.value & ~allowed) === 0n), () => `${what}: value ${iv.value} stored at ${iv.start} is not a supported non-zero value`);
  }
}
