// Per-VM memory attributes (kvm->mem_attr_array) and KVM_SET_MEMORY_ATTRIBUTES:
// kvm_vm_ioctl_set_mem_attributes() and kvm_vm_set_mem_attributes() in
// virt/kvm/kvm_main.c (read at torvalds/linux f8479adb). Attributes are stored per
// guest frame independently of memslots; only non-zero values are stored.
import { fail } from "../lib/errno.js";
import { AttributeRanges } from "../lib/attribute-ranges.js";
import type { SyscallContext } from "../process/file.js";
import { ZAP_PRIVATE, ZAP_SHARED } from "./mmu.js";
import type { Vm } from "./vm.js";

/** Per-VM attributes by gfn. */
export class MemoryAttributes extends AttributeRanges {
  constructor(readonly supported: bigint) {
    super();
  }

  checkInvariants(): void {
    this.checkRanges("VM memory attributes (by gfn)", this.supported);
  }
}

export interface AttributesRequest {
  address: bigint;
  size: bigint;
  attributes: bigint;
  flags: bigint;
}

/** The argument checks of kvm_vm_ioctl_set_mem_attributes() (the same since UPM v10: ATTR-H-003): the gfn range. */
export function attributesRange(vm: Vm, req: AttributesRequest): [number, number] {
  const page = vm.kernel.page;
  if (req.flags !== 0n) fail("EINVAL");
  if (req.attributes & ~vm.supportedAttributes) fail("EINVAL");
  if (req.size === 0n || req.address + req.size > (1n << 64n) - 1n) fail("EINVAL");
  if (!page.aligned(req.address) || !page.aligned(req.size)) fail("EINVAL");
  return [page.page(req.address), page.page(req.address + req.size)];
}

/** KVM_SET_MEMORY_ATTRIBUTES on a VM (the caller has checked that the ioctl is built in). */
export function setMemoryAttributes(ctx: SyscallContext, vm: Vm, req: AttributesRequest): void {
  const { kernel } = ctx;
  const attrs = vm.attributes!;
  const [start, end] = attributesRange(vm, req);

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
