// KVM_CHECK_EXTENSION at system scope (vm null) and per VM:
// kvm_vm_ioctl_check_extension_generic() (virt/kvm/kvm_main.c), then the arch's
// kvm_vm_ioctl_check_extension() (arch/x86/kvm/x86.c, arch/s390/kvm/kvm-s390.c). Only the capabilities below are
// modelled; a number the release does not define at all is 0, as in the kernel's default
// case, and any other capability is refused as not modelled (real x86 answers many of
// them with non-zero values).
import { DriverFailure } from "../../spec/driver/contract.js";
import { arm64VmTypeFor } from "../arch/arm64/create-vm.js";
import { arm64Extension } from "../arch/arm64/vm-type.js";
import { s390VmTypeFor } from "../arch/s390/vm-type.js";
import type { VmType } from "../arch/vm-type.js";
import { VM_TYPE_NAMES, X86VmType } from "../arch/x86/vm-types.js";
import { gmemAttributesInUse, gmemSupportedAttributes } from "../guest_memfd/attributes.js";
import { supportedGmemFlags } from "../guest_memfd/create.js";
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Vm } from "../vm/vm.js";
import { upmVmType } from "../restrictedmem/attributes.js";

export function checkExtension(kernel: Kernel, vm: Vm | null, cap: bigint): bigint {
  const C = kernel.K.cap;
  const host = kernel.host;
  const n = Number(BigInt.asIntN(64, cap));
  const bool = (b: boolean): bigint => (b ? 1n : 0n);
  // kvm_vm_ioctl_check_extension_generic()
  switch (n) {
    case C.USER_MEMORY:
    case C.USER_MEMORY2:
    case C.CHECK_EXTENSION_VM:
      return 1n;
    case C.NR_MEMSLOTS:
      return BigInt(kernel.userMemSlots);
    case C.MULTI_ADDRESS_SPACE:
      // The case only exists when SMM gives x86 two address spaces.
      return host.smm ? BigInt(vm ? vm.addressSpaceCount : 2) : 0n;
    case C.READONLY_MEM:
      // Answered only where CONFIG_HAVE_KVM_READONLY_MEM is built; else by the arch default, 0.
      return bool(host.readonlyMem && (vm === null || vm.type.readonlyMemAllowed));
    case C.MEMORY_ATTRIBUTES:
      // UPM v10 and RFC v11: 1 where built in; KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES gives the mask (ATTR-H-001).
      if (kernel.revision.attributesApi !== undefined) return bool(host.memoryAttributes);
      // In-place conversion: 0 while guest_memfd tracks attributes instead (conv series: the
      // capability returns 0 unless vm_memory_attributes; v8: kvm_supported_vm_mem_attributes()).
      if (gmemAttributesInUse(kernel)) return 0n;
      return vm === null ? (host.memoryAttributes ? kernel.K.ATTRIBUTE_PRIVATE : 0n) : vm.supportedAttributes;
    case C.GUEST_MEMFD:
      return bool(host.guestMemfd && (vm === null || vm.guestMemfdAllowed));
    case C.NR_VCPUS:
      // Arch code on both, with the same rule: online CPUs, at most the vCPU limit.
      return BigInt(Math.min(host.onlineCpus, host.maxVcpus));
  }
  // UPM v9: CONFIG_KVM_GENERIC_PRIVATE_MEM, whatever the VM (RMEM-017).
  if (C.PRIVATE_MEM !== undefined && n === C.PRIVATE_MEM) return bool(host.memoryAttributes);
  if (C.GUEST_MEMFD_FLAGS !== undefined && n === C.GUEST_MEMFD_FLAGS) return host.guestMemfd ? supportedGmemFlags(kernel, vm) : 0n;
  // In-place conversion (CONV-003): read from spec/ by name, as the number moved between revisions.
  if (cap === kernel.config.spec.constant("KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES", kernel.revision.profile)) return gmemSupportedAttributes(kernel, vm);
  // conv-v8's base defines KVM_CAP_S390_HPAGE_2G = 249 (v7's number for the conversion capability): s390 only.
  if (!host.s390 && cap === kernel.config.spec.constant("KVM_CAP_S390_HPAGE_2G", kernel.revision.profile)) return 0n;
  const arch = host.s390 ? s390Extension(kernel, n) : host.arm64 ? arm64Extension(kernel, n) : x86Extension(kernel, n);
  if (arch !== undefined) return arch;
  // The argument is a long: negative numbers and numbers past the release's newest capability name nothing.
  const capMax = kernel.revision.capMax;
  if (n < 0 || (capMax !== undefined && n > capMax)) return 0n;
  throw new DriverFailure("unsupported", `KVM_CHECK_EXTENSION(${n}): the reference model does not model this capability`);
}

