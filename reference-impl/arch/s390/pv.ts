// KVM_S390_PV_COMMAND (kvm_arch_vm_ioctl() and kvm_s390_handle_pv() in
// arch/s390/kvm/kvm-s390.c): turning a VM into a protected configuration and back.
// KVM_PV_ENABLE and KVM_PV_DISABLE are modelled; the image, dump and asynchronous
// teardown commands are refused as not modelled.
import { DriverFailure } from "../../../spec/driver/contract.js";
import { fail } from "../../lib/errno.js";
import { runCommand, type IoctlCall, type SyscallContext } from "../../process/file.js";
import type { S390VmType } from "./vm-type.js";

/** UVC_RC_EXECUTED: the Ultravisor call completed */
const UVC_RC_EXECUTED = 1n;

export function pvCommand(ctx: SyscallContext, type: S390VmType, call: IoctlCall): bigint {
  const { kernel } = ctx;
  const S = kernel.K.s390;
  if (!kernel.host.s390!.protectedVirtualization) fail("EINVAL");
  const cmd = call.readStruct();
  if (cmd.flags !== 0n) fail("EINVAL");
  if (cmd.cmd !== S.PV_ENABLE && cmd.cmd !== S.PV_DISABLE)
    throw new DriverFailure("unsupported", `KVM_S390_PV_COMMAND cmd ${cmd.cmd}: the reference model models only KVM_PV_ENABLE and KVM_PV_DISABLE`);
  // kvm_s390_handle_pv(): ENABLE needs an unprotected VM, DISABLE a protected one.
  const enable = cmd.cmd === S.PV_ENABLE;
  return runCommand(call, cmd, undefined, () => {
    if (type.isProtected === enable) fail("EINVAL");
    // kvm_s390_pv_init_vm() / kvm_s390_pv_deinit_vm(): the Ultravisor's codes come back.
    if (enable) kernel.allocate();
    type.isProtected = enable;
    cmd.rc = UVC_RC_EXECUTED;
    cmd.rrc = 0n;
  });
}
