// Gunyah's demand paging of guest_memfd memory, where it differs from pKVM (hw-models.md
// 3.5-3.6). Sources: E. Berman, "Drivers for Gunyah hypervisor" v17 (lore
// 20240222-gunyah-v17-0-1e9da6763d38@quicinc.com, patch 20/35 "virt: gunyah: Add
// interfaces to map memory into guest address space": gunyah_vm_provide_folio(),
// gunyah_vm_reclaim_folio()), and drivers/virt/gunyah/guest_memfd.c rebased on seed 002's
// library (guest_memfd_operations {invalidate_begin, accessible, release};
// gunyah_gmem_demand_page() -> guest_memfd_make_inaccessible(); files made with
// GUEST_MEMFD_FLAG_NO_DIRECT_MAP).
//
// What differs from pKVM, on the same library (../pkvm/gmem-library.ts):
// - there is no share hypercall: the Resource Manager treats every VM as protected, so a
//   binding's default access is "lend" (gunyah_guest_mem_is_lend()), and a page is lent
//   to the guest at its first access (demand paging), the host's bytes kept: the VMM
//   loads the guest image through the mmap before the guest runs;
// - a lend makes the page inaccessible first (the library unmaps the host's mappings,
//   then refuses while other references, a GUP pin, remain): a refused lend fails the
//   guest's fault, which KVM_RUN reports (gunyah_gmem_demand_page()'s error);
// - a host access to a lent page does not fail: the library's `accessible` operation
//   reclaims the page from the guest (gunyah_vm_reclaim_folio()), the host maps it, and
//   the guest's next access lends it again;
// - a page is lent to one VM only (bindings of one file must not overlap).
import type { GmemInode } from "../../../guest_memfd/inode.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import { invariant } from "../../../lib/invariants.js";
import type { Kernel } from "../../../kernel.js";
import type { Folio } from "../../../mm/folio.js";
import { pinnedFolios } from "../../../mm/gup.js";
import { ZAP_ALL } from "../../../vm/mmu.js";
import type { Vm } from "../../../vm/vm.js";
import { GmemLibrary } from "../pkvm/gmem-library.js";
import type { HostAccess } from "../pkvm/pkvm.js";

/** The VM a run of an inode's pages is lent to; `gfnDelta` = gfn - index. */
interface Lent {
  vm: Vm;
  gfnDelta: number;
}

export class GunyahRm {
  readonly lib: GmemLibrary;
  /** the lent pages of each inode, by page index; absent: the host's */
  private readonly lent = new Map<GmemInode, IntervalMap<Lent>>();

  constructor(private readonly kernel: Kernel) {
    this.lib = new GmemLibrary(kernel);
  }

  /** Whether an inode is bound to a Gunyah VM (its pages follow demand paging). */
  isGunyahInode(inode: GmemInode): boolean {
    for (const f of inode.files) if (f.vm.type.name === "arm64-gunyah") return true;
    return false;
  }

  lentTo(inode: GmemInode, index: number): Lent | undefined {
    return this.lent.get(inode)?.get(index)?.value;
  }

  /**
   * gunyah_gmem_demand_page(): lend the page to the guest at gfn. The library unmaps the
   * host's mappings, then refuses (EBUSY) while another reference holds the page.
   */
  lend(vm: Vm, gfn: number, inode: GmemInode, index: number): 0 | "EBUSY" {
    if (this.lentTo(inode, index) !== undefined) return 0;
    if (this.lib.makeInaccessible(inode, index) !== 0) return "EBUSY";
    let map = this.lent.get(inode);
    if (map === undefined) this.lent.set(inode, (map = new IntervalMap({ same: (a, b) => a.vm === b.vm && a.gfnDelta === b.gfnDelta })));
    map.set(index, index + 1, { vm, gfnDelta: gfn - index });
    return 0;
  }

  /**
   * gunyah_vm_reclaim_folio(): the hypervisor unmaps the page from the guest and gives it
   * back; KVM's stage-2 mapping of it goes with it, and the library makes it accessible.
   */
  reclaim(inode: GmemInode, index: number): void {
    const l = this.lentTo(inode, index);
    if (l === undefined) return;
    const gfn = index + l.gfnDelta;
    l.vm.mmu.invalidate(() => l.vm.mmu.zap(0, gfn, gfn + 1, ZAP_ALL));
    this.lent.get(inode)!.delete(index, index + 1);
    this.lib.makeAccessible(inode, index);
  }

  /** A host fault on a page of a Gunyah VM's guest_memfd: a lent page is reclaimed first (the library's `accessible` operation). */
  hostFault(inode: GmemInode, index: number): HostAccess {
    this.reclaim(inode, index);
    return "ok";
  }

  /** invalidate_begin (punch hole): the range's lent pages come back before guest_memfd frees them. */
  invalidateBegin(inode: GmemInode, start: number, end: number): void {
    const map = this.lent.get(inode);
    if (map === undefined) return;
    for (const { start: s, end: e } of [...map.all()]) for (let i = Math.max(s, start); i < Math.min(e, end); i++) this.reclaim(inode, i);
  }

  /** Teardown (gunyah_vm_reclaim_range() over the whole VM): every page lent to vm comes back. */
  reclaimVm(vm: Vm): void {
    for (const [inode, map] of this.lent)
      for (const { start, end, value } of [...map.all()]) if (value.vm === vm) for (let i = start; i < end; i++) this.reclaim(inode, i);
  }

  /**
   * A lent page is the guest's alone: no host page table maps it, no GUP pin holds it, it
   * is out of the kernel's direct map and inaccessible in the library; the VM it is lent
   * to binds that page at that gfn.
   */
  checkInvariants(hostMapped: Map<Folio, bigint>): void {
    const pinned = new Set(pinnedFolios(this.kernel));
    for (const [inode, map] of this.lent)
      for (const { start, end, value } of map.all())
        for (let index = start; index < end; index++) {
          const where = `Gunyah: inode ${inode.ino} page ${index} lent to VM ${value.vm.id} at gfn ${index + value.gfnDelta}`;
          const folio = inode.cachedPage(index);
          invariant(folio !== undefined, () => `${where}: guest_memfd no longer has the page`);
          invariant(!hostMapped.has(folio), () => `${where}: process ${hostMapped.get(folio)} maps it`);
          invariant(!pinned.has(folio), () => `${where}: a GUP pin holds it`);
          invariant(!this.lib.inDirectMap(folio), () => `${where}: still in the kernel's direct map`);
          invariant(this.lib.accessibleCount(inode, index) === 0, () => `${where}: the library lets the host map it`);
          invariant([...inode.files].some((f) => f.vm === value.vm), () => `${where}: the VM has no file of the inode`);
        }
    // The converse: the guest reaches a guest_memfd page only while it is lent to it at that
    // gfn (a reclaim unmaps it from the guest, gunyah_vm_reclaim_folio()).
    for (const vm of this.kernel.vms)
      for (const { gfn } of vm.mmu.mappings()) {
        const slot = vm.memslots[0]!.at(gfn);
        if (slot?.gmem?.file == null) continue;
        const index = slot.gmem.pgoff + (gfn - slot.baseGfn);
        const l = this.lentTo(slot.gmem.file.inode, index);
        invariant(l?.vm === vm && index + l.gfnDelta === gfn, () => `Gunyah: VM ${vm.id} maps gfn ${gfn}, page ${index} of inode ${slot.gmem!.file!.inode.ino}, which is not lent to it there`);
      }
  }
}
