// What one session (one case) holds, and the limits that keep a case from hurting
// the host or the driver: fds and mappings it created, memory it may populate,
// memslot pages and attribute ranges it may make the kernel allocate.
import { existsSync } from "node:fs";
import { DriverFailure } from "../../../spec/driver/contract.js";
import { currentVmas, foreignOverlap, MappingTable, permsOf, type Vma } from "./memory.js";
import * as libc from "./libc.js";
import { SEEK_CUR } from "./uapi.js";

/** what an fd of the case is; copies (dup, F_DUPFD, /proc/self/fd/N) keep the kind of their original */
export type FdKind = "system" | "vm" | "vcpu" | "guest_memfd" | "memfd" | "restrictedmem" | "file" | "proc-mem";

export interface Limits {
  /** bytes a session may ask the kernel to allocate up front (MAP_POPULATE, MADV_POPULATE_*, fallocate, pre-fault) */
  populateBytes: bigint;
  /** bytes a session may load and store in total */
  accessBytes: number;
  /** the largest read()/pread() buffer */
  readBytes: number;
  /** bytes of guest physical address space a session may give memory attributes, over all its calls (the kernel stores attributes per page) */
  attributeBytes: bigint;
  /** memslot pages a session may ask for, over all its creations and changes (KVM allocates per-page metadata when a slot is created) */
  slotPages: bigint;
  /** memslot creations and changes a session may ask for */
  slotChanges: number;
}

/**
 * The budgets. The largest user in suites/ (every profile and host model of the
 * reference, and this kernel) asks for 512 memslot pages over 5 creations, and
 * 2 GiB of attributes, in one case; the budgets leave a wide margin and stay far
 * from what would hurt a host (65536 slot pages are about 640 KiB of KVM
 * metadata on a shadow-paging host).
 */
export const DEFAULT_LIMITS: Limits = {
  populateBytes: 256n << 20n,
  accessBytes: 64 << 20,
  readBytes: 1 << 20,
  attributeBytes: 4n << 30n,
  slotPages: 65536n,
  slotChanges: 1024,
};

/**
 * The only paths `open` accepts. Anything else could block the driver (a FIFO,
 * /proc/kmsg), arm hardware (/dev/watchdog) or change the host (the driver runs as root).
 */
export const OPEN_ALLOWLIST: readonly string[] = ["/dev/kvm", "/dev/null", "/dev/zero", "/dev/sev"];

/** The int a libc wrapper passes to the kernel for an fd argument. */
export const kernelFd = (fd: bigint): bigint => BigInt.asIntN(32, fd);

export class Session {
  readonly fds = new Map<number, FdKind>();
  /** the case's own mappings with their permissions, as the kernel would split them after partial munmaps and mprotects */
  readonly mappings = new MappingTable();
  private populated = 0n;
  private accessed = 0;
  private attributes = 0n;
  private slotPages = 0n;
  private slotChanges = 0;

  constructor(
    readonly limits: Limits,
    private readonly pageSize: bigint,
  ) {}

  addFd(fd: bigint, kind: FdKind): void {
    this.fds.set(Number(fd), kind);
  }

  dropFd(fd: bigint): void {
    this.fds.delete(Number(fd));
  }

  kindOf(fd: bigint): FdKind | undefined {
    return this.fds.get(Number(kernelFd(fd)));
  }

  /**
   * The fd the kernel will see (libc passes an int, so 2^32 + 1 is fd 1), once it
   * is known not to belong to the driver. An fd the session did not create but
   * that is open belongs to the driver (its protocol pipes, its /dev/kvm fd,
   * Node's own): using it could break the driver. Closed and negative fds pass
   * through, so the kernel answers EBADF.
   */
  usableFd(fd: bigint, what: string): bigint {
    const k = kernelFd(fd);
    if (k < 0n || this.fds.has(Number(k))) return k;
    if (existsSync(`/proc/self/fd/${k}`)) throw new DriverFailure("unsupported", `${what}: fd ${fd}${k !== fd ? ` (the kernel sees fd ${k})` : ""} is open but was not created by this session (it belongs to the driver)`);
    return k;
  }

  roundUp(len: bigint): bigint {
    return ((len + this.pageSize - 1n) / this.pageSize) * this.pageSize;
  }

  /**
   * Refuse to touch mapped memory the session does not own (the driver's heap,
   * code, stacks). Unmapped memory passes. /proc/self/maps is read (or `vmas`
   * used) only when the session's own mappings do not cover the whole range.
   */
  requireOwnedRange(addr: bigint, len: bigint, what: string, vmas?: Vma[] | (() => Vma[])): void {
    if (len <= 0n) return;
    const start = addr - (addr % this.pageSize);
    const end = this.roundUp(addr + len);
    if (this.mappings.uncovered(start, end).length === 0) return;
    const vma = foreignOverlap(this.mappings, start, end, typeof vmas === "function" ? vmas() : vmas);
    if (vma) throw new DriverFailure("unsupported", `${what}: [0x${start.toString(16)}, 0x${end.toString(16)}) overlaps memory the driver itself uses (${vma.path || "anonymous"} at 0x${vma.start.toString(16)})`);
  }

  /** requireOwnedRange for several ranges against one reading of /proc/self/maps (none when the session's mappings cover them all). */
  requireOwnedRanges(ranges: readonly { addr: bigint; len: bigint; what: string }[]): void {
    let vmas: Vma[] | undefined;
    const read = () => (vmas ??= currentVmas());
    for (const r of ranges) this.requireOwnedRange(r.addr, r.len, r.what, read);
  }

