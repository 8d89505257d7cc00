// In-place conversion (conv-v7 and conv-v8, not merged): guest_memfd keeps shared/private per page
// of the inode and changes it with KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd fd.
// Sources (clauses CONV-001..023, spec/clauses/conv.json): [PATCH v7 09/42] and 13/42 of
// "guest_memfd: In-place conversion support" (A. Tng et al., 2026-05-22), the RFC v5
// validation code (2026-04-28) as quoted in review, the refcount-check patch (2026-05),
// and the series' guest_memfd_conversions_test.c.
//
// Rules, in our words:
// - guest_memfd attributes are in use only while per-VM attributes are not
//   (kvm.vm_memory_attributes=0, or no per-VM attributes built); otherwise the ioctl is
//   unknown (ENOTTY) and the capability reports 0 (CONV-003, CONV-004).
// - A file starts all shared with GUEST_MEMFD_FLAG_INIT_SHARED, else all private (CONV-006).
// - Checks, each EINVAL: flags and reserved words 0 (CONV-005); attributes within what the
//   VM supports (CONV-018); offset and size page aligned, size non-zero, no wrap
//   (CONV-019); the range inside the file (CONV-020). An unreadable argument is EFAULT (CONV-021).
// - A range that already has the attributes returns 0 at once (CONV-010).
// - Tracking memory is allocated before anything changes: ENOMEM changes nothing and reports
//   the first page of the range in error_offset (CONV-011).
// - To private: host mappings of the range are removed first (CONV-022), then a page
//   referenced by anything but guest_memfd (a GUP pin) fails the call with EAGAIN, the byte
//   offset of the first such page in error_offset and no attribute changed (CONV-008).
// - To shared: no reference check (CONV-009).
// - KVM's mappings of the view that goes away are zapped; the argument is written back
//   only on a failure that reports error_offset (CONV-023).
// - PUNCH_HOLE keeps attributes (CONV-013); host faults on private pages are SIGBUS (CONV-007).
import { fail } from "../lib/errno.js";
import { AttributeRanges } from "../lib/attribute-ranges.js";
import type { Kernel } from "../kernel.js";
import type { IoctlCall, SyscallContext } from "../process/file.js";
import { ZAP_PRIVATE, ZAP_SHARED } from "../vm/mmu.js";
import type { Vm } from "../vm/vm.js";
import { pinnedFolios } from "../mm/gup.js";
import { gmemRangeToShared } from "../arch/x86/snp/gmem.js";
import type { GmemFile } from "./file.js";
import type { GmemInode } from "./inode.js";

/** guest_memfd tracks shared/private itself: the series is in the release and per-VM attributes are off. */
export function gmemAttributesInUse(kernel: Kernel): boolean {
  if (!kernel.revision.gmemInPlaceConversion || !kernel.host.guestMemfd) return false;
  return kernel.host.vmMemoryAttributes === false || !kernel.host.memoryAttributes;
}

/**
 * KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES (v7 13/42: 0 while vm_memory_attributes, else
 * kvm_supported_mem_attributes()): PRIVATE for a VM with private memory, and at system
 * scope where some VM type has it.
 */
export function gmemSupportedAttributes(kernel: Kernel, vm: Vm | null): bigint {
  if (!gmemAttributesInUse(kernel)) return 0n;
  const hasPrivate = vm !== null ? vm.type.hasPrivateMem : kernel.host.vmTypes.some((t) => t === "sw-protected" || t === "snp" || t === "tdx");
  return hasPrivate ? kernel.K.ATTRIBUTE_PRIVATE : 0n;
}

/** The attributes of one guest_memfd inode by page index (gmem_inode's maple tree); only non-zero values are stored. */
export class GmemAttributes extends AttributeRanges {
  constructor(
    private readonly kernel: Kernel,
    pages: number,
    initShared: boolean,
  ) {
    super();
    if (!initShared && pages > 0) this.store.set(0, pages, kernel.K.ATTRIBUTE_PRIVATE);
  }

  isPrivate(index: number): boolean {
    return (this.get(index) & this.kernel.K.ATTRIBUTE_PRIVATE) !== 0n;
  }

