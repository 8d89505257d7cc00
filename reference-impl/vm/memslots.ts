// Memslots (struct kvm_memory_slot, struct kvm_memslots) and
// KVM_SET_USER_MEMORY_REGION(2), with the checks of check_memory_region_flags(),
// kvm_set_memory_region() and kvm_set_memslot() in virt/kvm/kvm_main.c, in the
// kernel's order (read at torvalds/linux f8479adb, 7.2; 6.8 differs only where the
// Revision says so).
import { fail } from "../lib/errno.js";
import { invariant } from "../lib/invariants.js";
import { IntervalMap } from "../lib/interval-map.js";
import { U64_MAX } from "../lib/u64.js";
import { accessOk } from "../process/uaccess.js";
import { bindGuestMemfd, unbindGuestMemfd } from "../guest_memfd/bindings.js";
import type { GmemFile } from "../guest_memfd/file.js";
import { bindRestricted, unbindRestricted, type RestrictedBinding } from "../restrictedmem/kvm.js";
import type { SyscallContext } from "../process/file.js";
import type { Vm } from "./vm.js";

export class Memslot {
  /** the guest_memfd binding (slot->gmem); file is null once the file was released */
  gmem: { file: GmemFile | null; pgoff: number } | null = null;
  /** KVM_MEMSLOT_GMEM_ONLY: every fault is served by guest_memfd (bound file has GUEST_MEMFD_FLAG_MMAP) */
  gmemOnly = false;
  /** UPM: the restricted file of a KVM_MEM_PRIVATE slot (restrictedmem/kvm.ts) */
  restricted: RestrictedBinding | null = null;

  constructor(
    readonly asId: number,
    readonly id: number,
    public baseGfn: number,
    readonly npages: number,
    /** flags userspace passed (KVM_MEM_*) */
    public flags: bigint,
    readonly userspaceAddr: bigint,
  ) {}

  get endGfn(): number {
    return this.baseGfn + this.npages;
  }

  /** The host virtual page behind a gfn of this slot. */
  hostPage(gfn: number, pageShift: bigint): number {
    return Number(this.userspaceAddr >> pageShift) + (gfn - this.baseGfn);
  }
}

/** One address space's memslots: by id and by guest frame. */
export class Memslots {
  readonly byId = new Map<number, Memslot>();
  readonly byGfn = new IntervalMap<Memslot>();

  at(gfn: number): Memslot | undefined {
    return this.byGfn.get(gfn)?.value;
  }

  add(slot: Memslot): void {
    this.byId.set(slot.id, slot);
    this.byGfn.set(slot.baseGfn, slot.endGfn, slot);
  }

  remove(slot: Memslot): void {
    this.byId.delete(slot.id);
    this.byGfn.delete(slot.baseGfn, slot.endGfn);
  }

  /** kvm_check_memslot_overlap: a slot other than id intersects [start, end) */
  overlaps(id: number, start: number, end: number): boolean {
    return this.byGfn.overlapping(start, end).some((iv) => iv.value.id !== id);
  }

  checkInvariants(): void {
    this.byGfn.checkInvariants();
    invariant(this.byGfn.size === this.byId.size, () => `memslots: ${this.byId.size} ids but ${this.byGfn.size} ranges`);
    for (const iv of this.byGfn.all()) {
      const s = iv.value;
      invariant(this.byId.get(s.id) === s && iv.start === s.baseGfn && iv.end === s.endGfn, () => `memslot ${s.id} indexed at [${iv.start}, ${iv.end})`);
    }
  }
}

export interface MemoryRegion {
  slot: bigint;
  flags: bigint;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
  guestMemfdOffset: bigint;
  guestMemfd: bigint;
}

/** enum kvm_mr_change */
export type MemslotChange = "create" | "delete" | "move" | "flags";

/** Bit 2: KVM_MEM_GUEST_MEMFD, or KVM_MEM_PRIVATE (a restricted_fd) in UPM; 0 in a profile with neither (poison-rfc-v2). */
function fdFlag(vm: Vm): bigint {
  const M = vm.kernel.K.mem;
  return (M.GUEST_MEMFD as bigint | undefined) ?? (M.PRIVATE as bigint | undefined) ?? 0n;
}

/** check_memory_region_flags() */
function checkFlags(vm: Vm, flags: bigint): void {
  const M = vm.kernel.K.mem;
  const upm = vm.kernel.revision.restrictedmem !== undefined;
  let valid = M.LOG_DIRTY_PAGES;
  // UPM: KVM_MEM_PRIVATE where kvm_arch_has_private_mem(); dirty logging and read-only stay allowed (RMEM-021).
  if (upm ? vm.type.hasPrivateMem : vm.guestMemfdAllowed) valid |= fdFlag(vm);
  // Dirty logging of guest_memfd memory is not supported.
  if (!upm && flags & fdFlag(vm)) valid &= ~M.LOG_DIRTY_PAGES;
  // Read-only slots need emulated MMIO, which private memory cannot have.
  if (vm.type.readonlyMemAllowed && (upm || !(flags & fdFlag(vm)))) valid |= M.READONLY;
  if (flags & ~valid) fail("EINVAL");
}

