// /dev/kvm: kvm_dev_ioctl() and KVM_CREATE_VM (kvm_dev_ioctl_create_vm,
// kvm_create_vm, the arch's kvm_arch_init_vm).
import { fail } from "../lib/errno.js";
import { DeviceFile } from "../process/devices.js";
import type { IoctlCall, SyscallContext } from "../process/file.js";
import { Vm } from "../vm/vm.js";
import { VmFile } from "../vm/vm-file.js";
import { checkExtension, vmTypeFor } from "./capabilities.js";

export class KvmDeviceFile extends DeviceFile {
  override ioctl(ctx: SyscallContext, call: IoctlCall): bigint {
    const { kernel } = ctx;
    const R = kernel.R;
    switch (call.request) {
      case R.KVM_GET_API_VERSION:
        if (call.value !== 0n) fail("EINVAL");
        return kernel.K.apiVersion;
      case R.KVM_CREATE_VM:
        return BigInt(createVm(ctx, call.value));
      case R.KVM_CHECK_EXTENSION:
        return checkExtension(kernel, null, call.value);
      case R.KVM_GET_VCPU_MMAP_SIZE:
        if (call.value !== 0n) fail("EINVAL");
        // struct kvm_run, then on x86 the PIO data page, and the coalesced MMIO ring (CONFIG_KVM_MMIO: x86 and arm64, not s390).
        return (kernel.host.s390 ? 1n : kernel.host.arch === "aarch64" ? 2n : 3n) * kernel.page.size;
      default:
        // kvm_arch_dev_ioctl()'s default on x86, s390 and arm64.
        return fail("EINVAL");
    }
  }
}

/** Returns the new VM descriptor (O_CLOEXEC). */
function createVm(ctx: SyscallContext, type: bigint): number {
  const { kernel } = ctx;
  ctx.process.files.ensureFree();
  kernel.allocate();
  const rules = vmTypeFor(kernel, BigInt.asUintN(64, type));
  if (rules === undefined) fail("EINVAL");
  const vm = new Vm(kernel, ctx.process, rules);
  return ctx.process.files.install(new VmFile(vm), true);
}