  checkInvariants(): void {
    this.checkRanges("guest_memfd attributes (by page)");
  }
}

/**
 * kvm_mem_is_private() with guest_memfd attributes: a VM with private memory, and the gfn is
 * bound to a guest_memfd page that is private. A VM without private memory never has private gfns.
 */
export function gmemGfnIsPrivate(vm: Vm, gfn: number): boolean {
  if (!vm.type.hasPrivateMem) return false;
  const slot = vm.memslots[0]?.byGfn.get(gfn)?.value;
  const file = slot?.gmem?.file;
  if (!slot || !file || !file.inode.attributes) return false;
  return file.inode.attributes.isPrivate(slot.gmem!.pgoff + (gfn - slot.baseGfn));
}

/** KVM_SET_MEMORY_ATTRIBUTES2 on a guest_memfd fd (kvm_gmem_ioctl -> kvm_gmem_set_attributes). */
export function setGmemAttributes(ctx: SyscallContext, file: GmemFile, call: IoctlCall): void {
  const { kernel } = ctx;
  const inode = file.inode;
  const attrs = inode.attributes;
  if (attrs === null) fail("ENOTTY");
  const arg = call.readStruct();
  const offset = arg.offset as bigint;
  const size = arg.size as bigint;
  const attributes = arg.attributes as bigint;
  const reserved = arg.reserved as bigint[];
  if ((arg.flags as bigint) !== 0n || reserved.some((w) => w !== 0n)) fail("EINVAL");
  // v8 refuses a VM without private memory before looking at the attributes (CONV-018).
  if (kernel.revision.gmemAttributesNeedPrivateMem && !file.vm.type.hasPrivateMem) fail("EINVAL");
  if (attributes & ~gmemSupportedAttributes(kernel, file.vm)) fail("EINVAL");
  const page = kernel.page;
  if (size === 0n || !page.aligned(offset) || !page.aligned(size) || offset + size > (1n << 64n) - 1n) fail("EINVAL");
  if (offset >= inode.sizeBytes || offset + size > inode.sizeBytes) fail("EINVAL");
  const start = page.page(offset);
  const end = page.page(offset + size);
  if (attrs.rangeHas(start, end, attributes)) return;
  // A failure past this point reports a page: error_offset is set and the whole struct copied back.
  const failAt = (index: number, errno: "ENOMEM" | "EAGAIN"): never => {
    call.writeStruct({ ...arg, error_offset: BigInt(index) << page.shift });
    return fail(errno);
  };
  // Maple tree nodes are preallocated before the point of no return (kvm_gmem_mas_preallocate: err_index = start).
  if (kernel.inject.allocations(1) < 1) failAt(start, "ENOMEM");
  const toPrivate = (attributes & kernel.K.ATTRIBUTE_PRIVATE) !== 0n;
  if (toPrivate) {
    // unmap_mapping_pages(), then kvm_gmem_is_safe_for_conversion(): only guest_memfd's own references.
    kernel.unmapMappingRange(inode, start, end);
    const pinned = firstPinned(inode, start, end);
    if (pinned !== undefined) failAt(pinned, "EAGAIN");
  }
  // The view that goes away is zapped in every VM viewing the inode, then the attribute is stored.
  for (const f of inode.files) f.invalidate(start, end, toPrivate ? ZAP_SHARED : ZAP_PRIVATE);
  // To shared: the hardware gives the pages back to the host first (SNP: the RMP; arch/x86/snp/gmem.ts).
  if (!toPrivate) gmemRangeToShared(kernel.rmp, inode, start, end);
  attrs.assign(start, end, attributes);
}

/** The lowest page index of [start, end) whose page cache folio has a reference besides guest_memfd's. */
function firstPinned(inode: GmemInode, start: number, end: number): number | undefined {
  let first: number | undefined;
  for (const folio of pinnedFolios(inode.kernel)) {
    if (folio.owner !== inode || folio.freed || folio.index < start || folio.index >= end) continue;
    if (first === undefined || folio.index < first) first = folio.index;
  }
  return first;
}
