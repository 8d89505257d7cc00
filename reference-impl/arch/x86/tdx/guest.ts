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
  const fail = (status: bigint, r11: bigint) => halted({ status, r11 });
  if (!(vcpu.vm.hypercallExitMask & (1n << kernel.K.hcMapGpaRange))) return fail(TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED, gpa);
  // kvm_vcpu_is_legal_gpa(): the vCPU's MAXPHYADDR is taken to be the GPAW, as a VMM sets it in CPUID (the model keeps none).
  const legal = (x: bigint) => x < gpaLimit(ctx, td);
  const last = gpa + size - 1n;
  if (BigInt.asUintN(64, gpa + size) <= gpa || !legal(gpa) || !legal(last) || isPrivateGpa(ctx, td, gpa) !== isPrivateGpa(ctx, td, last)) return fail(TDVMCALL_STATUS_INVALID_OPERAND, gpa);
  if (!page.aligned(gpa) || !page.aligned(size)) return fail(TDVMCALL_STATUS_ALIGN_ERROR, gpa);
  const st = { next: gpa, end: gpa + size };
  td.mapGpa.set(vcpu, st);
  for (const ret of a.args) {
    const done = completeChunk(vcpu, td, st, ret);
    if (done !== undefined) return done;
  }
  return chunkExit(ctx, td, st);
}

const isPrivateGpa = (ctx: SyscallContext, td: TdxState, x: bigint) => (x & td.sharedGpaBit(ctx.kernel.page.shift)) === 0n;

/** __tdx_map_gpa(): the exit for the chunk at st.next (at most 2 MiB), the shared bit stripped, ENCRYPTED when the target is private. */
function chunkExit(ctx: SyscallContext, td: TdxState, st: { next: bigint; end: bigint }): OpResult {
  const { kernel } = ctx;
  const len = st.end - st.next < TDX_MAP_GPA_MAX_LEN ? st.end - st.next : TDX_MAP_GPA_MAX_LEN;
  const attrs = kernel.config.spec.constant(isPrivateGpa(ctx, td, st.next) ? "KVM_MAP_GPA_RANGE_ENCRYPTED" : "KVM_MAP_GPA_RANGE_DECRYPTED", kernel.revision.profile)!;
  const gpa = st.next & ~td.sharedGpaBit(kernel.page.shift);
  return { ret: 0n, exit: { reason: "KVM_EXIT_HYPERCALL", hypercall: { nr: kernel.K.hcMapGpaRange, args: [gpa, len / kernel.page.size, attrs, 0n, 0n, 0n], flags: HYPERCALL_LONG_MODE } } };
}

/**
 * tdx_complete_vmcall_map_gpa() with the VMM's hypercall.ret: the guest's result when the
 * MapGPA ends here (an error, the last chunk, or RETRY because an event is pending), else
 * undefined (the next chunk exits). The entry that follows injects a queued NMI.
 */
function completeChunk(vcpu: Vcpu, td: TdxState, st: { next: bigint; end: bigint }, ret: bigint): OpResult | undefined {
  const end = (out: { [k: string]: bigint }): OpResult => {
    td.mapGpa.delete(vcpu);
    td.nmiQueued.delete(vcpu);
    return halted(out);
  };
  if (ret !== 0n) return end({ status: TDVMCALL_STATUS_INVALID_OPERAND, r11: st.next });
  st.next += TDX_MAP_GPA_MAX_LEN;
  if (st.next >= st.end) return end({ status: TDVMCALL_STATUS_SUCCESS });
  if (td.pendingEvent(vcpu)) return end({ status: TDVMCALL_STATUS_RETRY, r11: st.next });
  return undefined;
}

/**
 * resume of a vCPU whose MapGPA waits at a chunk's KVM_EXIT_HYPERCALL: `data` is hypercall.ret
 * (8 bytes little-endian, default 0). Undefined when no MapGPA waits.
 */
export function tdxResumeMapGpa(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, data: Uint8Array | undefined): OpResult | undefined {
  const st = td.mapGpa.get(vcpu);
  if (st === undefined) return undefined;
  if (data !== undefined && data.length !== 8) throw new DriverFailure("protocol", `resume: hypercall.ret is 8 bytes, not ${data.length}`);
  const ret = data === undefined ? 0n : new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true);
  return completeChunk(vcpu, td, st, ret) ?? chunkExit(ctx, td, st);
}
