// The driver's lifecycle across the cases of one run: a driver is opened on demand,
// replaced after a crash, reset between cases (a driver that cannot reset is replaced,
// and the case it came from keeps its verdict), and given up on after `breakAfter`
// failures in a row to start or reset (the circuit breaker).
import type { Spec } from "../../spec/index.js";
import { DriverFailure, DriverUnavailable, type Driver } from "../../spec/driver/contract.js";
import { CaseError, type TraceEntry } from "../case/execute.js";
import type { CaseDef } from "../case/types.js";
import type { OutcomeName } from "./outcomes.js";
import type { DriverChoice } from "./runner.js";

export interface CaseVerdict {
  outcome: OutcomeName;
  message?: string;
}

type RunOne = (spec: Spec, c: CaseDef, driver: Driver, trace?: (t: TraceEntry[]) => void) => Promise<CaseVerdict>;

interface Attempt {
  verdict: CaseVerdict;
  /** a driver was there (or came up) to run the case */
  started: boolean;
  /** the driver came through the previous case's reset */
  inherited: boolean;
  err?: unknown;
}

export class DriverSession {
  /** why the remaining cases are not run (the circuit breaker tripped) */
  broken: string | undefined;
  private failuresInARow = 0;
  /** the driver that came through the last reset (not a fresh one) */
  private throughReset: Driver | undefined;
  /** a failure between cases, told with the next case that runs */
  private betweenCases: string | undefined;
  private readonly deadline = new Deadline();

  constructor(
    private readonly choice: DriverChoice,
    private driver: Driver | undefined,
    private readonly opts: { timeoutMs: number; breakAfter: number; signal?: AbortSignal; runCase: RunOne },
  ) {}

  /** Stop the driver at once (an interrupted run). */
  abort(reason: string): void {
    this.driver?.abort(reason);
  }

  /** Run one case and clean up after it; the verdict says what happened to the driver on the way. */
  async run(spec: Spec, c: CaseDef, trace?: (t: TraceEntry[]) => void): Promise<CaseVerdict> {
    // A driver that died after the previous case's reset is replaced without blaming this case.
    const idle = this.driver === undefined ? undefined : idleFailure(this.driver);
    if (idle !== undefined) {
      this.replace("replaced after it failed between cases");
      this.betweenCases = `the driver failed after the previous case's reset (${idle.message}) and was replaced before this case`;
    }
    let first = await this.attempt(spec, c, trace);
    // A driver that came through the previous case's reset and dies (or writes garbage) in this
    // case may have failed during that reset: the case is run again on a fresh driver, and only
    // a failure that repeats is this case's.
    if (!this.opts.signal?.aborted && first.inherited && first.err instanceof DriverFailure && (first.err.kind === "crash" || first.err.kind === "protocol")) {
      const again = await this.attempt(spec, c, trace);
      if (!again.started) first = { ...first, started: false, verdict: { ...first.verdict, message: `${first.verdict.message ?? ""}; ${again.verdict.message ?? ""}` } };
      else {
        if (again.verdict.outcome !== first.verdict.outcome)
          this.betweenCases = `the driver inherited from the previous case's reset failed here (${first.verdict.message ?? first.verdict.outcome}); the case was run again on a fresh driver`;
        first = again;
      }
    }
    let verdict = first.verdict;
    const resetProblem = await this.resetAfterCase();
    if (resetProblem !== undefined) verdict = withNote(verdict, `the driver could not reset after the case (${resetProblem}) and was replaced`);
    if (this.betweenCases !== undefined && first.started) {
      verdict = withNote(verdict, this.betweenCases);
      this.betweenCases = undefined;
    }
    this.failuresInARow = !first.started || resetProblem !== undefined ? this.failuresInARow + 1 : 0;
    if (this.failuresInARow >= this.opts.breakAfter && this.broken === undefined)
      this.broken = `the driver failed to start or reset ${this.failuresInARow} times in a row (last: ${verdict.message ?? verdict.outcome})`;
    return verdict;
  }

  /** Close the driver at the end of the run (abort it when the run was interrupted). */
  async close(): Promise<void> {
    this.deadline.stop();
    try {
      if (this.opts.signal?.aborted) this.driver?.abort("the run was interrupted");
      else await this.driver?.close();
    } catch {
      /* closing a broken driver is not a result */
    }
  }

