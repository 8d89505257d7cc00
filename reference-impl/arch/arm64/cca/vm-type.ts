// Realm VMs (Arm CCA series v14): KVM_CREATE_VM with KVM_VM_TYPE_ARM_REALM on a host
// whose RMM answers RMI (KVM_CAP_ARM_RMI). The IPA space is split by its top bit:
// protected IPAs below it are realm memory (guest_memfd pages the RMM owns as DATA
// granules), the unprotected alias above it is shared memory from the memslot's
// userspace_addr; KVM's gfns are alias-free (kvm_gpa_from_fault). Sources: patches 14
// (kvm_init_realm), 15 (capability allowlist), 16 (machine type), 18-19 (activation and
// RECs on first run), 23 (RIPAS change), 25 (memory attributes), 29 (runtime faults,
// kvm_arch_prepare_memory_region).
import type { OpResult } from "../../../../spec/driver/contract.js";
import { DriverFailure } from "../../../../spec/driver/contract.js";
import { fail } from "../../../lib/errno.js";
import { invariant } from "../../../lib/invariants.js";
import type { Kernel } from "../../../kernel.js";
import type { IoctlCall, SyscallContext } from "../../../process/file.js";
import type { HostModel } from "../../../system/hosts.js";
import type { GuestArchAction } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Memslot, MemslotChange } from "../../../vm/memslots.js";
import { ZAP_PRIVATE } from "../../../vm/mmu.js";
import type { Vm } from "../../../vm/vm.js";
import { Arm64VmType, arm64Host, arm64IpaBits } from "../vm-type.js";
import type { VmType } from "../../vm-type.js";
import { rmiPopulate } from "./populate.js";
import { Realm } from "./realm.js";
import { realmAccess, rsiCall } from "./rsi.js";

/** Whether this host's KVM runs realms: an RMM that answers RMI, in a release that has the series. */
export function rmiAvailable(kernel: Kernel): boolean {
  return arm64Host(kernel.host).rme === true && kernel.K.arm64.VM_TYPE_ARM_REALM !== undefined;
}

export class RealmVmType implements VmType {
  readonly name = "arm64-realm";
  /** kvm_arch_has_private_mem(): kvm->arch.is_realm */
  readonly hasPrivateMem = true;
  /** the REC's registers belong to the RMM */
  readonly hasProtectedState = true;
  /** the IPA's top bit is the guest's statement: clear = protected (private) */
  readonly privateAccess = "guest";
  readonly preFaultAllowedAtCreate = false;
  /** private (RTT DATA) and shared (unprotected alias) mappings of one gfn are apart, and zapped apart */
  readonly mirroredPrivateRoot = true;
  /** KVM_CAP_READONLY_MEM is not in the realm allowlist (kvm_realm_ext_allowed) */
  readonly readonlyMemAllowed = false;
  /** kvm_arch_supports_gmem_init_shared(): !kvm_arch_has_private_mem() */
  readonly initSharedAllowed = false;
  readonly realm: Realm;
  private readonly base: Arm64VmType;

  constructor(
    readonly ipaBits: number,
    readonly kernel: Kernel,
  ) {
    this.base = new Arm64VmType(ipaBits, kernel, this.name);
    this.realm = new Realm(kernel, 2 ** (ipaBits - 1 - Number(kernel.page.shift)));
  }

  addressSpaces(): number {
    return 1;
  }

  maxVcpus(host: HostModel): number {
    return this.base.maxVcpus(host);
  }

  initVm(): void {}

  vcpuCreate(): void {}

  /**
   * kvm_arch_vcpu_run_pid_change() -> kvm_activate_realm() on the first run (create the RD,
   * the RECs, set every guest_memfd memslot's RIPAS to RAM, RMI_REALM_ACTIVATE), then
   * kvm_rec_pre_enter(): the realm must be ACTIVE, and a pending RIPAS change is completed.
   */
  vcpuPreRun(vcpu: Vcpu): void {
    const vm = vcpu.vm;
    const realm = this.realm;
    if (realm.state === "NONE" || realm.state === "NEW") {
      const created = realm.ensureCreated();
      if (created !== "ok") fail(created);
      for (const slot of vm.memslots[0]!.byId.values()) if (slot.gmem !== null) realm.initRipas(slot.baseGfn, slot.endGfn);
      for (const id of vm.vcpus.keys()) realm.recs.set(id, realm.granules.createMeta("REC", realm.id));
      realm.state = "ACTIVE";
    }
    if (realm.state !== "ACTIVE") fail("EINVAL");
    // RECs exist for the vCPUs there were at activation; what v14 does for a later one was not read.
    if (!realm.recs.has(vcpu.id)) throw new DriverFailure("unsupported", "running a realm vCPU created after the realm was activated");
    this.completeRipasChange(vcpu);
  }

  /**
   * kvm_complete_ripas_change(): RMI_RTT_SET_RIPAS over the request, whatever the VMM did with
   * the attributes; a change to EMPTY also unmaps (destroys) the private pages it covered.
   */
  private completeRipasChange(vcpu: Vcpu): void {
    const req = this.realm.pendingRipas.get(vcpu.id);
    if (req === undefined || req.done !== undefined) return;
    const top = this.realm.setRipas(req, req.base);
    if (req.ripas === "EMPTY" && top > req.base) vcpu.vm.mmu.invalidate(() => vcpu.vm.mmu.zap(0, req.base, top, ZAP_PRIVATE));
    req.done = top;
  }

