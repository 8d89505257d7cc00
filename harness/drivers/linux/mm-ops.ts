// Contract 1.3's memory operations on the real kernel: mremap, mlock/mlock2/munlock,
// mincore, io_uring buffer registration (a long-term pin) and userfaultfd registration.
// Each may touch only memory the case mapped (or nothing mapped at all), and the
// session's table of mappings follows what mremap did. Every userfaultfd the driver
// hands out gets UFFD_FEATURE_SIGBUS at UFFDIO_API: a fault in a registered range then
// raises SIGBUS (which load/store predict and report) instead of waiting for a handler
// thread this driver does not have.
import type { Spec } from "../../../spec/index.js";
import { DriverFailure, type OpOf, type OpResult } from "../../../spec/driver/contract.js";
import type { Session } from "./session.js";
import * as libc from "./libc.js";
import { O_CLOEXEC } from "./uapi.js";

const MREMAP_FIXED = 2n;
const MREMAP_DONTUNMAP = 4n;
const IORING_REGISTER_BUFFERS = 0;
const IORING_UNREGISTER_BUFFERS = 1;
/** sizeof(struct io_uring_params) */
const IO_URING_PARAMS_SIZE = 120;
const UFFD_FEATURE_SIGBUS = 1n << 7n;
/** _IOWR(0xAA, 0x3F, struct uffdio_api): 24 bytes */
const UFFDIO_API = 0xc018aa3f;
/** _IOWR(0xAA, 0x00, struct uffdio_register): 32 bytes */
const UFFDIO_REGISTER = 0xc020aa00;
/** the most pages one mincore reports (as the reference) */
const MAX_MINCORE_PAGES = 65536n;

export type MmOp =
  | OpOf<"mremap">
  | OpOf<"mlock">
  | OpOf<"mlock2">
  | OpOf<"munlock">
  | OpOf<"mincore">
  | OpOf<"io_uring_register_buffers">
  | OpOf<"io_uring_unregister_buffers">
  | OpOf<"userfaultfd">
  | OpOf<"uffdio_api">
  | OpOf<"uffdio_register">;

export const MM_OPS: ReadonlySet<string> = new Set(["mremap", "mlock", "mlock2", "munlock", "mincore", "io_uring_register_buffers", "io_uring_unregister_buffers", "userfaultfd", "uffdio_api", "uffdio_register"]);

/**
 * A buffer the kernel refuses before it touches a page, so nothing of the driver's can be pinned:
 * longer than 1 GiB (EFAULT) or wrapping past 2^64 (EOVERFLOW) in io_buffer_validate(), or starting
 * in the kernel's half of the address space (the pin fails: EFAULT).
 */
function refusedBeforePinning(addr: bigint, len: bigint, page: bigint): boolean {
  const base = BigInt.asUintN(64, addr);
  const size = BigInt.asUintN(64, len);
  if (base === 0n) return false;
  return size > 1n << 30n || base + ((size + page - 1n) / page) * page > (1n << 64n) - 1n || base >= 0xffff800000000000n;
}

export class MmOperations {
  constructor(
    private readonly spec: Spec,
    private readonly session: Session,
    private readonly pageSize: number,
  ) {}

  private result(r: libc.Sys): OpResult {
    return r.ret < 0n ? { ret: -1n, errno: this.spec.errnoName(r.errno) } : { ret: r.ret };
  }

  run(op: MmOp): OpResult {
    const s = this.session;
    switch (op.op) {
      case "mremap":
        return this.mremap(op);
      case "mlock":
      case "mlock2":
        s.requireOwnedRange(op.addr, op.len, op.op);
        s.chargePopulate(s.roundUp(op.len), op.op);
        return this.result(op.op === "mlock" ? libc.mlock(op.addr, op.len) : libc.mlock2(op.addr, op.len, op.flags));
      case "munlock":
        s.requireOwnedRange(op.addr, op.len, op.op);
        return this.result(libc.munlock(op.addr, op.len));
      case "mincore":
        return this.mincore(op);
      case "io_uring_register_buffers":
        return this.registerBuffers(op);
      case "io_uring_unregister_buffers":
        return this.result(libc.ioUringRegister(s.usableFd(op.fd, op.op), IORING_UNREGISTER_BUFFERS, null, 0));
      case "userfaultfd": {
        const r = libc.userfaultfd(op.flags);
        if (r.ret >= 0n) s.addFd(r.ret, "file");
        return this.result(r);
      }
      case "uffdio_api":
        return this.uffdioApi(op);
      case "uffdio_register":
        return this.uffdioRegister(op);
    }
  }

