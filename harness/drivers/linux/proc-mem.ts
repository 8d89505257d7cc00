// /proc/self/mem on the real kernel (contract 1.3): `open` of the path, then pread/pwrite
// whose offset is a user address. The kernel reaches that address with FOLL_FORCE, which
// writes even through read-only mappings, so an fd of this file is a way into the driver's
// own memory. The driver therefore lets a case use such a descriptor only for pread and
// pwrite of its own memory:
// - pwrite: [offset, offset + len) must lie wholly inside mappings the case made;
// - pread: the same, except that parts no one has mapped may be included (the kernel
//   answers EIO or a short count there), as for process_vm_readv;
// - read and write: the same checks at the file position (lseek SEEK_CUR first);
// - mmap goes to the kernel at an address of its choosing: the file has no mmap method, so
//   it fails (EPERM with PROT_EXEC, else ENODEV); a mapping made anyway is undone, refused;
// - every other operation on such a descriptor (splice, vmsplice, ...) except
//   close, dup, fcntl, lseek, fstat, fstatfs and fdinfo is refused.
// Refusals are protocol errors. A descriptor is recognised by its kind in the session,
// which copies made by dup, fcntl or /proc/self/fd/N inherit.
import type { Spec } from "../../../spec/index.js";
import { DriverFailure, type Op, type OpResult } from "../../../spec/driver/contract.js";
import { fdParams } from "../../../spec/driver/returns.js";
import * as libc from "./libc.js";
import { currentVmas, foreignOverlap } from "./memory.js";
import { kernelFd, type Session } from "./session.js";

export const PROC_MEM_PATH = "/proc/self/mem";
/** operations that never move memory through the descriptor */
const HARMLESS = new Set<string>(["close", "dup", "fcntl", "lseek", "fstat", "fstatfs", "fdinfo"]);

export interface ProcMemContext {
  session: Session;
  spec: Spec;
  /** the largest pread buffer */
  readBytes: number;
}

function isProcMemFd(session: Session, fd: bigint): boolean {
  return session.kindOf(fd) === "proc-mem";
}

function result(c: ProcMemContext, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: c.spec.errnoName(r.errno) } : { ret: r.ret };
}

/** Refuse a range that is not the case's own memory (pwrite: not wholly inside the case's mappings). */
function requireCaseRange(c: ProcMemContext, what: string, addr: bigint, len: bigint, write: boolean): void {
  if (addr < 0n || addr + len > 1n << 64n) throw new DriverFailure("protocol", `${what}: 0x${addr.toString(16)} (+${len}) is not a user range`);
  if (len === 0n) return;
  const page = BigInt(libc.pageSize());
  const start = addr - (addr % page);
  const end = ((addr + len + page - 1n) / page) * page;
  const mappings = c.session.mappings;
  if (mappings.uncovered(start, end).length === 0) return;
  if (write) throw new DriverFailure("protocol", `${what}: [0x${start.toString(16)}, 0x${end.toString(16)}) is not wholly inside the case's mappings; the driver writes /proc/self/mem only there`);
  const vma = foreignOverlap(mappings, start, end, currentVmas());
  if (vma) throw new DriverFailure("protocol", `${what}: [0x${start.toString(16)}, 0x${end.toString(16)}) overlaps memory the driver itself uses (${vma.path || "anonymous"} at 0x${vma.start.toString(16)})`);
}

/**
 * The driver's hook: the answer to an operation that opens /proc/self/mem or uses a
 * descriptor of it, or undefined for every other operation (and for the harmless ones).
 */
export function procMemOperation(c: ProcMemContext, op: Op): OpResult | undefined {
  if (op.op === "open") {
    if (op.path !== PROC_MEM_PATH) return undefined;
    const r = libc.open(op.path, op.flags, op.mode ?? 0n);
    if (r.ret >= 0n) c.session.addFd(r.ret, "proc-mem");
    return result(c, r);
  }
  const fields = op as unknown as { [k: string]: unknown };
  const mem = fdParams(op.op).map((k) => fields[k]).find((v): v is bigint => typeof v === "bigint" && isProcMemFd(c.session, v));
  if (mem === undefined || HARMLESS.has(op.op)) return undefined;
  const fd = kernelFd(mem);
  switch (op.op) {
    case "read": {
      if (op.len < 0n || op.len > BigInt(c.readBytes)) throw new DriverFailure("protocol", `read of /proc/self/mem: ${op.len} bytes (at most ${c.readBytes})`);
      requireCaseRange(c, "read of /proc/self/mem", position(c, fd), op.len, false);
      const buf = Buffer.alloc(Number(op.len));
      const r = libc.read(fd, buf);
      return r.ret < 0n ? result(c, r) : { ret: r.ret, out: { data: new Uint8Array(buf.subarray(0, Number(r.ret))) } };
    }
    case "write":
      requireCaseRange(c, "write of /proc/self/mem", position(c, fd), BigInt(op.data.length), true);
      return result(c, libc.write(fd, op.data));
    case "mmap": {
      const r = libc.mmap(0n, op.len, op.prot, op.flags & ~BigInt(c.spec.constant("MAP_FIXED", "linux-6.18")!), fd, op.offset);
      if (r.ret < 0n) return result(c, r);
      libc.munmap(r.ret, op.len);
      throw new DriverFailure("protocol", "mmap of /proc/self/mem succeeded (no kernel has an mmap method for it): unmapped again");
    }
    case "pread": {
      if (op.len < 0n || op.len > BigInt(c.readBytes)) throw new DriverFailure("protocol", `pread of /proc/self/mem: ${op.len} bytes (at most ${c.readBytes})`);
      requireCaseRange(c, "pread of /proc/self/mem", op.offset, op.len, false);
      const buf = Buffer.alloc(Number(op.len));
      const r = libc.pread(fd, buf, op.offset);
      return r.ret < 0n ? result(c, r) : { ret: r.ret, out: { data: new Uint8Array(buf.subarray(0, Number(r.ret))) } };
    }
    case "pwrite":
      requireCaseRange(c, "pwrite of /proc/self/mem", op.offset, BigInt(op.data.length), true);
      return result(c, libc.pwrite(fd, op.data, op.offset));
    default:
      throw new DriverFailure("protocol", `${op.op} on fd ${mem}, a /proc/self/mem descriptor: the driver offers only pread and pwrite of the case's own memory through it`);
  }
}

/** The descriptor's file position: the address read(2) and write(2) use. */
function position(c: ProcMemContext, fd: bigint): bigint {
  const r = libc.lseek(fd, 0n, 1n);
  if (r.ret < 0n) throw new DriverFailure("protocol", `lseek(SEEK_CUR) of /proc/self/mem failed: ${c.spec.errnoName(r.errno)}`);
  return r.ret;
}

/** open:proc-self-mem: the file opens read-write for the driver itself. */
export function procMemFeatures(): string[] {
  const r = libc.open(PROC_MEM_PATH, 2n, 0n);
  if (r.ret < 0n) return [];
  libc.close(r.ret);
  return ["open:proc-self-mem"];
}
