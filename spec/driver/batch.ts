// Batched calls (contract 1.4): several steps of a case in one request, run in order
// by the driver, answered with every result at once. The runner still checks each
// result exactly as it checks a single call's; the driver only stops early at the
// first step whose outcome deviates from the simple expectation the runner sent
// (success, an errno, a signal, an exit reason), so no step runs after one that the
// runner would have stopped at. Integer parameters may name an earlier result of
// the same batch ({ref, field}); anything else that needs the runner between two
// steps ends the batch (harness/case/execute.ts plans them).
import { DriverFailure, DriverUnavailable, type Op, type OpResult, type ResetReport } from "./contract.js";
import { OPS, type ParamSpec } from "./ops.js";

/** The most steps one batch may hold (a driver's handshake may state fewer). */
export const MAX_BATCH_STEPS = 64;

/** An integer parameter taken from an earlier step of the same batch: its ret, or an integer of its out. */
export interface BatchRef {
  /** index of the earlier step in the batch (0-based, smaller than the referring step's) */
  ref: number;
  /** "ret" or "out.NAME" */
  field: string;
  /** added to the value (a reference written as "$map + 2*PAGE_SIZE") */
  add?: bigint;
}

/** What the runner expects of a step, as far as the driver can tell: it stops the batch at the first step that deviates. */
export interface BatchExpect {
  /** the call fails with one of these errnos (and no signal) */
  errno?: string[];
  /** the access raises this signal */
  signal?: string;
  /** the vCPU exits with this reason */
  exit?: string;
}

export interface BatchStep {
  op: Op;
  /**
   * parameters filled from earlier results, by name ("fd") or, inside a struct
   * parameter, by dotted path ("arg.userspace_addr"); the op holds a placeholder (0) at each
   */
  refs?: Record<string, BatchRef>;
  /** absent errno and signal: the step must succeed */
  expect: BatchExpect;
}

export interface BatchReply {
  /** one result per step run, in order */
  results: OpResult[];
  /** why fewer steps ran than were sent, when no error says it */
  stopped?: string;
  /** the step after the last result failed the way a call fails (an error reply to it alone) */
  error?: { kind: "unsupported" | "protocol" | "internal" | "unavailable"; message: string };
  /**
   * the batch was sent with `reset` and every step ran: the session was then reset, as
   * a reset request would (what that reset released)
   */
  released?: ResetReport["released"];
  /** in process only (never on the wire): what that step's call threw, which the runner rethrows as a single call's */
  thrown?: unknown;
}

const FIELD = /^(ret|out\.[a-z_][a-z0-9_]*)$/;

/** Refuse a batch that could never be run as sent (before any step runs): a protocol error. */
export function batchProblems(steps: readonly BatchStep[], maxSteps = MAX_BATCH_STEPS): void {
  const fail = (m: string) => {
    throw new DriverFailure("protocol", `batch: ${m}`);
  };
  if (!Array.isArray(steps) || steps.length === 0) fail("expected a non-empty list of steps");
  if (steps.length > maxSteps) fail(`${steps.length} steps; a batch holds at most ${maxSteps}`);
  steps.forEach((s, i) => {
    for (const [param, r] of Object.entries(s.refs ?? {})) {
      const problem = refPathProblem(s.op.op, param);
      if (problem !== undefined) fail(`step ${i}: ${problem}`);
      if (!Number.isSafeInteger(r.ref) || r.ref < 0) fail(`step ${i}: ${param} refers to step ${JSON.stringify(r.ref)}, not a step index`);
      if (r.ref >= i) fail(`step ${i}: ${param} refers to step ${r.ref}, which does not run before it (a reference names an earlier step)`);
      if (typeof r.field !== "string" || !FIELD.test(r.field)) fail(`step ${i}: ${param} refers to field ${JSON.stringify(r.field)} (expected "ret" or "out.NAME")`);
      if (r.add !== undefined && typeof r.add !== "bigint") fail(`step ${i}: ${param}: add must be an integer`);
    }
  });
}

/** Why a reference cannot fill this place of an op: an integer parameter, or a field path inside an int-or-fields one. */
export function refPathProblem(op: string, path: string): string | undefined {
  const [param, ...fields] = path.split(".");
  const spec = Object.prototype.hasOwnProperty.call(OPS, op) ? (OPS[op as keyof typeof OPS].params as Record<string, ParamSpec>)[param!] : undefined;
  if (spec?.kind === "int" && fields.length === 0) return undefined;
  if (spec?.kind === "int-or-fields" && fields.length > 0 && fields.every((f) => /^[a-z_][a-z0-9_]*$/.test(f))) return undefined;
  return `${path} is not an integer parameter of ${op}, nor a field of a struct parameter, so it cannot refer to a result`;
}

