// KVM_SEV_SNP_LAUNCH_UPDATE: initial guest memory put in place through guest_memfd.
// snp_launch_update() -> kvm_gmem_populate() -> sev_gmem_post_populate() in
// arch/x86/kvm/svm/sev.c and virt/kvm/guest_memfd.c (torvalds/linux 0097f9df996f).
// Each page: the gfn must be PRIVATE in the attributes, its RMP entry unassigned; the
// source page is copied in (none for the ZERO type), the entry is made private and
// immutable (Pre-Guest), and the firmware's SNP_LAUNCH_UPDATE measures or handles it by
// type and leaves it Guest-Valid: assigned, validated, no longer immutable. Progress is
// written back into the user's struct; a failure before any page is done is EIO with
// the firmware error (0 when the firmware was never reached) in kvm_sev_cmd.error.
//
// Firmware outcomes the model does not decide (they throw "unsupported"): the
// validation of a CPUID page (SEV_RET_INVALID_PARAM and the corrected page copied back),
// LAUNCH_UPDATE once LAUNCH_FINISH has run (the guest is no longer in the launch state),
// and the contents the firmware writes into a SECRETS page (reads of it are refused).
import { DriverFailure } from "../../../../spec/driver/contract.js";
import type { Decoded } from "../../../../spec/codec.js";
import { fail, SyscallError, type Errno } from "../../../lib/errno.js";
import type { Folio } from "../../../mm/folio.js";
import type { SyscallContext } from "../../../process/file.js";
import { copyFromUser, readUserStruct, writeUserStruct } from "../../../process/uaccess.js";
import type { Vm } from "../../../vm/vm.js";
import { gmemPopulate } from "../../../guest_memfd/populate.js";
import { SevDeviceFile, type SevState } from "../sev-snp.js";
import { RMP_RET } from "./rmp.js";

type Struct = { [field: string]: Decoded };

/** sev_issue_cmd_external_user(): the descriptor must be an open /dev/sev. */
export function isSevDevice(ctx: SyscallContext, fd: bigint): boolean {
  try {
    return ctx.process.files.get(BigInt.asIntN(32, fd)) instanceof SevDeviceFile;
  } catch (err) {
    if (err instanceof SyscallError) return false;
    throw err;
  }
}

/** snp_launch_update() */
export function snpLaunchUpdate(ctx: SyscallContext, vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.snpActive || !sev.snpContext) fail("EINVAL");
  const params = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_update");
  const { K, page } = ctx.kernel;
  const type = params.type as bigint;
  if (params.len === 0n || !page.aligned(params.len as bigint) || params.flags !== 0n || !K.snpPageTypes.includes(type)) fail("EINVAL");
  const gfn = params.gfn_start as bigint;
  const slot = gfn > BigInt(vm.maxGfn) ? undefined : vm.memslots[0]!.at(Number(gfn));
  if (slot === undefined || (slot.flags & K.mem.GUEST_MEMFD) === 0n) fail("EINVAL");
  const zero = type === K.sev.SNP_PAGE_TYPE_ZERO;
  const npages = Number((params.len as bigint) >> page.shift);
  const count = gmemPopulate(vm, Number(gfn), zero ? null : (params.uaddr as bigint), npages, (g, folio, src) => postPopulate(ctx, sev, cmd, type, g, folio, src));
  if (typeof count === "string") {
    // The firmware's error, when the failure was the firmware's; the model's firmware never fails.
    cmd.error = 0n;
    fail("EIO");
  }
  const done = BigInt(count);
  writeUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_update", {
    ...params,
    gfn_start: gfn + done,
    len: (params.len as bigint) - done * page.size,
    uaddr: zero ? (params.uaddr as bigint) : (params.uaddr as bigint) + done * page.size,
  });
}

/** sev_gmem_post_populate() for one 4 KiB page. */
function postPopulate(ctx: SyscallContext, sev: SevState, cmd: Struct, type: bigint, gfn: number, folio: Folio, src: bigint | null): Errno | undefined {
  const { rmp, K, page } = ctx.kernel;
  const pfn = rmp.pfnOf(folio);
  // The page must still be in the Hypervisor state: launch never reuses a guest page.
  if (rmp.lookup(pfn).entry !== undefined) return "EEXIST";
  if (src !== null) {
    try {
      folio.write(0, copyFromUser(ctx, src, page.bytes));
    } catch (e) {
      if (e instanceof SyscallError) return e.errno;
      throw e;
    }
  }
  if (rmp.makePrivate(pfn, gfn, "4K", sev.asid, true) !== RMP_RET.SUCCESS) return "EINVAL";
  // SEV_CMD_SNP_LAUNCH_UPDATE through the command's sev_fd: a descriptor that is not /dev/sev
  // fails the command (EBADF); the page is reclaimed to the Hypervisor state.
  if (!isSevDevice(ctx, cmd.sev_fd as bigint)) {
    rmp.reclaim(pfn);
    return "EBADF";
  }
  if (sev.launchFinished)
    throw new DriverFailure("unsupported", "the reference model does not model the firmware's answer to SNP_LAUNCH_UPDATE after SNP_LAUNCH_FINISH (the guest left the launch state)");
  if (type === K.sev.SNP_PAGE_TYPE_CPUID)
    throw new DriverFailure("unsupported", "the reference model does not model the firmware's validation of an SNP CPUID page (SEV_RET_INVALID_PARAM, with the corrected page copied back)");
  if (type === K.sev.SNP_PAGE_TYPE_ZERO) folio.clear();
  // The firmware encrypts the page in place with the guest's key; a SECRETS page gets contents only it knows.
  if (type === K.sev.SNP_PAGE_TYPE_SECRETS) rmp.plaintext.forget(folio);
  else rmp.plaintext.mark(folio, sev.asid, 0, page.bytes);
  rmp.setValidated(pfn, true, true);
  return undefined;
}
