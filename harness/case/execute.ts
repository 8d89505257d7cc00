// Run one case on a driver session: evaluate each step's arguments, call the
// driver, check the result against the step's expectation, bind it. JSON cases and
// scenario cases share the scope, the trace and the verdict.
import type { Spec } from "../../spec/index.js";
import { inProfileSet } from "../../spec/profiles.js";
import { DriverFailure, type Driver, type FieldValues, type Handshake, type Op, type OpResult, type OutValue } from "../../spec/driver/contract.js";
import { OPS, type ParamSpec } from "../../spec/driver/ops.js";
import { opToWire, resultToWire } from "../protocol/wire.js";
import { ExprError, evalValue, type Scope } from "./expr.js";
import { describe, mismatches } from "./match.js";
import type { ByteSpec, CaseDef, Expect, Outcome, ParamValue, StepDef } from "./types.js";
import { AssertionStop, SkipCase, type TestContext } from "../scenario/index.js";
import { batchLimit, refValue, withValueAt, type BatchExpect, type BatchRef, type BatchStep } from "../../spec/driver/batch.js";
import { offeredOperations } from "../../spec/driver/contract.js";

export type Verdict = { outcome: "PASS" | "FAIL" | "SKIP"; message?: string };

export interface TraceEntry {
  step: string;
  op: Record<string, unknown>;
  result: Record<string, unknown>;
}

/** Thrown when a case cannot be evaluated (a bad expression at run time): ERROR, not FAIL. */
export class CaseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaseError";
  }
}

const MAX_BYTES = 1 << 20;

/** A step's arguments need a result of the batch being planned: the batch ends before it. */
class NeedsRunner extends Error {}

/** A reference ("$name" or "$name.field"), plus or minus an offset: the only expressions a batch can carry. */
const REF_PLUS = /^\s*\$([a-z_][a-z0-9_]*)(?:\.([a-z_][a-z0-9_]*))?\s*(?:([-+])(.*))?$/;

/** An offset that binds tighter than the + or - before it: no operator but * / % outside parentheses. */
function isTerm(src: string): boolean {
  let depth = 0;
  let outside = "";
  for (const ch of src) {
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (depth === 0) outside += ch;
    if (depth < 0) return false;
  }
  return depth === 0 && /^[A-Za-z0-9_\s*/%]*$/.test(outside) && /\S/.test(src);
}

/** Each operation's parameters as buildOp walks them, listed once. */
const params = new Map<string, [string, ParamSpec][]>();
function paramsOf(op: StepDef["op"]): [string, ParamSpec][] {
  let list = params.get(op);
  if (list === undefined) params.set(op, (list = Object.entries(OPS[op].params) as [string, ParamSpec][]));
  return list;
}

interface Planned {
  step: StepDef;
  outcome: Outcome;
  batch: BatchStep;
}

export class CaseRun implements Scope {
  readonly trace: TraceEntry[] = [];
  private readonly bindings = new Map<string, OpResult>();
  private readonly constants: ReadonlyMap<string, bigint>;
  private readonly pageSize: bigint;
  private resolving = new Set<string>();
  /** while a batch is planned: bindings its earlier steps will make (index, and whether the step must succeed) */
  private readonly pending = new Map<string, { index: number; succeeds: boolean }>();

  constructor(
    spec: Spec,
    private readonly hs: Handshake,
    private readonly c: CaseDef,
    private readonly driver: Driver,
    /** record each operation and result (agreement reports); off on the hot path */
    private readonly recordTrace = false,
  ) {
    this.constants = spec.constantsFor(hs.profile);
    this.pageSize = BigInt(hs.host.pageSize);
  }

  name(n: string): bigint | undefined {
    const p = this.c.params[n];
    if (p !== undefined) {
      if (this.resolving.has(n)) throw new ExprError(`parameter ${n} refers to itself`);
      this.resolving.add(n);
      try {
        return evalValue(p, this);
      } finally {
        this.resolving.delete(n);
      }
    }
    if (n === "PAGE_SIZE") return this.pageSize;
    return this.constants.get(n);
  }

  ref(path: string[]): bigint | undefined {
    if (this.pending.has(path[0]!)) throw new NeedsRunner();
    const r = this.bindings.get(path[0]!);
    if (!r) return undefined;
    if (path.length === 1) return r.ret;
    let v: OutValue | undefined = path[1] === "exit" ? (r.exit as unknown as OutValue) : r.out?.[path[1]!];
    for (const key of path.slice(2)) {
      if (typeof v !== "object" || v === null || v instanceof Uint8Array || Array.isArray(v)) return undefined;
      v = (v as Record<string, OutValue>)[key];
    }
    return typeof v === "bigint" ? v : undefined;
  }

