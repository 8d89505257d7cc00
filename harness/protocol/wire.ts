// Wire form of contract values (JSON lines). Integers are JSON numbers when they
// are safe integers and decimal strings otherwise; bytes are lowercase hex strings.
// Which fields are bytes or strings follows from ops.ts and from result field names.
import { DriverFailure, type ExitInfo, type FieldValue, type Op, type OpResult, type OutValue } from "../../spec/driver/contract.js";
import { OPS, type ParamSpec } from "../../spec/driver/ops.js";
import { errnoProblem, handshakeNameProblems, signalProblem } from "../../spec/driver/names.js";
import { refPathProblem, type BatchExpect, type BatchRef, type BatchReply, type BatchStep } from "../../spec/driver/batch.js";

export type WireInt = number | string;

/** The deepest nesting of objects and arrays in a JSON text, scanning no further than limit + 1. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
      if (max > limit) return max;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}


export function intToWire(v: bigint): WireInt {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

export function intFromWire(v: unknown, what: string): bigint {
  if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^-?\d+$/.test(v)) return BigInt(v);
  throw new DriverFailure("protocol", `${what}: expected an integer, got ${JSON.stringify(v)}`);
}

export function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function hexToBytes(s: unknown, what: string): Uint8Array {
  if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(s)) throw new DriverFailure("protocol", `${what}: expected a hex string`);
  return new Uint8Array(Buffer.from(s, "hex"));
}

function fieldsToWire(v: FieldValue): unknown {
  if (typeof v === "bigint") return intToWire(v);
  if (Array.isArray(v)) return v.map(fieldsToWire);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fieldsToWire(x)]));
}

function fieldsFromWire(v: unknown, what: string): FieldValue {
  if (Array.isArray(v)) return v.map((x, i) => fieldsFromWire(x, `${what}[${i}]`));
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fieldsFromWire(x, `${what}.${k}`)]));
  return intFromWire(v, what);
}

function paramToWire(spec: ParamSpec, v: unknown): unknown {
  switch (spec.kind) {
    case "int": return intToWire(v as bigint);
    case "bytes": return bytesToHex(v as Uint8Array);
    case "int-list": return (v as bigint[]).map(intToWire);
    case "int-or-fields": return typeof v === "bigint" ? intToWire(v) : fieldsToWire(v as FieldValue);
    case "records": return (v as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).filter(([, x]) => x !== undefined).map(([k, x]) => [k, paramToWire(spec.fields?.[k] ?? { kind: "string", doc: "" }, x)])));
    default: return v;
  }
}

function paramFromWire(spec: ParamSpec, v: unknown, what: string): unknown {
  switch (spec.kind) {
    case "int": return intFromWire(v, what);
    case "bytes": return hexToBytes(v, what);
    case "int-list":
      if (!Array.isArray(v)) throw new DriverFailure("protocol", `${what}: expected a list of integers`);
      return v.map((x, i) => intFromWire(x, `${what}[${i}]`));
    case "int-or-fields": return typeof v === "object" && v !== null ? fieldsFromWire(v, what) : intFromWire(v, what);
    case "string":
      if (typeof v !== "string") throw new DriverFailure("protocol", `${what}: expected a string`);
      return v;
    case "bool":
      if (typeof v !== "boolean") throw new DriverFailure("protocol", `${what}: expected a boolean`);
      return v;
    case "enum":
      if (typeof v !== "string" || !(spec.values ?? []).includes(v)) throw new DriverFailure("protocol", `${what}: expected one of ${JSON.stringify(spec.values)}`);
      return v;
    case "records":
      if (!Array.isArray(v)) throw new DriverFailure("protocol", `${what}: expected a list of objects`);
      return v.map((r, i) => recordFromWire(spec, r, `${what}[${i}]`));
  }
}

function recordFromWire(spec: ParamSpec, r: unknown, what: string): Record<string, unknown> {
  if (typeof r !== "object" || r === null || Array.isArray(r)) throw new DriverFailure("protocol", `${what}: expected an object`);
  return Object.fromEntries(
    Object.entries(r).map(([k, x]) => {
      const field = spec.fields?.[k];
      if (field === undefined) throw new DriverFailure("protocol", `${what}: unknown field ${k}`);
      return [k, paramFromWire(field, x, `${what}.${k}`)];
    }),
  );
}

export function opToWire(op: Op): Record<string, unknown> {
  const spec = OPS[op.op];
  const out: Record<string, unknown> = { op: op.op };
  if (op.process !== undefined) out.process = intToWire(op.process);
  for (const [name, p] of Object.entries(spec.params) as [string, ParamSpec][]) {
    const v = (op as unknown as Record<string, unknown>)[name];
    if (v !== undefined) out[name] = paramToWire(p, v);
  }
  return out;
}

export function opFromWire(msg: unknown): Op {
  if (typeof msg !== "object" || msg === null) throw new DriverFailure("protocol", "operation: expected an object");
  const m = msg as Record<string, unknown>;
  const name = m.op;
  if (typeof name !== "string" || !Object.prototype.hasOwnProperty.call(OPS, name)) throw new DriverFailure("protocol", `operation: unknown op ${JSON.stringify(name)}`);
  const spec = OPS[name as keyof typeof OPS];
  const op: Record<string, unknown> = { op: name };
  if (m.process !== undefined) op.process = intFromWire(m.process, `${name}.process`);
  for (const [pname, p] of Object.entries(spec.params) as [string, ParamSpec][]) {
    const v = m[pname];
    if (v === undefined) {
      if (p.optional !== true) throw new DriverFailure("protocol", `${name}: missing parameter ${pname}`);
      continue;
    }
    op[pname] = paramFromWire(p, v, `${name}.${pname}`);
  }
  for (const k of Object.keys(m)) if (k !== "op" && k !== "process" && !Object.prototype.hasOwnProperty.call(spec.params, k)) throw new DriverFailure("protocol", `${name}: unknown parameter ${k}`);
  return op as unknown as Op;
}

/** Fields whose values are not integers: bytes under "data", text under "link" and "reason". */
function outToWire(key: string, v: OutValue): unknown {
  if (v instanceof Uint8Array) return bytesToHex(v);
  if (typeof v === "bigint") return intToWire(v);
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return v.map((x) => outToWire(key, x));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, outToWire(k, x)]));
}

