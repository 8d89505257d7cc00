// What generic KVM asks of the architecture about one VM (the kvm_arch_* hooks and
// kvm->arch state): x86 answers per VM type (x86/vm-types.ts), s390 for its user-
// controlled and protected VMs (s390/vm-type.ts). KVM_CREATE_VM picks the arch's type.
import type { Folio } from "../mm/folio.js";
import type { IoctlCall, SyscallContext } from "../process/file.js";
import type { HostModel } from "../system/hosts.js";
import type { OpResult } from "../../spec/driver/contract.js";
import type { GuestArchAction } from "../vcpu/run.js";
import type { Vcpu } from "../vcpu/vcpu.js";
import type { Memslot, MemslotChange } from "../vm/memslots.js";
import type { Spte } from "../vm/mmu.js";
import type { Vm } from "../vm/vm.js";

/** Which party decides that a guest access is private. */
export type PrivateAccessSource =
  | "never" // no private memory
  | "attributes" // SW_PROTECTED: the gfn's attribute is the source of truth
  | "guest"; // SNP C-bit, TDX shared bit: the guest's intent, checked against the attribute

export interface VmType {
  readonly name: string;
  /** kvm_arch_has_private_mem(): PRIVATE attribute supported, single memslot address space */
  readonly hasPrivateMem: boolean;
  /** has_protected_state: no read-only memslots (kvm_arch_has_readonly_mem) */
  readonly hasProtectedState: boolean;
  readonly privateAccess: PrivateAccessSource;
  /** kvm->arch.pre_fault_allowed at creation */
  readonly preFaultAllowedAtCreate: boolean;
  /** TDX keeps private mappings in a mirror root, zapped separately from shared ones */
  readonly mirroredPrivateRoot: boolean;
  /** kvm_arch_has_readonly_mem() */
  readonly readonlyMemAllowed: boolean;
  /** kvm_arch_supports_gmem_init_shared() */
  readonly initSharedAllowed: boolean;
  /** kvm_arch_nr_memslot_as_ids() */
  addressSpaces(smm: boolean): number;
  /** kvm->max_vcpus */
  maxVcpus(host: HostModel): number;
  /** the part of kvm_arch_init_vm() that needs the VM built (s390: the ucontrol internal memslot) */
  initVm(vm: Vm): void;
  /** kvm_arch_vcpu_create(), after the generic KVM_CREATE_VCPU checks */
  vcpuCreate(vm: Vm): void;
  /** kvm_arch_vcpu_ioctl_run()'s checks before the guest is entered */
  vcpuPreRun(vcpu: Vcpu): void;
  /** kvm_arch_vm_ioctl(): VM ioctls generic KVM does not handle */
  vmIoctl(ctx: SyscallContext, vm: Vm, call: IoctlCall): bigint;
  /** kvm_arch_vcpu_ioctl(): vCPU ioctls generic KVM does not handle */
  vcpuIoctl(ctx: SyscallContext, vcpu: Vcpu, call: IoctlCall): bigint;
  /** kvm_arch_prepare_memory_region(): the arch's say on a memslot change (slot is the new one, if any) */
  prepareMemoryRegion(vm: Vm, change: MemslotChange, old: Memslot | undefined, slot: Memslot | undefined): void;
  /** kvm_is_gfn_alias() */
  isGfnAlias(gfn: number): boolean;
  /** kvm_arch_gmem_prepare() */
  gmemPrepare(vm: Vm, folio: Folio): void;
  /** a private mapping of folio was removed */
  privatePageUnmapped(folio: Folio): void;
  /** driver operation guest_arch: the guest performs one architecture action (absent: the VM type offers none) */
  guestArch?(ctx: SyscallContext, vcpu: Vcpu, action: GuestArchAction): OpResult;
  /**
   * The hardware's own check of a guest access through an installed stage-2 mapping (SNP:
   * the RMP check; TDX: #VE on a PENDING page): a result ends the access there (an exception
   * in the guest, or a fault loop); undefined lets it go ahead (absent: every access goes ahead)
   */
  guestAccess?(vcpu: Vcpu, gfn: number, spte: Spte, access: GuestPageAccess): OpResult | undefined;
  /** the TDP MMU installed a private leaf (TDX: tdx_sept_set_private_spte, which AUGs the page into the Secure EPT) */
  privateSpteSet?(vm: Vm, gfn: number, spte: Spte): void;
  /** the TDP MMU zapped a private leaf (TDX: tdx_sept_remove_private_spte, BLOCK + TRACK + REMOVE) */
  privateSpteRemoved?(vm: Vm, gfn: number, spte: Spte): void;
  /** the hardware model's invariants for vm, run by the kernel's invariant walk */
  checkInvariants?(vm: Vm): void;
  /** kvm_arch_destroy_vm(), after every mapping was zapped (pKVM reclaims its guest's pages; Arm CCA: kvm_destroy_realm) */
  destroyVm?(vm: Vm): void;
  /**
   * The hardware's checks on a guest access to gfn before KVM's stage 2 is used (Arm CCA: the
   * RMM's RIPAS rules). A result ends the run with it; undefined: the access goes on as usual.
   */
  guestAccessBeforeStage2?(ctx: SyscallContext, vcpu: Vcpu, gfn: number, isPrivate: boolean, write: boolean): OpResult | undefined;
  /**
   * The driver operation resume on a vCPU whose last guest_arch action stopped at an exit that
   * waits for the VMM (TDX: a MapGPA chunk's KVM_EXIT_HYPERCALL): KVM_RUN completes it with
   * `data` and goes on. Undefined: no such exit is pending (resume continues a guest_program).
   */
  resumeArch?(ctx: SyscallContext, vcpu: Vcpu, data: Uint8Array | undefined): OpResult | undefined;
}

/** The part of a guest access that falls in one page. */
export interface GuestPageAccess {
  gpa: bigint;
  write: boolean;
  /** byte offset in the page, and bytes */
  offset: number;
  len: number;
}
