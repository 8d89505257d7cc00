// The SEV-SNP invariants that span the RMP and the kernel's other objects (hw-models.md
// 1.8 and 8), checked after every operation with --check-invariants: an assigned page
// belongs to exactly one live guest's ASID and is never mapped by a host process; a page
// KVM maps private for an SNP guest is assigned to that guest; ASIDs are not shared.
// Not checked: that a private mapping's gfn equals the RMP entry's GPA, because
// sev_gmem_prepare() keeps an assigned page as it is, so a guest_memfd page bound again
// at another gfn is mapped there with its old GPA (the guest then faults on it).
import { invariant } from "../../../lib/invariants.js";
import type { Kernel } from "../../../kernel.js";
import type { Folio } from "../../../mm/folio.js";
import type { Vm } from "../../../vm/vm.js";
import { X86VmType } from "../vm-types.js";

export function checkSnpInvariants(kernel: Kernel, hostMapped: Map<Folio, bigint>): void {
  const rmp = kernel.rmp;
  rmp.checkInvariants();
  const byAsid = new Map<number, Vm>();
  for (const vm of kernel.vms) {
    const sev = vm.type instanceof X86VmType ? vm.type.sev : null;
    if (sev === null || sev.asid === 0) continue;
    const other = byAsid.get(sev.asid);
    invariant(other === undefined, () => `ASID ${sev.asid} is given to VM ${other!.id} and VM ${vm.id}`);
    byAsid.set(sev.asid, vm);
    for (const { gfn, spte } of vm.mmu.mappings()) {
      if (!spte.isPrivate) continue;
      const pfn = rmp.framedPfn(spte.folio);
      const entry = pfn === undefined ? undefined : rmp.lookup(pfn).entry;
      invariant(entry?.asid === sev.asid, () => `VM ${vm.id} gfn ${gfn}: mapped private, but its page ${spte.folio.id} is ${entry === undefined ? "not assigned in the RMP" : `assigned to ASID ${entry.asid}`}`);
    }
  }
  for (const iv of rmp.table.all()) {
    const owner = byAsid.get(iv.value.asid);
    invariant(owner !== undefined, () => `RMP frames [${iv.start}, ${iv.end}): assigned to ASID ${iv.value.asid}, which no live SNP guest has`);
    for (let pfn = iv.start; pfn < iv.end; pfn++) {
      const folio = rmp.frames.get(pfn);
      const pid = folio === undefined ? undefined : hostMapped.get(folio);
      invariant(pid === undefined, () => `RMP frame ${pfn}: assigned to VM ${owner.id} and mapped by process ${pid}'s page tables`);
    }
  }
}
