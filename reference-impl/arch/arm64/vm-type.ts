// arm64 VMs: KVM_CREATE_VM's machine type (kvm_arch_init_vm() in arch/arm64/kvm/arm.c,
// kvm_init_ipa_range() in mmu.c), the arm64 answers to KVM_CHECK_EXTENSION the suites
// look at, and kvm_arch_prepare_memory_region() (mmu.c). The machine type carries the
// guest IPA size in bits 7:0; pKVM's protected VMs (KVM_VM_TYPE_ARM_PROTECTED) are the
// pkvm/ layer's. guest_memfd on arm64 (6.18, "KVM: arm64: Enable support for guest_memfd
// backed memory") serves only gmem-only memslots (GUEST_MEMFD_FLAG_MMAP); arm64 has no
// memory attributes, so no access is ever private to KVM.
import { DriverFailure } from "../../../spec/driver/contract.js";
import { fail } from "../../lib/errno.js";
import type { Kernel } from "../../kernel.js";
import type { Folio } from "../../mm/folio.js";
import type { IoctlCall, SyscallContext } from "../../process/file.js";
import type { Arm64Host, HostModel } from "../../system/hosts.js";
import type { Revision } from "../../system/revision.js";
import type { Memslot, MemslotChange } from "../../vm/memslots.js";
import type { OpResult } from "../../../spec/driver/contract.js";
import { completedExit, type GuestArchAction } from "../../vcpu/run.js";
import type { Vcpu } from "../../vcpu/vcpu.js";
import type { Vm } from "../../vm/vm.js";
import type { VmType } from "../vm-type.js";
import { rmiAvailable } from "./cca/vm-type.js";

/** KVM_PHYS_SHIFT: the IPA size of a VM created with IPA size 0 */
export const ARM64_DEFAULT_IPA_BITS = 40;
/** ARM64_MIN_PARANGE_BITS: the smallest IPA size KVM_CREATE_VM accepts */
export const ARM64_MIN_IPA_BITS = 32;

/** The arm64 facts of a host model; throws on a host that is not arm64. */
export function arm64Host(host: HostModel): Arm64Host {
  if (host.arm64 === undefined) throw new Error(`reference model: host ${host.name} is not an arm64 host`);
  return host.arm64;
}

/**
 * The host as a release sees it: arm64 selects guest_memfd from 6.18, in the same series that
 * brought GUEST_MEMFD_FLAG_MMAP (revision.gmemFlags); before, an arm64 KVM has none.
 */
export function hostAtRevision(host: HostModel, revision: Revision): HostModel {
  if (host.arch !== "aarch64" || revision.gmemFlags || !host.guestMemfd) return host;
  return { ...host, guestMemfd: false };
}

export class Arm64VmType implements VmType {
  readonly name: string;
  /** kvm_arch_has_private_mem(): false on arm64 (no KVM_GENERIC_MEMORY_ATTRIBUTES) */
  readonly hasPrivateMem: boolean = false;
  readonly hasProtectedState = false;
  readonly privateAccess = "never";
  /** KVM_PRE_FAULT_MEMORY is x86's only in the modelled releases */
  readonly preFaultAllowedAtCreate = false;
  readonly mirroredPrivateRoot = false;
  /** kvm_arch_supports_gmem_init_shared(): the generic default, !kvm_arch_has_private_mem() */
  readonly initSharedAllowed: boolean = true;

  constructor(
    /** the VM's IPA size in bits (kvm_phys_shift()) */
    readonly ipaBits: number,
    protected readonly kernel: Kernel,
    name = "arm64",
  ) {
    this.name = name;
  }

  /**
   * kvm_arch_has_readonly_mem(): arm64 selects HAVE_KVM_READONLY_MEM, but under pKVM read-only
   * memslots are unsupported for every VM (Documentation/virt/kvm/arm/pkvm.rst, Limitations).
   */
  get readonlyMemAllowed(): boolean {
    return arm64Host(this.kernel.host).mode !== "protected";
  }

  addressSpaces(): number {
    return 1;
  }

  /** kvm_arm_default_max_vcpus(): the vGIC's limit (GICv3: 512 = KVM_MAX_VCPUS) */
  maxVcpus(host: HostModel): number {
    return host.maxVcpus;
  }

  initVm(): void {}

  vcpuCreate(): void {}

  /**
   * KVM_RUN refuses a vCPU without KVM_ARM_VCPU_INIT (ENOEXEC). The driver contract's guest
   * programs set up their vCPU themselves (as an x86 driver sets registers), so the model
   * treats every vCPU that runs a guest program as initialised.
   */
  vcpuPreRun(): void {
    if (arm64Host(this.kernel.host).mode === "protected") this.hasRun = true;
  }

  /**
   * pKVM only: the VM has run (its hyp VM exists), so its memslots are fixed: moving or
   * deleting one fails with EPERM (Documentation/virt/kvm/arm/pkvm.rst, Limitations).
   */
  hasRun = false;