/** A copy of op with value at a reference's path (objects along the path are copied, never changed in place). */
export function withValueAt<T>(op: T, path: string, value: bigint): T {
  const set = (obj: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> => {
    const copy = { ...(obj ?? {}) };
    copy[keys[0]!] = keys.length === 1 ? value : set(copy[keys[0]!] as Record<string, unknown> | undefined, keys.slice(1));
    return copy;
  };
  return set(op as Record<string, unknown>, path.split(".")) as T;
}

/** The value a reference names in the results, or undefined when that step has no such integer. */
export function refValue(results: readonly OpResult[], r: BatchRef): bigint | undefined {
  const target = results[r.ref]!;
  const v = r.field === "ret" ? target.ret : target.out?.[r.field.slice(4)];
  return typeof v === "bigint" ? v + (r.add ?? 0n) : undefined;
}

/** How a result deviates from the simple expectation, or undefined when it does not. */
export function deviation(r: OpResult, e: BatchExpect): string | undefined {
  if (e.signal !== undefined) {
    if (r.signal !== e.signal) return `expected signal ${e.signal}`;
  } else if (e.errno !== undefined) {
    if (r.signal !== undefined || r.errno === undefined || !e.errno.includes(r.errno)) return `expected errno ${e.errno.join(" or ")}`;
  } else if (r.errno !== undefined || r.signal !== undefined) return "expected success";
  if (e.exit !== undefined && r.exit?.reason !== e.exit) return `expected exit ${e.exit}`;
  return undefined;
}

/** The value a reference names, or why it names none. */
function resolve(results: readonly OpResult[], i: number, param: string, r: BatchRef): bigint | string {
  const target = results[r.ref]!;
  if (target.errno !== undefined || target.signal !== undefined)
    throw new DriverFailure("protocol", `batch: step ${i}: ${param} refers to step ${r.ref}, which failed (${target.errno ?? target.signal}); a batch refers only to steps that succeeded`);
  return refValue(results, r) ?? `step ${i}: ${param} refers to ${r.field} of step ${r.ref}, which is not an integer there`;
}

/** The kind a failed step reports, as an error reply would. */
function errorOf(err: unknown): NonNullable<BatchReply["error"]> {
  const kind = err instanceof DriverUnavailable ? "unavailable" : err instanceof DriverFailure && (err.kind === "unsupported" || err.kind === "protocol") ? err.kind : "internal";
  return { kind, message: err instanceof Error ? err.message : String(err) };
}

/**
 * Run a batch through a driver's own call, in order: what every driver that offers
 * batches does (the reference, the linux driver, the protocol server).
 */
export async function runBatch(call: (op: Op) => Promise<OpResult>, steps: readonly BatchStep[], maxSteps = MAX_BATCH_STEPS): Promise<BatchReply> {
  batchProblems(steps, maxSteps);
  const results: OpResult[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    let op = s.op;
    if (s.refs !== undefined) {
      for (const [param, r] of Object.entries(s.refs)) {
        let v: bigint | string;
        try {
          v = resolve(results, i, param, r);
        } catch (err) {
          return { results, error: errorOf(err) };
        }
        // an out field the step did not report: the runner evaluates this step itself
        if (typeof v === "string") return { results, stopped: v };
        op = withValueAt(op, param, v);
      }
    }
    let r: OpResult;
    try {
      r = await call(op);
    } catch (err) {
      return { results, error: errorOf(err), thrown: err };
    }
    results.push(r);
    const off = deviation(r, s.expect);
    if (off !== undefined && i < steps.length - 1) return { results, stopped: `step ${i} deviates: ${off}` };
  }
  return { results };
}

/**
 * How many steps the runner may send this driver in one batch: 0 (never send one) unless
 * its handshake speaks 1.4 or later and states `batch`. 1.3 drivers never see the message.
 */
export function batchLimit(hs: { contractVersion: string; batch?: { maxSteps: number } }): number {
  const [major, minor] = hs.contractVersion.split(".").map(Number) as [number, number];
  if (hs.batch === undefined || !(major > 1 || minor >= 4)) return 0;
  return Math.min(MAX_BATCH_STEPS, Math.max(0, Math.floor(hs.batch.maxSteps)));
}
