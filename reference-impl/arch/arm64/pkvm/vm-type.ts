// Protected VMs of pKVM (KVM_CREATE_VM with KVM_VM_TYPE_ARM_PROTECTED on a host booted with
// kvm-arm.mode=protected), with their memory in guest_memfd as F. Tabba's and E. Berman's
// designs have it (seeds 001 and 002; mainline pKVM pins anonymous memory instead, which is
// not modelled). A page the guest faults in is donated to it; the guest shares and unshares
// pages with the MEM_SHARE / MEM_UNSHARE hypercalls, which pKVM handles at EL2 and in the
// host kernel (no exit reaches userspace); the host maps only what the guest shares, and
// gets its pages back, scrubbed, when the VM dies.
import { DriverFailure, type OpResult } from "../../../../spec/driver/contract.js";
import type { Kernel } from "../../../kernel.js";
import type { Folio } from "../../../mm/folio.js";
import type { SyscallContext } from "../../../process/file.js";
import { handleFault } from "../../../vcpu/fault.js";
import { completedExit, memoryFaultResult, type GuestArchAction } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Memslot, MemslotChange } from "../../../vm/memslots.js";
import type { Vm } from "../../../vm/vm.js";
import { Arm64VmType } from "../vm-type.js";
import type { Pkvm } from "./pkvm.js";
import { PageState } from "./hyp.js";

export class PkvmVmType extends Arm64VmType {
  /** a protected VM's memory is private unless it shares it (guest_memfd without INIT_SHARED) */
  override readonly hasPrivateMem = true;
  override readonly initSharedAllowed = false;

  constructor(ipaBits: number, kernel: Kernel) {
    super(ipaBits, kernel, "arm64-protected");
  }

  private get pkvm(): Pkvm {
    return this.kernel.pkvm!;
  }

  /** Only guest_memfd memory is modelled for protected guests. */
  override prepareMemoryRegion(vm: Vm, change: MemslotChange, old: Memslot | undefined, slot: Memslot | undefined): void {
    super.prepareMemoryRegion(vm, change, old, slot);
    if (slot !== undefined && slot.gmem === null)
      throw new DriverFailure("unsupported", "a protected VM's memslot without guest_memfd (mainline pKVM pins and donates anonymous memory; the model follows the guest_memfd design)");
  }

  /** The guest's stage-2 fault on a guest_memfd page: a page it has not shared is donated to it (__pkvm_host_donate_guest). */
  override gmemPrepare(vm: Vm, folio: Folio): void {
    const inode = this.kernel.pkvmInode(folio);
    if (inode === undefined || this.pkvm.lib.accessibleCount(inode, folio.index) > 0) return;
    const gfn = gfnOf(vm, inode, folio.index);
    if (gfn === undefined || this.pkvm.hyp.donateToGuest(vm, gfn, inode, folio.index) !== 0) return;
    this.pkvm.lib.removeFromDirectMap(folio);
  }

  /** Teardown: the hypervisor gives every page back to the host, scrubbing those the guest owned. */
  destroyVm(vm: Vm): void {
    this.pkvm.hyp.reclaimGuest(vm, (inode, index) => {
      const folio = inode.cachedPage(index);
      if (folio) this.pkvm.lib.forget(folio);
      return folio;
    });
  }

  /** MEM_SHARE and MEM_UNSHARE (Documentation/virt/kvm/arm/hypercalls.rst), one granule at the IPA in X1; X2 and X3 must be 0. */
  override guestArch(ctx: SyscallContext, vcpu: Vcpu, action: GuestArchAction): OpResult {
    if (action.action !== "pkvm:share" && action.action !== "pkvm:unshare") return super.guestArch(ctx, vcpu, action);
    const { page } = this.kernel;
    const A = this.kernel.K.arm64;
    if (action.len !== page.size) throw new DriverFailure("unsupported", `${action.action} of ${action.len} bytes: the hypercall covers one granule (PAGE_SIZE)`);
    const status = (s: bigint): OpResult => ({ ret: 0n, exit: completedExit(ctx), out: { status: s } });
    if (action.args.some((a) => a !== 0n) || !page.aligned(action.gpa)) return status(A.SMCCC_RET_INVALID_PARAMETER!);
    const vm = vcpu.vm;
    const gfn = page.page(action.gpa);
    const { hyp, lib } = this.pkvm;
    if (action.action === "pkvm:share") {
      let r = hyp.guestShareHost(vm, gfn);
      if (r === "EFAULT") {
        // pKVM turns the call into a write data abort, so the host maps the page in, then the guest's HVC runs again.
        const f = handleFault(vm, { gfn, write: true, isPrivate: false });
        if (f.kind === "memory-fault") return memoryFaultResult(ctx.kernel, gfn, false, f.errno);
        if (f.kind !== "mapped") throw new DriverFailure("unsupported", `MEM_SHARE of an IPA outside guest_memfd memory (fault: ${f.kind})`);
        r = hyp.guestShareHost(vm, gfn);
      }
      if (r !== 0) return status(A.SMCCC_RET_INVALID_PARAMETER!);
      const held = hyp.guestPage(vm, gfn)!;
      lib.makeAccessible(held.inode, held.index);
      return status(A.SMCCC_RET_SUCCESS!);
    }
    // MEM_UNSHARE: the host lets go of the page first; if it cannot, the hypervisor refuses.
    const held = hyp.guestPage(vm, gfn);
    if (held === undefined || hyp.guestState(vm, gfn) !== PageState.SHARED_OWNED) return status(A.SMCCC_RET_INVALID_PARAMETER!);
    if (lib.makeInaccessible(held.inode, held.index) !== 0) return status(A.SMCCC_RET_INVALID_PARAMETER!);
    if (hyp.guestUnshareHost(vm, gfn) !== 0) throw new Error(`reference model: MEM_UNSHARE of gfn ${gfn} passed its checks but the hypervisor refused it`);
    return status(A.SMCCC_RET_SUCCESS!);
  }
}

/** The gfn a VM's memslot binds a guest_memfd page to. */
function gfnOf(vm: Vm, inode: { files: Set<{ vm: Vm; bindings: { get(i: number): { value: Memslot } | undefined } }> }, index: number): number | undefined {
  for (const f of inode.files) {
    if (f.vm !== vm) continue;
    const slot = f.bindings.get(index)?.value;
    if (slot?.gmem) return slot.baseGfn + (index - slot.gmem.pgoff);
  }
  return undefined;
}
