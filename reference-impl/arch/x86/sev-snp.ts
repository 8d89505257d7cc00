// SEV, SEV-ES and SNP VMs: the launch state KVM keeps per VM (struct kvm_sev_info,
// reduced to what the private-memory clauses observe) and the KVM_MEMORY_ENCRYPT_OP
// commands that move it. Source: sev_mem_enc_ioctl(), sev_guest_init2(),
// __sev_guest_init(), snp_launch_start(), snp_launch_update(), snp_launch_finish()
// in arch/x86/kvm/svm/sev.c (torvalds/linux @ 0097f9df996f); svm_vcpu_pre_run() in
// svm/svm.c. Firmware commands always succeed here; what only the firmware or the
// CPU decides (page population, measurement, VMRUN of a guest whose VMSA was never
// measured) is refused as not modelled.
import { DriverFailure } from "../../../spec/driver/contract.js";
import type { Decoded } from "../../../spec/codec.js";
import { fail, SyscallError } from "../../lib/errno.js";
import type { Kernel } from "../../kernel.js";
import { CharDeviceInode, DeviceFile } from "../../process/devices.js";
import { runCommand, type IoctlCall, type SyscallContext } from "../../process/file.js";
import { readUserStruct } from "../../process/uaccess.js";
import type { Vcpu } from "../../vcpu/vcpu.js";
import type { Vm } from "../../vm/vm.js";

type Struct = { [field: string]: Decoded };

/** SNP_POLICY_MASK_* (sev.c, from the SEV-SNP firmware ABI): API minor/major, SMT, reserved-must-be-one, debug, single socket */
const SNP_POLICY_VALID = 0xffffn | (1n << 16n) | (1n << 17n) | (1n << 19n) | (1n << 20n);
const SNP_POLICY_RSVD_MBO = 1n << 17n;
/** GHCB_VERSION_MAX */
const GHCB_VERSION_MAX = 2n;
/** sev_supported_vmsa_features: the modelled hosts offer no optional VMSA feature */
const SUPPORTED_VMSA_FEATURES = 0n;

export type SevFamily = "sev" | "sev-es" | "snp";

export class SevState {
  /** sev->need_init: set at creation for every SEV type (svm_vm_init), cleared by KVM_SEV_INIT2 */
  needInit = true;
  /** sev_snp_guest(): KVM_SEV_INIT2 made this VM an SNP guest */
  snpActive = false;
  /** sev->snp_context: LAUNCH_START created the firmware's guest context */
  snpContext = false;
  /** sev->fd: the descriptor number LAUNCH_START used; later firmware commands look it up again */
  firmwareFd: bigint | null = null;
  launchFinished = false;
  /** a LAUNCH_FINISH handed the VMSAs to the firmware and then failed: a retry is not modelled */
  vmsasSubmitted = false;
  /** vCPUs whose VMSA LAUNCH_FINISH encrypted and measured: the ones that can run */
  readonly measured = new Set<Vcpu>();

  constructor(readonly family: SevFamily) {}
}

/** /dev/sev (drivers/crypto/ccp/sev-dev.c): the firmware device SNP launch commands go through. */
export class SevDeviceFile extends DeviceFile {
  override ioctl(): bigint {
    throw new DriverFailure("unsupported", "the reference model does not model the /dev/sev ioctls (SEV_ISSUE_CMD)");
  }
}

/** /dev/sev exists on hosts whose firmware runs SEV guests; its inode is made on first use. */
export function openSevDevice(kernel: Kernel, flags: number): SevDeviceFile {
  if (!kernel.host.vmTypes.some((t) => t === "sev" || t === "sev-es" || t === "snp")) fail("ENOENT");
  // A misc device: its minor is given out at registration, so any number is as good.
  kernel.devSev ??= new CharDeviceInode(kernel, "/dev/sev", 10, 124);
  return new SevDeviceFile(kernel.devSev, flags);
}

/** sev_issue_cmd_external_user(): the descriptor must be an open /dev/sev. */
function isSevDevice(ctx: SyscallContext, fd: bigint): boolean {
  try {
    return ctx.process.files.get(BigInt.asIntN(32, fd)) instanceof SevDeviceFile;
  } catch (err) {
    if (err instanceof SyscallError) return false;
    throw err;
  }
}

type Command = (ctx: SyscallContext, vm: Vm, sev: SevState, cmd: Struct) => void;

/** sev_mem_enc_ioctl(): KVM_MEMORY_ENCRYPT_OP on the VM fd of an SEV, SEV-ES or SNP VM. */
export function sevMemEncryptOp(ctx: SyscallContext, vm: Vm, sev: SevState, call: IoctlCall): bigint {
  const S = ctx.kernel.K.sev;
  const cmd = call.readStructAs("kvm_sev_cmd");
  const id = cmd.id as bigint;
  // Once KVM_SEV_INIT2 made the VM an SNP guest, only SNP commands are accepted.
  if (sev.snpActive && id < S.SNP_LAUNCH_START!) fail("EPERM");
  const commands = new Map<bigint | undefined, Command>([
    [S.INIT2, init2],
    [S.SNP_LAUNCH_START, snpLaunchStart],
    [S.SNP_LAUNCH_UPDATE, snpLaunchUpdate],
    [S.SNP_LAUNCH_FINISH, snpLaunchFinish],
  ]);
  const command = commands.get(id);
  if (command === undefined) {
    if (id < S.INIT2!) throw new DriverFailure("unsupported", `the reference model does not model SEV command ${id} (the legacy SEV launch, migration and debug commands)`);
    return fail("EINVAL");
  }
  return runCommand(call, cmd, "kvm_sev_cmd", () => command(ctx, vm, sev, cmd));
}

