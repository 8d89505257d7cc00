// Pipes, vmsplice, splice, sendfile, copy_file_range, O_TMPFILE files and reopening a
// descriptor through /proc/self/fd (contract 1.3) on the real kernel. The driver never
// lets a call sleep: a pipe operation that would wait for room or data (and was not
// asked to be non-blocking) is refused as unsupported instead of hanging the case.
import { tmpdir } from "node:os";
import type { Spec } from "../../../spec/index.js";
import { DriverFailure, type OpOf, type OpResult } from "../../../spec/driver/contract.js";
import * as libc from "./libc.js";
import type { Session } from "./session.js";
import { MAP_PRIVATE_ANONYMOUS, O_CLOEXEC, PROT_RW } from "./uapi.js";

const MAX_VMSPLICE = 65536n;

export interface PipeContext {
  session: Session;
  spec: Spec;
}

const constant = (spec: Spec, name: string): bigint => spec.constant(name, "linux-6.18")!;

/** The directories behind the tmpfile operation's `dir`. */
export function tmpfileDir(dir: "tmpfs" | "disk"): string {
  return dir === "tmpfs" ? "/dev/shm" : tmpdir();
}

const PROC_FD = /^\/proc\/self\/fd\/(\d+)$/;
export const isProcFdPath = (path: string): boolean => PROC_FD.test(path);

function result(c: PipeContext, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: c.spec.errnoName(r.errno) } : { ret: r.ret };
}

function isFifo(c: PipeContext, fd: bigint): boolean {
  const buf = Buffer.alloc(c.spec.codec.get("stat").size);
  if (libc.fstat(fd, buf).ret !== 0n) return false;
  const mode = c.spec.codec.decode("stat", buf).mode as bigint;
  return (mode & constant(c.spec, "S_IFMT")) === constant(c.spec, "S_IFIFO");
}

/** Refuse a call that would sleep on a pipe: not O_NONBLOCK, not SPLICE_F_NONBLOCK, and poll says it cannot proceed. */
export function refuseWait(c: PipeContext, fd: bigint, dir: "in" | "out", what: string, nonblock = false): void {
  if (nonblock || !isFifo(c, fd)) return;
  const fl = libc.fcntl(fd, constant(c.spec, "F_GETFL"), 0n);
  if (fl.ret >= 0n && (fl.ret & constant(c.spec, "O_NONBLOCK")) !== 0n) return;
  if (!libc.ready(fd, dir)) throw new DriverFailure("unsupported", `${what}: the pipe behind fd ${fd} is ${dir === "in" ? "empty" : "full"}; the call would wait for ever (the linux driver never blocks)`);
}

function moved(c: PipeContext, r: libc.Moved, names: { in?: string; out?: string }): OpResult {
  if (r.ret < 0n) return result(c, r);
  const out: { [k: string]: bigint } = {};
  if (names.in !== undefined && r.offIn !== undefined) out[names.in] = r.offIn;
  if (names.out !== undefined && r.offOut !== undefined) out[names.out] = r.offOut;
  return Object.keys(out).length === 0 ? { ret: r.ret } : { ret: r.ret, out };
}