function outFromWire(key: string, v: unknown, what: string): OutValue {
  if (key === "data") return hexToBytes(v, what);
  if (key === "link" || key === "reason") {
    if (typeof v !== "string") throw new DriverFailure("protocol", `${what}: expected a string`);
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => outFromWire(key, x, `${what}[${i}]`));
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, outFromWire(k, x, `${what}.${k}`)]));
  return intFromWire(v, what);
}

export function resultToWire(r: OpResult): Record<string, unknown> {
  const out: Record<string, unknown> = { ret: intToWire(r.ret) };
  if (r.errno !== undefined) out.errno = r.errno;
  if (r.signal !== undefined) out.signal = r.signal;
  if (r.out !== undefined) out.out = outToWire("", r.out);
  if (r.exit !== undefined) out.exit = outToWire("", r.exit);
  return out;
}

export function resultFromWire(msg: unknown): OpResult {
  if (typeof msg !== "object" || msg === null) throw new DriverFailure("protocol", "result: expected an object");
  const m = msg as Record<string, unknown>;
  const r: OpResult = { ret: intFromWire(m.ret, "result.ret") };
  if (m.errno !== undefined) {
    const p = errnoProblem(m.errno);
    if (p !== undefined) throw new DriverFailure("protocol", p);
    r.errno = m.errno as string;
  }
  if (m.signal !== undefined) {
    const p = signalProblem(m.signal);
    if (p !== undefined) throw new DriverFailure("protocol", p);
    r.signal = m.signal as string;
  }
  if (m.out !== undefined) r.out = outFromWire("", m.out, "result.out") as Record<string, OutValue>;
  if (m.exit !== undefined) {
    const e = outFromWire("", m.exit, "result.exit") as Record<string, OutValue>;
    if (typeof e.reason !== "string") throw new DriverFailure("protocol", "result.exit.reason: expected a string");
    r.exit = e as ExitInfo;
  }
  for (const k of Object.keys(m)) if (!["ret", "errno", "signal", "out", "exit"].includes(k)) throw new DriverFailure("protocol", `result: unknown field ${k}`);
  return r;
}

