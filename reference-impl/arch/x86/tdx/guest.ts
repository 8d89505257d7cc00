// The guest side of a TD, for the driver operation guest_arch:
// - tdx:accept: TDG.MEM.PAGE.ACCEPT (TDCALL leaf 6) with RCX = gpa | level (args[0],
//   default 0 = 4K; 1 = 2M). The module's answer (intel/tdx-module src/td_dispatcher/vm_exits/tdg_mem_page_accept.c):
//   a PENDING 4K leaf is zeroed and MAPPED (TDX_SUCCESS); a MAPPED leaf is
//   TDX_PAGE_ALREADY_ACCEPTED; a 2M request over 4K leaves is TDX_PAGE_SIZE_MISMATCH; a
//   FREE leaf is an EPT violation exit, which KVM resolves as a private fault (AUG, or
//   KVM_EXIT_MEMORY_FAULT when the gfn is shared) and the guest's TDCALL runs again; a
//   malformed operand or a GPA that is shared or beyond the GPAW is TDX_OPERAND_INVALID.
//   out.status is RAX.
// - tdx:map-gpa: TDG.VP.VMCALL<MapGPA> with R12 = gpa, R13 = len (tdx_map_gpa(),
//   tdx_complete_vmcall_map_gpa(), __tdx_map_gpa() in arch/x86/kvm/vmx/tdx.c @
//   3829d81b6958). Each chunk of at most 2 MiB is a KVM_EXIT_HYPERCALL; args are the
//   hypercall.ret values the VMM writes for the exits in turn before it re-enters (the
//   driver answers as many exits as there are args). The result is the last KVM_RUN: the
//   next exit, or the guest's halt with out.status = R10 and, on an error or RETRY,
//   out.r11 = the GPA where the guest must resume.
import { DriverFailure, type OpResult } from "../../../../spec/driver/contract.js";
import type { SyscallContext } from "../../../process/file.js";
import { handleFault } from "../../../vcpu/fault.js";
import { HLT, HYPERCALL_LONG_MODE, memoryFaultResult, type GuestArchAction } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { TdxState } from "../tdx.js";
import {
  OPERAND_ID_RCX,
  TDVMCALL_STATUS_ALIGN_ERROR,
  TDVMCALL_STATUS_INVALID_OPERAND,
  TDVMCALL_STATUS_RETRY,
  TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED,
  TDVMCALL_STATUS_SUCCESS,
  TDX_MAP_GPA_MAX_LEN,
  TDX_OPERAND_INVALID,
  TDX_PAGE_ALREADY_ACCEPTED,
  TDX_PAGE_SIZE_MISMATCH,
  TDX_SUCCESS,
} from "./abi.js";

export const TDX_GUEST_ACTIONS = ["tdx:accept", "tdx:map-gpa"] as const;

export function tdxGuestArch(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, action: GuestArchAction): OpResult {
  if (action.action === "tdx:accept") return accept(ctx, vcpu, td, action);
  if (action.action === "tdx:map-gpa") return mapGpa(ctx, vcpu, td, action);
  throw new DriverFailure("unsupported", `a TD guest has no architecture action ${action.action} in the reference model (it offers ${TDX_GUEST_ACTIONS.join(", ")})`);
}

const halted = (out: { [k: string]: bigint }): OpResult => ({ ret: 0n, exit: HLT, out });

/** The GPA width in bits: the shared bit is its top bit. */
function gpaLimit(ctx: SyscallContext, td: TdxState): bigint {
  return td.sharedGpaBit(ctx.kernel.page.shift) << 1n;
}

