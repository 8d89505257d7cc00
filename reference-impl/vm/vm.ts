// struct kvm: a VM of one type (x86 or s390), with its memslots, memory attributes, stage-2
// MMU and vCPUs. Its lifetime is a reference count held by the VM file, each vCPU
// file and each guest_memfd file (kvm_get_kvm/kvm_put_kvm); the VM is destroyed
// when the last of them goes, not when its fd is closed.
import type { VmType } from "../arch/vm-type.js";
import { gmemAttributesInUse, gmemGfnIsPrivate } from "../guest_memfd/attributes.js";
import type { GmemFile } from "../guest_memfd/file.js";
import { invariant } from "../lib/invariants.js";
import type { Kernel } from "../kernel.js";
import type { MmuNotifier } from "../process/address-space.js";
import type { Process } from "../process/process.js";
import type { Vcpu } from "../vcpu/vcpu.js";
import { MemoryAttributes } from "./attributes.js";
import { Memslots } from "./memslots.js";
import { Mmu, ZAP_SHARED } from "./mmu.js";

export class Vm implements MmuNotifier {
  private static nextId = 1;
  readonly id = Vm.nextId++;
  /** kvm->users_count */
  users = 0;
  destroyed = false;
  readonly memslots: Memslots[];
  /** null when CONFIG_KVM_GENERIC_MEMORY_ATTRIBUTES is not built, or per-VM attributes are off (in-place conversion) */
  readonly attributes: MemoryAttributes | null;
  readonly mmu: Mmu;
  readonly vcpus = new Map<number, Vcpu>();
  readonly gmemFiles = new Set<GmemFile>();
  /** kvm->arch.hypercall_exit_enabled (KVM_CAP_EXIT_HYPERCALL) */
  hypercallExitMask = 0n;
  /** kvm->arch.pre_fault_allowed: from creation, or once SNP launch finished / the TD was finalized */
  preFaultAllowed: boolean;
  /** KVM_IRQCHIP_SPLIT: in-kernel local APICs, I/O APIC in userspace (KVM_CAP_SPLIT_IRQCHIP) */
  splitIrqchip = false;
  /** kvm->arch.n_max_mmu_pages > 0: set the first time a memslot is created or deleted */
  shadowMmuBudget = false;

  constructor(
    readonly kernel: Kernel,
    /** kvm->mm: the address space the VM belongs to */
    readonly owner: Process,
    readonly type: VmType,
  ) {
    this.memslots = Array.from({ length: this.addressSpaceCount }, () => new Memslots());
    // With kvm.vm_memory_attributes=0 (in-place conversion) the VM keeps none and its
    // KVM_SET_MEMORY_ATTRIBUTES is ENOTTY ([PATCH v7 04/42], kvm_vm_ioctl).
    this.attributes = kernel.host.memoryAttributes && !gmemAttributesInUse(kernel) ? new MemoryAttributes(this.supportedAttributes) : null;
    this.mmu = new Mmu(this);
    this.preFaultAllowed = type.preFaultAllowedAtCreate;
    owner.mm.notifiers.add(this);
    kernel.vms.add(this);
    type.initVm(this);
  }

  /** kvm_arch_nr_memslot_as_ids() */
  get addressSpaceCount(): number {
    return this.type.addressSpaces(this.kernel.host.smm);
  }

  /** kvm_mmu_max_gfn() */
  get maxGfn(): number {
    return 2 ** (this.kernel.host.gpaBits - Number(this.kernel.page.shift)) - 1;
  }

  /** kvm_supported_mem_attributes(); none while guest_memfd tracks attributes instead (in-place conversion, CONV-004) */
  get supportedAttributes(): bigint {
    if (gmemAttributesInUse(this.kernel)) return 0n;
    return this.kernel.host.memoryAttributes && this.type.hasPrivateMem ? this.kernel.K.ATTRIBUTE_PRIVATE : 0n;
  }

  /** KVM_MEM_GUEST_MEMFD is a valid memslot flag (and KVM_CAP_GUEST_MEMFD reports 1) for this VM */
  get guestMemfdAllowed(): boolean {
    return this.kernel.host.guestMemfd && (this.kernel.revision.gmemForEveryVm || this.type.hasPrivateMem);
  }

  /** kvm_mem_is_private() */
  isPrivate(gfn: number): boolean {
    if (gmemAttributesInUse(this.kernel)) return gmemGfnIsPrivate(this, gfn);
    return this.attributes !== null && (this.attributes.get(gfn) & this.kernel.K.ATTRIBUTE_PRIVATE) !== 0n;
  }

  get(): this {
    this.users++;
    return this;
  }

  /** kvm_put_kvm(): the last reference destroys the VM. */
  put(): void {
    if (--this.users > 0) return;
    this.destroyed = true;
    this.mmu.zapAll();
    this.type.vmDestroyed?.(this);
    this.owner.mm.notifiers.delete(this);
    this.kernel.vms.delete(this);
  }

  /** The MMU notifier: a host mapping of [start, end) pages changed; zap what maps it. */
  invalidateRange(start: number, end: number): void {
    const shift = this.kernel.page.shift;
    this.mmu.invalidate(() => {
      this.memslots.forEach((slots, asId) => {
        for (const slot of slots.byId.values()) {
          const first = slot.hostPage(slot.baseGfn, shift);
          const lo = Math.max(start, first);
          const hi = Math.min(end, first + slot.npages);
          // Host mappings never back private memory, so only shared mappings are affected.
          if (lo < hi) this.mmu.zap(asId, slot.baseGfn + (lo - first), slot.baseGfn + (hi - first), ZAP_SHARED);
        }
      });
    });
  }

  checkInvariants(): void {
    for (const s of this.memslots) s.checkInvariants();
    this.attributes?.checkInvariants();
    this.mmu.checkInvariants();
    this.type.checkInvariants?.(this);
    const shift = this.kernel.page.shift;
    for (const { asId, gfn, spte } of this.mmu.mappings()) {
      const where = `VM ${this.id} gfn ${gfn}`;
      const slot = this.memslots[asId]!.at(gfn);
      invariant(slot !== undefined, () => `${where}: mapped outside every memslot`);
      invariant(!spte.folio.freed, () => `${where}: maps a freed page`);
      invariant(!spte.folio.hwpoison, () => `${where}: maps a poisoned page`);
      invariant(spte.folio.uptodate, () => `${where}: maps a page that was never cleared for use`);
      if (this.type.hasPrivateMem)
        invariant(spte.isPrivate === this.isPrivate(gfn), () => `${where}: mapped ${spte.isPrivate ? "private" : "shared"} against its attribute`);
      else invariant(!spte.isPrivate, () => `${where}: private mapping in a VM without private memory`);
      if (spte.isPrivate || slot.gmemOnly) {
        const file = slot.gmem?.file;
        const index = slot.gmem!.pgoff + (gfn - slot.baseGfn);
        invariant(file != null && file.inode.cachedPage(index) === spte.folio, () => `${where}: not the guest_memfd page bound at index ${index}`);
      } else {
        const host = this.owner.mm.currentPage(slot.hostPage(gfn, shift));
        invariant(host === spte.folio, () => `${where}: not the page the host maps at its userspace address`);
      }
    }
  }
}
