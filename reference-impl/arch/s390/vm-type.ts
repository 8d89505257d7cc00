// s390 VMs: kvm_arch_init_vm()'s type check, user-controlled (ucontrol) VMs and
// their internal memslot, protected VMs, and the memslot hook
// kvm_arch_prepare_memory_region() (arch/s390/kvm/kvm-s390.c). Only what SLOT2-024
// needs is modelled: s390 guests do not run, and the vCPU ioctls are not modelled.
import { DriverFailure } from "../../../spec/driver/contract.js";
import { fail } from "../../lib/errno.js";
import type { Kernel } from "../../kernel.js";
import type { IoctlCall, SyscallContext } from "../../process/file.js";
import type { HostModel } from "../../system/hosts.js";
import { Memslot, type MemslotChange } from "../../vm/memslots.js";
import type { Vm } from "../../vm/vm.js";
import type { VmType } from "../vm-type.js";
import { pvCommand } from "./pv.js";

/** _SEGMENT_SIZE: memslots are mapped into the guest address space (gmap) by 1 MiB segments */
const SEGMENT_SIZE = 1n << 20n;

export class S390VmType implements VmType {
  readonly name: string;
  readonly hasPrivateMem = false;
  readonly hasProtectedState = false;
  readonly privateAccess = "never";
  readonly preFaultAllowedAtCreate = false;
  readonly mirroredPrivateRoot = false;
  /** s390 does not select HAVE_KVM_READONLY_MEM */
  readonly readonlyMemAllowed = false;
  readonly initSharedAllowed = false;
  /**
   * kvm_s390_pv_get_handle() != 0: the Ultravisor holds a secure configuration for the VM
   * (KVM_PV_ENABLE creates it, KVM_PV_DISABLE destroys it)
   */
  isProtected = false;

  constructor(
    /** kvm_is_ucontrol(): created with KVM_VM_S390_UCONTROL */
    readonly ucontrol: boolean,
    private readonly kernel: Kernel,
  ) {
    this.name = ucontrol ? "s390-ucontrol" : "s390";
  }

  /**
   * kvm->arch.mem_limit: none for ucontrol VMs, else min(TASK_SIZE_MAX, sclp.hamax + 1) (7.0's
   * new gmap drops the min; the s390 host's hamax is below TASK_SIZE_MAX, so both agree)
   */
  get memLimit(): bigint {
    const host = this.kernel.host;
    if (this.ucontrol) return (1n << 64n) - 1n;
    const limit = host.s390!.hamax + 1n;
    return limit < host.taskSize ? limit : host.taskSize;
  }

  addressSpaces(): number {
    return 1;
  }

  /** KVM_MAX_VCPUS; the kernel lowers it to the SCA's slots (64 or 248), which nothing here exercises */
  maxVcpus(host: HostModel): number {
    return host.maxVcpus;
  }

  /**
   * A ucontrol VM has no gmap of its own: from 6.14 (commit 413c98f24c63) kvm_arch_init_vm()
   * covers its whole address space with one internal memslot, id KVM_USER_MEM_SLOTS, so
   * generic memslot code finds every gfn below ALIGN_DOWN(TASK_SIZE, _SEGMENT_SIZE) taken.
   */
  initVm(vm: Vm): void {
    if (!this.ucontrol || !vm.kernel.revision.s390UcontrolMemslot) return;
    const page = vm.kernel.page;
    const size = (vm.kernel.host.taskSize / SEGMENT_SIZE) * SEGMENT_SIZE;
    vm.memslots[0]!.add(new Memslot(0, vm.kernel.userMemSlots, 0, page.page(size), 0n, 0n));
  }

  vcpuCreate(): void {}

  vcpuPreRun(): void {
    throw new DriverFailure("unsupported", "the reference model does not execute s390 guests");
  }

  /** kvm_arch_vm_ioctl() on s390, for the requests the model implements; its default is ENOTTY. */
  vmIoctl(ctx: SyscallContext, _vm: Vm, call: IoctlCall): bigint {
    if (call.request === ctx.kernel.config.ioctls.get("KVM_S390_PV_COMMAND")?.request) return pvCommand(ctx, this, call);
    return fail("ENOTTY");
  }

  vcpuIoctl(): bigint {
    throw new DriverFailure("unsupported", "the reference model does not model s390 vCPU ioctls");
  }

  /** kvm_arch_prepare_memory_region() on s390 */
  prepareMemoryRegion(vm: Vm, change: MemslotChange, _old: Memslot | undefined, slot: Memslot | undefined): void {
    const { revision, page } = vm.kernel;
    // Userspace manages a ucontrol VM's address space itself (KVM_S390_UCAS_MAP); its memslots
    // are refused from 6.11 (commit "kvm: s390: Reject memory region operations for ucontrol VMs").
    if (this.ucontrol && slot !== undefined && slot.id < vm.kernel.userMemSlots) {
      if (!revision.s390UcontrolRejected)
        throw new DriverFailure("unsupported", `${revision.profile} lets a ucontrol VM's memslot through, and committing it dereferences the VM's NULL gmap (CVE-2024-43819, fixed in 6.11)`);
      fail("EINVAL");
    }
    // A protected VM's memory layout is fixed: every change is refused, deletion included.
    if (this.isProtected) fail("EINVAL");
    if (change !== "create" && change !== "move") return;
    const s = slot!;
    const size = BigInt(s.npages) * page.size;
    if (revision.s390MemslotSegments && (s.userspaceAddr % SEGMENT_SIZE !== 0n || size % SEGMENT_SIZE !== 0n)) fail("EINVAL");
    if (page.address(s.baseGfn) + size > this.memLimit) fail("EINVAL");
  }

  isGfnAlias(): boolean {
    return false;
  }

  gmemPrepare(): void {}

  privatePageUnmapped(): void {}
}

/** kvm_arch_init_vm()'s type check on s390: only KVM_VM_S390_UCONTROL, and only where built in. */
export function s390VmTypeFor(kernel: Kernel, type: bigint): S390VmType | undefined {
  const UCONTROL = kernel.K.s390.VM_S390_UCONTROL;
  const host = kernel.host.s390!;
  const allowed = host.ucontrol ? UCONTROL : 0n;
  if (type & ~allowed) return undefined;
  // The model's process has CAP_SYS_ADMIN, which a ucontrol VM needs.
  return new S390VmType((type & UCONTROL) !== 0n, kernel);
}