  interpolate = (s: string): string =>
    // most strings (errno names, exit reasons) hold no ${...} at all
    !s.includes("${") ? s : s.replace(/\$\{([a-z_][a-z0-9_]*)\}/g, (_m, n: string) => {
      const v = this.c.params[n];
      if (v === undefined) throw new CaseError(`\${${n}} is not a parameter of this case`);
      return String(v);
    })
      // ${$binding}: a value bound by an earlier step, e.g. "/proc/self/fd/${$mfd}"
      .replace(/\$\{(\$[a-z_][a-z0-9_.]*)\}/g, (_m, b: string) => String(this.value(b)));

  value(v: ParamValue): bigint {
    try {
      return evalValue(v, this);
    } catch (err) {
      if (err instanceof ExprError) throw new CaseError(err.message);
      throw err;
    }
  }

  /** Record an operation and its result in the trace (used for agreement reports). */
  async call(op: Op, origin: string): Promise<OpResult> {
    const result = await this.driver.call(op);
    if (this.recordTrace) this.trace.push({ step: origin, op: opToWire(op), result: resultToWire(result) });
    return result;
  }

  private bytes(spec: ByteSpec): Uint8Array {
    if ("hex" in spec) return new Uint8Array(Buffer.from(spec.hex, "hex"));
    const len = Number(this.value(spec.len));
    if (len < 0 || len > MAX_BYTES) throw new CaseError(`byte length ${len} is out of range`);
    return new Uint8Array(len).fill(Number(this.value(spec.fill) & 0xffn));
  }

  private fields(v: unknown): FieldValues {
    const out: FieldValues = {};
    const src = v as Record<string, unknown>;
    for (const k of Object.keys(src)) {
      // a key named __proto__ is kept as a field, as Object.fromEntries would keep it
      if (k === "__proto__") Object.defineProperty(out, k, { value: this.field(src[k]), enumerable: true, writable: true, configurable: true });
      else out[k] = this.field(src[k]);
    }
    return out;
  }

  private field(x: unknown): FieldValues[string] {
    if (Array.isArray(x)) return x.map((y) => this.field(y));
    if (typeof x === "object" && x !== null) return this.fields(x);
    return this.value(x as ParamValue);
  }

  private arg(p: ParamSpec, v: unknown): unknown {
    switch (p.kind) {
      case "int": return this.value(v as ParamValue);
      case "string":
      case "enum": return this.interpolate(v as string);
      case "bool": return typeof v === "boolean" ? v : Boolean(this.c.params[(v as string).slice(2, -1)]);
      case "bytes": return this.bytes(v as ByteSpec);
      case "int-list": return (v as ParamValue[]).map((x) => this.value(x));
      case "int-or-fields": return typeof v === "object" && v !== null ? this.fields(v) : this.value(v as ParamValue);
      case "records": return (v as Record<string, unknown>[]).map((r) => Object.fromEntries(Object.entries(r).map(([k, x]) => [k, this.arg(p.fields![k]!, x)])));
    }
  }

  /** refs: while a batch is planned, integer parameters that name a pending result (a placeholder 0 stays in the op) */
  buildOp(step: StepDef, refs?: Record<string, BatchRef>): Op {
    const op: Record<string, unknown> = { op: step.op };
    if (step.args.process !== undefined) op.process = this.value(step.args.process as ParamValue);
    for (const [name, p] of paramsOf(step.op)) {
      const v = step.args[name];
      if (v === undefined) continue;
      const ref = refs !== undefined && p.kind === "int" ? this.pendingRef(v) : undefined;
      if (ref !== undefined) {
        refs![name] = ref;
        op[name] = 0n;
      } else if (refs !== undefined && p.kind === "int-or-fields" && typeof v === "object" && v !== null) op[name] = this.fieldsWithRefs(v as Record<string, unknown>, name, refs);
      else op[name] = this.arg(p, v);
    }
    return op as unknown as Op;
  }

