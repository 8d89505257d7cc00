// shmem files: memfd_create(2) files (the "not a guest_memfd" of binding tests and
// ordinary shared memory) and the object behind MAP_SHARED|MAP_ANONYMOUS. Only
// what those uses need: size, read/write, fallocate, mmap. Seals are reported
// (F_GET_SEALS) but adding them is not modelled.
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import { IntervalMap } from "../lib/interval-map.js";
import type { Folio, FolioOwner } from "../mm/folio.js";
import { PageCache } from "../mm/page-cache.js";
import { Inode, OpenFile, type Filesystem, type SyscallContext } from "./file.js";
import { fillByPolicy, sharedPolicyNode, type MemPolicy, type SharedPolicyOwner } from "./mempolicy.js";
import type { MappingBacking } from "./vma.js";

/** MAX_LFS_FILESIZE */
const MAX_FILE_SIZE = (1n << 63n) - 1n;

export class ShmemInode extends Inode implements FolioOwner, MappingBacking, SharedPolicyOwner {
  readonly kind = "shmem";
  readonly cache: PageCache;
  readonly sharedPolicy = new IntervalMap<MemPolicy>({ same: (a, b) => a === b });
  private sizeBytes: bigint;

  /** fs: the internal shm mount (memfds, shared anonymous memory) unless another tmpfs instance holds the file */
  constructor(kernel: Kernel, size: bigint, perm: number, fs: Filesystem = kernel.fs.shmem) {
    super(kernel, fs, kernel.nextIno(), kernel.K.s.IFREG | perm);
    this.cache = new PageCache(this, kernel.page.bytes);
    this.sizeBytes = size;
    this.nlink = 0n;
  }

  get owner(): FolioOwner {
    return this;
  }

  override get size(): bigint {
    return this.sizeBytes;
  }

  override get blocks(): bigint {
    return BigInt(this.cache.allocatedPages) * (this.kernel.page.size / 512n);
  }

  private get pagesInFile(): number {
    return Number(this.kernel.page.pagesUp(this.sizeBytes));
  }

  userFault(index: number): Folio | "SIGBUS" {
    if (index >= this.pagesInFile) return "SIGBUS";
    // shmem_alloc_folio(): the file's shared policy for the index places a new page
    const folio = this.cache.findOrCreate(index, sharedPolicyNode(this.kernel, this.sharedPolicy, index));
    folio.uptodate = true;
    return folio;
  }

  cachedPage(index: number): Folio | undefined {
    return this.cache.has(index) ? this.cache.find(index) : undefined;
  }

  /** shmem_setattr() for truncate: shrinking drops the pages past the new end. */
  override setSize(size: bigint): void {
    if (size > MAX_FILE_SIZE) fail("EFBIG");
    if (size < this.sizeBytes) this.punch(size, this.sizeBytes - size);
    this.sizeBytes = size;
    this.modified();
  }

  /** Zero [offset, offset+len): whole pages are freed (host mappings first), partial ones cleared. */
  punch(offset: bigint, len: bigint): void {
    const page = this.kernel.page;
    const first = Number((offset + page.mask) >> page.shift);
    const last = Number((offset + len) >> page.shift);
    if (first < last) {
      this.kernel.unmapMappingRange(this, first, last);
      this.cache.remove(first, last);
    }
    const clear = (from: bigint, to: bigint) => {
      if (from >= to) return;
      const folio = this.cachedPage(page.page(from));
      folio?.write(Number(from & page.mask), new Uint8Array(Number(to - from)));
    };
    const head = BigInt(first) << page.shift;
    clear(offset, head < offset + len ? head : offset + len);
    if (last >= first) clear(BigInt(last) << page.shift, offset + len);
  }

  read(offset: bigint, len: number): Uint8Array {
    const n = offset >= this.sizeBytes ? 0 : Number(this.sizeBytes - offset < BigInt(len) ? this.sizeBytes - offset : BigInt(len));
    const out = new Uint8Array(n);
    this.copy(offset, n, (folio, at, from, count) => {
      if (folio) out.set(folio.read(at, count), from);
    });
    return out;
  }

