// The `ioctl` operation: the request is looked up by name in spec/ for the
// driver's profile, struct arguments are encoded with spec/layouts.json, and `out`
// is the struct decoded after the call. New fds are tracked by what created them.
import type { IoctlDef, ProfileName, Spec } from "../../../spec/index.js";
import { CodecError, readScalar, type FieldMap } from "../../../spec/codec.js";
import { DriverFailure, type FieldValues, type OpOf, type OpResult, type OutValue } from "../../driver/contract.js";
import { unmappedAddress } from "./memory.js";
import type { FdKind, Session } from "./session.js";
import type { GuestRunner } from "./vcpu.js";
import * as libc from "./libc.js";

export interface IoctlContext {
  spec: Spec;
  profile: ProfileName;
  session: Session;
  runner: GuestRunner;
  pageSize: number;
}

const CREATES: Record<string, FdKind> = {
  KVM_CREATE_VM: "vm",
  KVM_CREATE_VCPU: "vcpu",
  KVM_CREATE_GUEST_MEMFD: "guest_memfd",
};

function failed(spec: Spec, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: spec.errnoName(r.errno) } : { ret: r.ret };
}

/**
 * Requests whose size field makes the kernel allocate or store per page: keep them
 * bounded. A range that wraps past 2^64 is refused by the kernel before it stores
 * anything (ATTR-006, PREFAULT-003), so it goes through: wrap boundaries stay testable.
 */
function checkLimits(ctx: IoctlContext, name: string, fields: FieldValues): void {
  const size = typeof fields.size === "bigint" ? fields.size : 0n;
  const start = [fields.address, fields.gpa, fields.offset].find((v): v is bigint => typeof v === "bigint") ?? 0n;
  if (start + size > 1n << 64n) return;
  const page = BigInt(ctx.pageSize);
  const aligned = size % page === 0n;
  if (name === "KVM_PRE_FAULT_MEMORY" && aligned) ctx.session.chargePopulate(size, name);
  if ((name === "KVM_SET_MEMORY_ATTRIBUTES" || name === "KVM_SET_MEMORY_ATTRIBUTES2") && aligned && size > ctx.session.limits.attributeBytes)
    throw new DriverFailure("unsupported", `${name}: the linux driver limits attribute updates to ${ctx.session.limits.attributeBytes} bytes (the kernel stores attributes per page); asked for ${size}`);
}

function encodeStruct(ctx: IoctlContext, def: IoctlDef, fields: FieldValues): Buffer {
  try {
    return Buffer.from(ctx.spec.codec.encode(def.buffer ?? def.arg!, fields as FieldMap));
  } catch (err) {
    if (err instanceof CodecError) throw new DriverFailure("protocol", `${def.name}: ${err.message}`);
    throw err;
  }
}

export function doIoctl(ctx: IoctlContext, op: OpOf<"ioctl">): OpResult {
  const { spec, session } = ctx;
  const def = spec.request(op.request, ctx.profile);
  if (!def) throw new DriverFailure("unsupported", `${op.request} is not a request of profile ${ctx.profile}`);
  session.requireUsableFd(op.fd, `ioctl ${op.request}`);
  const fields = typeof op.arg === "object" ? op.arg : undefined;
  const value = typeof op.arg === "bigint" ? op.arg : 0n;
  if (fields !== undefined && (def.arg === null || def.arg === "value" || def.arg === "u64"))
    throw new DriverFailure("protocol", `${op.request} takes ${def.arg === "u64" ? "a u64" : "an integer"}, not a field map`);

  if (op.request === "KVM_RUN" && op.pointer === undefined) {
    const r = ctx.runner.rawRun(Number(op.fd));
    return { ret: r.ret, ...(r.errno ? { errno: r.errno } : {}), ...(r.exit ? { exit: r.exit } : {}) };
  }

  let result: libc.Sys;
  let out: { [k: string]: OutValue } | undefined;
  if (op.pointer === "invalid") {
    result = libc.ioctlValue(op.fd, def.request, unmappedAddress(ctx.pageSize));
  } else if (def.arg === null || def.arg === "value") {
    result = libc.ioctlValue(op.fd, def.request, value);
  } else if (def.arg === "u64") {
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, value));
    result = libc.ioctlBuffer(op.fd, def.request, buf);
    out = { value: readScalar(buf, 0, "u64") };
  } else if (fields === undefined && op.arg !== undefined) {
    // A struct request given an integer: the integer is the pointer (e.g. NULL).
    const size = BigInt(spec.codec.get(def.buffer ?? def.arg).size);
    if (def.dir === "read" || def.dir === "readwrite") session.requireOwnedRange(value, size, `${op.request} writing through pointer 0x${value.toString(16)}`);
    result = libc.ioctlValue(op.fd, def.request, value);
  } else {
    checkLimits(ctx, op.request, fields ?? {});
    const buf = encodeStruct(ctx, def, fields ?? {});
    result = libc.ioctlBuffer(op.fd, def.request, buf);
    out = spec.codec.decode(def.buffer ?? def.arg, buf) as { [k: string]: OutValue };
  }

  const r = failed(spec, result);
  if (out !== undefined) r.out = out;
  if (r.ret >= 0n && def.returns === "fd") {
    const kind = CREATES[op.request] ?? "file";
    session.addFd(r.ret, kind);
    if (kind === "vm") ctx.runner.trackVm(Number(r.ret));
    if (kind === "vcpu") ctx.runner.trackVcpu(Number(r.ret), Number(op.fd));
  }
  return r;
}