/** TDG.MEM.PAGE.ACCEPT, with KVM's handling of the EPT violation it may cause. */
function accept(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, a: GuestArchAction): OpResult {
  const { page } = ctx.kernel;
  const rcx = BigInt.asUintN(64, a.gpa | (a.args[0] ?? 0n));
  const level = rcx & 7n;
  const gpa = rcx & ~0xfffn;
  const invalid = halted({ status: TDX_OPERAND_INVALID | OPERAND_ID_RCX });
  // verify_page_info_input(): level 4K or 2M, reserved bits 11:3 clear, the GPA aligned to the level.
  if (level > 1n || (rcx & 0xff8n) !== 0n || (level === 1n && (gpa & 0x1fffffn) !== 0n)) return invalid;
  // check_gpa_validity(PRIVATE_ONLY): within the GPAW, shared bit clear.
  if (gpa >= gpaLimit(ctx, td) || (gpa & td.sharedGpaBit(page.shift)) !== 0n) return invalid;
  const gfn = page.page(gpa);
  // One EPT violation at most: KVM AUGs the page, and the repeated TDCALL finds a leaf.
  for (let attempt = 0; attempt < 2; attempt++) {
    const outcome = td.sept.accept(gfn, level === 1n ? 1 : 0);
    if (outcome === "accepted") return halted({ status: TDX_SUCCESS });
    if (outcome === "already-accepted") return halted({ status: TDX_PAGE_ALREADY_ACCEPTED | level });
    if (outcome === "size-mismatch") return halted({ status: TDX_PAGE_SIZE_MISMATCH | level });
    // tdx_handle_ept_violation(): a private fault, always a write; KVM retries locally until it is mapped.
    const r = handleFault(vcpu.vm, { gfn, write: true, isPrivate: true });
    if (r.kind === "memory-fault") return memoryFaultResult(ctx.kernel, gfn, true, r.errno);
    if (r.kind !== "mapped") throw new Error(`reference model: a private fault on gfn ${gfn} ended as ${r.kind}`);
  }
  throw new Error(`reference model: TDG.MEM.PAGE.ACCEPT of gfn ${gfn} found no leaf after KVM mapped it`);
}

/** TDG.VP.VMCALL<MapGPA>: tdx_map_gpa(), then one exit per chunk until the VMM's answers run out. */
function mapGpa(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, a: GuestArchAction): OpResult {
  const { kernel } = ctx;
  const { page } = kernel;
  const gpa = BigInt.asUintN(64, a.gpa);
  const size = BigInt.asUintN(64, a.len);
  const vm = vcpu.vm;
  const fail = (status: bigint, r11: bigint) => halted({ status, r11 });
  if (!(vm.hypercallExitMask & (1n << kernel.K.hcMapGpaRange))) return fail(TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, gpa);
  // kvm_vcpu_is_legal_gpa(): the vCPU's MAXPHYADDR is taken to be the GPAW, as a VMM sets it in CPUID (the model keeps none).
  const shared = td.sharedGpaBit(page.shift);
  const legal = (x: bigint) => x < gpaLimit(ctx, td);
  const isPrivate = (x: bigint) => (x & shared) === 0n;
  const last = gpa + size - 1n;
  if (BigInt.asUintN(64, gpa + size) <= gpa || !legal(gpa) || !legal(last) || isPrivate(gpa) !== isPrivate(last)) return fail(TDVMCALL_STATUS_INVALID_OPERAND, gpa);
  if (!page.aligned(gpa) || !page.aligned(size)) return fail(TDVMCALL_STATUS_ALIGN_ERROR, gpa);
  const end = gpa + size;
  const answers = [...a.args];
  for (let next = gpa; ; ) {
    // __tdx_map_gpa(): one chunk, the shared bit stripped, ENCRYPTED when the target is private.
    const len = end - next < TDX_MAP_GPA_MAX_LEN ? end - next : TDX_MAP_GPA_MAX_LEN;
    const attrs = kernel.config.spec.constant(isPrivate(next) ? "KVM_MAP_GPA_RANGE_ENCRYPTED" : "KVM_MAP_GPA_RANGE_DECRYPTED", kernel.revision.profile)!;
    const ret = answers.shift();
    if (ret === undefined)
      return { ret: 0n, exit: { reason: "KVM_EXIT_HYPERCALL", hypercall: { nr: kernel.K.hcMapGpaRange, args: [next & ~shared, len / page.size, attrs, 0n, 0n, 0n], flags: HYPERCALL_LONG_MODE } } };
    // tdx_complete_vmcall_map_gpa()
    if (ret !== 0n) return fail(TDVMCALL_STATUS_INVALID_OPERAND, next);
    next += TDX_MAP_GPA_MAX_LEN;
    if (next >= end) return halted({ status: TDVMCALL_STATUS_SUCCESS });
    if (td.pendingEvent(vcpu)) return fail(TDVMCALL_STATUS_RETRY, next);
  }
}
