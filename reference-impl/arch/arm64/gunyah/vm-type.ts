// A Gunyah VM, expressed through KVM's uAPI (rm.ts says what differs from pKVM). Gunyah's
// own VM manager (/dev/gunyah, GUNYAH_CREATE_GUEST_MEM, GUNYAH_VM_MAP_MEM) is out of tree
// and the driver contract does not speak it; the model maps its guest_memfd semantics on
// the KVM operations a VMM already uses, as a KVM port to Gunyah does (K. Manaouil, "KVM
// port to Qualcomm's Gunyah Hypervisor", RFC, Apr 2025, arch/arm64/kvm/gunyah.c):
// - KVM_CREATE_VM makes a Gunyah VM on this host, whatever the IPA size (the Resource
//   Manager treats every VM as protected), and KVM_CREATE_GUEST_MEMFD a guest_memfd;
// - a guest_memfd memslot is a GUNYAH_VM_MAP_MEM binding with the default access (lend);
// - a lend refused at the guest's fault is KVM_RUN failing with the library's error and
//   KVM_EXIT_MEMORY_FAULT (gmem_abort()'s report of a guest_memfd error; Gunyah's own
//   uAPI reports it as GUNYAH_VCPU_EXIT_PAGE_FAULT with the error in `attempt`).
// No number here is Gunyah's. Anonymous memslots have no counterpart in the guest_memfd
// design (memory is bound from guest_memfd only) and stay plain arm64 memory; the KVM
// port instead pins and lends anonymous pages, which is not modelled.
import type { OpResult } from "../../../../spec/driver/contract.js";
import type { Kernel } from "../../../kernel.js";
import { gmemGetFolio } from "../../../guest_memfd/populate.js";
import type { SyscallContext } from "../../../process/file.js";
import { memoryFaultResult } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Vm } from "../../../vm/vm.js";
import { Arm64VmType } from "../vm-type.js";
import type { GunyahRm } from "./rm.js";

export class GunyahVmType extends Arm64VmType {
  constructor(ipaBits: number, kernel: Kernel) {
    super(ipaBits, kernel, "arm64-gunyah");
  }

  private get rm(): GunyahRm {
    return this.kernel.gunyah!;
  }

  /** Demand paging: the guest's access to a guest_memfd page lends it first (gunyah_gmem_demand_page()). */
  guestAccessBeforeStage2(ctx: SyscallContext, vcpu: Vcpu, gfn: number): OpResult | undefined {
    const slot = vcpu.vm.memslots[0]!.at(gfn);
    if (slot?.gmem?.file == null) return undefined;
    const folio = gmemGetFolio(slot, gfn);
    // guest_memfd's own errors are the fault path's to report.
    if (typeof folio === "string") return undefined;
    const inode = slot.gmem.file.inode;
    inode.clearForUse(folio);
    if (this.rm.lend(vcpu.vm, gfn, inode, folio.index) === 0) return undefined;
    return memoryFaultResult(ctx.kernel, gfn, false, "EBUSY");
  }

  /** Teardown: the VM's lent pages come back to the host (gunyah_vm_reclaim_range()). */
  destroyVm(vm: Vm): void {
    this.rm.reclaimVm(vm);
  }
}
