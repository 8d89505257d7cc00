// x86 VM types and the arch hooks KVM calls for them: which VMs have private
// memory and protected state, who decides whether an access is private, when
// pre-faulting is allowed, and what the hardware does to a page when KVM maps or
// unmaps it privately. Sources: arch/x86/kvm/x86.c kvm_arch_init_vm(),
// svm/svm.c svm_vm_init(), svm/sev.c (launch finish, sev_gmem_prepare/invalidate),
// vmx/tdx.c (tdx_vm_init, finalize, S-EPT removal), mmu/mmu.c kvm_mmu_page_fault().
// The launch flows live in sev-snp.ts and tdx.ts.
import { DriverFailure, type OpResult } from "../../../spec/driver/contract.js";
import { fail } from "../../lib/errno.js";
import type { Folio } from "../../mm/folio.js";
import type { IoctlCall, SyscallContext } from "../../process/file.js";
import type { HostModel } from "../../system/hosts.js";
import type { Vcpu } from "../../vcpu/vcpu.js";
import type { Memslot, MemslotChange } from "../../vm/memslots.js";
import type { Vm } from "../../vm/vm.js";
import type { GuestPageAccess, PrivateAccessSource, VmType } from "../vm-type.js";
import type { GuestArchAction } from "../../vcpu/run.js";
import type { Spte } from "../../vm/mmu.js";
import { SevState, sevGuestAccess, sevGuestArch, sevMemEncryptOp, sevVcpuPreRun } from "./sev-snp.js";
import { sevGmemPrepare } from "./snp/gmem.js";
import type { ReverseMapTable } from "./snp/rmp.js";
import { TdxState, tdxVcpuCreate, tdxVcpuIoctl, tdxVcpuPreRun, tdxVmIoctl } from "./tdx.js";
import { tdxGuestArch, tdxResumeMapGpa } from "./tdx/guest.js";
import { checkTdxInvariants, septGuestAccess, septRemovePrivateSpte, septSetPrivateSpte } from "./tdx/mirror.js";

export type VmTypeName = "default" | "sw-protected" | "sev" | "sev-es" | "snp" | "tdx";


export { ReverseMapTable } from "./snp/rmp.js";
export { gmemFolioFreed } from "./snp/gmem.js";

export interface VmTypeRules {
  readonly name: VmTypeName;
  /** kvm_arch_has_private_mem(): PRIVATE attribute supported, single memslot address space */
  readonly hasPrivateMem: boolean;
  /** has_protected_state: no read-only memslots (kvm_arch_has_readonly_mem) */
  readonly hasProtectedState: boolean;
  readonly privateAccess: PrivateAccessSource;
  /** kvm->arch.pre_fault_allowed at creation; SNP gains it at launch finish, TDX at finalization */
  readonly preFaultAllowedAtCreate: boolean;
  /** TDX keeps private mappings in a mirror root, zapped separately from shared ones */
  readonly mirroredPrivateRoot: boolean;
}

