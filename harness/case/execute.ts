// Run one case on a driver session: evaluate each step's arguments, call the
// driver, check the result against the step's expectation, bind it. JSON cases and
// scenario cases share the scope, the trace and the verdict.
import type { Spec } from "../../spec/index.js";
import { inProfileSet } from "../../spec/profiles.js";
import type { Driver, FieldValues, Handshake, Op, OpResult, OutValue } from "../../spec/driver/contract.js";
import { OPS, type ParamSpec } from "../../spec/driver/ops.js";
import { opToWire, resultToWire } from "../protocol/wire.js";
import { ExprError, evalValue, type Scope } from "./expr.js";
import { describe, mismatches } from "./match.js";
import type { ByteSpec, CaseDef, Expect, Outcome, ParamValue, StepDef } from "./types.js";
import { AssertionStop, SkipCase, type TestContext } from "../scenario/index.js";

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

export class CaseRun implements Scope {
  readonly trace: TraceEntry[] = [];
  private readonly bindings = new Map<string, OpResult>();
  private readonly constants: ReadonlyMap<string, bigint>;
  private readonly pageSize: bigint;
  private resolving = new Set<string>();

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
    s.replace(/\$\{([a-z_][a-z0-9_]*)\}/g, (_m, n: string) => {
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
    const conv = (x: unknown): FieldValues[string] => {
      if (Array.isArray(x)) return x.map(conv);
      if (typeof x === "object" && x !== null) return this.fields(x);
      return this.value(x as ParamValue);
    };
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, conv(x)]));
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

  buildOp(step: StepDef): Op {
    const op: Record<string, unknown> = { op: step.op };
    if (step.args.process !== undefined) op.process = this.value(step.args.process as ParamValue);
    for (const [name, p] of Object.entries(OPS[step.op].params) as [string, ParamSpec][]) {
      const v = step.args[name];
      if (v !== undefined) op[name] = this.arg(p, v);
    }
    return op as unknown as Op;
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
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      const outcome = this.resolveExpect(step.expect);
      if (outcome === undefined) return { outcome: "SKIP", message: `the case states no expectation for profile ${this.hs.profile}` };
      const op = this.buildOp(step);
      const r = await this.call(op, step.origin);
      const bad = mismatches(r, outcome, this, this.interpolate);
      if (bad.length > 0) {
        const what = step.op === "ioctl" ? `ioctl ${String((op as { request: string }).request)}` : step.op;
        const setup = step.expect === undefined ? " (a step that must succeed)" : "";
        return { outcome: "FAIL", message: `step ${i + 1} ${what}${setup} at ${step.origin}: ${bad.join("; ")}` };
      }
      if (step.as !== undefined) this.bindings.set(step.as, r);
    }
    return { outcome: "PASS" };
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
