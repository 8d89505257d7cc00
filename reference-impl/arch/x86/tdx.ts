// Intel TDX VMs (TDs): the TD and vCPU initialization states KVM keeps and the
// KVM_MEMORY_ENCRYPT_OP commands that move them. Source: tdx_vm_ioctl(),
// tdx_td_init(), setup_tdparams(), setup_tdparams_eptp_controls(), tdx_td_finalize(),
// tdx_vcpu_create(), tdx_vcpu_ioctl(), tdx_vcpu_init() and tdx_vcpu_pre_run() in
// arch/x86/kvm/vmx/tdx.c (torvalds/linux @ 3829d81b6958);
// Documentation/virt/kvm/x86/intel-tdx.rst. The hardware underneath (the Secure EPT,
// page population, the guest's TDCALLs) is in tdx/. SEAMCALLs always succeed here;
// what only the module decides (which TD attributes other than SEPT_VE_DISABLE, XFAM
// bits and CPUID leaves it accepts; KVM_TDX_CAPABILITIES; KVM_TDX_GET_CPUID) is
// refused as not modelled.
import { DriverFailure } from "../../../spec/driver/contract.js";
import type { Decoded } from "../../../spec/codec.js";
import { fail } from "../../lib/errno.js";
import { runCommand, type IoctlCall, type SyscallContext } from "../../process/file.js";
import { readUserStruct } from "../../process/uaccess.js";
import type { Vcpu } from "../../vcpu/vcpu.js";
import type { Vm } from "../../vm/vm.js";
import { TDX_TD_ATTR_SEPT_VE_DISABLE } from "./tdx/abi.js";
import { initMemRegion } from "./tdx/init-mem.js";
import { SecureEpt } from "./tdx/sept.js";

type Struct = { [field: string]: Decoded };

/** The CPUID leaf whose EAX[23:16] userspace uses to choose the TD's guest physical address width. */
const GPAW_LEAF = 0x80000008n;
/** KVM_CPUID_FLAG_SIGNIFCANT_INDEX */
const CPUID_SIGNIFICANT_INDEX = 1n;

/** TD_STATE_*: UNINITIALIZED until KVM_TDX_INIT_VM, INITIALIZED until KVM_TDX_FINALIZE_VM, then RUNNABLE */
export type TdState = "uninitialized" | "initialized" | "runnable";

export class TdxState {
  state: TdState = "uninitialized";
  /** kvm->arch.gfn_direct_bits: the shared bit as a gfn bit; 0 until KVM_TDX_INIT_VM chose the address width */
  sharedGfnBits = 0n;
  /** vCPUs in VCPU_TD_STATE_INITIALIZED (KVM_TDX_INIT_VCPU done) */
  readonly initializedVcpus = new Set<Vcpu>();
  /** kvm_tdx->attributes (TD_PARAMS.ATTRIBUTES) */
  attributes = 0n;
  /** the TD's Secure EPT, as the TDX module keeps it */
  readonly sept = new SecureEpt();
  /** GPAs TDH.MR.EXTEND measured into MRTD, in order (one entry per page) */
  readonly measured: bigint[] = [];
  /** vCPUs with an NMI queued by KVM_NMI (KVM_REQ_NMI) that no entry has injected yet */
  readonly nmiQueued = new Set<Vcpu>();
  /** a MapGPA waiting at its KVM_EXIT_HYPERCALL for the VMM's hypercall.ret (tdx->map_gpa_next, map_gpa_end) */
  readonly mapGpa = new Map<Vcpu, { next: bigint; end: bigint }>();
  /** kvm_vcpu_has_events() between MapGPA chunks: the model raises one event, an NMI queued by KVM_NMI */
  pendingEvent: (vcpu: Vcpu) => boolean = (vcpu) => this.nmiQueued.has(vcpu);

  /** The shared bit as a GPA bit (0 before KVM_TDX_INIT_VM). */
  sharedGpaBit(pageShift: bigint): bigint {
    return this.sharedGfnBits << pageShift;
  }
}

/** tdx_vm_ioctl(): KVM_MEMORY_ENCRYPT_OP on the VM fd of a TD. */
export function tdxVmIoctl(ctx: SyscallContext, vm: Vm, td: TdxState, call: IoctlCall): bigint {
  const T = ctx.kernel.K.tdx;
  const cmd = call.readStructAs("kvm_tdx_cmd");
  // hw_error is KVM's to fill in.
  if (cmd.hw_error !== 0n) fail("EINVAL");
  let command: (ctx: SyscallContext, vm: Vm, td: TdxState, cmd: Struct) => void;
  if (cmd.id === T.INIT_VM) command = tdInit;
  else if (cmd.id === T.FINALIZE_VM) command = tdFinalize;
  else if (cmd.id === T.CAPABILITIES) command = capabilities;
  else return fail("EINVAL");
  return runCommand(call, cmd, "kvm_tdx_cmd", () => command(ctx, vm, td, cmd));
}