/** Names in a driver's reply that are not the contract's (aliases, unknown features): clearer than the schema's enum messages. */
export function replyNameProblems(msg: Record<string, unknown>, runnerVersion: string): string[] {
  if (msg.type === "hello") return handshakeNameProblems(msg, runnerVersion);
  if (msg.type !== "result" || typeof msg.result !== "object" || msg.result === null) return [];
  const r = msg.result as Record<string, unknown>;
  return [r.errno === undefined ? undefined : errnoProblem(r.errno), r.signal === undefined ? undefined : signalProblem(r.signal)].filter((p): p is string => p !== undefined);
}

// ---- batched calls (contract 1.4, spec/driver/batch.ts) ----

/** Remove the value at a reference's path from a wire op (the driver puts the referenced value there). */
function dropAt(op: Record<string, unknown>, path: string): void {
  const keys = path.split(".");
  let at: Record<string, unknown> = op;
  for (const k of keys.slice(0, -1)) {
    if (typeof at[k] !== "object" || at[k] === null) return;
    at = at[k] as Record<string, unknown>;
  }
  delete at[keys.at(-1)!];
}

export function batchStepToWire(s: BatchStep): Record<string, unknown> {
  const op = opToWire(s.op);
  const refs = Object.entries(s.refs ?? {});
  for (const [path] of refs) dropAt(op, path);
  const wireRefs = Object.fromEntries(refs.map(([path, r]) => [path, { ref: r.ref, field: r.field, ...(r.add !== undefined && r.add !== 0n ? { add: intToWire(r.add) } : {}) }]));
  return { op, ...(refs.length > 0 ? { refs: wireRefs } : {}), expect: s.expect };
}

function expectFromWire(v: unknown, what: string): BatchExpect {
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new DriverFailure("protocol", `${what}: expected an object`);
  const e = v as Record<string, unknown>;
  const out: BatchExpect = {};
  for (const k of Object.keys(e)) if (!["errno", "signal", "exit"].includes(k)) throw new DriverFailure("protocol", `${what}: unknown field ${k}`);
  if (e.errno !== undefined) {
    if (!Array.isArray(e.errno) || e.errno.length === 0 || !e.errno.every((x) => typeof x === "string")) throw new DriverFailure("protocol", `${what}.errno: expected a non-empty list of errno names`);
    out.errno = e.errno as string[];
  }
  for (const k of ["signal", "exit"] as const) {
    if (e[k] === undefined) continue;
    if (typeof e[k] !== "string") throw new DriverFailure("protocol", `${what}.${k}: expected a string`);
    out[k] = e[k] as string;
  }
  return out;
}

