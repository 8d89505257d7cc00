// KVM_ARM_RMI_POPULATE (Arm CCA series v14, patch 26: kvm_arm_rmi_populate(),
// populate_region(), realm_data_map_init()) on top of kvm_gmem_populate()
// (virt/kvm/guest_memfd.c): copy source pages from userspace into guest_memfd pages that
// become the realm's DATA granules at RIPAS RAM, before the realm first runs.
import type { Decoded } from "../../../../spec/codec.js";
import { fail, SyscallError, type Errno } from "../../../lib/errno.js";
import { copyFromUser } from "../../../process/uaccess.js";
import type { IoctlCall, SyscallContext } from "../../../process/file.js";
import { Spte } from "../../../vm/mmu.js";
import type { Vm } from "../../../vm/vm.js";
import { RmiError } from "./granules.js";
import type { Realm } from "./realm.js";

/**
 * kvm_gmem_populate(): from start, up to npages pages (no further than the memslot of the
 * first page), each of which must be private; post() does the arch's part for one page.
 * Returns the pages done, or fails with the error of the first page when none was done.
 */
export function gmemPopulate(vm: Vm, start: number, npages: number, post: (gfn: number, index: number) => void): number {
  const slot = vm.memslots[0]!.at(start);
  if (slot === undefined || slot.gmem === null) fail("EINVAL");
  const file = slot.gmem.file;
  if (file === null) fail("EFAULT");
  const n = Math.min(npages, slot.endGfn - start);
  let done = 0;
  let error: Errno | undefined;
  for (; done < n; done++) {
    const gfn = start + done;
    if (!vm.isPrivate(gfn)) {
      error = "EINVAL";
      break;
    }
    try {
      post(gfn, slot.gmem.pgoff + (gfn - slot.baseGfn));
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      error = err.errno;
      break;
    }
  }
  if (done === 0 && error !== undefined) fail(error);
  return done;
}

/** kvm_arm_rmi_populate(): the request is written back advanced by what was populated. */
export function rmiPopulate(ctx: SyscallContext, vm: Vm, realm: Realm, call: IoctlCall): bigint {
  const { kernel } = ctx;
  const page = kernel.page;
  const req = call.readStruct() as { [f: string]: bigint };
  const measure = kernel.K.arm64.ARM_RMI_POPULATE_FLAGS_MEASURE!;
  const end = req.base! + req.size!;
  if (req.reserved !== 0n || (req.flags! & ~measure) !== 0n || !page.aligned(req.base!) || !page.aligned(end) || !page.aligned(req.source_uaddr!))
    return fail("EINVAL");
  // realm_ensure_created(): populating after the first run finds the realm ACTIVE.
  const created = realm.ensureCreated();
  if (created !== "ok") return fail(created);
  const slot0 = vm.memslots[0]!;
  const done = gmemPopulate(vm, page.page(req.base!), Number(req.size! >> page.shift), (gfn, index) => {
    const file = slot0.at(gfn)!.gmem!.file!;
    // kvm_gmem_populate GUPs the source page first (EFAULT when it cannot be had).
    const src = copyFromUser(ctx, req.source_uaddr! + BigInt(gfn - page.page(req.base!)) * page.size, page.bytes);
    const folio = file.inode.getFolio(index);
    try {
      realm.granules.delegate(folio);
    } catch (err) {
      // A granule already in the realm PAS (populated before): realm_data_map_init fails.
      if (err instanceof RmiError) fail("ENXIO");
      throw err;
    }
    realm.dataMapInit(gfn, folio, src);
    folio.uptodate = true;
    // KVM's view of the realm's stage 2: a private mapping of the DATA granule.
    vm.mmu.map(0, gfn, new Spte(folio, true, true), vm.mmu.invalidateSeq);
  });
  const bytes = BigInt(done) * page.size;
  const out: { [f: string]: Decoded } = { ...req, base: req.base! + bytes, size: req.size! - bytes, source_uaddr: req.source_uaddr! + bytes };
  call.writeStruct(out);
  return 0n;
}