/** x86's kvm_vm_ioctl_check_extension(), for the capabilities the model knows. */
function x86Extension(kernel: Kernel, n: number): bigint | undefined {
  const C = kernel.K.cap;
  switch (n) {
    case C.MEMORY_FAULT_INFO:
    case C.SPLIT_IRQCHIP:
      return 1n;
    case C.EXIT_HYPERCALL:
      return 1n << kernel.K.hcMapGpaRange;
    case C.VM_TYPES:
      return vmTypesMask(kernel);
    // KVM_MAX_VCPUS and KVM_MAX_VCPU_IDS; no VM here lowers its vCPU-id limit (KVM_CAP_MAX_VCPU_ID enable)
    case C.MAX_VCPUS:
      return BigInt(kernel.host.maxVcpus);
    case C.MAX_VCPU_ID:
      return BigInt(kernel.host.maxVcpuIds);
    case C.S390_UCONTROL:
    case C.S390_PROTECTED:
    case C.ARM_VM_IPA_SIZE:
      return 0n;
  }
  if (C.PRE_FAULT_MEMORY !== undefined && n === C.PRE_FAULT_MEMORY) return kernel.host.tdp ? 1n : 0n;
  return undefined;
}

/** s390's kvm_vm_ioctl_check_extension(): its own capabilities; the x86 ones the model knows fall to its default, 0. */
function s390Extension(kernel: Kernel, n: number): bigint | undefined {
  const C = kernel.K.cap;
  const s390 = kernel.host.s390!;
  switch (n) {
    case C.S390_UCONTROL:
      return s390.ucontrol ? 1n : 0n;
    case C.S390_PROTECTED:
      return s390.protectedVirtualization ? 1n : 0n;
    case C.MEMORY_FAULT_INFO:
    case C.SPLIT_IRQCHIP:
    case C.EXIT_HYPERCALL:
    case C.VM_TYPES:
    case C.ARM_VM_IPA_SIZE:
      return 0n;
  }
  // CONFIG_KVM_GENERIC_PRE_FAULT_MEMORY is x86's alone in these releases.
  if (C.PRE_FAULT_MEMORY !== undefined && n === C.PRE_FAULT_MEMORY) return 0n;
  return undefined;
}

export function vmTypesMask(kernel: Kernel): bigint {
  let mask = 0n;
  for (const name of kernel.host.vmTypes) {
    const n = vmTypeNumber(kernel, name);
    if (n !== undefined) mask |= 1n << n;
  }
  return mask;
}

/** The KVM_CREATE_VM number of a type, or undefined where the profile has no such type. */
export function vmTypeNumber(kernel: Kernel, name: (typeof VM_TYPE_NAMES)[number]): bigint | undefined {
  const T = kernel.K.vmType;
  return { default: T.DEFAULT, "sw-protected": T.SW_PROTECTED, sev: T.SEV, "sev-es": T.SEV_ES, snp: T.SNP, tdx: T.TDX }[name];
}

/** kvm_arch_init_vm()'s type check: the arch's type for a KVM_CREATE_VM argument, or undefined. */
export function vmTypeFor(kernel: Kernel, type: bigint): VmType | undefined {
  if (kernel.host.s390) return s390VmTypeFor(kernel, type);
  if (kernel.host.arm64) return arm64VmTypeFor(kernel, type);
  if (type === kernel.K.vmType.DEFAULT) {
    const upm = upmVmType(kernel);
    if (upm !== undefined) return upm;
  }
  // kvm_is_vm_type_supported()
  const name = kernel.host.vmTypes.find((t) => vmTypeNumber(kernel, t) === type);
  return name === undefined ? undefined : new X86VmType(X86VmType.rules(name), kernel.rmp);
}

/** A capability number the model does not model: EINVAL if the release defines no such number, else not modelled. */
export function unmodelledCapability(kernel: Kernel, cap: bigint, what: string): never {
  const capMax = kernel.revision.capMax;
  if (capMax !== undefined && cap > BigInt(capMax)) fail("EINVAL");
  throw new DriverFailure("unsupported", `${what}: the reference model does not model capability ${cap}`);
}