  /** One attempt at the case: on the driver at hand, or on a fresh one. */
  private async attempt(spec: Spec, c: CaseDef, trace?: (t: TraceEntry[]) => void): Promise<Attempt> {
    const inherited = this.driver !== undefined && this.driver === this.throughReset;
    let started = this.driver !== undefined;
    try {
      if (this.driver === undefined) {
        this.driver = await this.openFresh();
        started = true;
      }
      const d = this.driver;
      const body = this.opts.runCase(spec, c, d, trace);
      return { verdict: await this.deadline.race(body, c.timeoutMs ?? this.opts.timeoutMs, () => d.abort("case timed out")), started, inherited };
    } catch (err) {
      let v = failureVerdict(err);
      if (!started) v = { ...v, message: `the driver could not start: ${v.message ?? ""}` };
      const keepDriver = err instanceof CaseError || (err instanceof DriverFailure && (err.kind === "unsupported" || err.kind === "internal"));
      if (!keepDriver) this.replace("replaced after a failure");
      return { verdict: v, started, inherited, err };
    }
  }

  private async openFresh(): Promise<Driver> {
    try {
      return await this.choice.open();
    } catch (err) {
      if (err instanceof DriverUnavailable) throw new DriverFailure("crash", `the driver became unavailable: ${err.reason}`);
      throw err;
    }
  }

  /** Reset the driver for the next case; a driver that cannot is replaced. Returns why it could not. */
  private async resetAfterCase(): Promise<string | undefined> {
    const d = this.driver;
    if (d === undefined) return undefined;
    try {
      await this.deadline.race(d.reset(), this.opts.timeoutMs, () => d.abort("reset timed out"));
      // A driver process that dies right after answering the reset failed during the reset:
      // that is this case's session, not the next case's. One turn of the event loop whose
      // poll does not block lets an exit or a closed stdout that has already arrived be seen
      // (a timer tick cost about 1 ms per case). An in-process driver cannot die so.
      if ("failedIdle" in d) await pollOnce();
      const idle = idleFailure(d);
      if (idle !== undefined) throw idle;
      this.throughReset = d;
      return undefined;
    } catch (err) {
      this.replace("reset failed");
      return (err as Error).message;
    }
  }

  private replace(reason: string): void {
    this.driver?.abort(reason);
    this.driver = undefined;
  }
}

function withNote(v: CaseVerdict, note: string): CaseVerdict {
  return { ...v, message: [v.message, note].filter(Boolean).join("; ") };
}

/**
 * The session's time limits: one timer for every case and reset of the run. A race sets a
 * deadline; the timer, when it fires, times out the race in flight if its deadline has passed
 * and otherwise waits for what is left. Two timers set and cleared per case cost more than the
 * reference's work on a case; a driver that answers in process never lets the timer fire at all.
 */
export class Deadline {
  private timer: NodeJS.Timeout | undefined;
  private deadline = 0;
  /** when the pending timer fires */
  private timerAt = 0;
  /** times out the race in flight (undefined between races) */
  private expire: (() => void) | undefined;

  /** p, or a timeout failure (after onTimeout) when p has not settled within ms. */
  race<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const expire = () => {
        settled = true;
        this.expire = undefined;
        onTimeout();
        reject(new DriverFailure("timeout", `the case did not finish within ${ms} ms`));
      };
      this.expire = expire;
      this.deadline = performance.now() + ms;
      // a pending timer that fires later than this race's deadline (a case with a shorter limit) is set again
      if (this.timer !== undefined && this.timerAt > this.deadline) this.stopTimer();
      if (this.timer === undefined) this.arm(ms);
      const done = () => {
        settled = true;
        if (this.expire === expire) this.expire = undefined;
      };
      p.then(
        (v) => {
          if (settled) return;
          done();
          resolve(v);
        },
        (err: unknown) => {
          if (settled) return;
          done();
          reject(err);
        },
      );
    });
  }

  /** Stop the timer (the session is over). */
  stop(): void {
    this.stopTimer();
    this.expire = undefined;
  }

  private stopTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timerAt = performance.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.expire === undefined) return;
      const left = this.deadline - performance.now();
      if (left <= 0) this.expire();
      else this.arm(Math.ceil(left));
    }, ms);
  }
}

/**
 * Resolve after the event loop has polled for I/O once more without waiting: the
 * outer setImmediate runs in this turn's check phase, the inner one after the next
 * turn's poll, which does not block while an immediate is pending.
 */
function pollOnce(): Promise<void> {
  return new Promise((r) => setImmediate(() => setImmediate(r)));
}

/** A child driver's failure that happened while no request was in flight. */
function idleFailure(d: Driver): DriverFailure | undefined {
  return d.failedIdle;
}

function failureVerdict(err: unknown): CaseVerdict {
  if (err instanceof CaseError) return { outcome: "ERROR", message: `the case could not be evaluated: ${err.message}` };
  if (err instanceof DriverFailure) {
    const outcome: OutcomeName = err.kind === "crash" ? "CRASH" : err.kind === "timeout" ? "TIMEOUT" : "ERROR";
    return { outcome, message: `driver ${err.kind}: ${err.message}` };
  }
  return { outcome: "ERROR", message: `harness error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` };
}