function capabilities(_ctx: SyscallContext, _vm: Vm, _td: TdxState, cmd: Struct): void {
  if (cmd.flags !== 0n) fail("EINVAL");
  throw new DriverFailure("unsupported", "the reference model does not model KVM_TDX_CAPABILITIES (the TDX module's configurable bits)");
}

/** tdx_td_init() + setup_tdparams() */
function tdInit(ctx: SyscallContext, _vm: Vm, td: TdxState, cmd: Struct): void {
  const { kernel } = ctx;
  const codec = kernel.config.spec.codec;
  if (td.state !== "uninitialized") fail("EINVAL");
  if (cmd.flags !== 0n) fail("EINVAL");
  const data = cmd.data_u64 as bigint;
  const init = readUserStruct(ctx, data, "kvm_tdx_init_vm");
  const cpuid = init.cpuid as Struct;
  const nent = cpuid.nent as bigint;
  if (nent > kernel.K.maxCpuidEntries) fail("E2BIG");
  const entrySize = BigInt(codec.get("kvm_cpuid_entry2").size);
  const first = data + BigInt(codec.get("kvm_tdx_init_vm").size);
  const entries = Array.from({ length: Number(nent) }, (_, i) => readUserStruct(ctx, first + BigInt(i) * entrySize, "kvm_cpuid_entry2"));
  if ((init.reserved as bigint[]).some((v) => v !== 0n) || cpuid.padding !== 0n) fail("EINVAL");
  // setup_tdparams(): KVM supports SEPT_VE_DISABLE alone (the module could refuse even that; every module offers it).
  const attributes = init.attributes as bigint;
  if ((attributes & ~TDX_TD_ATTR_SEPT_VE_DISABLE) !== 0n) fail("EINVAL");
  // setup_tdparams_eptp_controls(): the address width is 48 or 52 bits (52 only with 5-level EPT).
  const gpaw = entries.find((e) => e.function === GPAW_LEAF && (((e.flags as bigint) & CPUID_SIGNIFICANT_INDEX) === 0n || e.index === 0n));
  if (gpaw === undefined) fail("EINVAL");
  const width = ((gpaw.eax as bigint) >> 16n) & 0xffn;
  if (width !== 48n && width !== 52n) fail("EINVAL");
  if (width === 52n && kernel.host.gpaBits < 52) fail("EINVAL");
  if (entries.some((e) => e !== gpaw))
    throw new DriverFailure("unsupported", "the reference model does not model which CPUID leaves the TDX module lets userspace configure");
  td.sharedGfnBits = 1n << (width - 1n - kernel.page.shift);
  td.attributes = attributes;
  td.state = "initialized";
  cmd.hw_error = 0n;
}

/** tdx_td_finalize(): the TD becomes runnable, and only now may memory be pre-faulted. */
function tdFinalize(_ctx: SyscallContext, vm: Vm, td: TdxState, cmd: Struct): void {
  if (td.state !== "initialized") fail("EINVAL");
  cmd.hw_error = 0n;
  td.state = "runnable";
  vm.preFaultAllowed = true;
}

/** tdx_vcpu_create(): a TD's vCPUs exist only between KVM_TDX_INIT_VM and finalization. */
export function tdxVcpuCreate(vm: Vm, td: TdxState): void {
  if (td.state !== "initialized") fail("EIO");
  // The TDX module needs APICv, hence an in-kernel local APIC without the in-kernel I/O APIC.
  if (!vm.splitIrqchip) fail("EINVAL");
}

/** tdx_vcpu_ioctl(): KVM_MEMORY_ENCRYPT_OP on a TD vCPU; nothing is written back. */
export function tdxVcpuIoctl(ctx: SyscallContext, vcpu: Vcpu, td: TdxState, call: IoctlCall): bigint {
  const T = ctx.kernel.K.tdx;
  if (td.state !== "initialized") fail("EINVAL");
  const cmd = call.readStructAs("kvm_tdx_cmd");
  if (cmd.hw_error !== 0n) fail("EINVAL");
  if (cmd.id === T.INIT_VCPU) {
    if (cmd.flags !== 0n || td.initializedVcpus.has(vcpu)) fail("EINVAL");
    // (kvm_apic_set_base() to x2APIC mode also depends on the vCPU's CPUID, which the model does not keep.)
    td.initializedVcpus.add(vcpu);
    return 0n;
  }
  if (cmd.id === T.INIT_MEM_REGION) return initMemRegion(ctx, vcpu, td, cmd);
  if (cmd.id === T.GET_CPUID) throw new DriverFailure("unsupported", "the reference model does not model KVM_TDX_GET_CPUID (the TDX module's CPUID values)");
  return fail("EINVAL");
}

/** tdx_vcpu_pre_run(): a TD vCPU runs once it is initialized and the TD finalized. */
export function tdxVcpuPreRun(td: TdxState, vcpu: Vcpu): void {
  if (!td.initializedVcpus.has(vcpu) || td.state !== "runnable") fail("EINVAL");
  // A new guest program: a queued NMI is injected at this entry, and a MapGPA the VMM left waiting is abandoned.
  td.nmiQueued.delete(vcpu);
  td.mapGpa.delete(vcpu);
}