export function pipeOperation(c: PipeContext, op: OpOf<"pipe" | "vmsplice" | "splice" | "sendfile" | "copy_file_range" | "tmpfile">): OpResult {
  const s = c.session;
  switch (op.op) {
    case "pipe": {
      const r = libc.pipe2(op.flags);
      if (r.ret < 0n) return result(c, r);
      s.addFd(r.fds[0], "file");
      s.addFd(r.fds[1], "file");
      return { ret: r.fds[0], out: { write_fd: r.fds[1] } };
    }
    case "vmsplice": {
      if (op.len < 0n || op.len > MAX_VMSPLICE) throw new DriverFailure("protocol", `vmsplice of ${op.len} bytes (at most ${MAX_VMSPLICE})`);
      const fd = s.usableFd(op.fd, "vmsplice");
      s.requireOwnedRange(op.addr, op.len, `vmsplice of 0x${op.addr.toString(16)} (+${op.len} bytes)`);
      const nonblock = (op.flags & constant(c.spec, "SPLICE_F_NONBLOCK")) !== 0n;
      const writeEnd = (libc.fcntl(fd, constant(c.spec, "F_GETFL"), 0n).ret & 3n) !== 0n;
      if (op.len > 0n) refuseWait(c, fd, writeEnd ? "out" : "in", "vmsplice", nonblock);
      return result(c, libc.vmsplice(fd, op.addr, op.len, op.flags));
    }
    case "splice": {
      const fin = s.usableFd(op.fd_in, "splice");
      const fout = s.usableFd(op.fd_out, "splice");
      const nonblock = (op.flags & constant(c.spec, "SPLICE_F_NONBLOCK")) !== 0n;
      if (op.len > 0n) {
        refuseWait(c, fin, "in", "splice", nonblock);
        refuseWait(c, fout, "out", "splice", nonblock);
      }
      s.chargePopulate(op.len, "splice");
      return moved(c, libc.splice(fin, op.off_in, fout, op.off_out, op.len, op.flags), { in: "off_in", out: "off_out" });
    }
    case "sendfile": {
      const fout = s.usableFd(op.out_fd, "sendfile");
      const fin = s.usableFd(op.in_fd, "sendfile");
      if (op.count > 0n) refuseWait(c, fout, "out", "sendfile");
      s.chargePopulate(op.count, "sendfile");
      return moved(c, libc.sendfile(fout, fin, op.offset, op.count), { in: "offset" });
    }
    case "copy_file_range": {
      const fin = s.usableFd(op.fd_in, "copy_file_range");
      const fout = s.usableFd(op.fd_out, "copy_file_range");
      s.chargePopulate(op.len, "copy_file_range");
      return moved(c, libc.copyFileRange(fin, op.off_in, fout, op.off_out, op.len, op.flags), { in: "off_in", out: "off_out" });
    }
    case "tmpfile": {
      const r = libc.open(tmpfileDir(op.dir), op.flags | constant(c.spec, "O_TMPFILE"), 0o600n);
      if (r.ret >= 0n) s.addFd(r.ret, "file");
      return result(c, r);
    }
  }
  throw new DriverFailure("internal", `operation ${(op as { op: string }).op} reached the pipe operations`);
}

/** open("/proc/self/fd/N"): only for a descriptor the case itself holds. */
export function reopen(c: PipeContext, op: OpOf<"open">): OpResult {
  const n = BigInt(PROC_FD.exec(op.path)![1]!);
  if (!c.session.fds.has(Number(n)) && c.session.usableFd(n, "open /proc/self/fd") !== n)
    throw new DriverFailure("unsupported", `open ${op.path}: fd ${n} is not the case's`);
  const r = libc.open(op.path, op.flags, op.mode ?? 0n);
  if (r.ret >= 0n) c.session.addFd(r.ret, c.session.kindOf(n) ?? "file");
  return result(c, r);
}

/**
 * o-direct:disk: the `disk` tmpfile directory takes O_DIRECT and a page-sized direct write
 * from an aligned buffer (tmpfs takes the flag too but copies through the page cache).
 */
export function ioFeatures(spec: Spec): string[] {
  return ["open:proc-self-fd", ...oDirectFeature(spec)];
}

function oDirectFeature(spec: Spec): string[] {
  const flags = constant(spec, "O_TMPFILE") | constant(spec, "O_RDWR") | constant(spec, "O_DIRECT") | O_CLOEXEC;
  const fd = libc.open(tmpfileDir("disk"), flags, 0o600n);
  if (fd.ret < 0n) return [];
  const page = BigInt(libc.pageSize());
  const buf = libc.mmap(0n, page, PROT_RW, MAP_PRIVATE_ANONYMOUS, -1n, 0n);
  try {
    return buf.ret >= 0n && libc.pwriteAddr(fd.ret, buf.ret, page, 0n).ret === page ? ["o-direct:disk"] : [];
  } finally {
    if (buf.ret >= 0n) libc.munmap(buf.ret, page);
    libc.close(fd.ret);
  }
}
