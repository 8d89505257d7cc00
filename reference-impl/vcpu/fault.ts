// The x86 TDP page-fault path for one guest frame: kvm_mmu_page_fault() ->
// kvm_mmu_faultin_pfn() -> kvm_mmu_faultin_pfn_gmem() / __kvm_faultin_pfn(), and
// kvm_gmem_get_pfn() on the guest_memfd side (arch/x86/kvm/mmu/mmu.c and
// virt/kvm/guest_memfd.c, 6.18-7.2). The order of the checks is the kernel's:
// the private/shared mismatch comes first, then the memslot, then the backing.
import { SyscallError, type Errno } from "../lib/errno.js";
import { Spte } from "../vm/mmu.js";
import type { Memslot } from "../vm/memslots.js";
import type { Vm } from "../vm/vm.js";

export interface FaultRequest {
  gfn: number;
  write: boolean;
  fetch: boolean;
  /** fault->is_private */
  isPrivate: boolean;
}

export type FaultResult =
  /** mapped: the access can proceed through spte */
  | { kind: "mapped"; spte: Spte }
  /** KVM_EXIT_MEMORY_FAULT, with KVM_RUN failing with errno */
  | { kind: "memory-fault"; errno: Errno }
  /**
   * kvm_handle_error_pfn() for KVM_PFN_ERR_FAULT: the host page behind userspace_addr could
   * not be had (no VMA, no permission, SIGBUS). KVM_RUN fails with EFAULT and no memory-fault
   * exit is prepared, so kvm_run.exit_reason is stale (EXIT-012).
   */
  | { kind: "host-fault" }
  /** RET_PF_EMULATE: no memslot (MMIO) or a write to a read-only memslot */
  | { kind: "emulate" }
  /** the host page is poisoned: KVM sends SIGBUS and the run is interrupted */
  | { kind: "hwpoison" };

/** Whether an access the guest declares private (where it can) is private for KVM. */
export function accessIsPrivate(vm: Vm, gfn: number, guestSaysPrivate: boolean): boolean {
  switch (vm.type.privateAccess) {
    case "never":
      return false;
    case "attributes":
      return vm.isPrivate(gfn);
    case "guest":
      return guestSaysPrivate;
  }
}

/** Resolve a stage-2 fault on gfn (address space 0) and install the mapping. */
export function handleFault(vm: Vm, req: FaultRequest): FaultResult {
  const kernel = vm.kernel;
  // The attribute is checked before anything else; a mismatch is the VMM's to resolve.
  if (req.isPrivate !== vm.isPrivate(req.gfn)) return { kind: "memory-fault", errno: "EFAULT" };
  const slot = vm.memslots[0]!.at(req.gfn);
  if (slot === undefined) return req.isPrivate ? { kind: "memory-fault", errno: "EFAULT" } : { kind: "emulate" };
  if (req.isPrivate || slot.gmemOnly) return faultFromGuestMemfd(vm, slot, req);

  const readonlySlot = (slot.flags & kernel.K.mem.READONLY) !== 0n;
  if (readonlySlot && req.write) return { kind: "emulate" };
  const host = vm.owner.mm.getUserPage(slot.hostPage(req.gfn, kernel.page.shift), req.write);
  if (host === "hwpoison") return { kind: "hwpoison" };
  if (host === "fault") return { kind: "host-fault" };
  const spte = new Spte(host.folio, host.writable && !readonlySlot, false);
  vm.mmu.map(0, req.gfn, spte);
  return { kind: "mapped", spte };
}

/** kvm_mmu_faultin_pfn_gmem() + kvm_gmem_get_pfn() */
function faultFromGuestMemfd(vm: Vm, slot: Memslot, req: FaultRequest): FaultResult {
  if (slot.gmem === null) return { kind: "memory-fault", errno: "EFAULT" };
  const file = slot.gmem.file;
  // The file was released: the binding is gone for good.
  if (file === null) return { kind: "memory-fault", errno: "EFAULT" };
  const index = slot.gmem.pgoff + (req.gfn - slot.baseGfn);
  if (file.bindings.get(index)?.value !== slot) return { kind: "memory-fault", errno: "EIO" };
  const inode = file.inode;
  let folio;
  try {
    folio = inode.getFolio(index);
  } catch (err) {
    if (err instanceof SyscallError) return { kind: "memory-fault", errno: err.errno };
    throw err;
  }
  if (folio.hwpoison) return { kind: "memory-fault", errno: "EHWPOISON" };
  inode.clearForUse(folio);
  vm.type.gmemPrepare(folio);
  const spte = new Spte(folio, true, req.isPrivate);
  vm.mmu.map(0, req.gfn, spte);
  return { kind: "mapped", spte };
}
