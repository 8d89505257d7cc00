// Per-VM memory attributes (kvm->mem_attr_array) and KVM_SET_MEMORY_ATTRIBUTES:
// kvm_vm_ioctl_set_mem_attributes() and kvm_vm_set_mem_attributes() in
// virt/kvm/kvm_main.c (read at torvalds/linux f8479adb). Attributes are stored per
// guest frame independently of memslots; only non-zero values are stored.
import { fail } from "../lib/errno.js";
import { IntervalMap } from "../lib/interval-map.js";
import { invariant } from "../lib/invariants.js";
import type { SyscallContext } from "../process/file.js";
import { ZAP_PRIVATE, ZAP_SHARED } from "./mmu.js";
import type { Vm } from "./vm.js";

export class MemoryAttributes {
  private readonly store = new IntervalMap<bigint>({ same: (a, b) => a === b });

  constructor(readonly supported: bigint) {}

  get(gfn: number): bigint {
    return this.store.get(gfn)?.value ?? 0n;
  }

  /** kvm_range_has_memory_attributes(..., ~0, attrs): every gfn of [start, end) has exactly attrs. */
  rangeHas(start: number, end: number, attrs: bigint): boolean {
    if (attrs === 0n) return !this.store.intersects(start, end);
    return this.store.gaps(start, end).length === 0 && this.store.overlapping(start, end).every((iv) => iv.value === attrs);
  }

  assign(start: number, end: number, attrs: bigint): void {
    if (attrs === 0n) this.store.delete(start, end);
    else this.store.set(start, end, attrs);
  }

  checkInvariants(): void {
    this.store.checkInvariants();
    for (const iv of this.store.all())
      invariant(iv.value !== 0n && (iv.value & ~this.supported) === 0n, () => `attribute ${iv.value} stored at gfn ${iv.start} is not a supported non-zero value`);
  }
}

export interface AttributesRequest {
  address: bigint;
  size: bigint;
  attributes: bigint;
  flags: bigint;
}

/** KVM_SET_MEMORY_ATTRIBUTES on a VM (the caller has checked that the ioctl is built in). */
export function setMemoryAttributes(ctx: SyscallContext, vm: Vm, req: AttributesRequest): void {
  const { kernel } = ctx;
  const page = kernel.page;
  const attrs = vm.attributes!;
  if (req.flags !== 0n) fail("EINVAL");
  if (req.attributes & ~vm.supportedAttributes) fail("EINVAL");
  if (req.size === 0n || req.address + req.size > (1n << 64n) - 1n) fail("EINVAL");
  if (!page.aligned(req.address) || !page.aligned(req.size)) fail("EINVAL");
  const start = page.page(req.address);
  const end = page.page(req.address + req.size);

  if (attrs.rangeHas(start, end, req.attributes)) return;
  // xa_reserve() for every gfn before anything changes: all or nothing.
  if (kernel.inject.allocations(end - start) < end - start) fail("ENOMEM");

  // kvm_arch_pre_set_memory_attributes(): unmap the view that is going away.
  const filter = req.attributes & kernel.K.ATTRIBUTE_PRIVATE ? ZAP_SHARED : ZAP_PRIVATE;
  vm.mmu.invalidate(() => {
    vm.memslots.forEach((slots, asId) => {
      for (const { value: slot } of slots.byGfn.overlapping(start, end))
        vm.mmu.zap(asId, Math.max(start, slot.baseGfn), Math.min(end, slot.endGfn), filter);
    });
    attrs.assign(start, end, req.attributes);
  });
}
