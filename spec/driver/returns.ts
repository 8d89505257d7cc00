// Values of a step that are not values two implementations must agree on: a new fd, a
// mapped address or a driver's handle that a step returns, the fds a step takes. Operations
// say so in ops.ts (`returns`, `returnsIf`, `outFds`, params marked `names: "fd"`); ioctl
// requests in spec/constants.json (`returns: "fd"`).
import type { ProfileName, Spec } from "../index.js";
import { OPS, type OpSpec } from "./ops.js";

export type HandleKind = NonNullable<OpSpec["returns"]>;

/** A step's request: its operation and parameters (values as numbers, bigints or numeric strings). */
export type OpFields = { op: string; [param: string]: unknown };

function opSpec(op: string): OpSpec | undefined {
  return (OPS as Record<string, OpSpec>)[op];
}

function asBigInt(v: unknown): bigint | undefined {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (typeof v === "string" && /^-?(0x[0-9a-f]+|\d+)$/i.test(v)) return BigInt(v);
  return undefined;
}

/** Whether `value` is one of the constants `names` (in `profile`, or in any profile when none is given). */
function isOneOf(spec: Spec, names: readonly string[], value: unknown, profile?: ProfileName): boolean {
  const v = asBigInt(value);
  if (v === undefined) return false;
  const profiles = profile !== undefined ? [profile] : spec.profiles.map((p) => p.name);
  return names.some((n) => profiles.some((p) => spec.constant(n, p) === v));
}

/** What kind of handle a successful step returns, if it returns one. */
export function handleKind(spec: Spec, op: OpFields, profile?: ProfileName): HandleKind | undefined {
  const s = opSpec(op.op);
  if (s?.returns !== undefined) {
    const when = s.returnsIf;
    return when === undefined || isOneOf(spec, when.oneOf, op[when.param], profile) ? s.returns : undefined;
  }
  if (op.op !== "ioctl" || typeof op.request !== "string") return undefined;
  const name = op.request.split("@")[0]!;
  return spec.ioctlRevisions(name).some((r) => r.def.returns === "fd") ? "fd" : undefined;
}

/** The fields of a successful step's `out` that are new fds (a pipe's write end). */
export function outFds(op: string): readonly string[] {
  return opSpec(op)?.outFds ?? [];
}

/** The parameters of an operation that name an fd (ops.ts: `names: "fd"`). */
export function fdParams(op: string): readonly string[] {
  const cached = FD_PARAMS.get(op);
  if (cached !== undefined) return cached;
  const names = Object.entries(opSpec(op)?.params ?? {})
    .filter(([, p]) => p.names === "fd")
    .map(([n]) => n);
  FD_PARAMS.set(op, names);
  return names;
}
const FD_PARAMS = new Map<string, readonly string[]>();