  /** A struct argument while a batch is planned: its integer fields may name pending results. */
  private fieldsWithRefs(v: Record<string, unknown>, path: string, refs: Record<string, BatchRef>): FieldValues {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => {
        if (typeof x === "object" && x !== null && !Array.isArray(x)) return [k, this.fieldsWithRefs(x as Record<string, unknown>, `${path}.${k}`, refs)];
        const ref = Array.isArray(x) ? undefined : this.pendingRef(x);
        if (ref === undefined) return [k, this.fields({ [k]: x })[k]!];
        refs[`${path}.${k}`] = ref;
        return [k, 0n];
      }),
    );
  }

  /** A plain reference to a pending result of a step that must succeed, as a batch reference. */
  private pendingRef(v: unknown): BatchRef | undefined {
    const m = typeof v === "string" ? REF_PLUS.exec(v) : null;
    const target = m ? this.pending.get(m[1]!) : undefined;
    if (!m || target === undefined) return undefined;
    // an exit field, an offset that is not one term, or a step that may fail (its ret -1 is bound) needs the runner
    if (m[2] === "exit" || !target.succeeds || (m[3] !== undefined && !isTerm(m[4]!))) throw new NeedsRunner();
    const add = m[3] === undefined ? undefined : m[3] === "-" ? -this.value(m[4]!) : this.value(m[4]!);
    return { ref: target.index, field: m[2] === undefined ? "ret" : `out.${m[2]}`, ...(add !== undefined ? { add } : {}) };
  }

  /** The outcome that applies in this profile, or undefined when the case says nothing for it. */
  resolveExpect(e: Expect | undefined): Outcome | undefined {
    if (e === undefined) return {};
    if ("byProfile" in e) {
      const key = Object.keys(e.byProfile).find((set) => inProfileSet(set, this.hs.profile));
      return key === undefined ? undefined : e.byProfile[key];
    }
    if ("if" in e) return this.resolveExpect(this.value(e.if) !== 0n ? e.then : e.else);
    return e;
  }

  async runSteps(): Promise<Verdict> {
    const steps = this.c.steps ?? [];
    const limit = this.driver.batch !== undefined ? batchLimit(this.hs) : 0;
    for (let i = 0; i < steps.length; i++) {
      // Steps that need nothing of the runner in between go to the driver together (contract 1.4).
      const plan = limit > 1 ? this.planBatch(steps, i, limit) : [];
      // the last step alone goes as a batch too: the reset that follows rides in its reply
      if (plan.length > 1 || (plan.length === 1 && i + 1 === steps.length)) {
        // a batch that ends the case may reset the session after its last step (the runner resets next anyway)
        const reply = await this.driver.batch!(plan.map((p) => p.batch), i + plan.length === steps.length);
        for (let k = 0; k < reply.results.length; k++) {
          const { step, outcome, batch } = plan[k]!;
          let op = batch.op;
          for (const [path, r] of Object.entries(batch.refs ?? {})) op = withValueAt(op, path, refValue(reply.results, r)!);
          const v = this.check(i + k, step, outcome, op, reply.results[k]!);
          if (v !== undefined) return v;
        }
        // the step after the last result failed as a single call would have
        if (reply.error !== undefined) throw reply.thrown ?? new DriverFailure(reply.error.kind, reply.error.message);
        i += reply.results.length;
        if (i >= steps.length) break;
      }
      // one step on its own: the runner is needed before it, or the batch stopped before it
      const step = steps[i]!;
      const outcome = this.resolveExpect(step.expect);
      if (outcome === undefined) return { outcome: "SKIP", message: `the case states no expectation for profile ${this.hs.profile}` };
      const op = this.buildOp(step);
      const v = this.check(i, step, outcome, op, await this.driver.call(op));
      if (v !== undefined) return v;
    }
    return { outcome: "PASS" };
  }

  /** Check one step's result as the case states it, record and bind it; a FAIL verdict when it does not match. */
  private check(i: number, step: StepDef, outcome: Outcome, op: Op, r: OpResult): Verdict | undefined {
    if (this.recordTrace) this.trace.push({ step: step.origin, op: opToWire(op), result: resultToWire(r) });
    const bad = mismatches(r, outcome, this, this.interpolate);
    if (bad.length > 0) {
      const what = step.op === "ioctl" ? `ioctl ${String((op as { request: string }).request)}` : step.op;
      const setup = step.expect === undefined ? " (a step that must succeed)" : "";
      return { outcome: "FAIL", message: `step ${i + 1} ${what}${setup} at ${step.origin}: ${bad.join("; ")}` };
    }
    if (step.as !== undefined) this.bindings.set(step.as, r);
    return undefined;
  }

  /**
   * The steps from `from` on that can run as one batch: it ends before a step whose
   * arguments or expectation need a pending result other than as a plain reference,
   * that cannot be evaluated yet (it is then evaluated, and reported, in order), or
   * whose operation the driver does not offer.
   */
  private planBatch(steps: readonly StepDef[], from: number, limit: number): Planned[] {
    const plan: Planned[] = [];
    const offered = offeredOperations(this.hs);
    try {
      for (let i = from; i < steps.length && plan.length < limit; i++) {
        const step = steps[i]!;
        if (!offered.has(step.op)) break;
        let planned: Planned;
        try {
          const outcome = this.resolveExpect(step.expect);
          if (outcome === undefined) break;
          const refs: Record<string, BatchRef> = {};
          const op = this.buildOp(step, refs);
          const expect: BatchExpect = outcome.signal !== undefined ? { signal: this.interpolate(outcome.signal) } : outcome.errno !== undefined ? { errno: (Array.isArray(outcome.errno) ? outcome.errno : [outcome.errno]).map(this.interpolate) } : {};
          if (outcome.exit !== undefined) expect.exit = this.interpolate(outcome.exit.reason);
          planned = { step, outcome, batch: { op, ...(Object.keys(refs).length > 0 ? { refs } : {}), expect } };
        } catch {
          break; // NeedsRunner, or an error the step reports itself when it is run in order
        }
        plan.push(planned);
        if (step.as !== undefined) this.pending.set(step.as, { index: plan.length - 1, succeeds: planned.batch.expect.errno === undefined && planned.batch.expect.signal === undefined });
      }
    } finally {
      this.pending.clear();
    }
    return plan;
  }

  async runScenario(): Promise<Verdict> {
    const body = this.c.scenario!;
    const failures: string[] = [];
    const logs: string[] = [];
    const t = this.context(failures, logs);
    let self: unknown;
    let setupDone = false;
    try {
      if (body.fixture) {
        self = await body.fixture.setup(t);
        setupDone = true;
      }
      await body.run(t, self, this.c.params);
    } catch (err) {
      if (err instanceof SkipCase) return { outcome: "SKIP", message: err.reason };
      if (err instanceof AssertionStop) failures.push(err.message);
      else throw err;
    } finally {
      if (setupDone && body.fixture?.teardown) {
        try {
          await body.fixture.teardown(t, self);
        } catch (err) {
          if (err instanceof AssertionStop) failures.push(`teardown: ${err.message}`);
          else throw err;
        }
      }
    }
    if (failures.length === 0) return { outcome: "PASS" };
    // What the scenario logged before it failed explains the failure.
    const tail = logs.slice(-5);
    return { outcome: "FAIL", message: failures.join("; ") + (tail.length ? ` (log: ${tail.join("; ")})` : "") };
  }

  private context(failures: string[], logs: string[]): TestContext {
    const run = this;
    const eq = (a: unknown, b: unknown) => (typeof a === "bigint" || typeof b === "bigint" ? BigInt(a as bigint) === BigInt(b as bigint) : JSON.stringify(a) === JSON.stringify(b));
    const okProblem = (r: OpResult, what: string) => (r.errno !== undefined || r.signal !== undefined ? `${what}: expected success, got ${describe(r)}` : undefined);
    const errnoProblem = (r: OpResult, errno: string | string[], what: string) => {
      const want = Array.isArray(errno) ? errno : [errno];
      return r.errno !== undefined && want.includes(r.errno) && r.signal === undefined ? undefined : `${what}: expected errno ${want.join(" or ")}, got ${describe(r)}`;
    };
    const stop = (p: string | undefined) => {
      if (p !== undefined) throw new AssertionStop(p);
    };
    const note = (p: string | undefined) => {
      if (p !== undefined) failures.push(p);
    };
    const show = (v: unknown) => (typeof v === "bigint" ? v.toString() : JSON.stringify(v));
    return {
      profile: this.hs.profile,
      pageSize: this.pageSize,
      features: this.hs.features,
      c(name: string): bigint {
        const v = run.constants.get(name);
        if (v === undefined) throw new CaseError(`${name} is not defined in profile ${run.hs.profile}`);
        return v;
      },
      value: (expr: string) => run.value(expr),
      call: (op: Op) => run.call(op, `${run.c.file}${run.c.pointer}`),
      log: (message: string) => void logs.push(message),
      skip(reason: string): never {
        throw new SkipCase(reason);
      },
      ASSERT(cond: boolean, message: string): void {
        if (!cond) throw new AssertionStop(message);
      },
      ASSERT_EQ: (a, b, m) => stop(eq(a, b) ? undefined : `${m}: expected ${show(b)}, got ${show(a)}`),
      ASSERT_OK: (r, w) => stop(okProblem(r, w)),
      ASSERT_ERRNO: (r, e, w) => stop(errnoProblem(r, e, w)),
      EXPECT: (cond, m) => note(cond ? undefined : m),
      EXPECT_EQ: (a, b, m) => note(eq(a, b) ? undefined : `${m}: expected ${show(b)}, got ${show(a)}`),
      EXPECT_OK: (r, w) => note(okProblem(r, w)),
      EXPECT_ERRNO: (r, e, w) => note(errnoProblem(r, e, w)),
    };
  }
}
