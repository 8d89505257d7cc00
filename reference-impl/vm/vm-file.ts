// The VM file: kvm_vm_ioctl() (virt/kvm/kvm_main.c 7.2) for the ioctls the model
// implements, and x86's kvm_vm_ioctl_enable_cap() for KVM_CAP_EXIT_HYPERCALL.
import { createGuestMemfd } from "../guest_memfd/create.js";
import { fail } from "../lib/errno.js";
import { OpenFile, type IoctlCall, type SyscallContext } from "../process/file.js";
import { checkExtension, unmodelledCapability } from "../system/capabilities.js";
import { preMergeAttributesIoctl } from "../restrictedmem/attributes.js";
import { createVcpu } from "../vcpu/vcpu.js";
import { setMemoryAttributes } from "./attributes.js";
import { regionFromStruct, setMemoryRegion } from "./memslots.js";
import type { Vm } from "./vm.js";

export class VmFile extends OpenFile {
  constructor(readonly vm: Vm) {
    super(vm.kernel.anonInode, vm.kernel.K.o.RDWR);
    vm.get();
  }

  link(): string {
    return "anon_inode:kvm-vm";
  }

  override llseek(): bigint {
    return this.pos;
  }

  override ioctl(ctx: SyscallContext, call: IoctlCall): bigint {
    const { kernel } = ctx;
    const R = kernel.R;
    const vm = this.vm;
    if (vm.owner !== ctx.process) fail("EIO");
    switch (call.request) {
      case R.KVM_CREATE_VCPU:
        return BigInt(createVcpu(ctx, vm, call.value));
      case R.KVM_ENABLE_CAP:
        enableCap(ctx, vm, call.readStruct());
        return 0n;
      case R.KVM_SET_USER_MEMORY_REGION:
      case R.KVM_SET_USER_MEMORY_REGION2: {
        const v2 = call.request === R.KVM_SET_USER_MEMORY_REGION2;
        const fields = call.readStruct();
        // UPM: KVM_MEM_PRIVATE in flags makes KVM read the _ext struct (RMEM-008).
        const ext = !v2 && kernel.revision.restrictedmem !== undefined && ((fields.flags as bigint) & kernel.K.mem.PRIVATE!) !== 0n;
        const mem = regionFromStruct(fields, v2 ? "v2" : ext ? "ext" : "v1");
        // v1 carries no guest_memfd fields, so it only takes the v1 flags.
        if (!v2 && !ext && mem.flags & ~(kernel.K.mem.LOG_DIRTY_PAGES | kernel.K.mem.READONLY)) fail("EINVAL");
        setMemoryRegion(ctx, vm, mem);
        return 0n;
      }
      case R.KVM_CHECK_EXTENSION:
        return checkExtension(kernel, vm, call.value);
    }
    const preMerge = preMergeAttributesIoctl(ctx, vm, call);
    if (preMerge !== undefined) return preMerge;
    if (call.request === R.KVM_SET_MEMORY_ATTRIBUTES && vm.attributes !== null) {
      const a = call.readStruct();
      setMemoryAttributes(ctx, vm, { address: a.address as bigint, size: a.size as bigint, attributes: a.attributes as bigint, flags: a.flags as bigint });
      return 0n;
    }
    if (call.request === R.KVM_CREATE_GUEST_MEMFD && kernel.host.guestMemfd) {
      const g = call.readStruct();
      return BigInt(createGuestMemfd(ctx, vm, g.size as bigint, g.flags as bigint));
    }
    return vm.type.vmIoctl(ctx, vm, call);
  }

  protected override release(): void {
    this.vm.put();
  }
}

/** KVM_MAX_IRQ_ROUTES (include/linux/kvm_host.h) */
const MAX_IRQ_ROUTES = 4096n;

/**
 * kvm_vm_ioctl_enable_cap_generic() and x86's kvm_vm_ioctl_enable_cap(): flags must be 0,
 * then KVM_CAP_SPLIT_IRQCHIP (VMTYPE-016) and KVM_CAP_EXIT_HYPERCALL (ATTR-021) are
 * modelled. The kernel enables many other capabilities (quirks, exits, dirty rings, ...)
 * and refuses the rest with EINVAL; which is which is not modelled, so both are refused
 * as not modelled, except numbers the release does not define at all.
 */
function enableCap(ctx: SyscallContext, vm: Vm, cap: { [k: string]: unknown }): void {
  const { kernel } = ctx;
  if (cap.flags !== 0n) fail("EINVAL");
  // s390's and arm64's kvm_vm_ioctl_enable_cap() have neither x86 capability: their default is EINVAL.
  if (kernel.host.arch !== "x86_64" && (cap.cap === BigInt(kernel.K.cap.SPLIT_IRQCHIP) || cap.cap === BigInt(kernel.K.cap.EXIT_HYPERCALL))) fail("EINVAL");
  const arg0 = (cap.args as bigint[])[0]!;
  if (cap.cap === BigInt(kernel.K.cap.SPLIT_IRQCHIP)) {
    // args[0]: the number of I/O APIC pins reserved for userspace's I/O APIC.
    if (arg0 > MAX_IRQ_ROUTES) fail("EINVAL");
    // irqchip_in_kernel() (KVM_CREATE_IRQCHIP is not modelled, so only a split irqchip) or kvm->created_vcpus.
    if (vm.splitIrqchip || vm.vcpus.size > 0) fail("EEXIST");
    vm.splitIrqchip = true;
    return;
  }
  if (cap.cap === BigInt(kernel.K.cap.EXIT_HYPERCALL)) {
    // KVM_EXIT_HYPERCALL_VALID_MASK: only KVM_HC_MAP_GPA_RANGE may exit to userspace.
    if (arg0 & ~(1n << kernel.K.hcMapGpaRange)) fail("EINVAL");
    vm.hypercallExitMask = arg0;
    return;
  }
  unmodelledCapability(kernel, cap.cap as bigint, "KVM_ENABLE_CAP on a VM");
}
