// KVM_CHECK_EXTENSION at system scope (vm null) and per VM:
// kvm_vm_ioctl_check_extension_generic() (virt/kvm/kvm_main.c) and x86's
// kvm_vm_ioctl_check_extension() (arch/x86/kvm/x86.c). Only the capabilities below are
// modelled; a number the release does not define at all is 0, as in the kernel's default
// case, and any other capability is refused as not modelled (real x86 answers many of
// them with non-zero values).
import { DriverFailure } from "../../harness/driver/contract.js";
import { VM_TYPE_NAMES, X86VmType } from "../arch/x86/vm-types.js";
import { supportedGmemFlags } from "../guest_memfd/create.js";
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Vm } from "../vm/vm.js";

export function checkExtension(kernel: Kernel, vm: Vm | null, cap: bigint): bigint {
  const C = kernel.K.cap;
  const host = kernel.host;
  const n = Number(BigInt.asIntN(64, cap));
  const bool = (b: boolean): bigint => (b ? 1n : 0n);
  switch (n) {
    case C.USER_MEMORY:
    case C.USER_MEMORY2:
    case C.CHECK_EXTENSION_VM:
    case C.MEMORY_FAULT_INFO:
    case C.SPLIT_IRQCHIP:
      return 1n;
    case C.NR_MEMSLOTS:
      return BigInt(kernel.K.userMemSlots);
    case C.NR_VCPUS:
      return BigInt(Math.min(host.onlineCpus, host.maxVcpus));
    case C.MULTI_ADDRESS_SPACE:
      // The case only exists when SMM gives x86 two address spaces.
      return host.smm ? BigInt(vm ? vm.addressSpaceCount : 2) : 0n;
    case C.READONLY_MEM:
      return bool(vm === null || vm.type.readonlyMemAllowed);
    case C.EXIT_HYPERCALL:
      return 1n << kernel.K.hcMapGpaRange;
    case C.MEMORY_ATTRIBUTES:
      return vm === null ? (host.memoryAttributes ? kernel.K.ATTRIBUTE_PRIVATE : 0n) : vm.supportedAttributes;
    case C.GUEST_MEMFD:
      return bool(host.guestMemfd && (vm === null || vm.guestMemfdAllowed));
    case C.VM_TYPES:
      return vmTypesMask(kernel);
  }
  // Capabilities that only some profiles define.
  if (cap === C.PRE_FAULT_MEMORY) return bool(host.tdp);
  if (cap === C.GUEST_MEMFD_FLAGS && C.GUEST_MEMFD_FLAGS !== undefined) return host.guestMemfd ? supportedGmemFlags(kernel, vm) : 0n;
  // The argument is a long: negative numbers and numbers past the release's newest capability name nothing.
  const capMax = kernel.revision.capMax;
  if (n < 0 || (capMax !== undefined && n > capMax)) return 0n;
  throw new DriverFailure("unsupported", `KVM_CHECK_EXTENSION(${n}): the reference model does not model this capability`);
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

/** kvm_is_vm_type_supported(): the rules of a creatable type, or undefined. */
export function vmTypeFor(kernel: Kernel, type: bigint): X86VmType | undefined {
  const name = kernel.host.vmTypes.find((t) => vmTypeNumber(kernel, t) === type);
  return name === undefined ? undefined : new X86VmType(X86VmType.rules(name), kernel.rmp);
}

/** A capability number the model does not model: EINVAL if the release defines no such number, else not modelled. */
export function unmodelledCapability(kernel: Kernel, cap: bigint, what: string): never {
  const capMax = kernel.revision.capMax;
  if (capMax !== undefined && cap > BigInt(capMax)) fail("EINVAL");
  throw new DriverFailure("unsupported", `${what}: the reference model does not model capability ${cap}`);
}