  /** The moved or resized mapping replaces the old one in the session's table, with the old permissions. */
  private mremap(op: OpOf<"mremap">): OpResult {
    const s = this.session;
    const oldSpan = op.old_len === 0n ? BigInt(this.pageSize) : op.old_len;
    s.requireOwnedRange(op.addr, oldSpan, "mremap: the old range");
    if (op.flags & MREMAP_FIXED) s.requireOwnedRange(op.new_addr ?? 0n, op.new_len, "mremap MREMAP_FIXED: the new range");
    const old = s.mappings.within(op.addr, op.addr + BigInt(this.pageSize))[0];
    if (op.new_len > op.old_len) s.chargePopulate(s.roundUp(op.new_len - op.old_len), "mremap growing a mapping");
    const r = libc.mremap(op.addr, op.old_len, op.new_len, op.flags, op.new_addr ?? 0n);
    if (r.ret < 0n || old === undefined) {
      s.resyncMappings();
      return this.result(r);
    }
    const oldSize = s.roundUp(op.old_len);
    const newSize = s.roundUp(op.new_len);
    if (r.ret !== op.addr && !(op.flags & MREMAP_DONTUNMAP)) s.mappings.remove(op.addr, op.addr + oldSize);
    if (r.ret === op.addr && newSize < oldSize) s.mappings.remove(op.addr + newSize, op.addr + oldSize);
    else s.mappings.add(r.ret, r.ret + newSize, { read: old.read, write: old.write, exec: old.exec, shared: old.shared });
    return { ret: r.ret };
  }

  private mincore(op: OpOf<"mincore">): OpResult {
    const pages = (op.len + BigInt(this.pageSize) - 1n) / BigInt(this.pageSize);
    if (op.len < 0n || pages > MAX_MINCORE_PAGES) throw new DriverFailure("protocol", `mincore of ${pages} pages (at most ${MAX_MINCORE_PAGES})`);
    this.session.requireOwnedRange(op.addr, op.len, "mincore");
    const vec = Buffer.alloc(Math.max(1, Number(pages)));
    const r = libc.mincore(op.addr, op.len, vec);
    return r.ret < 0n ? this.result(r) : { ret: 0n, out: { data: new Uint8Array(vec.subarray(0, Number(pages))) } };
  }

  /** A ring of one entry, then IORING_REGISTER_BUFFERS of one iovec; a failed registration closes the ring again. */
  private registerBuffers(op: OpOf<"io_uring_register_buffers">): OpResult {
    const s = this.session;
    if (!refusedBeforePinning(op.addr, op.len, BigInt(this.pageSize))) {
      s.requireOwnedRange(op.addr, op.len, "io_uring_register_buffers");
      s.chargePopulate(s.roundUp(op.len), "io_uring_register_buffers");
    }
    const ring = libc.ioUringSetup(1, Buffer.alloc(IO_URING_PARAMS_SIZE));
    if (ring.ret < 0n) throw new DriverFailure("unsupported", `io_uring_setup failed with ${this.spec.errnoName(ring.errno)} (the io-uring feature is not offered)`);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(BigInt.asUintN(64, op.addr), 0);
    iov.writeBigUInt64LE(BigInt.asUintN(64, op.len), 8);
    const r = libc.ioUringRegister(ring.ret, IORING_REGISTER_BUFFERS, iov, 1);
    if (r.ret < 0n) {
      libc.close(ring.ret);
      return this.result(r);
    }
    s.addFd(ring.ret, "file");
    return { ret: ring.ret };
  }

  private uffdioApi(op: OpOf<"uffdio_api">): OpResult {
    const buf = Buffer.alloc(24);
    buf.writeBigUInt64LE(BigInt.asUintN(64, op.api), 0);
    buf.writeBigUInt64LE(BigInt.asUintN(64, op.features) | UFFD_FEATURE_SIGBUS, 8);
    const r = libc.ioctlBuffer(this.session.usableFd(op.fd, op.op), UFFDIO_API, buf);
    if (r.ret < 0n) return this.result(r);
    return { ret: r.ret, out: { api: buf.readBigUInt64LE(0), features: buf.readBigUInt64LE(8), ioctls: buf.readBigUInt64LE(16) } };
  }

  /** Registering memory the driver itself uses would make its own faults wait or die: only the case's mappings (or nothing mapped). */
  private uffdioRegister(op: OpOf<"uffdio_register">): OpResult {
    this.session.requireOwnedRange(op.addr, op.len, "uffdio_register");
    const buf = Buffer.alloc(32);
    buf.writeBigUInt64LE(BigInt.asUintN(64, op.addr), 0);
    buf.writeBigUInt64LE(BigInt.asUintN(64, op.len), 8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, op.mode), 16);
    const r = libc.ioctlBuffer(this.session.usableFd(op.fd, op.op), UFFDIO_REGISTER, buf);
    if (r.ret < 0n) return this.result(r);
    return { ret: r.ret, out: { ioctls: buf.readBigUInt64LE(24) } };
  }
}

/** Whether io_uring rings and userfaultfds can be created here (features io-uring, userfaultfd). */
export function probeMmFeatures(): string[] {
  const features: string[] = [];
  const ring = libc.ioUringSetup(1, Buffer.alloc(IO_URING_PARAMS_SIZE));
  if (ring.ret >= 0n) {
    libc.close(ring.ret);
    features.push("io-uring");
  }
  const uffd = libc.userfaultfd(O_CLOEXEC);
  if (uffd.ret >= 0n) {
    libc.close(uffd.ret);
    features.push("userfaultfd");
  }
  return features;
}