const RULES: Record<VmTypeName, VmTypeRules> = {
  default: { name: "default", hasPrivateMem: false, hasProtectedState: false, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  "sw-protected": { name: "sw-protected", hasPrivateMem: true, hasProtectedState: false, privateAccess: "attributes", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  sev: { name: "sev", hasPrivateMem: false, hasProtectedState: false, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  "sev-es": { name: "sev-es", hasPrivateMem: false, hasProtectedState: true, privateAccess: "never", preFaultAllowedAtCreate: true, mirroredPrivateRoot: false },
  snp: { name: "snp", hasPrivateMem: true, hasProtectedState: true, privateAccess: "guest", preFaultAllowedAtCreate: false, mirroredPrivateRoot: false },
  tdx: { name: "tdx", hasPrivateMem: true, hasProtectedState: true, privateAccess: "guest", preFaultAllowedAtCreate: false, mirroredPrivateRoot: true },
};

export const VM_TYPE_NAMES = Object.keys(RULES) as VmTypeName[];

/** Per-VM arch state and hooks. */
export class X86VmType implements VmTypeRules, VmType {
  readonly name: VmTypeName;
  readonly hasPrivateMem: boolean;
  readonly hasProtectedState: boolean;
  readonly privateAccess: PrivateAccessSource;
  readonly preFaultAllowedAtCreate: boolean;
  readonly mirroredPrivateRoot: boolean;
  /** kvm_sev_info of SEV, SEV-ES and SNP VMs */
  readonly sev: SevState | null;
  /** kvm_tdx of TDX VMs */
  readonly tdx: TdxState | null;

  constructor(
    rules: VmTypeRules,
    private readonly rmp: ReverseMapTable,
  ) {
    this.name = rules.name;
    this.hasPrivateMem = rules.hasPrivateMem;
    this.hasProtectedState = rules.hasProtectedState;
    this.privateAccess = rules.privateAccess;
    this.preFaultAllowedAtCreate = rules.preFaultAllowedAtCreate;
    this.mirroredPrivateRoot = rules.mirroredPrivateRoot;
    this.sev = rules.name === "sev" || rules.name === "sev-es" || rules.name === "snp" ? new SevState(rules.name) : null;
    this.tdx = rules.name === "tdx" ? new TdxState() : null;
  }

  static rules(name: VmTypeName): VmTypeRules {
    return RULES[name];
  }

  /** kvm_arch_has_readonly_mem() */
  get readonlyMemAllowed(): boolean {
    return !this.hasProtectedState;
  }

  /** kvm_arch_supports_gmem_init_shared(): only VMs without private memory may start shared */
  get initSharedAllowed(): boolean {
    return !this.hasPrivateMem;
  }

  /** SMM (a second address space) is unsupported for guests with private memory. */
  addressSpaces(smm: boolean): number {
    return smm && !this.hasPrivateMem ? 2 : 1;
  }

  /** kvm->max_vcpus: a TD is limited to the host's CPUs (tdx_vm_init). */
  maxVcpus(host: HostModel): number {
    return this.tdx ? Math.min(host.maxVcpus, host.onlineCpus) : host.maxVcpus;
  }

  /** The vendor's vcpu_create hook, after the generic KVM_CREATE_VCPU checks. */
  vcpuCreate(vm: Vm): void {
    if (this.tdx) tdxVcpuCreate(vm, this.tdx);
  }

  /** The vendor's vcpu_pre_run hook: KVM_RUN of a vCPU whose VM is not ready to run fails. */
  vcpuPreRun(vcpu: Vcpu): void {
    if (this.sev) sevVcpuPreRun(this.sev, vcpu);
    else if (this.tdx) tdxVcpuPreRun(this.tdx, vcpu);
  }

  initVm(): void {}

  /** kvm_arch_vm_ioctl() on x86, for the requests the model implements. */
  vmIoctl(ctx: SyscallContext, vm: Vm, call: IoctlCall): bigint {
    const { kernel } = ctx;
    if (call.request === kernel.R.KVM_MEMORY_ENCRYPT_OP) return this.memEncryptOp(ctx, vm, call);
    if (kernel.config.ioctls.get("KVM_SET_TSS_ADDR")?.request === call.request || kernel.config.ioctls.get("KVM_SET_IDENTITY_MAP_ADDR")?.request === call.request)
      throw new DriverFailure("unsupported", "the reference model does not model x86 VM set-up ioctls (TSS, identity map)");
    return fail("ENOTTY");
  }

  /** kvm_arch_vcpu_ioctl() on x86, for the requests the model implements; its default is EINVAL. */
  vcpuIoctl(ctx: SyscallContext, vcpu: Vcpu, call: IoctlCall): bigint {
    if (call.request === ctx.kernel.R.KVM_MEMORY_ENCRYPT_OP) return this.vcpuMemEncryptOp(ctx, vcpu, call);
    if (call.request === ctx.kernel.R.KVM_NMI) return this.queueNmi(vcpu);
    return fail("EINVAL");
  }

  /**
   * KVM_NMI (kvm_vcpu_ioctl_nmi(): always 0). Only a TD's use is modelled: the queued NMI ends a
   * MapGPA with RETRY between chunks (tdx/guest.ts); what a guest program does with an NMI is not.
   */
  private queueNmi(vcpu: Vcpu): bigint {
    if (!this.tdx) throw new DriverFailure("unsupported", `KVM_NMI on a vCPU of a ${this.name} VM: NMI delivery to a guest program is modelled for TD vCPUs only`);
    this.tdx.nmiQueued.add(vcpu);
    return 0n;
  }

  /** resume of a TD vCPU whose MapGPA waits at a KVM_EXIT_HYPERCALL. */
  resumeArch(ctx: SyscallContext, vcpu: Vcpu, data: Uint8Array | undefined): OpResult | undefined {
    return this.tdx ? tdxResumeMapGpa(ctx, vcpu, this.tdx, data) : undefined;
  }

  /**
   * kvm_arch_prepare_memory_region() on x86: a new or moved slot must fit the MMU's GPA width,
   * and its last gfn must not be an alias (a TD's shared bit), since memslots name only private gfns.
   */
  prepareMemoryRegion(vm: Vm, change: MemslotChange, _old: Memslot | undefined, slot: Memslot | undefined): void {
    if (change !== "create" && change !== "move") return;
    if (slot!.endGfn - 1 > vm.maxGfn) fail("EINVAL");
    if (this.isGfnAlias(slot!.endGfn - 1)) fail("EINVAL");
  }

  /** KVM_MEMORY_ENCRYPT_OP on the VM fd (kvm_x86_ops.mem_enc_ioctl). */
  private memEncryptOp(ctx: SyscallContext, vm: Vm, call: IoctlCall): bigint {
    if (this.sev) return sevMemEncryptOp(ctx, vm, this.sev, call);
    if (this.tdx) return tdxVmIoctl(ctx, vm, this.tdx, call);
    // SVM (sev_enabled) and VMX (is_td) both refuse a VM that is not theirs with ENOTTY when
    // the host runs neither; a host offering both vendors' types has no single answer.
    if (confidentialVendor(ctx)) throw new DriverFailure("unsupported", `KVM_MEMORY_ENCRYPT_OP on a ${this.name} VM depends on the CPU vendor, and the ${ctx.kernel.host.name} host model has SEV and TDX types`);
    return fail("ENOTTY");
  }

  /** KVM_MEMORY_ENCRYPT_OP on a vCPU fd (kvm_x86_ops.vcpu_mem_enc_ioctl: TDX only; SVM has none). */
  private vcpuMemEncryptOp(ctx: SyscallContext, vcpu: Vcpu, call: IoctlCall): bigint {
    if (this.tdx) return tdxVcpuIoctl(ctx, vcpu, this.tdx, call);
    if (this.sev) return fail("ENOTTY");
    throw new DriverFailure("unsupported", `KVM_MEMORY_ENCRYPT_OP on a vCPU of a ${this.name} VM depends on the CPU vendor (ENOTTY on SVM, EINVAL from VMX with TDX built in)`);
  }

  /** kvm_is_gfn_alias(): a gfn with a TD's shared bit names the shared alias of another one. */
  isGfnAlias(gfn: number): boolean {
    return this.tdx !== null && (BigInt(gfn) & this.tdx.sharedGfnBits) !== 0n;
  }

  /** kvm_arch_gmem_prepare(): SNP assigns the page to the guest in the RMP (sev_gmem_prepare; snp/gmem.ts). */
  gmemPrepare(vm: Vm, folio: Folio): void {
    if (this.sev) sevGmemPrepare(this.rmp, vm, this.sev, folio);
  }

  /** A private mapping was removed (TDX does its work in privateSpteRemoved). */
  privatePageUnmapped(_folio: Folio): void {}

  /** tdx_sept_set_private_spte(): TDX AUGs the page into the Secure EPT once the TD runs. */
  privateSpteSet(_vm: Vm, gfn: number, spte: Spte): void {
    if (this.tdx) septSetPrivateSpte(this.tdx, gfn, spte);
  }

  /** tdx_sept_remove_private_spte(): TDX removes the page from the TD, which clears it (ATTR-022). */
  privateSpteRemoved(_vm: Vm, gfn: number): void {
    if (this.tdx) septRemovePrivateSpte(this.tdx, gfn);
  }

  /** The hardware model's invariants (TDX: hw-models.md 2.6). */
  checkInvariants(vm: Vm): void {
    if (this.tdx) checkTdxInvariants(this.tdx, vm);
  }

  /** guest_arch: SNP guests' PVALIDATE and page-state changes (sev-snp.ts, snp/); TDX's ACCEPT and MapGPA (tdx/guest.ts). */
  guestArch(ctx: SyscallContext, vcpu: Vcpu, action: GuestArchAction): OpResult {
    if (this.sev) return sevGuestArch(ctx, this.rmp, this.sev, vcpu, action);
    if (this.tdx) return tdxGuestArch(ctx, vcpu, this.tdx, action);
    throw new DriverFailure("unsupported", `a ${this.name} guest has no architecture action ${action.action}`);
  }

  /** The hardware's check of a guest access through spte: the SNP RMP check (snp/guest.ts), TDX's #VE on a PENDING page (tdx/mirror.ts). */
  guestAccess(vcpu: Vcpu, gfn: number, spte: Spte, access: GuestPageAccess): OpResult | undefined {
    if (this.sev) return sevGuestAccess(this.rmp, this.sev, vcpu, gfn, spte, access);
    return this.tdx ? septGuestAccess(this.tdx, vcpu, gfn, spte, access.gpa) : undefined;
  }
}

function confidentialVendor(ctx: SyscallContext): boolean {
  return ctx.kernel.host.vmTypes.some((t) => t === "sev" || t === "sev-es" || t === "snp" || t === "tdx");
}

