// The `ioctl` operation: the request is looked up by name in spec/ for the
// driver's profile, struct arguments are encoded with spec/layouts.json, and `out`
// is the struct decoded after the call. New fds are tracked by what created them.
// Before the kernel sees a struct, the driver checks what the struct makes the
// kernel do to this process and the host: the user addresses inside it
// (layouts.json "pointer" markers), the memslot and attribute budgets, and the
// length of a variable-length tail.
import type { IoctlDef, ProfileName, Spec } from "../../../spec/index.js";
import { CodecError, readScalar, type Decoded, type FieldMap } from "../../../spec/codec.js";
import { ioctlArgProblem } from "../../../spec/driver/ioctl-arg.js";
import { DriverFailure, type FieldValues, type OpOf, type OpResult, type OutValue } from "../../../spec/driver/contract.js";
import { checkEnableCap } from "./enable-cap.js";
import { checkAccess, currentVmas, unmappedAddress } from "./memory.js";
import { pointerRanges, type PointerRange } from "./pointers.js";
import { Session, type FdKind } from "./session.js";
import type { GuestRunner } from "./vcpu.js";
import * as libc from "./libc.js";
import { KVM_MAX_CPUID_ENTRIES, KVM_MEM_MAX_NR_PAGES } from "./uapi.js";

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

/** The memslot structs: their requests are charged against the slot budget. */
const MEMSLOT_STRUCTS = new Set(["kvm_userspace_memory_region", "kvm_userspace_memory_region2", "kvm_userspace_memory_region_ext"]);

/**
 * Structs followed by a variable-length array in the same buffer: the header
 * field that counts the entries, the entry struct, and the most entries the
 * kernel reads or writes whatever the count says.
 */
export const TAILS: Record<string, { count: string; entry: string; max: bigint; unclamped?: boolean }> = {
  kvm_cpuid2: { count: "nent", entry: "kvm_cpuid_entry2", max: KVM_MAX_CPUID_ENTRIES },
  // the kernel fills as many extents as the count asks (FIEMAP_MAX_EXTENTS only bounds it): larger counts are refused
  fiemap: { count: "fm_extent_count", entry: "fiemap_extent", max: 64n, unclamped: true },
};

function failed(spec: Spec, r: libc.Sys): OpResult {
  return r.ret < 0n ? { ret: -1n, errno: spec.errnoName(r.errno) } : { ret: r.ret };
}

/**
 * Attribute and pre-fault requests make the kernel store or allocate per page:
 * charged against the session's budgets. A range that wraps past 2^64 or is not
 * page-aligned is refused by the kernel before it stores anything (ATTR-006,
 * PREFAULT-003), so it goes through uncharged: wrap boundaries stay testable.
 */
function checkLimits(ctx: IoctlContext, name: string, fields: FieldValues): void {
  const size = typeof fields.size === "bigint" ? fields.size : 0n;
  const start = [fields.address, fields.gpa, fields.offset].find((v): v is bigint => typeof v === "bigint") ?? 0n;
  if (start + size > 1n << 64n) return;
  if (size % BigInt(ctx.pageSize) !== 0n) return;
  if (name === "KVM_PRE_FAULT_MEMORY") ctx.session.chargePopulate(size, name);
  if (name === "KVM_SET_MEMORY_ATTRIBUTES" || name === "KVM_SET_MEMORY_ATTRIBUTES2") ctx.session.chargeAttributes(size, name);
}

/**
 * Why the kernel refuses a memslot request before it allocates anything, or
 * undefined when it may allocate (a creation, a move, a flags change). These
 * checks come first in __kvm_set_memory_region() in every kernel the profiles
 * describe; such requests reach the kernel uncharged and unchecked.
 */
export function memslotRefusedEarly(values: { [f: string]: Decoded }, pageSize: number): string | undefined {
  const page = BigInt(pageSize);
  const size = values.memory_size as bigint;
  const gpa = values.guest_phys_addr as bigint;
  const hva = values.userspace_addr as bigint;
  if (size === 0n) return "memory_size 0 deletes a slot";
  if (size % page !== 0n) return "memory_size is not page-aligned";
  if (gpa % page !== 0n) return "guest_phys_addr is not page-aligned";
  if (hva % page !== 0n) return "userspace_addr is not page-aligned";
  if (gpa + size > 1n << 64n) return "the guest range wraps";
  if (size / page > KVM_MEM_MAX_NR_PAGES) return `more pages than KVM_MEM_MAX_NR_PAGES (${KVM_MEM_MAX_NR_PAGES})`;
  return undefined;
}

/**
 * The user ranges the struct's pointers name must be memory the session mapped
 * or memory not mapped at all (the kernel then fails cleanly): never the
 * driver's own. A pointer to a payload struct (a command's data) is followed one
 * level: when the payload is readable session memory, its own pointers are checked.
 */