  /**
   * What a load or store of [addr, addr+len) may touch, as VMAs for checkAccess():
   * the session's own mappings. A part they do not cover is either unmapped
   * (the access faults there: SIGSEGV, predicted without touching anything) or
   * memory of the driver's, which load and store refuse: the case may reach only
   * what it mapped. Only that uncovered part costs a read of /proc/self/maps.
   */
  accessVmas(addr: bigint, len: number, what: string): Vma[] {
    if (len <= 0) return [];
    const end = addr + BigInt(len);
    if (addr < 0n || end > 1n << 64n) return [];
    const start = addr - (addr % this.pageSize);
    const last = this.roundUp(end);
    const owned = this.mappings.within(start, last);
    if (this.mappings.uncovered(start, last).length > 0) this.requireOwnedRange(addr, BigInt(len), what);
    return owned;
  }

  /** Whether any byte of [addr, addr+len) is mapped at all. */
  static anyMapped(addr: bigint, len: bigint, vmas: Vma[] = currentVmas()): boolean {
    return vmas.some((v) => v.start < addr + len && addr < v.end);
  }

  /** A mapping mmap returned: its pages, with the permissions of prot. */
  addMapping(addr: bigint, len: bigint, prot = 0n, shared = false): void {
    this.mappings.add(addr, addr + this.roundUp(len), { ...permsOf(prot), shared });
  }

  removeMapping(addr: bigint, len: bigint): void {
    this.mappings.remove(addr, addr + this.roundUp(len));
  }

  /** A successful mprotect: the pages of the session's mappings in the range have the new permissions. */
  protectMapping(addr: bigint, len: bigint, prot: bigint): void {
    this.mappings.protect(addr, addr + this.roundUp(len), permsOf(prot));
  }

  /** After a call that may have changed the session's mappings part-way and failed: take them from the kernel. */
  resyncMappings(): void {
    this.mappings.resync();
  }

  chargePopulate(bytes: bigint, what: string): void {
    if (bytes <= 0n) return;
    if (this.populated + bytes > this.limits.populateBytes)
      throw new DriverFailure("unsupported", `${what}: would populate ${bytes} bytes; the linux driver lets a case populate at most ${this.limits.populateBytes} bytes (${this.populated} used) so that no case can exhaust the host`);
    this.populated += bytes;
  }

  /**
   * write, pwrite and pwrite_user make the kernel allocate the file's pages they
   * land in (page cache, shmem, guest_memfd) and keep them after the call: the
   * pages the bytes span are charged like any populate. write lands at the fd's
   * current offset (0 where it has none, as on a pipe); a negative pwrite offset
   * is refused by the kernel before it writes anything.
   */
  chargeWrite(fd: bigint, len: bigint, offset: bigint | undefined, what: string): void {
    if (len <= 0n) return;
    let start = offset;
    if (start === undefined) {
      const here = libc.lseek(fd, 0n, SEEK_CUR);
      start = here.ret < 0n ? 0n : here.ret;
    }
    if (start < 0n) return;
    const first = start - (start % this.pageSize);
    this.chargePopulate(this.roundUp(start + len) - first, what);
  }

  chargeAccess(bytes: number, what: string): void {
    if (this.accessed + bytes > this.limits.accessBytes)
      throw new DriverFailure("unsupported", `${what}: the linux driver lets a case load and store at most ${this.limits.accessBytes} bytes (${this.accessed} used)`);
    this.accessed += bytes;
  }

  chargeAttributes(bytes: bigint, what: string): void {
    if (bytes <= 0n) return;
    if (this.attributes + bytes > this.limits.attributeBytes)
      throw new DriverFailure("unsupported", `${what}: would set attributes on ${bytes} bytes; the linux driver lets a case cover at most ${this.limits.attributeBytes} bytes in all (${this.attributes} used; the kernel stores attributes per page)`);
    this.attributes += bytes;
  }

  /** A memslot creation or change of `pages` pages, charged before the kernel sees it (it allocates per-page metadata first). */
  chargeSlot(pages: bigint, what: string): void {
    if (this.slotChanges + 1 > this.limits.slotChanges)
      throw new DriverFailure("unsupported", `${what}: the linux driver lets a case create or change at most ${this.limits.slotChanges} memslots`);
    if (this.slotPages + pages > this.limits.slotPages)
      throw new DriverFailure("unsupported", `${what}: a memslot of ${pages} pages; the linux driver lets a case ask for at most ${this.limits.slotPages} memslot pages in all (${this.slotPages} used; KVM allocates metadata for every page of a slot when it is created)`);
    this.slotChanges += 1;
    this.slotPages += pages;
  }

  static checkOpen(path: string): void {
    if (!OPEN_ALLOWLIST.includes(path))
      throw new DriverFailure("unsupported", `open: the linux driver opens only ${OPEN_ALLOWLIST.join(", ")} (asked for ${path}); other paths could block it (a FIFO), arm hardware or change the host`);
  }

  /** Unmap and close everything the case still holds; report how many. */
  release(): { fds: number; mappings: number } {
    const ranges = [...this.mappings.list];
    for (const r of ranges) libc.munmap(r.start, r.end - r.start);
    // vCPUs before VMs and guest_memfds, so nothing is kept alive by an order accident
    const order: FdKind[] = ["vcpu", "guest_memfd", "vm", "restrictedmem", "memfd", "file", "system"];
    const fds = [...this.fds.entries()].sort((a, b) => order.indexOf(a[1]) - order.indexOf(b[1]));
    for (const [fd] of fds) libc.close(BigInt(fd));
    this.fds.clear();
    this.mappings.clear();
    this.populated = 0n;
    this.accessed = 0;
    this.attributes = 0n;
    this.slotPages = 0n;
    this.slotChanges = 0;
    return { fds: fds.length, mappings: ranges.length };
  }
}