/** kvm_vm_ioctl_set_memory_region() + kvm_set_memory_region() */
export function setMemoryRegion(ctx: SyscallContext, vm: Vm, mem: MemoryRegion): void {
  const { kernel } = ctx;
  const page = kernel.page;
  const M = kernel.K.mem;
  if ((mem.slot & 0xffffn) >= BigInt(kernel.userMemSlots)) fail("EINVAL");
  checkFlags(vm, mem.flags);
  const asId = Number(mem.slot >> 16n);
  const id = Number(mem.slot & 0xffffn);
  const isGmem = (mem.flags & fdFlag(vm)) !== 0n;

  if (!page.aligned(mem.memorySize) || !page.aligned(mem.guestPhysAddr)) fail("EINVAL");
  // access_ok(): the whole range must be a user range (the limit depends on the revision).
  if (!page.aligned(mem.userspaceAddr) || !accessOk(kernel, mem.userspaceAddr, mem.memorySize)) fail("EINVAL");
  if (isGmem && (!page.aligned(mem.guestMemfdOffset) || mem.guestMemfdOffset + mem.memorySize > U64_MAX)) fail("EINVAL");
  if (asId >= vm.addressSpaceCount) fail("EINVAL");
  if (mem.guestPhysAddr + mem.memorySize > U64_MAX) fail("EINVAL");
  if (mem.memorySize >> page.shift > kernel.K.memMaxNrPages) fail("EINVAL");

  const slots = vm.memslots[asId]!;
  const old = slots.byId.get(id);
  if (mem.memorySize === 0n) {
    if (old === undefined) fail("EINVAL");
    return commit(ctx, vm, old, undefined, "delete");
  }

  const baseGfn = page.page(mem.guestPhysAddr);
  const npages = page.page(mem.memorySize);
  let change: MemslotChange = "create";
  if (old !== undefined) {
    // guest_memfd slots are immutable: they can only be deleted.
    if (isGmem) fail("EINVAL");
    if (mem.userspaceAddr !== old.userspaceAddr || npages !== old.npages || ((mem.flags ^ old.flags) & (M.READONLY | fdFlag(vm))) !== 0n)
      fail("EINVAL");
    if (baseGfn !== old.baseGfn) change = "move";
    else if (mem.flags !== old.flags) change = "flags";
    else return;
  }
  if ((change === "create" || change === "move") && slots.overlaps(id, baseGfn, baseGfn + npages)) fail("EEXIST");

  kernel.allocate();
  const slot = new Memslot(asId, id, baseGfn, npages, mem.flags, mem.userspaceAddr);
  const bind = kernel.revision.restrictedmem ? bindRestricted : bindGuestMemfd;
  const unbind = kernel.revision.restrictedmem ? unbindRestricted : unbindGuestMemfd;
  if (isGmem) bind(ctx, vm, slot, mem.guestMemfd, mem.guestMemfdOffset);
  try {
    commit(ctx, vm, old, slot, change);
  } catch (err) {
    if (isGmem) unbind(slot);
    throw err;
  }
}

/** kvm_set_memslot(): invalidate the old slot, prepare the new one, then swap. */
function commit(ctx: SyscallContext, vm: Vm, old: Memslot | undefined, slot: Memslot | undefined, change: MemslotChange): void {
  const { kernel } = ctx;
  const slots = vm.memslots[(old ?? slot)!.asId]!;
  if (change === "delete" || change === "move") {
    kernel.allocate();
    // kvm_invalidate_memslot(): no mapping may outlive a deleted or moved slot.
    vm.mmu.zapSlot(old!);
  }
  vm.type.prepareMemoryRegion(vm, change, old, slot);
  if (change === "create" || change === "move") kernel.allocate();
  if (old !== undefined) slots.remove(old);
  if (slot !== undefined) slots.add(slot);
  // kvm_arch_commit_memory_region(): creating or deleting a slot sizes the shadow MMU's page budget.
  if (change === "create" || change === "delete") vm.shadowMmuBudget = true;
  if (change === "delete" && old!.gmem !== null) unbindGuestMemfd(old!);
  if (change === "delete") unbindRestricted(old!);
}

/**
 * Memory region arguments of either ioctl, as the kernel reads them: "v2" (guest_memfd
 * fields), "ext" (UPM: KVM_MEM_PRIVATE made KVM read struct kvm_userspace_memory_region_ext,
 * RMEM-008) or the 32-byte v1 struct.
 */
export function regionFromStruct(fields: { [k: string]: unknown }, form: "v1" | "v2" | "ext"): MemoryRegion {
  const u = (k: string): bigint => fields[k] as bigint;
  const fd = form === "v2" ? ["guest_memfd_offset", "guest_memfd"] : form === "ext" ? ["restricted_offset", "restricted_fd"] : undefined;
  return {
    slot: u("slot"),
    flags: u("flags"),
    guestPhysAddr: u("guest_phys_addr"),
    memorySize: u("memory_size"),
    userspaceAddr: u("userspace_addr"),
    guestMemfdOffset: fd ? u(fd[0]!) : 0n,
    guestMemfd: fd ? u(fd[1]!) : 0n,
  };
}