function checkPointers(ctx: IoctlContext, request: string, struct: string, values: { [f: string]: Decoded }, depth = 0): void {
  const ranges = pointerRanges(ctx.spec, ctx.profile, struct, values, ctx.pageSize);
  if (ranges.length === 0) return;
  const vmas = currentVmas();
  for (const r of ranges) ctx.session.requireOwnedRange(r.addr, r.len, `${request}: ${r.path} = 0x${r.addr.toString(16)} (+${r.len} bytes)`, vmas);
  if (depth > 0) return;
  for (const r of ranges.filter((x): x is PointerRange & { payload: string } => x.payload !== undefined)) {
    const len = Number(r.len);
    if (!Session.anyMapped(r.addr, r.len, vmas)) continue; // the kernel's copy fails with EFAULT
    const check = checkAccess(r.addr, len, false, ctx.pageSize, vmas);
    if (!check.ok) continue; // the kernel's copy of the payload fails before it uses anything in it
    checkPointers(ctx, request, r.payload, ctx.spec.codec.decode(r.payload, libc.copyFromAddress(r.addr, len)), depth + 1);
  }
}

function structOf(def: IoctlDef): string {
  return def.buffer ?? def.arg!;
}

/** The buffer a struct argument is passed in: the struct, and for TAILS its entries (as many as the count asks, at most the kernel's maximum). */
export function argumentBuffer(spec: Spec, def: IoctlDef, fields: FieldValues): Buffer {
  const struct = structOf(def);
  let head: Buffer;
  try {
    head = Buffer.from(spec.codec.encode(struct, fields as FieldMap));
  } catch (err) {
    if (err instanceof CodecError) throw new DriverFailure("protocol", `${def.name}: ${err.message}`);
    throw err;
  }
  const tail = TAILS[struct];
  if (!tail) return head;
  const asked = spec.codec.decode(struct, head)[tail.count] as bigint;
  if (tail.unclamped && asked > tail.max) throw new DriverFailure("unsupported", `${def.name}: ${tail.count} ${asked} (the driver allocates at most ${tail.max} entries)`);
  const entries = asked < tail.max ? asked : tail.max;
  return Buffer.concat([head, Buffer.alloc(Number(entries) * spec.codec.get(tail.entry).size)]);
}

export function doIoctl(ctx: IoctlContext, op: OpOf<"ioctl">): OpResult {
  const { spec, session } = ctx;
  const def = spec.request(op.request, ctx.profile);
  if (!def) throw new DriverFailure("unsupported", `${op.request} is not a request of profile ${ctx.profile}`);
  const argProblem = ioctlArgProblem(def, op.arg);
  if (argProblem !== undefined) throw new DriverFailure("protocol", argProblem);
  const fd = session.usableFd(op.fd, `ioctl ${op.request}`);
  const fields = typeof op.arg === "object" ? op.arg : undefined;
  const value = typeof op.arg === "bigint" ? op.arg : 0n;

  if (def.name === "KVM_RUN" && op.pointer === undefined) {
    const r = ctx.runner.rawRun(Number(fd), value);
    return { ret: r.ret, ...(r.errno ? { errno: r.errno } : {}), ...(r.exit ? { exit: r.exit } : {}) };
  }

  let result: libc.Sys;
  let out: { [k: string]: OutValue } | undefined;
  let memslot: { [f: string]: Decoded } | undefined;
  if (op.pointer === "invalid") {
    result = libc.ioctlValue(fd, def.request, unmappedAddress(ctx.pageSize));
  } else if (def.arg === null || def.arg === "value") {
    result = libc.ioctlValue(fd, def.request, value);
  } else if (def.arg === "u64") {
    const buf = Buffer.alloc(8);
    buf.writeBigUInt64LE(BigInt.asUintN(64, value));
    result = libc.ioctlBuffer(fd, def.request, buf);
    out = { value: readScalar(buf, 0, "u64") };
  } else {
    const struct = structOf(def);
    checkLimits(ctx, def.name, fields ?? {});
    const buf = argumentBuffer(spec, def, fields ?? {});
    const values = spec.codec.decode(struct, buf);
    if (def.name === "KVM_ENABLE_CAP") checkEnableCap(spec, ctx.profile, values);
    if (MEMSLOT_STRUCTS.has(struct)) {
      // A creation, move or flags change makes KVM allocate metadata for every page: charged.
      if (memslotRefusedEarly(values, ctx.pageSize) === undefined) session.chargeSlot((values.memory_size as bigint) / BigInt(ctx.pageSize), op.request);
      // The kernel does not touch the host range while it creates the slot; the guest does, so
      // the range is checked before every KVM_RUN and KVM_PRE_FAULT_MEMORY of the VM (vcpu.ts).
      memslot = values;
    } else {
      if (def.name === "KVM_PRE_FAULT_MEMORY") ctx.runner.guardVcpu(Number(fd));
      checkPointers(ctx, op.request, struct, values);
    }
    result = libc.ioctlBuffer(fd, def.request, buf);
    out = spec.codec.decode(struct, buf) as { [k: string]: OutValue };
  }

  const r = failed(spec, result);
  if (out !== undefined) r.out = out;
  if (r.ret >= 0n && memslot !== undefined) ctx.runner.noteMemslot(Number(fd), memslot.slot as bigint, memslot.userspace_addr as bigint, memslot.memory_size as bigint);
  if (r.ret >= 0n && def.returns === "fd") {
    const kind = CREATES[def.name] ?? "file";
    session.addFd(r.ret, kind);
    if (kind === "vm") ctx.runner.trackVm(Number(r.ret));
    if (kind === "vcpu") ctx.runner.trackVcpu(Number(r.ret), Number(fd));
  }
  return r;
}
