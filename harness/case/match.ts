// Does a result match what a step expects? Returns the mismatches, in words.
import type { OpResult, OutValue } from "../../spec/driver/contract.js";
import { evalValue, type Scope } from "./expr.js";
import type { DataMatch, MatchSpec, Outcome, TextMatch } from "./types.js";

export function hex(v: bigint): string {
  return v < 0n ? `-0x${(-v).toString(16)}` : v > 0xffffn ? `0x${v.toString(16)}` : v.toString();
}

export function matchInt(actual: bigint, spec: MatchSpec, scope: Scope): string | undefined {
  const val = (x: number | string) => evalValue(x, scope);
  if (typeof spec === "number" || typeof spec === "string") {
    const want = val(spec);
    return actual === want ? undefined : `${hex(want)}`;
  }
  const [cmp, arg] = Object.entries(spec)[0]!;
  if (cmp === "any") {
    const wants = (arg as (number | string)[]).map(val);
    return wants.includes(actual) ? undefined : `one of ${wants.map(hex).join(", ")}`;
  }
  const want = val(arg as number | string);
  const ok: Record<string, boolean> = {
    eq: actual === want,
    ne: actual !== want,
    lt: actual < want,
    le: actual <= want,
    gt: actual > want,
    ge: actual >= want,
    bitsSet: (actual & want) === want,
    bitsClear: (actual & want) === 0n,
  };
  const words: Record<string, string> = { eq: "", ne: "not ", lt: "< ", le: "<= ", gt: "> ", ge: ">= ", bitsSet: "bits set: ", bitsClear: "bits clear: " };
  return ok[cmp] ? undefined : `${words[cmp]}${hex(want)}`;
}

export function matchData(actual: OutValue | undefined, spec: DataMatch, scope: Scope): string | undefined {
  if (!(actual instanceof Uint8Array)) return "bytes";
  if ("hex" in spec) return Buffer.from(actual).toString("hex") === spec.hex.toLowerCase() ? undefined : `bytes ${spec.hex}`;
  const fill = Number(evalValue(spec.fill, scope) & 0xffn);
  if (actual.length === 0) return `bytes all 0x${fill.toString(16)} (got none)`;
  if (allBytes(actual, fill)) return undefined;
  const bad = actual.findIndex((b) => b !== fill);
  return `every byte 0x${fill.toString(16)} (byte ${bad} is 0x${actual[bad]!.toString(16)})`;
}

/** A filled buffer per byte value, as long as the longest compared yet. */
const filled = new Map<number, Buffer>();

/** Whether every byte is `fill`: one native comparison (pages of data are checked in most steps). */
function allBytes(actual: Uint8Array, fill: number): boolean {
  let f = filled.get(fill);
  if (f === undefined || f.length < actual.length) filled.set(fill, (f = Buffer.alloc(Math.max(actual.length, 4096), fill)));
  return Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(f.subarray(0, actual.length));
}

function isTextMatch(s: unknown): s is TextMatch {
  return typeof s === "object" && s !== null && "text" in s;
}

function isDataMatch(s: unknown): s is DataMatch {
  return typeof s === "object" && s !== null && ("fill" in s || "hex" in s) && !("eq" in s);
}

function describeOut(v: OutValue | undefined): string {
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return hex(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (v instanceof Uint8Array) return `${v.length} bytes ${Buffer.from(v.subarray(0, 16)).toString("hex")}${v.length > 16 ? "..." : ""}`;
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? hex(x) : x));
}

export function describe(r: OpResult): string {
  if (r.signal) return `signal ${r.signal}`;
  const base = r.errno ? `ret ${r.ret}, errno ${r.errno}` : `ret ${hex(r.ret)}`;
  return r.exit ? `${base}, exit ${r.exit.reason}` : base;
}

/** Mismatches between a result and an outcome; empty when it matches. */
export function mismatches(r: OpResult, o: Outcome, scope: Scope, interpolate: (s: string) => string): string[] {
  const out: string[] = [];
  const errnos = o.errno === undefined ? undefined : (Array.isArray(o.errno) ? o.errno : [o.errno]).map(interpolate);
  if (o.signal !== undefined) {
    const want = interpolate(o.signal);
    if (r.signal !== want) out.push(`expected signal ${want}, got ${describe(r)}`);
  } else if (errnos !== undefined) {
    if (r.signal !== undefined || r.errno === undefined || !errnos.includes(r.errno)) out.push(`expected errno ${errnos.join(" or ")}, got ${describe(r)}`);
    else if (r.ret !== -1n) out.push(`expected ret -1 with errno ${r.errno}, got ret ${r.ret}`);
  } else if (r.errno !== undefined || r.signal !== undefined) {
    out.push(`expected success, got ${describe(r)}`);
  }
  if (out.length > 0) return out;
  if (o.ret !== undefined) {
    const m = matchInt(r.ret, o.ret, scope);
    if (m) out.push(`expected ret ${m}, got ${hex(r.ret)}`);
  }
  for (const [field, spec] of Object.entries(o.out ?? {})) {
    const actual = r.out?.[field];
    if (isTextMatch(spec)) {
      const want = interpolate(spec.text);
      if (actual !== want) out.push(`expected out.${field} "${want}", got ${describeOut(actual)}`);
    } else if (isDataMatch(spec)) {
      const m = matchData(actual, spec, scope);
      if (m) out.push(`expected out.${field} ${m}, got ${describeOut(actual)}`);
    } else if (typeof actual !== "bigint") out.push(`expected out.${field} to be an integer, got ${describeOut(actual)}`);
    else {
      const m = matchInt(actual, spec as MatchSpec, scope);
      if (m) out.push(`expected out.${field} ${m}, got ${hex(actual)}`);
    }
  }
  if (o.data !== undefined) {
    const m = matchData(r.out?.data, o.data, scope);
    if (m) out.push(`expected data ${m}, got ${describeOut(r.out?.data)}`);
  }
  if (o.exit !== undefined) {
    const { reason, ...payload } = o.exit;
    const wantReason = interpolate(reason);
    if (r.exit?.reason !== wantReason) out.push(`expected exit ${wantReason}, got ${r.exit ? r.exit.reason : "no exit"}`);
    else
      for (const [group, fields] of Object.entries(payload)) {
        const got = r.exit[group];
        for (const [field, spec] of Object.entries(fields as Record<string, MatchSpec | DataMatch>)) {
          const actual = typeof got === "object" && got !== null && !Array.isArray(got) && !(got instanceof Uint8Array) ? (got as Record<string, OutValue>)[field] : undefined;
          if (isDataMatch(spec)) {
            // bytes in an exit's payload: an OUT's io.data, an MMIO write's mmio.data
            const m = matchData(actual, spec, scope);
            if (m) out.push(`expected exit.${group}.${field} ${m}, got ${describeOut(actual)}`);
          } else if (typeof actual !== "bigint") out.push(`expected exit.${group}.${field}, got ${describeOut(actual)}`);
          else {
            const m = matchInt(actual, spec, scope);
            if (m) out.push(`expected exit.${group}.${field} ${m}, got ${hex(actual)}`);
          }
        }
      }
  }
  return out;
}
