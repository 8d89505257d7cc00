// KVM_CREATE_VM on arm64: which VM a machine type makes (kvm_arch_init_vm(), arch/arm64/kvm/arm.c).
// Bits 7:0 are the IPA size (vm-type.ts); on a pKVM host KVM_VM_TYPE_ARM_PROTECTED makes a
// protected VM (pkvm_init_host_vm(): EINVAL where pKVM is off, which the mask check gives).
import type { Kernel } from "../../kernel.js";
import type { VmType } from "../vm-type.js";
import { realmVmTypeFor } from "./cca/vm-type.js";
import { GunyahVmType } from "./gunyah/vm-type.js";
import { PkvmVmType } from "./pkvm/vm-type.js";
import { Arm64VmType, arm64Host, arm64IpaBits } from "./vm-type.js";

export function arm64VmTypeFor(kernel: Kernel, type: bigint): VmType | undefined {
  // Arm CCA (in-flight series): the REALM machine-type bit (cca/vm-type.ts).
  const realm = realmVmTypeFor(kernel, type);
  if (realm !== undefined) return realm === "invalid" ? undefined : realm;
  const PROTECTED = kernel.K.arm64.VM_TYPE_ARM_PROTECTED!;
  const protectedVm = arm64Host(kernel.host).mode === "protected" && (type & PROTECTED) !== 0n;
  const bits = arm64IpaBits(kernel, protectedVm ? type & ~PROTECTED : type);
  if (bits === undefined) return undefined;
  // Gunyah (gunyah/): every VM is one, the Resource Manager treating all VMs as protected.
  if (arm64Host(kernel.host).gunyah === true) return new GunyahVmType(bits, kernel);
  return protectedVm ? new PkvmVmType(bits, kernel) : new Arm64VmType(bits, kernel);
}
