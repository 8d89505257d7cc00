// A pKVM machine (kvm-arm.mode=protected): the hypervisor's ownership tables and the
// guest_memfd library its protected guests' memory lives in, with the checks that span
// both and the host's page tables (hw-models.md 3.7 and 8).
import type { GmemInode } from "../../../guest_memfd/inode.js";
import { invariant } from "../../../lib/invariants.js";
import type { Kernel } from "../../../kernel.js";
import type { Folio } from "../../../mm/folio.js";
import { pinnedFolios } from "../../../mm/gup.js";
import { GmemLibrary, SAFE_REFS } from "./gmem-library.js";
import { PageState, PkvmHyp } from "./hyp.js";

/** What a host access to a protected guest's guest_memfd page gives. */
export type HostAccess = "ok" | "SIGBUS" | "SIGSEGV";

export class Pkvm {
  readonly hyp = new PkvmHyp();
  readonly lib: GmemLibrary;

  constructor(private readonly kernel: Kernel) {
    this.lib = new GmemLibrary(kernel);
  }

  /** Whether an inode belongs to a protected VM (its pages follow the library's rules). */
  isProtectedInode(inode: GmemInode): boolean {
    for (const f of inode.files) if (f.vm.type.name === "arm64-protected") return true;
    return false;
  }

  /**
   * A host fault on a page of a protected guest's guest_memfd mapping. guest_memfd maps
   * accessible pages only (SIGBUS); a page it maps whose host stage-2 entry is invalid (an
   * owner other than the host) is a stage-2 fault at EL2, which injects an abort into the
   * host, and an EL0 access dies with SIGSEGV (Documentation/virt/kvm/arm/pkvm.rst).
   */
  hostFault(inode: GmemInode, index: number): HostAccess {
    if (this.lib.accessibleCount(inode, index) === 0) return "SIGBUS";
    return this.hyp.hostStage2Maps(inode, index) ? "ok" : "SIGSEGV";
  }

  /** hw-models.md 3.7 (1)-(3) and 8 (1): ownership, no host mapping or pin of a guest-owned page, direct map. */
  checkInvariants(hostMapped: Map<Folio, bigint>): void {
    this.hyp.checkInvariants();
    const pinned = new Set(pinnedFolios(this.kernel));
    for (const p of this.hyp.guestPages()) {
      const where = `pKVM: VM ${p.vm.id} gfn ${p.gfn} (inode ${p.inode.ino} page ${p.index})`;
      const folio = p.inode.cachedPage(p.index);
      invariant(folio !== undefined, () => `${where}: the guest holds a page guest_memfd no longer has`);
      const accessible = this.lib.accessibleCount(p.inode, p.index);
      if (p.state === PageState.SHARED_OWNED) {
        invariant(accessible === 1, () => `${where}: shared with the host, but guest_memfd keeps it inaccessible`);
        continue;
      }
      invariant(accessible === 0, () => `${where}: owned by the guest alone, but guest_memfd lets the host map it`);
      invariant(!hostMapped.has(folio), () => `${where}: owned by the guest, but process ${hostMapped.get(folio)} maps it (the host stage-2 must not)`);
      invariant(!pinned.has(folio), () => `${where}: owned by the guest, but a GUP pin holds it (references beyond ${SAFE_REFS})`);
      invariant(!this.lib.inDirectMap(folio), () => `${where}: owned by the guest, but still in the kernel's direct map`);
    }
  }
}