/** sev_guest_init2() + __sev_guest_init() */
function init2(ctx: SyscallContext, vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.needInit) fail("EINVAL");
  const data = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_init");
  // vCPUs are set up for the guest's protection when they are created: too late now.
  if (vm.vcpus.size > 0) fail("EINVAL");
  if (data.flags !== 0n) fail("EINVAL");
  const esActive = sev.family !== "sev";
  const validFeatures = esActive ? SUPPORTED_VMSA_FEATURES : 0n;
  if (((data.vmsa_features as bigint) & ~validFeatures) !== 0n) fail("EINVAL");
  const ghcb = data.ghcb_version as bigint;
  if (ghcb > GHCB_VERSION_MAX || (!esActive && ghcb !== 0n)) fail("EINVAL");
  // KVM_SEV_INIT2 takes version 0 as 2 for SEV-ES and SNP; from 6.18 an SNP guest must end
  // up with version 2 ("KVM: SEV: Enforce minimum GHCB version requirement for SEV-SNP guests").
  const effective = esActive && ghcb === 0n ? GHCB_VERSION_MAX : ghcb;
  if (ctx.kernel.revision.snpMinGhcbVersion2 && sev.family === "snp" && effective < 2n) fail("EINVAL");
  sev.needInit = false;
  sev.snpActive = sev.family === "snp";
}

/** snp_launch_start() */
function snpLaunchStart(ctx: SyscallContext, _vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.snpActive) fail("ENOTTY");
  const params = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_start");
  // One guest context per VM.
  if (sev.snpContext) fail("EINVAL");
  if (params.flags !== 0n) fail("EINVAL");
  const policy = params.policy as bigint;
  if ((policy & ~SNP_POLICY_VALID) !== 0n || (policy & SNP_POLICY_RSVD_MBO) === 0n) fail("EINVAL");
  // snp_context_create(): SNP_GCTX_CREATE goes through sev_fd; KVM reports its failure as ENOTTY.
  if (!isSevDevice(ctx, cmd.sev_fd as bigint)) fail("ENOTTY");
  sev.snpContext = true;
  sev.firmwareFd = cmd.sev_fd as bigint;
}

/** snp_launch_update(), up to kvm_gmem_populate() */
function snpLaunchUpdate(ctx: SyscallContext, vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.snpActive || !sev.snpContext) fail("EINVAL");
  const params = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_update");
  const { K, page } = ctx.kernel;
  if (!page.aligned(params.len as bigint) || params.flags !== 0n || !K.snpPageTypes.includes(params.type as bigint)) fail("EINVAL");
  // kvm_slot_can_be_private(): the first gfn must lie in a memslot with a guest_memfd.
  const gfn = params.gfn_start as bigint;
  const slot = gfn > BigInt(vm.maxGfn) ? undefined : vm.memslots[0]!.at(Number(gfn));
  if (slot === undefined || (slot.flags & K.mem.GUEST_MEMFD) === 0n) fail("EINVAL");
  throw new DriverFailure("unsupported", "the reference model does not model SNP page population (kvm_gmem_populate and the firmware's LAUNCH_UPDATE)");
}

/** snp_launch_finish(): measures every vCPU's VMSA, then lets KVM map private memory ahead of time. */
function snpLaunchFinish(ctx: SyscallContext, vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.snpActive) fail("ENOTTY");
  if (!sev.snpContext) fail("EINVAL");
  const params = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_finish");
  if (params.flags !== 0n) fail("EINVAL");
  if (sev.launchFinished || sev.vmsasSubmitted)
    throw new DriverFailure("unsupported", "the reference model does not model the firmware's answer to a second LAUNCH_FINISH");
  // snp_launch_update_vmsa(): each VMSA goes to the firmware through this command's own sev_fd.
  if (vm.vcpus.size > 0) {
    if (!isSevDevice(ctx, cmd.sev_fd as bigint)) fail("EBADF");
    sev.vmsasSubmitted = true;
  }
  if (params.id_block_en !== 0n) throw new DriverFailure("unsupported", "the reference model does not model the firmware's check of an SNP ID block");
  // SNP_LAUNCH_FINISH itself goes through the descriptor LAUNCH_START was given, looked up again now.
  if (!isSevDevice(ctx, sev.firmwareFd!)) fail("EBADF");
  for (const v of vm.vcpus.values()) sev.measured.add(v);
  sev.launchFinished = true;
  vm.preFaultAllowed = true;
}

/** svm_vcpu_pre_run() and what VMRUN makes of the vCPU's state. */
export function sevVcpuPreRun(sev: SevState, vcpu: Vcpu): void {
  if (sev.needInit) fail("EINVAL");
  if (sev.measured.has(vcpu)) return;
  throw new DriverFailure(
    "unsupported",
    sev.family === "snp"
      ? "the reference model does not model running an SNP vCPU whose VMSA LAUNCH_FINISH did not measure (VMRUN's answer is the hardware's)"
      : "the reference model does not model the SEV and SEV-ES launch flow",
  );
}