  /** kvm_arch_vm_ioctl() on arm64: its default is EINVAL (KVM_SET_MEMORY_ATTRIBUTES among them). */
  vmIoctl(ctx: SyscallContext, _vm: Vm, call: IoctlCall): bigint {
    // Arm CCA series (in-flight): KVM_ARM_RMI_POPULATE on a VM that is not a realm is ENXIO.
    if (ctx.kernel.R.KVM_ARM_RMI_POPULATE !== undefined && call.request === ctx.kernel.R.KVM_ARM_RMI_POPULATE) return fail("ENXIO");
    return fail("EINVAL");
  }

  /** kvm_arch_vcpu_ioctl() on arm64: its default is EINVAL. */
  vcpuIoctl(): bigint {
    return fail("EINVAL");
  }

  /**
   * kvm_arch_prepare_memory_region() on arm64: a created or moved slot must end inside the
   * VM's IPA space (EFAULT, not EINVAL), and a guest_memfd slot must be gmem-only (its file
   * made with GUEST_MEMFD_FLAG_MMAP): arm64 has no VMs whose memory is private only.
   */
  prepareMemoryRegion(_vm: Vm, change: MemslotChange, _old: Memslot | undefined, slot: Memslot | undefined): void {
    if (this.hasRun && (change === "move" || change === "delete")) fail("EPERM");
    if (change !== "create" && change !== "move" && change !== "flags") return;
    const s = slot!;
    if (BigInt(s.endGfn) > (1n << BigInt(this.ipaBits)) >> this.kernel.page.shift) fail("EFAULT");
    if (s.gmem !== null && !s.gmemOnly) fail("EINVAL");
  }

  isGfnAlias(): boolean {
    return false;
  }

  gmemPrepare(_vm: Vm, _folio: Folio): void {}

  privatePageUnmapped(): void {}

  /**
   * The guest's SMCCC calls the contract names. pKVM's vendor hypercalls (pkvm:share,
   * pkvm:unshare) are offered to protected guests only: any other guest's call reaches
   * KVM's SMCCC handler, which answers an unknown function ID with NOT_SUPPORTED.
   */
  guestArch(ctx: SyscallContext, _vcpu: Vcpu, action: GuestArchAction): OpResult {
    if (!action.action.startsWith("pkvm:")) return arm64Unsupported(`the guest action ${action.action}`);
    return { ret: 0n, exit: completedExit(ctx), out: { status: ctx.kernel.K.arm64.SMCCC_RET_NOT_SUPPORTED! } };
  }
}

/**
 * kvm_arch_init_vm()'s type check on arm64 (arm.c, and kvm_init_ipa_range() in mmu.c): only
 * the IPA size bits may be set (EINVAL otherwise); an IPA size of 0 means 40 bits, which the
 * CPU must support; any other must lie between 32 and the CPU's limit.
 */
export function arm64IpaBits(kernel: Kernel, type: bigint): number | undefined {
  const mask = kernel.K.arm64.VM_TYPE_ARM_IPA_SIZE_MASK!;
  if (type & ~mask) return undefined;
  const limit = arm64Host(kernel.host).ipaLimit;
  // Under pKVM every VM gets the CPU's whole IPA space, whatever the type says (kvm_init_ipa_range()).
  if (arm64Host(kernel.host).mode === "protected") return limit;
  const bits = Number(type & mask);
  if (bits === 0) return ARM64_DEFAULT_IPA_BITS <= limit ? ARM64_DEFAULT_IPA_BITS : undefined;
  return bits >= ARM64_MIN_IPA_BITS && bits <= limit ? bits : undefined;
}

/**
 * arm64's kvm_vm_ioctl_check_extension(), for the capabilities the model knows: the IPA
 * limit, and 0 for the x86 and s390 capabilities (the default case). Undefined: not an
 * arm64 answer the model has.
 */
export function arm64Extension(kernel: Kernel, n: number): bigint | undefined {
  const C = kernel.K.cap;
  // KVM_CAP_ARM_RMI (in-flight Arm CCA series): realms can be created.
  if (C.ARM_RMI !== undefined && n === C.ARM_RMI) return rmiAvailable(kernel) ? 1n : 0n;
  switch (n) {
    case C.ARM_VM_IPA_SIZE:
      return BigInt(arm64Host(kernel.host).ipaLimit);
    case C.SPLIT_IRQCHIP:
    case C.EXIT_HYPERCALL:
    case C.VM_TYPES:
    case C.S390_UCONTROL:
    case C.S390_PROTECTED:
      return 0n;
    // UNCONFIRMED: arm64's list was read only in an older tree, which has no case for it;
    // gmem_abort() fills a memory-fault exit all the same.
    case C.MEMORY_FAULT_INFO:
      return 0n;
  }
  // CONFIG_KVM_GENERIC_PRE_FAULT_MEMORY is x86's alone in the modelled releases.
  if (C.PRE_FAULT_MEMORY !== undefined && n === C.PRE_FAULT_MEMORY) return 0n;
  return undefined;
}

/** A guest program the model cannot run on arm64. */
export function arm64Unsupported(what: string): never {
  throw new DriverFailure("unsupported", `the reference model does not model ${what} on arm64`);
}
