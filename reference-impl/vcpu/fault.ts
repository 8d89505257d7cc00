// The x86 TDP page-fault path for one guest frame: kvm_mmu_page_fault() ->
// kvm_mmu_faultin_pfn() -> kvm_mmu_faultin_pfn_gmem() / __kvm_faultin_pfn(), and
// kvm_gmem_get_pfn() on the guest_memfd side (arch/x86/kvm/mmu/mmu.c and
// virt/kvm/guest_memfd.c, 6.18-7.2). The order of the checks is the kernel's:
// the private/shared mismatch comes first, then the memslot, then the backing.
import { gmemGetFolio } from "../guest_memfd/populate.js";
import type { Errno } from "../lib/errno.js";
import { Spte } from "../vm/mmu.js";
import type { Memslot } from "../vm/memslots.js";
import type { Vm } from "../vm/vm.js";

export interface FaultRequest {
  gfn: number;
  write: boolean;
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

/** A resolved fault, before the invalidation sequence is checked: the mapping to install. */
type Resolved = Exclude<FaultResult, { kind: "mapped" }> | { kind: "install"; spte: Spte };

/** More retries than this means an invalidation fires on every attempt: a model bug. */
const MAX_FAULT_RETRIES = 8;

/**
 * Resolve a stage-2 fault on gfn (address space 0) and install the mapping, the way
 * kvm_mmu_faultin_pfn() and is_page_fault_stale() do: snapshot mmu_invalidate_seq first,
 * resolve the page (which may itself trigger an MMU notifier invalidation, e.g. a write
 * fault that copies a MAP_PRIVATE file page), and retry instead of installing when an
 * invalidation ran or is running since the snapshot.
 */
export function handleFault(vm: Vm, req: FaultRequest): FaultResult {
  for (let attempt = 0; attempt <= MAX_FAULT_RETRIES; attempt++) {
    const seq = vm.mmu.invalidateSeq;
    const r = resolve(vm, req);
    if (r.kind !== "install") return r;
    if (vm.mmu.retryNeeded(seq)) continue;
    vm.mmu.map(0, req.gfn, r.spte, seq);
    return { kind: "mapped", spte: r.spte };
  }
  throw new Error(`reference model: the fault on gfn ${req.gfn} was invalidated ${MAX_FAULT_RETRIES + 1} times in a row`);
}

function resolve(vm: Vm, req: FaultRequest): Resolved {
  const kernel = vm.kernel;
  // The attribute is checked before anything else; a mismatch is the VMM's to resolve.
  if (req.isPrivate !== vm.isPrivate(req.gfn)) return { kind: "memory-fault", errno: "EFAULT" };
  const slot = vm.memslots[0]!.at(req.gfn);
  if (slot === undefined) return req.isPrivate ? { kind: "memory-fault", errno: "EFAULT" } : { kind: "emulate" };
  // UPM: kvm_faultin_pfn_private() takes the page from the restricted file, allocating it (RMEM-025).
  if (req.isPrivate && slot.restricted !== null) return { kind: "install", spte: new Spte(slot.restricted.getPage(req.gfn), true, true) };
  if (req.isPrivate || slot.gmemOnly) return faultFromGuestMemfd(vm, slot, req);

  const readonlySlot = (slot.flags & kernel.K.mem.READONLY) !== 0n;
  if (readonlySlot && req.write) return { kind: "emulate" };
  const host = vm.owner.mm.getUserPage(slot.hostPage(req.gfn, kernel.page.shift), req.write);
  if (host === "hwpoison") return { kind: "hwpoison" };
  if (host === "fault") return { kind: "host-fault" };
  return { kind: "install", spte: new Spte(host.folio, host.writable && !readonlySlot, false) };
}

/** kvm_mmu_faultin_pfn_gmem() + kvm_gmem_get_pfn() */
function faultFromGuestMemfd(vm: Vm, slot: Memslot, req: FaultRequest): Resolved {
  if (slot.gmem === null) return { kind: "memory-fault", errno: "EFAULT" };
  const folio = gmemGetFolio(slot, req.gfn);
  if (typeof folio === "string") return { kind: "memory-fault", errno: folio };
  slot.gmem.file!.inode.clearForUse(folio);
  vm.type.gmemPrepare(vm, folio);
  return { kind: "install", spte: new Spte(folio, true, req.isPrivate) };
}
