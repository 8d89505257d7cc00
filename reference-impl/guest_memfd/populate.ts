// kvm_gmem_populate() (virt/kvm/guest_memfd.c): the vendor launch commands
// (KVM_TDX_INIT_MEM_REGION, SNP_LAUNCH_UPDATE) fill private pages with initial
// contents before the guest runs. Page by page: the folio at the gfn's file index is
// found (allocated if need be) the way kvm_gmem_get_pfn() finds it, the gfn must be
// PRIVATE, and the vendor's post_populate callback does the work; the folio is then
// marked prepared (up to date). Also __kvm_gmem_get_pfn(), shared with the fault path.
import type { Errno } from "../lib/errno.js";
import { SyscallError } from "../lib/errno.js";
import type { Folio } from "../mm/folio.js";
import type { Memslot } from "../vm/memslots.js";
import type { Vm } from "../vm/vm.js";

/**
 * __kvm_gmem_get_pfn(): the folio bound at gfn of slot. EFAULT once the file is gone,
 * EIO where the file's binding is not this slot, the allocation's error, EHWPOISON for
 * a poisoned folio. The folio is neither cleared nor prepared here.
 */
export function gmemGetFolio(slot: Memslot, gfn: number): Folio | Errno {
  const file = slot.gmem?.file;
  if (file == null) return "EFAULT";
  const index = slot.gmem!.pgoff + (gfn - slot.baseGfn);
  if (file.bindings.get(index)?.value !== slot) return "EIO";
  let folio: Folio;
  try {
    folio = file.inode.getFolio(index);
  } catch (err) {
    if (err instanceof SyscallError) return err.errno;
    throw err;
  }
  return folio.hwpoison ? "EHWPOISON" : folio;
}

/** post_populate: the vendor's work on one page; an errno stops the loop. */
export type PostPopulate = (gfn: number, folio: Folio, src: bigint | null) => Errno | undefined;

/**
 * kvm_gmem_populate(kvm, start_gfn, src, npages, post_populate): pages done, or the
 * errno of the first page if none was done. With preparation tracking (up to 6.18's
 * revision; gmemPopulatePreparedEexist), a folio already prepared stops it with EEXIST.
 */
export function gmemPopulate(vm: Vm, startGfn: number, src: bigint | null, npages: number, post: PostPopulate): number | Errno {
  const kernel = vm.kernel;
  if (npages <= 0) return "EINVAL";
  const slot = vm.memslots[0]!.at(startGfn);
  // kvm_slot_can_be_private()
  if (slot === undefined || slot.gmem === null) return "EINVAL";
  if (slot.gmem.file === null) return "EFAULT";
  const n = Math.min(slot.endGfn - startGfn, npages);
  let error: Errno | undefined;
  let i = 0;
  for (; i < n; i++) {
    const gfn = startGfn + i;
    if (kernel.inject.pagesBeforeSignal(1) < 1) {
      error = "EINTR";
      break;
    }
    const folio = gmemGetFolio(slot, gfn);
    if (typeof folio === "string") {
      error = folio;
      break;
    }
    if (folio.uptodate && kernel.revision.gmemPopulatePreparedEexist) {
      error = "EEXIST";
      break;
    }
    if (!vm.isPrivate(gfn)) {
      error = "EINVAL";
      break;
    }
    error = post(gfn, folio, src === null ? null : src + BigInt(i) * kernel.page.size);
    if (error !== undefined) break;
    folio.uptodate = true;
  }
  return error !== undefined && i === 0 ? error : i;
}