  write(offset: bigint, data: Uint8Array): number {
    if (offset + BigInt(data.length) > MAX_FILE_SIZE) fail("EFBIG");
    // shmem_write_end(): a written page is up to date (mincore reports it resident)
    this.copy(offset, data.length, (_f, at, from, count, index) => {
      const folio = this.cache.findOrCreate(index, sharedPolicyNode(this.kernel, this.sharedPolicy, index));
      folio.write(at, data.subarray(from, from + count));
      folio.uptodate = true;
    });
    if (offset + BigInt(data.length) > this.sizeBytes) this.sizeBytes = offset + BigInt(data.length);
    this.modified();
    return data.length;
  }

  private copy(offset: bigint, len: number, each: (folio: Folio | undefined, at: number, from: number, count: number, index: number) => void): void {
    const page = this.kernel.page;
    for (let done = 0; done < len; ) {
      const pos = offset + BigInt(done);
      const at = Number(pos & page.mask);
      const count = Math.min(len - done, page.bytes - at);
      const index = page.page(pos);
      each(this.cachedPage(index), at, done, count, index);
      done += count;
    }
  }

  /** shmem_fallocate(): allocate (growing the file unless KEEP_SIZE) or punch a hole. */
  fallocate(mode: number, offset: bigint, len: bigint): void {
    const { KEEP_SIZE, PUNCH_HOLE } = this.kernel.K.falloc;
    if (mode & ~(KEEP_SIZE | PUNCH_HOLE)) fail("EOPNOTSUPP");
    if (mode & PUNCH_HOLE) this.punch(offset, len);
    else {
      const page = this.kernel.page;
      fillByPolicy(this.kernel, this.cache, this.sharedPolicy, page.page(offset), Number(page.pagesUp(offset + len)));
      if (!(mode & KEEP_SIZE) && offset + len > this.sizeBytes) this.sizeBytes = offset + len;
    }
    this.modified();
  }
}

/** A file on a shmem inode: a memfd, or the hidden file of a shared anonymous mapping. */
export class ShmemFile extends OpenFile {
  override readonly positional = true;

  constructor(
    override readonly inode: ShmemInode,
    flags: number,
    private readonly path: string,
    /** F_GET_SEALS */
    readonly seals: number,
  ) {
    super(inode, flags);
  }

  link(): string {
    return `${this.path} (deleted)`;
  }

  override read(len: number): Uint8Array {
    const data = this.inode.read(this.pos, len);
    this.pos += BigInt(data.length);
    return data;
  }

  override readAt(len: number, offset: bigint): Uint8Array {
    return this.inode.read(offset, len);
  }

  override write(data: Uint8Array): number {
    const n = this.inode.write(this.pos, data);
    this.pos += BigInt(n);
    return n;
  }

  override writeAt(data: Uint8Array, offset: bigint): number {
    return this.inode.write(offset, data);
  }

  /** shmem_file_llseek(): SEEK_SET/CUR/END, and SEEK_DATA/SEEK_HOLE over allocated pages. */
  override llseek(offset: bigint, whence: number): bigint {
    const S = this.kernel.K.seek;
    const size = this.inode.size;
    let target: bigint;
    if (whence === S.SET) target = offset;
    else if (whence === S.CUR) target = this.pos + offset;
    else if (whence === S.END) target = size + offset;
    else {
      if (offset < 0n || offset >= size) fail("ENXIO");
      const page = this.kernel.page;
      const next = this.inode.cache.nextAllocated(page.page(offset));
      const dataAt = next === undefined ? size : page.address(next) > offset ? page.address(next) : offset;
      if (whence === S.DATA) {
        if (dataAt >= size) fail("ENXIO");
        target = dataAt;
      } else {
        const hole = this.inode.cache.holes(page.page(offset), Number(page.pagesUp(size)))[0];
        const holeAt = hole === undefined ? size : page.address(hole[0]) > offset ? page.address(hole[0]) : offset;
        target = holeAt < size ? holeAt : size;
      }
    }
    if (target < 0n) fail("EINVAL");
    this.pos = target;
    return target;
  }

  override fallocate(_ctx: SyscallContext, mode: number, offset: bigint, len: bigint): void {
    this.inode.fallocate(mode, offset, len);
  }

  override mmap(): void {}
}
