// The file operations of contract 1.3 on the real kernel: vectored I/O, advice, sync,
// locks and attribute changes. Every buffer the kernel reads or writes is the
// driver's own, sized from the operation (iovec lengths, struct flock), so no case
// can make the kernel touch memory the driver did not allocate for it.
import type { ProfileName, Spec } from "../../../spec/index.js";
import { CodecError, type FieldMap } from "../../../spec/codec.js";
import { DriverFailure, type Op, type OpOf, type OpResult, type OutValue } from "../../../spec/driver/contract.js";
import { fcntlLockProblem } from "../../../spec/driver/fcntl-arg.js";
import { iovecTotal } from "../../../spec/driver/iovec.js";
import { unmappedAddress } from "./memory.js";
import type { Session } from "./session.js";
import * as libc from "./libc.js";

export interface FileIoContext {
  spec: Spec;
  profile: ProfileName;
  session: Session;
  pageSize: number;
}

export type FileIoOp = OpOf<"readv" | "writev" | "preadv2" | "pwritev2" | "posix_fadvise" | "readahead" | "syncfs" | "sync_file_range" | "flock" | "fcntl_lock" | "fchown" | "futimens">;

function answer(spec: Spec, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: spec.errnoName(r.errno) } : { ret: r.ret };
}

function checkedLens(op: string, lens: readonly bigint[]): number[] {
  iovecTotal(op, lens);
  return lens.map(Number);
}

function vectoredRead(ctx: FileIoContext, op: OpOf<"readv"> | OpOf<"preadv2">): OpResult {
  const parts = checkedLens(op.op, op.lens).map((n) => Buffer.alloc(n));
  const fd = ctx.session.usableFd(op.fd, op.op);
  const r = op.op === "readv" ? libc.preadv2(fd, parts, undefined, 0n) : libc.preadv2(fd, parts, op.offset, op.flags);
  if (r.ret < 0n) return answer(ctx.spec, r);
  return { ret: r.ret, out: { data: new Uint8Array(Buffer.concat(parts).subarray(0, Number(r.ret))) } };
}

function vectoredWrite(ctx: FileIoContext, op: OpOf<"writev"> | OpOf<"pwritev2">): OpResult {
  const lens = checkedLens(op.op, op.lens ?? [BigInt(op.data.length)]);
  if (lens.reduce((a, b) => a + b, 0) !== op.data.length) throw new DriverFailure("protocol", `${op.op}: the iovec lengths do not add up to the ${op.data.length} bytes of data`);
  const parts: Buffer[] = [];
  let at = 0;
  for (const n of lens) {
    parts.push(Buffer.from(op.data.subarray(at, at + n)));
    at += n;
  }
  const fd = ctx.session.usableFd(op.fd, op.op);
  return answer(ctx.spec, op.op === "writev" ? libc.pwritev2(fd, parts, undefined, 0n) : libc.pwritev2(fd, parts, op.offset, op.flags));
}

function fcntlLock(ctx: FileIoContext, op: OpOf<"fcntl_lock">): OpResult {
  const problem = fcntlLockProblem(ctx.spec, ctx.profile, op.cmd, op.lock);
  if (problem !== undefined) throw new DriverFailure("protocol", problem);
  const fd = ctx.session.usableFd(op.fd, "fcntl_lock");
  if (op.pointer === "invalid") return answer(ctx.spec, libc.fcntlAddress(fd, op.cmd, unmappedAddress(ctx.pageSize)));
  let buf: Buffer;
  try {
    buf = Buffer.from(ctx.spec.codec.encode("flock", (op.lock ?? {}) as FieldMap));
  } catch (err) {
    if (err instanceof CodecError) throw new DriverFailure("protocol", `fcntl_lock: ${err.message}`);
    throw err;
  }
  const r = libc.fcntlStruct(fd, op.cmd, buf);
  if (r.ret < 0n) return answer(ctx.spec, r);
  return { ret: r.ret, out: ctx.spec.codec.decode("flock", buf) as { [k: string]: OutValue } };
}

const FILE_IO_OPS: ReadonlySet<string> = new Set(["readv", "writev", "preadv2", "pwritev2", "posix_fadvise", "readahead", "syncfs", "sync_file_range", "flock", "fcntl_lock", "fchown", "futimens"]);

export function isFileIoOp(op: Op): op is FileIoOp {
  return FILE_IO_OPS.has(op.op);
}

export function fileIoOperation(ctx: FileIoContext, op: FileIoOp): OpResult {
  const fd = (what: string) => ctx.session.usableFd(op.fd, what);
  switch (op.op) {
    case "readv":
    case "preadv2":
      return vectoredRead(ctx, op);
    case "writev":
    case "pwritev2":
      return vectoredWrite(ctx, op);
    case "posix_fadvise":
      return answer(ctx.spec, libc.fadvise(fd(op.op), op.offset, op.len, op.advice));
    case "readahead":
      return answer(ctx.spec, libc.readahead(fd(op.op), op.offset, op.count));
    case "syncfs":
      return answer(ctx.spec, libc.syncfs(fd(op.op)));
    case "sync_file_range":
      return answer(ctx.spec, libc.syncFileRange(fd(op.op), op.offset, op.nbytes, op.flags));
    case "flock":
      return answer(ctx.spec, libc.flock(fd(op.op), op.operation));
    case "fcntl_lock":
      return fcntlLock(ctx, op);
    case "fchown":
      return answer(ctx.spec, libc.fchown(fd(op.op), op.owner, op.group));
    case "futimens":
      return answer(ctx.spec, libc.futimens(fd(op.op), [op.atime_sec, op.atime_nsec], [op.mtime_sec, op.mtime_nsec]));
  }
}
