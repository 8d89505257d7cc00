// guest_memfd as the library of seed 002 (E. Berman, "mm: Introduce guest_memfd library",
// RFC v2, 2024-08-29) and F. Tabba's pKVM design (v3 "restricted mapping of guest_memfd at
// the host", Oct 2024; v7, Mar 2025), for the guest_memfd of a protected VM. Neither series
// received uAPI numbers for it, so nothing here is a new operation: the library's effects
// are seen through existing ones (mmap and loads of the guest_memfd, the gup-pin model
// operations, the guest's MEM_SHARE / MEM_UNSHARE).
//
// Per page the library keeps two counts:
// - `accessible`: how many users made the page host-accessible. The only user here is the
//   protected VM's MEM_SHARE, so it is 1 while the guest shares the page, else 0;
// - `safe`: the reference count the page has when no host user holds it: 1, the page cache's.
// A page becomes inaccessible (private) only when accessible == 0 and its reference count
// equals `safe`: its host mappings are unmapped first (unmap_mapping_folio), then any
// reference left (a GUP pin) refuses the conversion (-EBUSY in the library). Host mmap
// faults are allowed on accessible pages only (SIGBUS otherwise), and an inaccessible page
// is removed from the kernel's direct map (GUEST_MEMFD_FLAG_REMOVE_DIRECT_MAP, which pKVM
// and Gunyah lending need) and put back when it becomes accessible again.
import type { GmemInode } from "../../../guest_memfd/inode.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import type { Kernel } from "../../../kernel.js";
import type { Folio } from "../../../mm/folio.js";
import { pinnedFolios } from "../../../mm/gup.js";

/** The expected reference count of a page no host user holds: the page cache's own. */
export const SAFE_REFS = 1;

export class GmemLibrary {
  /** the accessible (shared) pages of each inode; absent: inaccessible */
  private readonly accessible = new Map<GmemInode, IntervalMap<true>>();
  /** pages taken out of the direct map */
  private readonly offDirectMap = new Set<Folio>();

  constructor(private readonly kernel: Kernel) {}

  /** folio_get_private(folio)->accessible */
  accessibleCount(inode: GmemInode, index: number): number {
    return this.accessible.get(inode)?.get(index) ? 1 : 0;
  }

  /**
   * folio_ref_count(), as far as it matters here: the page cache's reference, one per host
   * page-table entry, and one more if GUP pins hold the page (the model keeps their number apart).
   */
  refCount(folio: Folio): number {
    let refs = SAFE_REFS;
    for (const p of this.kernel.processes.values()) for (const { value: pte } of p.mm.ptes.all()) if (pte.folio === folio) refs++;
    for (const pinned of pinnedFolios(this.kernel)) if (pinned === folio) refs++;
    return refs;
  }

  inDirectMap(folio: Folio): boolean {
    return !this.offDirectMap.has(folio);
  }

  /** guest_memfd_make_accessible(): the host may map the page; it is back in the direct map. */
  makeAccessible(inode: GmemInode, index: number): void {
    let map = this.accessible.get(inode);
    if (map === undefined) this.accessible.set(inode, (map = new IntervalMap({ same: () => true })));
    map.set(index, index + 1, true);
    const folio = inode.cachedPage(index);
    if (folio) this.offDirectMap.delete(folio);
  }

  /**
   * guest_memfd_make_inaccessible(): unmap the page from every host mapping, then refuse
   * (EBUSY) if references beyond `safe` remain; otherwise it is private and leaves the direct map.
   */
  makeInaccessible(inode: GmemInode, index: number): 0 | "EBUSY" {
    this.kernel.unmapMappingRange(inode, index, index + 1);
    const folio = inode.cachedPage(index);
    if (folio !== undefined && this.refCount(folio) !== SAFE_REFS) return "EBUSY";
    this.accessible.get(inode)?.delete(index, index + 1);
    if (folio !== undefined) this.offDirectMap.add(folio);
    return 0;
  }

  /** A page the guest takes private at its first fault (never accessible yet) leaves the direct map. */
  removeFromDirectMap(folio: Folio): void {
    this.offDirectMap.add(folio);
  }

  /** The page is freed or returned to the host for good. */
  forget(folio: Folio): void {
    this.offDirectMap.delete(folio);
  }
}
