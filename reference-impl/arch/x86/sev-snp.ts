// SEV, SEV-ES and SNP VMs: the launch state KVM keeps per VM (struct kvm_sev_info,
// reduced to what the private-memory clauses observe) and the KVM_MEMORY_ENCRYPT_OP
// commands that move it. Source: sev_mem_enc_ioctl(), sev_guest_init2(),
// __sev_guest_init(), snp_launch_start(), snp_launch_update(), snp_launch_finish()
// in arch/x86/kvm/svm/sev.c (torvalds/linux @ 0097f9df996f); svm_vcpu_pre_run() in
// svm/svm.c. Firmware commands succeed here unless KVM's own checks or the sev_fd
// fail them; what only the firmware or the CPU decides (measurement, the firmware
// checks listed in snp/launch.ts, VMRUN of a guest whose VMSA was never measured) is
// refused as not modelled. The hardware under the guest (the RMP, PVALIDATE, the GHCB
// page-state changes) is in snp/.
import { DriverFailure, type OpResult } from "../../../spec/driver/contract.js";
import type { Decoded } from "../../../spec/codec.js";
import { fail } from "../../lib/errno.js";
import type { Kernel } from "../../kernel.js";
import { CharDeviceInode, DeviceFile } from "../../process/devices.js";
import { runCommand, type IoctlCall, type SyscallContext } from "../../process/file.js";
import { readUserStruct } from "../../process/uaccess.js";
import type { GuestArchAction } from "../../vcpu/run.js";
import type { Vcpu } from "../../vcpu/vcpu.js";
import type { Spte } from "../../vm/mmu.js";
import type { Vm } from "../../vm/vm.js";
import { snpGuestAccess, snpPvalidate } from "./snp/guest.js";
import { isSevDevice, snpLaunchUpdate } from "./snp/launch.js";
import { snpPscBuffer, snpPscMsr, snpPscResume, type PendingPsc } from "./snp/psc.js";
import type { ReverseMapTable } from "./snp/rmp.js";

type Struct = { [field: string]: Decoded };

/** SNP_POLICY_MASK_* (sev.c, from the SEV-SNP firmware ABI): API minor/major, SMT, reserved-must-be-one, debug, single socket */
const SNP_POLICY_VALID = 0xffffn | (1n << 16n) | (1n << 17n) | (1n << 19n) | (1n << 20n);
const SNP_POLICY_RSVD_MBO = 1n << 17n, SNP_POLICY_SMT = 1n << 16n, SNP_POLICY_SINGLE_SOCKET = 1n << 20n;
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
  /** sev->asid: the guest's ASID in the RMP, given by KVM_SEV_INIT2 (0 before) */
  asid = 0;
  /** page-state-change requests waiting for the VMM's answer, per vCPU (complete_userspace_io) */
  readonly pendingPsc = new Map<Vcpu, PendingPsc>();

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
  // sev_asid_new(): SNP guests take an ASID from the SEV-ES/SNP range.
  if (sev.snpActive) sev.asid = ctx.kernel.rmp.newAsid();
}

/** snp_launch_start() */
function snpLaunchStart(ctx: SyscallContext, _vm: Vm, sev: SevState, cmd: Struct): void {
  if (!sev.snpActive) fail("ENOTTY");
  const params = readUserStruct(ctx, cmd.data_u64 as bigint, "kvm_sev_snp_launch_start");
  // One guest context per VM.
  if (sev.snpContext) fail("EINVAL");
  if (params.flags !== 0n) fail("EINVAL");
  const policy = params.policy as bigint;
  if ((policy & ~SNP_POLICY_VALID) !== 0n || (policy & SNP_POLICY_RSVD_MBO) === 0n || (policy & SNP_POLICY_SMT) === 0n || (policy & SNP_POLICY_SINGLE_SOCKET) !== 0n) fail("EINVAL");
  // snp_context_create(): SNP_GCTX_CREATE goes through sev_fd; KVM reports its failure as ENOTTY.
  if (!isSevDevice(ctx, cmd.sev_fd as bigint)) fail("ENOTTY");
  sev.snpContext = true;
  sev.firmwareFd = cmd.sev_fd as bigint;
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

/** The guest_arch actions of an SNP guest (features guest-arch:snp:*). */
const SNP_ACTIONS: Record<string, (ctx: SyscallContext, vcpu: Vcpu, rmp: ReverseMapTable, vm: Vm, sev: SevState, a: GuestArchAction) => OpResult> = {
  "snp:pvalidate": snpPvalidate,
  "snp:psc": (ctx, vcpu, _rmp, vm, sev, a) => snpPscBuffer(ctx, vcpu, vm, sev, a),
  "snp:psc-msr": (ctx, vcpu, _rmp, vm, sev, a) => snpPscMsr(ctx, vcpu, vm, sev, a),
  "snp:resume": (ctx, vcpu, _rmp, vm, sev, a) => snpPscResume(ctx, vcpu, vm, sev, a),
};

/** The names of the SNP guest actions, for the handshake's features. */
export const SNP_GUEST_ACTIONS = Object.keys(SNP_ACTIONS);

/** guest_arch on a vCPU of a SEV VM: only SNP guests have actions. */
export function sevGuestArch(ctx: SyscallContext, rmp: ReverseMapTable, sev: SevState, vcpu: Vcpu, a: GuestArchAction): OpResult {
  const action = sev.snpActive ? SNP_ACTIONS[a.action] : undefined;
  if (action === undefined) throw new DriverFailure("unsupported", `a ${sev.family} guest has no architecture action ${a.action}`);
  if (a.action !== "snp:resume") noPendingPsc(sev, vcpu);
  return action(ctx, vcpu, rmp, vcpu.vm, sev, a);
}

/** A vCPU whose page-state change waits for the VMM continues it on its next KVM_RUN; the contract expresses that only as snp:resume. */
function noPendingPsc(sev: SevState, vcpu: Vcpu): void {
  if (sev.pendingPsc.has(vcpu)) throw new DriverFailure("protocol", `vCPU ${vcpu.id} has a page-state change waiting for userspace: continue it with snp:resume first`);
}

/** The RMP check of an SNP guest's access through spte (VmType.guestAccess). */
export function sevGuestAccess(rmp: ReverseMapTable, sev: SevState, vcpu: Vcpu, gfn: number, spte: Spte, access: { write: boolean; offset: number; len: number }): OpResult | undefined {
  if (!sev.snpActive) return undefined;
  noPendingPsc(sev, vcpu);
  return snpGuestAccess(rmp, vcpu.vm, sev, gfn, spte, access);
}
