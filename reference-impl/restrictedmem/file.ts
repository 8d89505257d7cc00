// memfd_restricted(2) and the restricted file (mm/restrictedmem.c as posted in UPM v9,
// [PATCH v9 1/8], 2022-10-25, and v10, [PATCH v10 1/9], 2022-12-02): a shmem file hidden
// behind a pseudo file whose only file operations are release and fallocate, and whose
// inode forwards getattr/setattr to the shmem inode. Bound memslots register notifiers
// that fallocate calls before and after it changes the shmem file.
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Folio } from "../mm/folio.js";
import { Inode, OpenFile, ST_VALID, type Filesystem, type SyscallContext } from "../process/file.js";
import { ShmemInode } from "../process/shmem.js";
import { pmdPages, shmemAllocate } from "../process/shmem-huge.js";

/** struct restrictedmem_notifier_ops: start and end are what restrictedmem_fallocate() passes (see notifyRange). */
export interface RestrictedmemNotifier {
  invalidateStart(start: bigint, end: bigint): void;
  invalidateEnd(start: bigint, end: bigint): void;
}

/** The "memfd:restrictedmem" pseudo-filesystem (RESTRICTEDMEM_MAGIC), one per kernel. */
const filesystems = new WeakMap<Kernel, Filesystem>();
function restrictedmemFs(kernel: Kernel): Filesystem {
  let fs = filesystems.get(kernel);
  if (fs === undefined) {
    const magic = kernel.config.spec.constant("RESTRICTEDMEM_MAGIC", kernel.revision.profile) ?? 0n;
    fs = { name: "memfd:restrictedmem", magic, statfsFlags: ST_VALID, dev: 18n, noexec: true };
    filesystems.set(kernel, fs);
  }
  return fs;
}

export class RestrictedInode extends Inode {
  /** data->memfd: the shmem file behind the pseudo file */
  readonly memfd: ShmemInode;
  /** data->notifiers: one per bound memslot */
  readonly notifiers = new Set<RestrictedmemNotifier>();

  constructor(kernel: Kernel) {
    super(kernel, restrictedmemFs(kernel), kernel.nextIno(), kernel.K.s.IFREG | 0o600);
    // shmem_file_setup("memfd:restrictedmem", 0, VM_NORESERVE): an empty file.
    this.memfd = new ShmemInode(kernel, 0n, 0o600);
  }

  /** restrictedmem_getattr(): the shmem inode's size and blocks */
  override get size(): bigint {
    return this.memfd.size;
  }

  override get blocks(): bigint {
    return this.memfd.blocks;
  }

  /** restrictedmem_setattr(): the size is set once, to a multiple of PAGE_SIZE (RMEM-004, RMEM-015, RMEM-016). */
  override setSize(size: bigint): void {
    if (this.memfd.size !== 0n) fail("EPERM");
    if (!this.kernel.page.aligned(size)) fail("EINVAL");
    this.memfd.setSize(size);
  }

  /**
   * restrictedmem_get_page(): shmem_getpage(SGP_WRITE), so a page userspace never
   * fallocated is allocated on KVM's first fault (lazy allocation: RMEM-025): one page while
   * shmem THP is off for the internal mount (the default, RMEM-026), its whole 2 MiB folio where
   * shmem_enabled says huge (RMEM-028).
   */
  getPage(index: number): Folio {
    shmemAllocate(this.kernel, this.memfd, index);
    const folio = this.memfd.cache.findOrCreate(index);
    // SetPageUptodate() after shmem cleared the new page
    if (!folio.uptodate) {
      folio.clear();
      folio.uptodate = true;
    }
    return folio;
  }

  /**
   * The range restrictedmem_fallocate() hands the notifiers: v10 converts the byte range
   * to page offsets; v9 passes the bytes unchanged where KVM expects pgoff_t (seed 000, RMEM-005).
   */
  private notifyRange(offset: bigint, len: bigint): [bigint, bigint] {
    if (this.kernel.revision.restrictedmem!.notifyByteOffsets) return [offset, offset + len];
    const shift = this.kernel.page.shift;
    return [offset >> shift, (offset + len) >> shift];
  }

  /**
   * The shmem file's fallocate: where shmem_enabled makes the internal mount huge, each PMD
   * range the allocation starts in an empty range is allocated whole first (shmem_fallocate()
   * takes SGP_FALLOC folios index by index, the first one of a range deciding its size: RMEM-028).
   */
  private shmemFallocate(mode: number, offset: bigint, len: bigint): void {
    const { KEEP_SIZE, PUNCH_HOLE } = this.kernel.K.falloc;
    const huge = this.kernel.host.shmemHuge;
    if (!(mode & PUNCH_HOLE) && !(mode & ~(KEEP_SIZE | PUNCH_HOLE)) && huge !== undefined && huge !== "never" && len > 0n) {
      const page = this.kernel.page;
      const nr = pmdPages(this.kernel);
      const first = page.page(offset);
      const last = Number(page.pagesUp(offset + len));
      for (let at = first; at < last; at = at - (at % nr) + nr) shmemAllocate(this.kernel, this.memfd, at);
    }
    this.memfd.fallocate(mode, offset, len);
  }

  /** restrictedmem_fallocate() (v9) / restrictedmem_fallocate() + restrictedmem_punch_hole() (v10). */
  fallocate(mode: number, offset: bigint, len: bigint): void {
    const { PUNCH_HOLE } = this.kernel.K.falloc;
    const punch = (mode & PUNCH_HOLE) !== 0;
    if (punch && (!this.kernel.page.aligned(offset) || !this.kernel.page.aligned(len))) fail("EINVAL");
    // v9 notifies for every mode (RMEM-024); v10 only around a punch.
    if (!punch && !this.kernel.revision.restrictedmem!.notifyEveryMode) return this.shmemFallocate(mode, offset, len);
    const [start, end] = this.notifyRange(offset, len);
    for (const n of this.notifiers) n.invalidateStart(start, end);
    try {
      this.shmemFallocate(mode, offset, len);
    } finally {
      for (const n of this.notifiers) n.invalidateEnd(start, end);
    }
  }
}

/** The pseudo file memfd_restricted() returns: no read, write or mmap (RMEM-003, RMEM-022). */
export class RestrictedFile extends OpenFile {
  constructor(override readonly inode: RestrictedInode) {
    // alloc_file_pseudo(..., O_RDWR, ...), then f_flags |= O_LARGEFILE
    super(inode, inode.kernel.K.o.RDWR | inode.kernel.K.o.LARGEFILE);
  }

  link(): string {
    return "/memfd:restrictedmem (deleted)";
  }

  override fallocate(_ctx: SyscallContext, mode: number, offset: bigint, len: bigint): void {
    this.inode.fallocate(mode, offset, len);
  }
}

/** SYSCALL_DEFINE1(memfd_restricted, unsigned int, flags) */
export function sysMemfdRestricted(ctx: SyscallContext, flags: bigint): bigint {
  if (BigInt.asUintN(32, flags) !== 0n) fail("EINVAL");
  ctx.process.files.ensureFree();
  ctx.kernel.allocate();
  // get_unused_fd_flags(0): never close-on-exec (RMEM-002)
  return BigInt(ctx.process.files.install(new RestrictedFile(new RestrictedInode(ctx.kernel)), false));
}
