// setrlimit and drop_capability (contract 1.4) on the driver's own process. Both would
// outlive the case, so the driver offers only what a case about mlock needs (RLIMIT_MEMLOCK,
// CAP_IPC_LOCK, CAP_SYS_RESOURCE), remembers what it changed, and puts it back at reset.
import type { Spec } from "../../../spec/index.js";
import { DriverFailure, type OpOf, type OpResult } from "../../../spec/driver/contract.js";
import { readFileSync } from "node:fs";
import * as libc from "./libc.js";

/** _LINUX_CAPABILITY_VERSION_3 (include/uapi/linux/capability.h) */
const CAP_VERSION_3 = 0x20080522;

const constant = (spec: Spec, name: string): bigint => spec.constant(name, "linux-6.18")!;

/** What a case changed, to undo at reset: limits by resource (their values before), capabilities dropped. */
const savedLimits = new Map<bigint, Buffer>();
let savedCaps: Buffer | undefined;

function capHeader(): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(CAP_VERSION_3, 0);
  return h;
}

function answer(spec: Spec, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: spec.errnoName(r.errno) } : { ret: r.ret };
}

export function limitsOperation(spec: Spec, op: OpOf<"setrlimit" | "drop_capability">): OpResult {
  if (op.op === "setrlimit") {
    // a resource at or past RLIM_NLIMITS is refused by do_prlimit() before anything changes
    const known = BigInt.asUintN(32, op.resource) < constant(spec, "RLIM_NLIMITS");
    if (known && op.resource !== constant(spec, "RLIMIT_MEMLOCK")) throw new DriverFailure("unsupported", `setrlimit: the linux driver sets RLIMIT_MEMLOCK alone (resource ${op.resource} could break the driver itself)`);
    const now = Buffer.alloc(16);
    const got = libc.prlimit(op.resource, null, now);
    if (got.ret < 0n) return answer(spec, got);
    const max = op.max === undefined ? now.readBigUInt64LE(8) : BigInt.asUintN(64, op.max);
    // a hard limit once lowered comes back only with CAP_SYS_RESOURCE: the driver could not restore it
    // (a soft limit above the new hard limit is refused before anything changes)
    if (max < now.readBigUInt64LE(8) && BigInt.asUintN(64, op.cur) <= max && !effective(spec, "CAP_SYS_RESOURCE"))
      throw new DriverFailure("unsupported", "setrlimit: lowering the hard limit without CAP_SYS_RESOURCE could not be undone at reset (leave max out to keep it)");
    const next = Buffer.alloc(16);
    next.writeBigUInt64LE(BigInt.asUintN(64, op.cur), 0);
    next.writeBigUInt64LE(max, 8);
    const old = Buffer.alloc(16);
    const r = libc.prlimit(op.resource, next, old);
    if (r.ret < 0n) return answer(spec, r);
    if (!savedLimits.has(op.resource)) savedLimits.set(op.resource, old);
    return { ret: 0n, out: { cur: old.readBigUInt64LE(0), max: old.readBigUInt64LE(8) } };
  }
  // CAP_SYS_RESOURCE too: reset gives the capabilities back before it restores the limits
  if (op.cap !== constant(spec, "CAP_IPC_LOCK") && op.cap !== constant(spec, "CAP_SYS_RESOURCE"))
    throw new DriverFailure("unsupported", `drop_capability: the linux driver drops CAP_IPC_LOCK and CAP_SYS_RESOURCE alone (capability ${op.cap} could break the driver itself)`);
  const data = Buffer.alloc(24);
  const got = libc.capget(capHeader(), data);
  if (got.ret < 0n) return answer(spec, got);
  savedCaps ??= Buffer.from(data);
  const bit = Number(op.cap);
  const at = 12 * Math.floor(bit / 32); // the effective word of data[bit / 32]
  data.writeUInt32LE((data.readUInt32LE(at) & ~(1 << (bit % 32))) >>> 0, at);
  return answer(spec, libc.capset(capHeader(), data));
}

/** reset: the limits and capabilities every case starts with. */
export function restoreLimits(): void {
  if (savedCaps !== undefined) libc.capset(capHeader(), savedCaps);
  savedCaps = undefined;
  for (const [resource, old] of savedLimits) libc.prlimit(resource, old, Buffer.alloc(16));
  savedLimits.clear();
}

/** Whether the capability is in the driver's effective set now. */
function effective(spec: Spec, cap: string): boolean {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapEff:"));
  return line !== undefined && ((BigInt("0x" + line.split(":")[1]!.trim()) >> constant(spec, cap)) & 1n) === 1n;
}

/** cap-ipc-lock: CAP_IPC_LOCK is in the effective set. */
export function limitsFeatures(spec: Spec): string[] {
  return effective(spec, "CAP_IPC_LOCK") ? ["cap-ipc-lock"] : [];
}