/** A batch request's steps; each referenced parameter is checked to be absent from its op and decoded as a placeholder 0. */
export function batchStepsFromWire(v: unknown, maxSteps: number): BatchStep[] {
  if (!Array.isArray(v)) throw new DriverFailure("protocol", "batch: steps: expected a list");
  // bounded before anything is decoded
  if (v.length > maxSteps) throw new DriverFailure("protocol", `batch: ${v.length} steps; a batch holds at most ${maxSteps}`);
  return v.map((raw, i) => {
    const what = `batch: step ${i}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new DriverFailure("protocol", `${what}: expected an object`);
    const s = raw as Record<string, unknown>;
    for (const k of Object.keys(s)) if (!["op", "refs", "expect"].includes(k)) throw new DriverFailure("protocol", `${what}: unknown field ${k}`);
    if (typeof s.op !== "object" || s.op === null || Array.isArray(s.op)) throw new DriverFailure("protocol", `${what}: op: expected an object`);
    const op = { ...(s.op as Record<string, unknown>) };
    let refs: Record<string, BatchRef> | undefined;
    if (s.refs !== undefined) {
      if (typeof s.refs !== "object" || s.refs === null || Array.isArray(s.refs)) throw new DriverFailure("protocol", `${what}: refs: expected an object`);
      refs = {};
      for (const [path, r] of Object.entries(s.refs as Record<string, unknown>)) {
        if (typeof r !== "object" || r === null || Array.isArray(r)) throw new DriverFailure("protocol", `${what}: refs.${path}: expected {ref, field, add?}`);
        const { ref, field, add, ...rest } = r as Record<string, unknown>;
        if (Object.keys(rest).length > 0) throw new DriverFailure("protocol", `${what}: refs.${path}: unknown field ${Object.keys(rest)[0]}`);
        const problem = refPathProblem(String(op.op), path);
        if (problem !== undefined) throw new DriverFailure("protocol", `${what}: refs: ${problem}`);
        // a placeholder 0 at the path, so the op decodes; the driver puts the referenced value there
        const [param, ...fields] = path.split(".");
        let at: Record<string, unknown> = op;
        for (const k of [param!, ...fields].slice(0, -1)) {
          if (at[k] === undefined) at[k] = {};
          if (typeof at[k] !== "object" || at[k] === null || Array.isArray(at[k])) throw new DriverFailure("protocol", `${what}: refs.${path}: ${k} is not a struct in op`);
          at = at[k] = { ...(at[k] as Record<string, unknown>) };
        }
        const last = [param!, ...fields].at(-1)!;
        if (at[last] !== undefined) throw new DriverFailure("protocol", `${what}: ${path} is given both in op and in refs`);
        at[last] = 0;
        refs[path] = { ref: ref as number, field: field as string, ...(add !== undefined ? { add: intFromWire(add, `${what}: refs.${path}.add`) } : {}) };
      }
    }
    return { op: opFromWire(op), ...(refs !== undefined ? { refs } : {}), expect: expectFromWire(s.expect, `${what}: expect`) };
  });
}

export function batchReplyToWire(r: BatchReply): Record<string, unknown> {
  return { results: r.results.map(resultToWire), ...(r.stopped !== undefined ? { stopped: r.stopped } : {}), ...(r.error !== undefined ? { error: r.error } : {}), ...(r.released !== undefined ? { released: r.released } : {}) };
}

/** A driver's batch reply, checked against the steps it answers. */
export function batchReplyFromWire(msg: Record<string, unknown>, sent: number): BatchReply {
  if (!Array.isArray(msg.results)) throw new DriverFailure("protocol", "batch reply: results: expected a list");
  const results = msg.results.map((r) => resultFromWire(r));
  if (results.length > sent) throw new DriverFailure("protocol", `batch reply: ${results.length} results for ${sent} steps`);
  const reply: BatchReply = { results };
  if (msg.stopped !== undefined) reply.stopped = String(msg.stopped);
  if (msg.error !== undefined) {
    const e = msg.error as { kind?: unknown; message?: unknown };
    const kind = e.kind === "unsupported" || e.kind === "protocol" || e.kind === "unavailable" ? e.kind : "internal";
    reply.error = { kind, message: String(e.message) };
    if (results.length === sent) throw new DriverFailure("protocol", "batch reply: an error after the last step");
  }
  if (msg.released !== undefined) {
    if (results.length < sent) throw new DriverFailure("protocol", "batch reply: a reset after a batch that did not run to its end");
    reply.released = msg.released as BatchReply["released"];
  }
  if (results.length < sent && reply.error === undefined && reply.stopped === undefined) throw new DriverFailure("protocol", `batch reply: ${results.length} results for ${sent} steps, and no word on why it stopped`);
  return reply;
}
