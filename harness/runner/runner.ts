// The runner: plan the selected cases against a driver's handshake (profile,
// features), run each in a fresh session with a timeout, survive drivers that
// crash, hang or lie, apply expectations, and stream results to the reporters.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import type { Spec } from "../../spec/index.js";
import { expandProfileSet } from "../../spec/profiles.js";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { DriverFailure, DriverUnavailable, offeredOperations, type Driver, type Handshake } from "../../spec/driver/contract.js";
import { gateOperations, OperationAbsent } from "../protocol/operations.js";
import { CaseError, CaseRun, type TraceEntry, type Verdict } from "../case/execute.js";
import { compileFilters } from "../case/query.js";
import type { CaseDef } from "../case/types.js";
import { Expectations, type MatchedExpectation } from "./expectations.js";
import { emptySummary, EXIT_FAILED, EXIT_OK, isBad, type OutcomeName } from "./outcomes.js";
import { mulberry32 } from "./random.js";

/** The driver did not start (it is there, but broken): nothing can run. */
export class DriverStartError extends Error {
  constructor(
    readonly driver: string,
    cause: unknown,
  ) {
    super(`driver ${driver} could not start: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "DriverStartError";
  }
}

export interface DriverChoice {
  /** as given on the command line, e.g. "reference" or "remote:./my-driver --fast" */
  label: string;
  /** extra words for a repro command (--profile, --host) */
  reproArgs: string[];
  open(): Promise<Driver>;
}

export interface RunInfo {
  driver: string;
  driverName: string;
  driverVersion: string;
  contractVersion: string;
  profile: string;
  features: string[];
  host: Handshake["host"];
  suiteRevision: string;
  seed: number | null;
  filters: string[];
  expectations: string | null;
  startedAt: string;
  skippedRun?: string;
  /** why the remaining cases were not run (the circuit breaker tripped) */
  circuitBroken?: string;
  /** the run was stopped by SIGINT or SIGTERM before every case ran */
  interrupted?: boolean;
}

export interface CaseResult {
  id: string;
  /** JSON step list, or TypeScript scenario (whose steps may adapt to what it observes) */
  kind: CaseDef["kind"];
  outcome: OutcomeName;
  /** what the expectations file said (PASS when it says nothing) */
  expected: string;
  area: string;
  clauses: string[];
  durationMs: number;
  message?: string;
  /** the verdict before the expectations file turned it into XFAIL or XPASS */
  actual?: { outcome: OutcomeName; message?: string };
  repro: string;
  trace?: TraceEntry[];
}

export interface Reporter {
  begin?(info: RunInfo, plan: { id: string; area: string }[]): void;
  caseDone?(r: CaseResult): void;
  end?(info: RunInfo, results: CaseResult[], summary: Record<OutcomeName, number>): void | Promise<void>;
}

export interface RunOptions {
  spec: Spec;
  cases: CaseDef[];
  driver: DriverChoice;
  filters: string[];
  timeoutMs: number;
  expectations: Expectations;
  seed?: number;
  reporters: Reporter[];
  /** keep each case's operation trace in its result (agreement reports) */
  keepTrace?: boolean;
  suiteFiles: string[];
  /** consecutive driver failures at start or reset after which the remaining cases are not run (default 3) */
  breakAfter?: number;
  /** stop early (SIGINT, SIGTERM): the cases not run yet are left out, the reports are written */
  signal?: AbortSignal;
}

export const DEFAULT_BREAK_AFTER = 3;

export interface RunOutcome {
  info: RunInfo;
  results: CaseResult[];
  summary: Record<OutcomeName, number>;
  exitCode: number;
  /** expectation entries no case of this run matched */
  unusedExpectations: MatchedExpectation[];
}


export function suiteRevision(files: string[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort()) {
    h.update(f);
    try {
      h.update(readFileSync(f.startsWith("/") ? f : `${PROJECT_ROOT}/${f}`));
    } catch {
      /* a vanished file still changes the hash through its name */
    }
  }
  let git = "";
  try {
    git = execFileSync("git", ["-C", PROJECT_ROOT, "rev-parse", "--short=12", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() + " ";
  } catch {
    /* not a git checkout */
  }
  return `${git}suites-sha256:${h.digest("hex").slice(0, 16)}`;
}

/** The area a case reports under: the area of its first clause. */
export function caseArea(spec: Spec, c: CaseDef): string {
  return spec.clauseById.get(c.clauses[0]!)?.area ?? "UNKNOWN";
}

const featureSets = new WeakMap<Handshake, Set<string>>();
function featureSet(hs: Handshake): Set<string> {
  let set = featureSets.get(hs);
  if (!set) featureSets.set(hs, (set = new Set(hs.features)));
  return set;
}

/** Why a case does not apply to this driver, or undefined if it does. */
export function skipReason(spec: Spec, c: CaseDef, hs: Handshake): string | undefined {
  const profile = hs.profile;
  if (c.arch !== hs.host.arch) return `the case is written for ${c.arch}, the driver runs on ${hs.host.arch}`;
  if (c.profiles !== undefined) {
    if (!expandProfileSet(c.profiles).includes(profile)) return `the case is for profiles ${c.profiles}, the driver runs ${profile}`;
  } else {
    for (const id of c.clauses) {
      const clause = spec.clauseById.get(id);
      if (clause && spec.clauseVariant(clause, profile) === undefined) return `${id} does not exist in profile ${profile} (${Object.keys(clause.profiles).join(", ")})`;
    }
  }
  const features = featureSet(hs);
  for (const r of c.requires) {
    if (r.startsWith("!")) {
      if (features.has(r.slice(1))) return `needs ${r.slice(1)} to be absent, the driver has it`;
    } else if (!features.has(r)) return `needs feature ${r}, the driver does not offer it`;
  }
  // A step list (fixture steps included) names its operations; a scenario is skipped when it calls one (runCase).
  const offered = offeredOperations(hs);
  const absent = [...new Set((c.steps ?? []).map((s) => s.op))].filter((op) => !offered.has(op));
  if (absent.length > 0) return `needs operation${absent.length > 1 ? "s" : ""} ${absent.join(", ")}, the driver does not offer ${absent.length > 1 ? "them" : "it"}`;
  return undefined;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Run one applicable case on a driver session (the caller handles skips, timeouts and reset). */
export async function runCase(spec: Spec, c: CaseDef, driver: Driver, trace?: (t: TraceEntry[]) => void): Promise<Verdict> {
  const caseRun = new CaseRun(spec, driver.handshake, c, gateOperations(driver), trace !== undefined);
  trace?.(caseRun.trace);
  try {
    return await (c.kind === "steps" ? caseRun.runSteps() : caseRun.runScenario());
  } catch (err) {
    // a scenario's teardown that calls an absent operation ends here
    if (err instanceof OperationAbsent) return { outcome: "SKIP", message: err.reason };
    throw err;
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new DriverFailure("timeout", `the case did not finish within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

export async function run(opts: RunOptions): Promise<RunOutcome> {
  const { spec, expectations } = opts;
  const select = compileFilters(opts.filters);
  const selected = opts.cases.filter((c) => select(c.id));
  const startedAt = new Date().toISOString();

  let driver: Driver | undefined;
  let unavailable: string | undefined;
  try {
    driver = await opts.driver.open();
  } catch (err) {
    if (err instanceof DriverUnavailable) unavailable = err.reason;
    else throw new DriverStartError(opts.driver.label, err);
  }
  const hs: Handshake = driver?.handshake ?? { contractVersion: "-", name: opts.driver.label, version: "-", profile: "linux-6.18", features: [], host: { kernel: "-", arch: "-", pageSize: 0 } };
  const info: RunInfo = {
    driver: opts.driver.label,
    driverName: hs.name,
    driverVersion: hs.version,
    contractVersion: hs.contractVersion,
    // An unavailable driver never said which profile it would run.
    profile: unavailable === undefined ? hs.profile : "-",
    features: hs.features,
    host: hs.host,
    suiteRevision: suiteRevision(opts.suiteFiles),
    seed: opts.seed ?? null,
    filters: opts.filters,
    expectations: expectations.file ?? null,
    startedAt,
    ...(unavailable !== undefined ? { skippedRun: unavailable } : {}),
  };

  // Order: areas in spec order, cases in file order within an area, shuffled within the area when seeded.
  const areaOrder = new Map(spec.areas.map((a, i) => [a.area, i]));
  const withArea = selected.map((c, i) => ({ c, area: caseArea(spec, c), i }));
  if (opts.seed !== undefined) {
    const rnd = mulberry32(opts.seed);
    for (let i = withArea.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [withArea[i], withArea[j]] = [withArea[j]!, withArea[i]!];
    }
    withArea.forEach((x, i) => (x.i = i));
  }
  withArea.sort((a, b) => (areaOrder.get(a.area) ?? 999) - (areaOrder.get(b.area) ?? 999) || a.i - b.i);

  const plan = unavailable === undefined ? withArea.map(({ c, area }) => ({ id: c.id, area })) : [];
  for (const r of opts.reporters) r.begin?.(info, plan);
  const results: CaseResult[] = [];
  const summary = emptySummary();
  if (unavailable !== undefined) {
    for (const r of opts.reporters) await r.end?.(info, results, summary);
    return { info, results, summary, exitCode: EXIT_OK, unusedExpectations: [] };
  }

  const reproBase = ["npx", "privmem-cts", "run", "--driver", opts.driver.label, ...opts.driver.reproArgs];
  const breakAfter = opts.breakAfter ?? DEFAULT_BREAK_AFTER;
  // The circuit breaker: consecutive failures to start or reset the driver.
  let driverFailures = 0;
  let broken: string | undefined;
  let betweenCases: string | undefined;
  /** the driver that came through the last reset (not a fresh one) */
  let throughReset: Driver | undefined;
  const onAbort = () => driver?.abort("the run was interrupted");
  opts.signal?.addEventListener("abort", onAbort);
  try {
  for (const { c, area } of withArea) {
    if (opts.signal?.aborted) break;
    const start = performance.now();
    let verdict: { outcome: OutcomeName; message?: string };
    let trace: TraceEntry[] | undefined;
    const reason = skipReason(spec, c, hs);
    if (reason !== undefined) verdict = { outcome: "SKIP", message: reason };
    else if (broken !== undefined) verdict = { outcome: "ERROR", message: `not run: ${broken}` };
    else {
      // A driver that died after the previous case's reset is replaced without blaming this case.
      const idle = driver === undefined ? undefined : idleFailure(driver);
      if (idle !== undefined) {
        driver?.abort("replaced after it failed between cases");
        driver = undefined;
        betweenCases = `the driver failed after the previous case's reset (${idle.message}) and was replaced before this case`;
      }
      // One attempt at the case: on the driver at hand, or on a fresh one.
      const attempt = async (): Promise<{ verdict: { outcome: OutcomeName; message?: string }; started: boolean; inherited: boolean; err?: unknown }> => {
        const inherited = driver !== undefined && driver === throughReset;
        let started = driver !== undefined;
        try {
          if (driver === undefined) {
            try {
              driver = await opts.driver.open();
            } catch (err) {
              if (err instanceof DriverUnavailable) throw new DriverFailure("crash", `the driver became unavailable: ${err.reason}`);
              throw err;
            }
            started = true;
          }
          const d = driver;
          const body = runCase(spec, c, d, opts.keepTrace ? (t) => (trace = t) : undefined);
          return { verdict: await withTimeout(body, c.timeoutMs ?? opts.timeoutMs, () => d.abort("case timed out")), started, inherited };
        } catch (err) {
          let v = failureVerdict(err);
          if (!started) v = { ...v, message: `the driver could not start: ${v.message ?? ""}` };
          const keepDriver = err instanceof CaseError || (err instanceof DriverFailure && (err.kind === "unsupported" || err.kind === "internal"));
          if (!keepDriver) {
            driver?.abort("replaced after a failure");
            driver = undefined;
          }
          return { verdict: v, started, inherited, err };
        }
      };
      let first = await attempt();
      // A driver that came through the previous case's reset and dies (or writes garbage) in this
      // case may have failed during that reset: the case is run again on a fresh driver, and only
      // a failure that repeats is this case's.
      if (!opts.signal?.aborted && first.inherited && first.err instanceof DriverFailure && (first.err.kind === "crash" || first.err.kind === "protocol")) {
        const again = await attempt();
        if (!again.started) first = { ...first, started: false, verdict: { ...first.verdict, message: `${first.verdict.message ?? ""}; ${again.verdict.message ?? ""}` } };
        else {
          if (again.verdict.outcome !== first.verdict.outcome)
            betweenCases = `the driver inherited from the previous case's reset failed here (${first.verdict.message ?? first.verdict.outcome}); the case was run again on a fresh driver`;
          first = again;
        }
      }
      verdict = first.verdict;
      const started = first.started;
      let failedHere = !started;
      // Clean up for the next case. A driver that cannot is replaced; the case keeps its verdict.
      if (driver !== undefined) {
        const d = driver;
        try {
          await withTimeout(d.reset(), opts.timeoutMs, () => d.abort("reset timed out"));
          // A driver that dies right after answering the reset failed during the reset: that is
          // this case's session, not the next case's.
          await new Promise((r) => setTimeout(r, 0));
          const idle = idleFailure(d);
          if (idle !== undefined) throw idle;
          throughReset = d;
        } catch (err) {
          d.abort("reset failed");
          driver = undefined;
          failedHere = true;
          verdict = { ...verdict, message: [verdict.message, `the driver could not reset after the case (${(err as Error).message}) and was replaced`].filter(Boolean).join("; ") };
        }
      }
      if (betweenCases !== undefined && started) {
        verdict = { ...verdict, message: [verdict.message, betweenCases].filter(Boolean).join("; ") };
        betweenCases = undefined;
      }
      driverFailures = failedHere ? driverFailures + 1 : 0;
      if (driverFailures >= breakAfter && broken === undefined)
        broken = `the driver failed to start or reset ${driverFailures} times in a row (last: ${verdict.message ?? verdict.outcome})`;
    }
    // The case in flight when the run is interrupted is left out, not blamed.
    if (opts.signal?.aborted) break;
    const applied = expectations.classify(c.id, verdict.outcome, hs.host.kernel);
    const message = [verdict.message, applied.note].filter((m) => m !== undefined).join(" — ");
    const result: CaseResult = {
      id: c.id,
      kind: c.kind,
      outcome: applied.outcome,
      expected: applied.expected,
      area,
      clauses: c.clauses,
      durationMs: Math.round((performance.now() - start) * 1000) / 1000,
      ...(message ? { message } : {}),
      ...(applied.outcome !== verdict.outcome ? { actual: { outcome: verdict.outcome, ...(verdict.message ? { message: verdict.message } : {}) } } : {}),
      repro: [...reproBase, "--filter", `=${c.id}`].map(shellQuote).join(" "),
      ...(opts.keepTrace && trace ? { trace } : {}),
    };
    summary[result.outcome]++;
    results.push(result);
    for (const r of opts.reporters) r.caseDone?.(result);
  }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    // Whatever happened above, the driver goes and the final reports are written for the finished cases.
    try {
      if (opts.signal?.aborted) driver?.abort("the run was interrupted");
      else await driver?.close();
    } catch {
      /* closing a broken driver is not a result */
    }
    if (broken !== undefined) info.circuitBroken = broken;
    if (opts.signal?.aborted) info.interrupted = true;
    const failures: unknown[] = [];
    for (const r of opts.reporters) {
      try {
        await r.end?.(info, results, summary);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) throw failures[0];
  }
  const exitCode = results.some((r) => isBad(r.outcome)) || opts.signal?.aborted ? EXIT_FAILED : EXIT_OK;
  return { info, results, summary, exitCode, unusedExpectations: expectations.unused() };
}

/** A child driver's failure that happened while no request was in flight. */
function idleFailure(d: Driver): DriverFailure | undefined {
  return (d as Driver & { failedIdle?: DriverFailure }).failedIdle;
}

function failureVerdict(err: unknown): { outcome: OutcomeName; message?: string } {
  if (err instanceof CaseError) return { outcome: "ERROR", message: `the case could not be evaluated: ${err.message}` };
  if (err instanceof DriverFailure) {
    const outcome: OutcomeName = err.kind === "crash" ? "CRASH" : err.kind === "timeout" ? "TIMEOUT" : "ERROR";
    return { outcome, message: `driver ${err.kind}: ${err.message}` };
  }
  return { outcome: "ERROR", message: `harness error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` };
}
