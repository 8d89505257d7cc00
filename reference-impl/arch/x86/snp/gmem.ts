// How KVM and guest_memfd drive the RMP of an SNP guest (arch/x86/kvm/svm/sev.c at
// torvalds/linux 0097f9df996f): sev_gmem_prepare() when kvm_gmem_get_pfn() hands a page
// to the fault path, sev_gmem_invalidate() when guest_memfd frees a page (punch hole,
// truncate, release), and sev_handle_rmp_fault() when an access trips an RMP check.
// A zap of KVM's mappings leaves the RMP alone: a page stays assigned, and validated,
// until it is freed (hw-models.md 1.7).
import type { Folio, FolioOwner } from "../../../mm/folio.js";
import type { Vm } from "../../../vm/vm.js";
import { ZAP_ALL } from "../../../vm/mmu.js";
import type { SevState } from "../sev-snp.js";
import { PAGES_PER_2M, RMP_RET, type ReverseMapTable } from "./rmp.js";

/** The gfn a VM's memslots bind a guest_memfd page to, if any. */
export function gfnOfFolio(vm: Vm, folio: Folio): number | undefined {
  for (const f of vm.gmemFiles) {
    if (f.inode !== folio.owner) continue;
    const slot = f.bindings.get(folio.index)?.value;
    if (slot?.gmem) return slot.baseGfn + (folio.index - slot.gmem.pgoff);
  }
  return undefined;
}

/**
 * sev_gmem_prepare(): an unassigned page becomes the guest's (Guest-Invalid: assigned, not
 * validated). An assigned page is left as it is, whatever ASID or GPA it carries: the hook
 * must be idempotent. Mainline guest_memfd folios are order 0, so the entry is always 4K.
 */
export function sevGmemPrepare(rmp: ReverseMapTable, vm: Vm, sev: SevState, folio: Folio): void {
  if (!sev.snpActive) return;
  const pfn = rmp.pfnOf(folio);
  if (rmp.lookup(pfn).entry !== undefined) return;
  const gfn = gfnOfFolio(vm, folio);
  if (gfn === undefined) throw new Error(`reference model: preparing page ${folio.id}, which VM ${vm.id} does not bind`);
  const rc = rmp.makePrivate(pfn, gfn, "4K", sev.asid, false);
  if (rc !== RMP_RET.SUCCESS) throw new Error(`reference model: RMPUPDATE of an unassigned frame failed (${rc})`);
}

/**
 * sev_gmem_invalidate() over [start, end) frames: each assigned entry goes back to the
 * Hypervisor state, in one 2M update where an aligned 2M entry is wholly inside the range,
 * else after a PSMASH of the 2M entry around it.
 */
export function sevGmemInvalidate(rmp: ReverseMapTable, start: number, end: number): void {
  for (let pfn = start; pfn < end; ) {
    const { entry, level } = rmp.lookup(pfn);
    const use2m = entry !== undefined && level === "2M" && pfn % PAGES_PER_2M === 0 && end >= pfn + PAGES_PER_2M;
    if (entry !== undefined) {
      if (!use2m && level === "2M") rmp.psmash(pfn);
      // A failure here is WARNed and skipped by the kernel: there is no recovery path.
      rmp.makeShared(pfn, use2m ? "2M" : "4K");
    }
    pfn += use2m ? PAGES_PER_2M : 1;
  }
}

/** kvm_arch_gmem_invalidate() from guest_memfd's free_folio: the page leaves the page cache. */
export function gmemFolioFreed(rmp: ReverseMapTable, folio: Folio): void {
  const pfn = rmp.framedPfn(folio);
  if (pfn === undefined) return;
  sevGmemInvalidate(rmp, pfn, pfn + 1);
  rmp.releaseFrame(folio);
}

/** What the RMP check of a guest's private (C=1) access to a mapped page decides. */
export type RmpCheck =
  /** the access goes through */
  | { kind: "ok"; pfn: number }
  /** assigned to this guest at this GPA but not validated: the guest gets #VC */
  | { kind: "not-validated"; pfn: number }
  /**
   * #NPF with the RMP bit that sev_handle_rmp_fault() cannot resolve (not assigned to this
   * ASID, or at another GPA): the vCPU faults on the same access until something stops it
   */
  | { kind: "rmp-violation"; pfn: number };

/**
 * The hardware's RMP check for a private access to gfn through a page KVM mapped, with
 * KVM's sev_handle_rmp_fault() for an NPT mapping smaller than a 2M RMP entry (PSMASH, then
 * zap the 2M range so the access refaults at 4K).
 */
export function rmpCheck(rmp: ReverseMapTable, vm: Vm, sev: SevState, gfn: number, folio: Folio): RmpCheck {
  const pfn = rmp.pfnOf(folio);
  let { entry, level } = rmp.lookup(pfn);
  if (entry !== undefined && level === "2M") {
    // The model's NPT maps 4K pages only: the size mismatch is repaired by splitting the entry.
    smashAndZap(rmp, vm, pfn, gfn);
    ({ entry, level } = rmp.lookup(pfn));
  }
  if (entry === undefined || entry.asid !== sev.asid || pfn + entry.delta !== gfn) return { kind: "rmp-violation", pfn };
  return entry.validated ? { kind: "ok", pfn } : { kind: "not-validated", pfn };
}

/** sev_handle_rmp_fault() for a 2M entry: PSMASH it and zap the 2M gfn range, so the guest refaults at 4K. */
export function smashAndZap(rmp: ReverseMapTable, vm: Vm, pfn: number, gfn: number): void {
  rmp.psmash(pfn);
  const start = gfn - (gfn % PAGES_PER_2M);
  vm.mmu.invalidate(() => vm.mmu.zap(0, start, start + PAGES_PER_2M, ZAP_ALL));
}

/**
 * In-place conversion to shared (conv-v7, "guest_memfd: In-place conversion support"
 * v7): guest_memfd calls kvm_arch_gmem_invalidate() on the range's pages before storing
 * the attribute, so the RMP returns them to the hypervisor before the host can map them.
 */
export function gmemRangeToShared(rmp: ReverseMapTable, owner: FolioOwner, start: number, end: number): void {
  for (const [pfn, folio] of rmp.frames) if (folio.owner === owner && folio.index >= start && folio.index < end) sevGmemInvalidate(rmp, pfn, pfn + 1);
}
