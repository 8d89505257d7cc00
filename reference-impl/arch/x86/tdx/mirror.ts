// What the TDP MMU's mirror root does to the Secure EPT (arch/x86/kvm/vmx/tdx.c @
// 3829d81b6958), and what the hardware does when the guest reaches a private page:
// - tdx_sept_set_private_spte(): a private leaf installed while the TD is runnable is
//   TDH.MEM.PAGE.AUG (PENDING); before finalization it is only premapped, and
//   tdx_gmem_post_populate() adds the page (init-mem.ts).
// - tdx_sept_remove_private_spte(): every zap of a private leaf (conversion to shared,
//   punch hole, memslot deletion or move, memory failure, VM teardown) is
//   TDH.MEM.RANGE.BLOCK, TDH.MEM.TRACK (only once the TD is runnable: before, no vCPU ran),
//   TDH.MEM.PAGE.REMOVE and the page is cleared (tdx_clear_page). The page stays in
//   guest_memfd; its contents are gone.
// - a guest access to a PENDING page is an EPT violation of type PENDING: with
//   SEPT_VE_DISABLE the module exits to KVM, which kills the VM ("Guest access before
//   accepting", kvm_vm_dead); without it the module injects #VE into the guest.
import { DriverFailure, type OpResult } from "../../../../spec/driver/contract.js";
import { invariant } from "../../../lib/invariants.js";
import type { Folio } from "../../../mm/folio.js";
import { HLT } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Spte } from "../../../vm/mmu.js";
import type { Vm } from "../../../vm/vm.js";
import type { TdxState } from "../tdx.js";
import { EXIT_REASON_EPT_VIOLATION, TDX_TD_ATTR_SEPT_VE_DISABLE, X86_TRAP_VE } from "./abi.js";

/** tdx_sept_set_private_spte() */
export function septSetPrivateSpte(td: TdxState, gfn: number, spte: Spte): void {
  if (td.state === "runnable") td.sept.aug(gfn, spte.folio);
}

/** tdx_sept_remove_private_spte(): BLOCK, TRACK, REMOVE, then the page is cleared. */
export function septRemovePrivateSpte(td: TdxState, gfn: number): void {
  // A premapped gfn whose ADD never happened has no leaf (tdx_is_sept_zap_err_due_to_premap).
  if (td.sept.leaf(gfn) === undefined && td.state !== "runnable") return;
  td.sept.block(gfn);
  // tdx_track() is skipped before finalization: no vCPU has run, so no translation is cached.
  const ran = td.state === "runnable";
  if (ran) td.sept.track();
  td.sept.remove(gfn, ran).clear();
}

/** A guest access through an installed private mapping: a PENDING leaf is not accessible. */
export function septGuestAccess(td: TdxState, vcpu: Vcpu, gfn: number, spte: Spte, gpa: bigint): OpResult | undefined {
  if (!spte.isPrivate) return undefined;
  const leaf = td.sept.leaf(gfn);
  invariant(leaf !== undefined, () => `VM ${vcpu.vm.id} gfn ${gfn}: mapped private in the mirror root but FREE in the Secure EPT`);
  if (leaf.state !== "pending") return undefined;
  if ((td.attributes & TDX_TD_ATTR_SEPT_VE_DISABLE) !== 0n)
    throw new DriverFailure("unsupported", "the reference model does not model kvm_vm_dead(), which KVM calls when a TD with SEPT_VE_DISABLE touches a page it has not accepted");
  // The #VE handler of the driver's guest program records the #VE information and halts.
  return { ret: 0n, exit: HLT, out: { vector: X86_TRAP_VE, ve_exit_reason: EXIT_REASON_EPT_VIOLATION, ve_gpa: gpa } };
}

/**
 * The TDX invariants (hw-models.md 2.6) that the model can state: the mirror root and
 * the Secure EPT agree once no command is in flight; every leaf maps a guest_memfd page
 * of this TD that is PRIVATE now (7), not freed, not host-mapped (2, checked by the
 * kernel for every private mapping too) and owned by no other TD (1); the mirror and the
 * shared root never both map a gfn (a private GPA is never reachable through its shared
 * alias); no ADD after finalization (5: MRTD only grows before it).
 */
export function checkTdxInvariants(td: TdxState, vm: Vm): void {
  td.sept.checkInvariants();
  const where = (gfn: number) => `VM ${vm.id} gfn ${gfn}`;
  const mirrored = new Map<number, Spte>();
  for (const { gfn, spte } of vm.mmu.mappings()) {
    if (spte.isPrivate) mirrored.set(gfn, spte);
  }
  for (const { gfn, spte } of vm.mmu.mappings()) {
    if (!spte.isPrivate) invariant(!mirrored.has(gfn), () => `${where(gfn)}: mapped both in the shared root and in the mirror root`);
  }
  for (const [gfn, spte] of mirrored) {
    const leaf = td.sept.leaf(gfn);
    invariant(leaf !== undefined, () => `${where(gfn)}: mapped in the mirror root but FREE in the Secure EPT`);
    invariant(leaf.folio === spte.folio, () => `${where(gfn)}: the Secure EPT maps page ${leaf.folio.id}, the mirror root page ${spte.folio.id}`);
  }
  const hostMapped = new Set<Folio>();
  for (const p of vm.kernel.processes.values()) for (const { value } of p.mm.ptes.all()) hostMapped.add(value.folio);
  for (const { start: gfn, value: leaf } of td.sept.leaves.all()) {
    invariant(!hostMapped.has(leaf.folio), () => `${where(gfn)}: page ${leaf.folio.id} is in the Secure EPT and mapped by a process`);
    invariant(mirrored.has(gfn), () => `${where(gfn)}: ${leaf.state} in the Secure EPT but not in KVM's mirror root (a zap skipped the removal)`);
    invariant(vm.isPrivate(gfn), () => `${where(gfn)}: in the Secure EPT while its attribute is shared`);
    invariant(!leaf.folio.freed, () => `${where(gfn)}: the Secure EPT maps a freed page`);
    invariant(leaf.folio.owner.kind === "guest_memfd", () => `${where(gfn)}: the Secure EPT maps a ${leaf.folio.owner.kind} page`);
    invariant([...vm.gmemFiles].some((f) => f.inode.cachedPage(leaf.folio.index) === leaf.folio), () => `${where(gfn)}: the Secure EPT maps a page of no guest_memfd of this VM`);
    for (const other of vm.kernel.vms) {
      if (other === vm) continue;
      const otherTd = (other.type as { tdx?: TdxState | null }).tdx;
      if (otherTd == null) continue;
      for (const { start, value } of otherTd.sept.leaves.all())
        invariant(value.folio !== leaf.folio, () => `${where(gfn)}: page ${leaf.folio.id} is also in the Secure EPT of VM ${other.id} at gfn ${start}`);
    }
  }
}