  /** kvm_arch_vm_ioctl(): KVM_ARM_RMI_POPULATE, then arm64's default (EINVAL). */
  vmIoctl(ctx: SyscallContext, vm: Vm, call: IoctlCall): bigint {
    if (call.request === ctx.kernel.R.KVM_ARM_RMI_POPULATE) return rmiPopulate(ctx, vm, this.realm, call);
    return this.base.vmIoctl(ctx, vm, call);
  }

  vcpuIoctl(): bigint {
    return fail("EINVAL");
  }

  /**
   * kvm_arch_prepare_memory_region(): as for every arm64 VM, except that a realm's guest_memfd
   * memslots need not be gmem-only (private memory from guest_memfd, shared from userspace_addr).
   */
  prepareMemoryRegion(vm: Vm, change: MemslotChange, old: Memslot | undefined, slot: Memslot | undefined): void {
    if (slot !== undefined && slot.gmem !== null && !slot.gmemOnly) {
      const wasOnly = slot.gmemOnly;
      slot.gmemOnly = true;
      try {
        this.base.prepareMemoryRegion(vm, change, old, slot);
      } finally {
        slot.gmemOnly = wasOnly;
      }
      return;
    }
    this.base.prepareMemoryRegion(vm, change, old, slot);
  }

  /** kvm_is_gfn_alias(): gfns at and above the IPA's top bit are the unprotected alias */
  isGfnAlias(gfn: number): boolean {
    return gfn >= this.realm.protectedGfns;
  }

  /** No kvm_arch_gmem_prepare(): the realm takes its pages when KVM maps them. */
  gmemPrepare(): void {}

  /**
   * A private mapping was zapped (attribute change, punch hole, memslot removal, RIPAS EMPTY):
   * realm_unmap_private_range() unmaps the DATA granule (RIPAS RAM becomes DESTROYED) and
   * undelegates it, so the page is the host's again, zeroed.
   */
  privatePageUnmapped(folio: import("../../../mm/folio.js").Folio): void {
    const g = this.realm.granules.state(folio.id);
    invariant(g?.kind === "DATA" && g.realm === this.realm.id, () => `realm ${this.realm.id}: a private mapping of granule ${folio.id} that is ${g?.kind ?? "UNDELEGATED"}`);
    this.realm.dataUnmap(g.gfn!);
    this.realm.granules.undelegate(folio);
  }

  guestArch(ctx: SyscallContext, vcpu: Vcpu, action: GuestArchAction): OpResult {
    return rsiCall(ctx, vcpu, this.realm, action);
  }

  guestAccessBeforeStage2(ctx: SyscallContext, vcpu: Vcpu, gfn: number, isPrivate: boolean, write: boolean): OpResult | undefined {
    return realmAccess(ctx, vcpu, this.realm, gfn, isPrivate, write);
  }

  /** kvm_destroy_realm() when the VM goes, after KVM zapped every mapping */
  destroyVm(): void {
    this.realm.destroy();
  }

  checkInvariants(vm: Vm): void {
    checkRealmInvariants(vm, this.realm);
  }
}

/**
 * The KVM_CREATE_VM type of a realm (kvm_arch_init_vm(), patch 16): the REALM bit with an IPA
 * size; the PROTECTED bit with it is EINVAL, as is REALM on a host without RMI.
 * Undefined: not a realm type.
 */
export function realmVmTypeFor(kernel: Kernel, type: bigint): RealmVmType | "invalid" | undefined {
  const bit = kernel.K.arm64.VM_TYPE_ARM_REALM;
  if (bit === undefined || (type & bit) === 0n) return undefined;
  if (!rmiAvailable(kernel)) return "invalid";
  const bits = arm64IpaBits(kernel, type & ~bit);
  return bits === undefined ? "invalid" : new RealmVmType(bits, kernel);
}

/** hw-models.md 4.6 and 8, as the model can state them for one realm VM. */
function checkRealmInvariants(vm: Vm, realm: Realm): void {
  realm.checkInvariants();
  realm.granules.checkInvariants();
  // KVM's private mappings are exactly the RTT's ASSIGNED entries, and are private gfns (4.6.9).
  const assigned = new Map<number, number>();
  for (const iv of realm.rtt.all()) for (let gfn = iv.start; gfn < iv.end; gfn++) if (iv.value.data) assigned.set(gfn, iv.value.data.id);
  for (const { gfn, spte } of vm.mmu.mappings()) {
    const g = realm.granules.state(spte.folio.id);
    if (!spte.isPrivate) {
      invariant(g === undefined, () => `realm ${realm.id}: shared mapping of gfn ${gfn} points at a ${g!.kind} granule`);
      continue;
    }
    invariant(assigned.get(gfn) === spte.folio.id, () => `realm ${realm.id}: private mapping of gfn ${gfn} without its RTT entry`);
    invariant(vm.isPrivate(gfn), () => `realm ${realm.id}: gfn ${gfn} is ASSIGNED but its attribute is shared`);
    assigned.delete(gfn);
  }
  invariant(assigned.size === 0, () => `realm ${realm.id}: RTT entries without KVM's mapping at gfns ${[...assigned.keys()].join(", ")}`);
  // Realm-owned granules are never host-accessible (4.6.1): no process maps them.
  for (const p of vm.kernel.processes.values())
    for (const iv of p.mm.ptes.all()) {
      const g = realm.granules.state(iv.value.folio.id);
      invariant(g === undefined, () => `process ${p.pid}: page ${iv.start} maps a ${g!.kind} granule`);
    }
}
