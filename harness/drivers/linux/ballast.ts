// One idle VM with one vCPU (no in-kernel irqchip) that the driver holds for its
// whole life and no case can reach (its fds are the driver's, refused to cases).
//
// Why: KVM turns some static keys on when the first VM or vCPU of its kind appears
// and off when the last one goes (preempt notifiers in kvm_create_vm/kvm_destroy_vm,
// kvm_has_noapic_vcpu in kvm_arch_vcpu_create/destroy). Each switch patches kernel
// text and interrupts every CPU. Every case creates and closes its own VM, so
// without a VM held in between each case paid two switches each way (a quarter of
// the driver child's kernel time on this host). Static keys only choose code paths
// that behave the same, so what a case observes does not change.
import type { ProfileName, Spec } from "../../../spec/index.js";
import * as libc from "./libc.js";

export class Ballast {
  private constructor(private readonly fds: bigint[]) {}

  /** The VM and its vCPU, or as much of them as the kernel allowed (nothing held is no error: cases are the same). */
  static create(spec: Spec, profile: ProfileName, systemFd: number): Ballast {
    const fds: bigint[] = [];
    const createVm = spec.ioctl("KVM_CREATE_VM", profile)?.request;
    const createVcpu = spec.ioctl("KVM_CREATE_VCPU", profile)?.request;
    if (createVm !== undefined && createVcpu !== undefined) {
      const vm = libc.ioctlValue(BigInt(systemFd), createVm, 0n);
      if (vm.ret >= 0n) {
        fds.push(vm.ret);
        const vcpu = libc.ioctlValue(vm.ret, createVcpu, 0n);
        if (vcpu.ret >= 0n) fds.push(vcpu.ret);
      }
    }
    return new Ballast(fds);
  }

  release(): void {
    for (const fd of [...this.fds].reverse()) libc.close(fd);
    this.fds.length = 0;
  }
}
