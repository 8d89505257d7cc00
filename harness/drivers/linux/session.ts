// What one session (one case) holds, and the limits that keep a case from hurting
// the host or the driver: fds and mappings it created, memory it may populate.
import { existsSync } from "node:fs";
import { DriverFailure } from "../../driver/contract.js";
import { foreignOverlap, RangeSet } from "./memory.js";
import * as libc from "./libc.js";

export type FdKind = "system" | "vm" | "vcpu" | "guest_memfd" | "memfd" | "restrictedmem" | "file";

export interface Limits {
  /** bytes a session may ask the kernel to allocate up front (MAP_POPULATE, MADV_POPULATE_*, fallocate, pre-fault) */
  populateBytes: bigint;
  /** bytes a session may load and store in total */
  accessBytes: number;
  /** the largest read()/pread() buffer */
  readBytes: number;
  /** the largest range KVM_SET_MEMORY_ATTRIBUTES may cover (the kernel stores attributes per page) */
  attributeBytes: bigint;
}

export const DEFAULT_LIMITS: Limits = {
  populateBytes: 256n << 20n,
  accessBytes: 64 << 20,
  readBytes: 1 << 20,
  attributeBytes: 4n << 30n,
};

/** Paths a case may open for writing; anything else only read-only (the driver runs as root). */
const WRITABLE_PATHS = new Set(["/dev/kvm", "/dev/null", "/dev/zero"]);
const O_ACCMODE = 3n;
const O_CREAT = 0o100n;
const O_TRUNC = 0o1000n;

export class Session {
  readonly fds = new Map<number, FdKind>();
  /** the case's own mappings, as the kernel would split them after partial munmaps */
  readonly mappings = new RangeSet();
  private populated = 0n;
  private accessed = 0;

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
    return this.fds.get(Number(fd));
  }

  /**
   * An fd the session did not create but that is open belongs to the driver (its
   * protocol pipes, its /dev/kvm fd, Node's own): using it could break the driver.
   * Closed and negative fds pass through, so the kernel answers EBADF.
   */
  requireUsableFd(fd: bigint, what: string): void {
    if (fd < 0n || fd > 0x7fffffffn || this.fds.has(Number(fd))) return;
    if (existsSync(`/proc/self/fd/${fd}`)) throw new DriverFailure("unsupported", `${what}: fd ${fd} is open but was not created by this session (it belongs to the driver)`);
  }

  roundUp(len: bigint): bigint {
    return ((len + this.pageSize - 1n) / this.pageSize) * this.pageSize;
  }

  /** Refuse to touch mapped memory the session does not own (the driver's heap, code, stacks). */
  requireOwnedRange(addr: bigint, len: bigint, what: string): void {
    if (len <= 0n) return;
    const start = addr - (addr % this.pageSize);
    const end = this.roundUp(addr + len);
    const vma = foreignOverlap(this.mappings, start, end);
    if (vma) throw new DriverFailure("unsupported", `${what}: [0x${start.toString(16)}, 0x${end.toString(16)}) overlaps memory the driver itself uses (${vma.path || "anonymous"} at 0x${vma.start.toString(16)})`);
  }

  addMapping(addr: bigint, len: bigint): void {
    this.mappings.add(addr, addr + this.roundUp(len));
  }

  removeMapping(addr: bigint, len: bigint): void {
    this.mappings.remove(addr, addr + this.roundUp(len));
  }

  chargePopulate(bytes: bigint, what: string): void {
    if (bytes <= 0n) return;
    if (this.populated + bytes > this.limits.populateBytes)
      throw new DriverFailure("unsupported", `${what}: would populate ${bytes} bytes; the linux driver lets a case populate at most ${this.limits.populateBytes} bytes (${this.populated} used) so that no case can exhaust the host`);
    this.populated += bytes;
  }

  chargeAccess(bytes: number, what: string): void {
    if (this.accessed + bytes > this.limits.accessBytes)
      throw new DriverFailure("unsupported", `${what}: the linux driver lets a case load and store at most ${this.limits.accessBytes} bytes (${this.accessed} used)`);
    this.accessed += bytes;
  }

  static checkOpen(path: string, flags: bigint): void {
    const writes = (flags & O_ACCMODE) !== 0n || (flags & (O_CREAT | O_TRUNC)) !== 0n;
    if (writes && !WRITABLE_PATHS.has(path))
      throw new DriverFailure("unsupported", `open: the linux driver runs as root and opens only ${[...WRITABLE_PATHS].join(", ")} for writing (asked for ${path})`);
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
    return { fds: fds.length, mappings: ranges.length };
  }
}
