// Huge folios of a file on the kernel's internal shmem mount (mm/shmem.c, 6.x): shmem_is_huge()
// for an allocation without a VMA (fallocate, or a kernel user such as restrictedmem_get_page()),
// and the fall back to one page when the PMD range already holds a page
// (shmem_alloc_hugefolio()'s xa_find). The policy is the host's shmem_enabled
// (hosts.ts shmemHuge), which shmem_enabled_store() copies to the internal mount for every
// value above "deny". Used by the restricted file of UPM only: memfd_create files stay order 0
// in the model (the host models say so).
import type { Kernel } from "../kernel.js";
import type { ShmemInode } from "./shmem.js";

/** HPAGE_PMD_NR: the pages of a PMD-sized folio (512 with 4 KiB pages and 8-byte page-table entries). */
export function pmdPages(kernel: Kernel): number {
  return kernel.page.bytes / 8;
}

/**
 * shmem_is_huge(inode, index, false, NULL, 0): always and force say yes; within_size only when
 * i_size covers the whole aligned PMD range that holds index (round_up(index + 1, HPAGE_PMD_NR));
 * advise needs a VMA with VM_HUGEPAGE, which an allocation without a VMA never has; never and deny say no.
 */
export function shmemIsHuge(kernel: Kernel, inode: ShmemInode, index: number): boolean {
  switch (kernel.host.shmemHuge ?? "never") {
    case "always":
    case "force":
      return true;
    case "within_size": {
      const nr = pmdPages(kernel);
      const end = Math.ceil((index + 1) / nr) * nr;
      return kernel.page.pagesUp(inode.size) >= BigInt(end);
    }
    default:
      return false;
  }
}

/**
 * Allocate the page at index the way shmem_get_folio_gfp() does when it finds a hole: the whole
 * PMD-sized folio around it where shmem_is_huge() says so and no page of that range is present,
 * else the one page. Returns the first and last+1 index allocated (nothing when index was present).
 */
export function shmemAllocate(kernel: Kernel, inode: ShmemInode, index: number): [number, number] {
  if (inode.cache.has(index)) return [index, index];
  if (shmemIsHuge(kernel, inode, index)) {
    const nr = pmdPages(kernel);
    const start = index - (index % nr);
    const [hole] = inode.cache.holes(start, start + nr);
    if (hole !== undefined && hole[0] === start && hole[1] === start + nr) {
      kernel.allocate();
      inode.cache.fill(start, start + nr);
      return [start, start + nr];
    }
  }
  kernel.allocate();
  inode.cache.fill(index, index + 1);
  return [index, index + 1];
}
