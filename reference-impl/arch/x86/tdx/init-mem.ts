// KVM_TDX_INIT_MEM_REGION: before finalization, userspace gives a TD its initial
// private memory. tdx_vcpu_init_mem_region() (arch/x86/kvm/vmx/tdx.c @ 3829d81b6958)
// checks the command and the region, then populates one page at a time through
// kvm_gmem_populate() with tdx_gmem_post_populate(): the source page is pinned
// (get_user_pages_fast), the gfn is mapped in the mirror root (kvm_tdp_map_page, a
// private fault), TDH.MEM.PAGE.ADD copies the source into the page, and with
// KVM_TDX_MEASURE_MEMORY_REGION TDH.MR.EXTEND measures it in 256-byte chunks. The region
// struct is written back with the progress made, whatever the outcome.
import { DriverFailure } from "../../../../spec/driver/contract.js";
import type { Decoded } from "../../../../spec/codec.js";
import { gmemPopulate } from "../../../guest_memfd/populate.js";
import { fail, SyscallError, type Errno } from "../../../lib/errno.js";
import { asU64 } from "../../../lib/u64.js";
import type { Folio } from "../../../mm/folio.js";
import type { SyscallContext } from "../../../process/file.js";
import { copyFromUser, readUserStruct, writeUserStruct } from "../../../process/uaccess.js";
import { handleFault } from "../../../vcpu/fault.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { TdxState } from "../tdx.js";

type Struct = { [field: string]: Decoded };

/** tdx_vcpu_init_mem_region() */
export function initMemRegion(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, cmd: Struct): bigint {
  const { kernel } = ctx;
  const { page } = kernel;
  if (!td.initializedVcpus.has(vcpu)) fail("EINVAL");
  const flags = cmd.flags as bigint;
  if ((flags & ~kernel.K.tdx.MEASURE_MEMORY_REGION) !== 0n) fail("EINVAL");
  const at = cmd.data_u64 as bigint;
  const region = readUserStruct(ctx, at, "kvm_tdx_init_mem_region");
  const gpa = region.gpa as bigint;
  const end = asU64(gpa + asU64((region.nr_pages as bigint) << page.shift));
  // vt_is_tdx_private_gpa() of the first and the last byte: the shared bit is clear.
  const isPrivateGpa = (a: bigint) => ((a >> page.shift) & td.sharedGfnBits) === 0n;
  if (!page.aligned(region.source_addr as bigint) || !page.aligned(gpa) || region.nr_pages === 0n || end <= gpa || !isPrivateGpa(gpa) || !isPrivateGpa(end - 1n)) fail("EINVAL");

  let error: Errno | undefined;
  while ((region.nr_pages as bigint) !== 0n) {
    if (kernel.inject.pagesBeforeSignal(1) < 1) {
      error = "EINTR";
      break;
    }
    const gfn = page.page(region.gpa as bigint);
    // A gfn beyond every memslot has no slot: kvm_gmem_populate() refuses it as it refuses any non-gmem slot.
    const r = gfn > vcpu.vm.maxGfn ? "EINVAL" : gmemPopulate(vcpu.vm, gfn, region.source_addr as bigint, 1, (g, folio, src) => postPopulate(ctx, vcpu, td, g, folio, src!, flags));
    if (typeof r === "string") {
      error = r;
      break;
    }
    if (r !== 1) {
      error = "EIO";
      break;
    }
    region.source_addr = (region.source_addr as bigint) + page.size;
    region.gpa = (region.gpa as bigint) + page.size;
    region.nr_pages = (region.nr_pages as bigint) - 1n;
  }
  writeUserStruct(ctx, at, "kvm_tdx_init_mem_region", region);
  if (error !== undefined) fail(error);
  return 0n;
}

/** tdx_gmem_post_populate() */
function postPopulate(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, gfn: number, folio: Folio, src: bigint, flags: bigint): Errno | undefined {
  const { kernel } = ctx;
  let bytes: Uint8Array;
  try {
    bytes = copyFromUser(ctx, src, kernel.page.bytes);
  } catch (err) {
    if (err instanceof SyscallError) return err.errno;
    throw err;
  }
  if (td.sept.leaf(gfn) !== undefined)
    // 6.18 stops earlier (the folio is prepared: EEXIST); later kernels map the page again and the module refuses the ADD.
    throw new DriverFailure("unsupported", "the reference model does not model TDH.MEM.PAGE.ADD of a gfn the Secure EPT already maps (the TDX module's refusal)");
  // kvm_tdp_map_page(): a private fault maps the gfn in the mirror root (the TD is not runnable: no AUG).
  const r = handleFault(vcpu.vm, { gfn, write: true, isPrivate: true });
  if (r.kind !== "mapped") return r.kind === "memory-fault" ? r.errno : "EFAULT";
  td.sept.add(gfn, r.spte.folio, bytes);
  if (r.spte.folio !== folio) throw new Error(`reference model: gfn ${gfn} was mapped to another page than kvm_gmem_populate's`);
  if ((flags & kernel.K.tdx.MEASURE_MEMORY_REGION) !== 0n) td.measured.push(kernel.page.address(gfn));
  return undefined;
}
