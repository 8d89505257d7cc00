// The per-VM private/shared store of the UPM and RFC revisions, and the VM type that has
// private memory there.
// - upm-v9 ([PATCH v9 5/8], kvm_vm_ioctl_set_mem_attr()): KVM_MEMORY_ENCRYPT_REG_REGION and
//   UNREG_REGION take guest physical ranges; the store lists shared gfns only, so memory is
//   private until userspace says otherwise ("currently defaults to 'private'", seed 000).
// - upm-v10 ([PATCH v10 2/9] and 6/9): KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES, and an in/out
//   KVM_SET_MEMORY_ATTRIBUTES that stores page by page, stops at the first failure, unmaps
//   what it stored and writes back the address and size it did not reach; 0 is returned either way.
// - rfc-v11 ([RFC PATCH v11 08/29], seed 004): the same GET, and a _IOW SET that writes nothing
//   back (the merged code path, vm/attributes.ts).
// Private memory: no x86 VM type has it in the posted UPM series (kvm_arch_has_private_mem() is
// a weak false); the selftest hook CONFIG_HAVE_KVM_PRIVATE_MEM_TESTING discussed on v9 and
// posted on v10 gives it to every VM, and the attribute decides which faults are private. A
// host model with memory attributes is modelled as built with that hook.
import type { IoctlCall, SyscallContext } from "../process/file.js";
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import { X86VmType } from "../arch/x86/vm-types.js";
import type { VmType } from "../arch/vm-type.js";
import { attributesRange } from "../vm/attributes.js";
import { ZAP_ALL } from "../vm/mmu.js";
import type { Vm } from "../vm/vm.js";

/** KVM_MEM_ATTR_SHARED, v9's kernel-internal value for a shared gfn */
export const V9_SHARED = 1n;

/** A default VM of a UPM kernel built with the private-memory test hook. */
class UpmTestingVmType extends X86VmType {
  /** KVM_ADDRESS_SPACE_NUM: SMM kept its address space; nothing restricted it for private memory yet. */
  override addressSpaces(smm: boolean): number {
    return smm ? 2 : 1;
  }
}

/** The VM type KVM_CREATE_VM(0) makes on a UPM kernel, where it differs from mainline's default VM. */
export function upmVmType(kernel: Kernel): VmType | undefined {
  if (kernel.revision.restrictedmem === undefined || !kernel.host.memoryAttributes) return undefined;
  return new UpmTestingVmType({ ...X86VmType.rules("default"), hasPrivateMem: true, privateAccess: "attributes" }, kernel.rmp);
}

/** kvm_mem_is_private() under v9's test hook: a gfn of a KVM_MEM_PRIVATE slot that the store does not list as shared. */
export function v9GfnIsPrivate(vm: Vm, gfn: number): boolean {
  const slot = vm.memslots[0]!.at(gfn);
  return slot?.restricted != null && (vm.attributes!.get(gfn) & V9_SHARED) === 0n;
}

/** Store attrs over [start, end) and zap the guest mappings of the range, inside one invalidation. */
function storeAndUnmap(vm: Vm, start: number, end: number, attrs: bigint): void {
  vm.mmu.invalidate(() => {
    vm.attributes!.assign(start, end, attrs);
    vm.memslots.forEach((slots, asId) => {
      for (const { value: slot } of slots.byGfn.overlapping(start, end)) vm.mmu.zap(asId, Math.max(start, slot.baseGfn), Math.min(end, slot.endGfn), ZAP_ALL);
    });
  });
}

/** v9 kvm_vm_ioctl_set_mem_attr(): REG_REGION makes [addr, addr+size) private, UNREG_REGION shared (RMEM-011, RMEM-019). */
function encryptRegion(vm: Vm, call: IoctlCall, toPrivate: boolean): bigint {
  const page = vm.kernel.page;
  const r = call.readStruct();
  const addr = r.addr as bigint;
  const size = r.size as bigint;
  if (size === 0n || addr + size > (1n << 64n) - 1n) fail("EINVAL");
  if (!page.aligned(addr) || !page.aligned(size)) fail("EINVAL");
  const start = page.page(addr);
  const end = page.page(addr + size);
  if (vm.kernel.inject.allocations(end - start) < end - start) fail("ENOMEM");
  storeAndUnmap(vm, start, end, toPrivate ? 0n : V9_SHARED);
  return 0n;
}

/** v10 kvm_vm_ioctl_set_mem_attributes(): page by page, then address/size written back (ATTR-H-002). */
function setAttributesInOut(vm: Vm, call: IoctlCall): bigint {
  const a = call.readStruct();
  const req = { address: a.address as bigint, size: a.size as bigint, attributes: a.attributes as bigint, flags: a.flags as bigint };
  const [start, end] = attributesRange(vm, req);
  // xa_store() per gfn; the loop stops at the first failure and the call still returns 0.
  const reached = start + vm.kernel.inject.allocations(end - start);
  if (reached > start) storeAndUnmap(vm, start, reached, req.attributes);
  const page = vm.kernel.page;
  call.writeStruct({ ...a, address: page.address(reached), size: page.address(end) - page.address(reached) });
  return 0n;
}

/** The VM ioctls of the pre-merge attribute APIs; undefined for requests they do not handle. */
export function preMergeAttributesIoctl(_ctx: SyscallContext, vm: Vm, call: IoctlCall): bigint | undefined {
  const { kernel } = vm;
  const R = kernel.R;
  const api = kernel.revision.attributesApi;
  if (api === undefined || vm.attributes === null) return undefined;
  if (api === "encrypt-region") {
    // Only where kvm_arch_has_private_mem(); elsewhere the requests keep their SEV meaning.
    if (!vm.type.hasPrivateMem) return undefined;
    if (call.request === R.KVM_MEMORY_ENCRYPT_REG_REGION) return encryptRegion(vm, call, true);
    if (call.request === R.KVM_MEMORY_ENCRYPT_UNREG_REGION) return encryptRegion(vm, call, false);
    return undefined;
  }
  if (call.request === R.KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES) {
    call.writeU64!(vm.supportedAttributes);
    return 0n;
  }
  if (api === "in-out" && call.request === R.KVM_SET_MEMORY_ATTRIBUTES) return setAttributesInOut(vm, call);
  return undefined;
}
