// A guest_memfd file: one VM's view of a guest_memfd inode (struct gmem_file),
// with the memslot bindings of that VM and kvm_gmem_fops: fallocate, mmap and
// release. read/write/llseek/ioctl are absent, so the VFS answers them (EINVAL,
// ESPIPE, ENOTTY). Sources as in inode.ts.
import { fail } from "../lib/errno.js";
import { IntervalMap } from "../lib/interval-map.js";
import { invariant } from "../lib/invariants.js";
import { OpenFile, type IoctlCall, type IoctlValue, type SyscallContext } from "../process/file.js";
import type { Vma } from "../process/vma.js";
import type { Memslot } from "../vm/memslots.js";
import type { ZapFilter } from "../vm/mmu.js";
import type { Vm } from "../vm/vm.js";
import { setGmemAttributes } from "./attributes.js";
import { GmemInode, pageRange } from "./inode.js";

export class GmemFile extends OpenFile {
  /** file page index -> the memslot bound there (f->bindings) */
  readonly bindings = new IntervalMap<Memslot>();

  constructor(
    override readonly inode: GmemInode,
    readonly vm: Vm,
  ) {
    super(inode, inode.kernel.K.o.RDWR | inode.kernel.K.o.LARGEFILE);
    inode.files.add(this);
    vm.gmemFiles.add(this);
    vm.get();
  }

  link(): string {
    return this.kernel.revision.gmemOwnFilesystem ? "/[kvm-gmem] (deleted)" : "anon_inode:[kvm-gmem]";
  }

  /** kvm_gmem_fallocate(): after vfs_fallocate()'s generic checks. */
  override fallocate(_ctx: SyscallContext, mode: number, offset: bigint, len: bigint): void {
    const { KEEP_SIZE, PUNCH_HOLE } = this.kernel.K.falloc;
    if (!(mode & KEEP_SIZE)) fail("EOPNOTSUPP");
    if (mode & ~(KEEP_SIZE | PUNCH_HOLE)) fail("EOPNOTSUPP");
    const page = this.kernel.page;
    if (!page.aligned(offset) || !page.aligned(len)) fail("EINVAL");
    const [start, end] = pageRange(this.kernel, offset, len);
    if (mode & PUNCH_HOLE) this.inode.punchHole(start, end);
    else {
      // The size of a guest_memfd never changes.
      if (offset + len > this.inode.sizeBytes) fail("EINVAL");
      this.inode.allocate(start, end);
    }
    this.inode.modified();
  }

  /** kvm_gmem_ioctl(): KVM_SET_MEMORY_ATTRIBUTES2 where the release has in-place conversion; anything else is unknown. */
  override ioctl(ctx: SyscallContext, call: IoctlCall): IoctlValue {
    const request = this.kernel.config.ioctls.get("KVM_SET_MEMORY_ATTRIBUTES2")?.request;
    if (request === undefined || call.request !== request) fail("ENOTTY");
    setGmemAttributes(ctx, this, call);
    return 0n;
  }

  /** kvm_gmem_mmap() */
  override mmap(_ctx: SyscallContext, vma: Vma): void {
    if (!this.inode.supportsMmap) fail("ENODEV");
    if (!vma.shared) fail("EINVAL");
  }

  /** __kvm_gmem_invalidate_start(): zap the guest frames bound to [start, end) in this VM. */
  invalidate(start: number, end: number, filter: ZapFilter): void {
    const hits = this.bindings.overlapping(start, end);
    if (hits.length === 0) return;
    this.vm.mmu.invalidate(() => {
      for (const { value: slot } of hits) {
        const pgoff = slot.gmem!.pgoff;
        const lo = slot.baseGfn + Math.max(pgoff, start) - pgoff;
        const hi = slot.baseGfn + Math.min(pgoff + slot.npages, end) - pgoff;
        this.vm.mmu.zap(slot.asId, lo, hi, filter);
      }
    });
  }

  /** kvm_gmem_release(): memslots stay, but lose the file; nothing may stay mapped from it. */
  protected override release(): void {
    for (const { value: slot } of this.bindings.all()) slot.gmem!.file = null;
    this.invalidate(0, Number.MAX_SAFE_INTEGER, this.inode.invalidateFilter);
    this.bindings.clear();
    this.inode.files.delete(this);
    this.vm.gmemFiles.delete(this);
    // kvm_gmem_release() drops its VM reference (the VM may die and pKVM reclaim its pages)
    // before the inode is evicted and its pages freed, after the file is gone.
    this.vm.put();
    if (this.inode.files.size === 0) this.inode.evict();
  }

  checkInvariants(): void {
    this.bindings.checkInvariants();
    for (const { start, end, value: slot } of this.bindings.all()) {
      invariant(slot.gmem?.file === this && slot.gmem.pgoff === start && end === start + slot.npages, () => `guest_memfd ${this.inode.ino}: binding [${start}, ${end}) disagrees with memslot ${slot.id}`);
      invariant(this.vm.memslots[slot.asId]!.byId.get(slot.id) === slot, () => `guest_memfd ${this.inode.ino}: bound to memslot ${slot.id}, which is not installed`);
    }
  }
}
