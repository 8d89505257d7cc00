// struct kvm_vcpu and its file: KVM_CREATE_VCPU (kvm_vm_ioctl_create_vcpu) and
// the vCPU ioctls the model implements (kvm_vcpu_ioctl, virt/kvm/kvm_main.c 7.2).
import type { OpResult } from "../../spec/driver/contract.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { OpenFile, type IoctlCall, type SyscallContext } from "../process/file.js";
import { iocType } from "../system/uapi.js";
import type { Vm } from "../vm/vm.js";
import { unmodelledCapability } from "../system/capabilities.js";
import { preFaultMemory } from "./pre-fault.js";
import { resumeProgram, startProgram, type GuestStepArgs, type ProgramState } from "./program.js";
import { runGuest, type GuestProgram } from "./run.js";

export class Vcpu {
  file: VcpuFile | null = null;
  /** the guest_program loaded by the last run, until another program replaces it */
  program: ProgramState | undefined;

  constructor(
    readonly vm: Vm,
    readonly id: number,
  ) {}
}

export class VcpuFile extends OpenFile {
  constructor(readonly vcpu: Vcpu) {
    super(vcpu.vm.kernel.anonInode, vcpu.vm.kernel.K.o.RDWR);
    vcpu.file = this;
    vcpu.vm.get();
  }

  link(): string {
    return `anon_inode:kvm-vcpu:${this.vcpu.id}`;
  }

  override llseek(): bigint {
    return this.pos;
  }

  override mmap(): void {
    throw new DriverFailure("unsupported", "the reference model does not map kvm_run (mmap of a vCPU fd)");
  }

  /** Checks every vCPU ioctl makes first. */
  private enter(ctx: SyscallContext, request: number): void {
    if (this.vcpu.vm.owner !== ctx.process) fail("EIO");
    if (iocType(request) !== ctx.kernel.K.kvmio) fail("EINVAL");
  }

  /** KVM_RUN on a guest program (the `guest`, `hypercall` and `guest_arch` operations), or on the loaded guest_program. */
  run(ctx: SyscallContext, program: GuestProgram | { kind: "steps"; steps: GuestStepArgs[] } | { kind: "resume"; data: Uint8Array | undefined }): OpResult {
    this.enter(ctx, ctx.kernel.R.KVM_RUN!);
    // An architecture exit waiting for the VMM is completed before anything else (complete_userspace_io).
    const arch = program.kind === "resume" ? this.vcpu.vm.type.resumeArch?.(ctx, this.vcpu, program.data) : undefined;
    if (arch !== undefined) return arch;
    this.vcpu.vm.type.vcpuPreRun(this.vcpu);
    if (program.kind === "steps") return startProgram(ctx, this.vcpu, program.steps);
    if (program.kind === "resume") return resumeProgram(ctx, this.vcpu, program.data);
    this.vcpu.program = undefined;
    return runGuest(ctx, this.vcpu, program);
  }

  override ioctl(ctx: SyscallContext, call: IoctlCall): bigint {
    const R = ctx.kernel.R;
    this.enter(ctx, call.request);
    switch (call.request) {
      case R.KVM_RUN:
        throw new DriverFailure("unsupported", "KVM_RUN needs a guest program: use the guest or hypercall operation");
      case R.KVM_PRE_FAULT_MEMORY:
        // CONFIG_KVM_GENERIC_PRE_FAULT_MEMORY: only x86 selects it; elsewhere the arch default answers.
        if (ctx.kernel.host.arch !== "x86_64") break;
        return preFaultMemory(ctx, this.vcpu, call);
      case R.KVM_ENABLE_CAP: {
        // kvm_vcpu_ioctl_enable_cap(): no vCPU capability is modelled; the VM-scope ones it
        // knows are refused by the vCPU's default case.
        const cap = call.readStruct();
        const C = ctx.kernel.K.cap;
        if (cap.flags !== 0n || cap.cap === BigInt(C.EXIT_HYPERCALL) || cap.cap === BigInt(C.SPLIT_IRQCHIP)) return fail("EINVAL");
        return unmodelledCapability(ctx.kernel, cap.cap as bigint, "KVM_ENABLE_CAP on a vCPU");
      }
    }
    // kvm_arch_vcpu_ioctl(), which KVM_CHECK_EXTENSION also reaches.
    return this.vcpu.vm.type.vcpuIoctl(ctx, this.vcpu, call);
  }

  protected override release(): void {
    this.vcpu.vm.put();
  }
}

/** KVM_CREATE_VCPU: returns the new descriptor (O_CLOEXEC). */
export function createVcpu(ctx: SyscallContext, vm: Vm, id: bigint): number {
  const { kernel } = ctx;
  if (BigInt.asUintN(64, id) >= BigInt(kernel.host.maxVcpuIds)) fail("EINVAL");
  if (vm.vcpus.size >= vm.type.maxVcpus(kernel.host)) fail("EINVAL");
  kernel.allocate();
  // kvm_arch_vcpu_create() runs before the duplicate-id check.
  vm.type.vcpuCreate(vm);
  if (vm.vcpus.has(Number(id))) fail("EEXIST");
  ctx.process.files.ensureFree();
  const vcpu = new Vcpu(vm, Number(id));
  vm.vcpus.set(vcpu.id, vcpu);
  return ctx.process.files.install(new VcpuFile(vcpu), true);
}
