// The runner: plan the selected cases against a driver's handshake (profile,
// features), run each in a fresh session with a timeout, survive drivers that
// crash, hang or lie, apply expectations, and stream results to the reporters.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import type { Spec } from "../../spec/index.js";
import { expandProfileSet } from "../../spec/profiles.js";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { DriverUnavailable, offeredOperations, type Driver, type Handshake } from "../../spec/driver/contract.js";
import { gateOperations, OperationAbsent } from "../protocol/operations.js";
import { CaseRun, type TraceEntry, type Verdict } from "../case/execute.js";
import { compileFilters } from "../case/query.js";
import type { CaseDef } from "../case/types.js";
import { Expectations, type MatchedExpectation } from "./expectations.js";
import { emptySummary, EXIT_FAILED, EXIT_OK, isBad, type OutcomeName } from "./outcomes.js";
import { mulberry32 } from "./random.js";
import { DriverSession, type CaseVerdict } from "./driver-session.js";

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
  /** suiteRevision(suiteFiles), when the caller has it already (the configurations of one --matrix run share it) */
  suiteRevision?: string;
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
  return `${gitHead()}suites-sha256:${h.digest("hex").slice(0, 16)}`;
}

let head: string | undefined;
/** The checkout's commit and a space, or "" outside git: asked once per process (a child process per run cost 0.1 s of a 0.5 s run). */
function gitHead(): string {
  if (head !== undefined) return head;
  head = "";
  try {
    head = execFileSync("git", ["-C", PROJECT_ROOT, "rev-parse", "--short=12", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() + " ";
  } catch {
    /* not a git checkout */
  }
  return head;
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
  let absent: string[] | undefined;
  for (const s of c.steps ?? []) if (!offered.has(s.op) && !(absent ??= []).includes(s.op)) absent.push(s.op);
  if (absent !== undefined) return `needs operation${absent.length > 1 ? "s" : ""} ${absent.join(", ")}, the driver does not offer ${absent.length > 1 ? "them" : "it"}`;
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
  const info = runInfo(opts, hs, startedAt, unavailable);
  const ordered = orderCases(spec, selected, opts.seed);
  const plan = unavailable === undefined ? ordered.map(({ c, area }) => ({ id: c.id, area })) : [];
  for (const r of opts.reporters) r.begin?.(info, plan);
  const results: CaseResult[] = [];
  const summary = emptySummary();
  if (unavailable !== undefined) {
    for (const r of opts.reporters) await r.end?.(info, results, summary);
    return { info, results, summary, exitCode: EXIT_OK, unusedExpectations: [] };
  }

  // quoted once: only the case id differs between two cases' repro commands
  const reproBase = ["npx", "privmem-cts", "run", "--driver", opts.driver.label, ...opts.driver.reproArgs, "--filter"].map(shellQuote).join(" ");
  const session = new DriverSession(opts.driver, driver, { timeoutMs: opts.timeoutMs, breakAfter: opts.breakAfter ?? DEFAULT_BREAK_AFTER, signal: opts.signal, runCase });
  const onAbort = () => session.abort("the run was interrupted");
  opts.signal?.addEventListener("abort", onAbort);
  try {
    for (const { c, area } of ordered) {
      if (opts.signal?.aborted) break;
      const start = performance.now();
      let trace: TraceEntry[] | undefined;
      const reason = skipReason(spec, c, hs);
      const verdict: CaseVerdict =
        reason !== undefined
          ? { outcome: "SKIP", message: reason }
          : session.broken !== undefined
            ? { outcome: "ERROR", message: `not run: ${session.broken}` }
            : await session.run(spec, c, opts.keepTrace ? (t) => (trace = t) : undefined);
      // The case in flight when the run is interrupted is left out, not blamed.
      if (opts.signal?.aborted) break;
      const result = caseResult(c, area, verdict, expectations.classify(c.id, verdict.outcome, hs.host.kernel), performance.now() - start, reproBase, opts.keepTrace ? trace : undefined);
      summary[result.outcome]++;
      results.push(result);
      for (const r of opts.reporters) r.caseDone?.(result);
    }
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    // Whatever happened above, the driver goes and the final reports are written for the finished cases.
    await session.close();
    if (session.broken !== undefined) info.circuitBroken = session.broken;
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

function runInfo(opts: RunOptions, hs: Handshake, startedAt: string, unavailable: string | undefined): RunInfo {
  return {
    driver: opts.driver.label,
    driverName: hs.name,
    driverVersion: hs.version,
    contractVersion: hs.contractVersion,
    // An unavailable driver never said which profile it would run.
    profile: unavailable === undefined ? hs.profile : "-",
    features: hs.features,
    host: hs.host,
    suiteRevision: opts.suiteRevision ?? suiteRevision(opts.suiteFiles),
    seed: opts.seed ?? null,
    filters: opts.filters,
    expectations: opts.expectations.file ?? null,
    startedAt,
    ...(unavailable !== undefined ? { skippedRun: unavailable } : {}),
  };
}

/** Areas in spec order, cases in file order within an area, shuffled within the area when seeded. */
function orderCases(spec: Spec, selected: CaseDef[], seed: number | undefined): { c: CaseDef; area: string }[] {
  const areaOrder = new Map(spec.areas.map((a, i) => [a.area, i]));
  const withArea = selected.map((c, i) => ({ c, area: caseArea(spec, c), i }));
  if (seed !== undefined) {
    const rnd = mulberry32(seed);
    for (let i = withArea.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [withArea[i], withArea[j]] = [withArea[j]!, withArea[i]!];
    }
    withArea.forEach((x, i) => (x.i = i));
  }
  return withArea.sort((a, b) => (areaOrder.get(a.area) ?? 999) - (areaOrder.get(b.area) ?? 999) || a.i - b.i);
}

/** A case's result: its verdict as the expectations file classifies it, with a command that repeats it. */
function caseResult(c: CaseDef, area: string, verdict: CaseVerdict, applied: ReturnType<Expectations["classify"]>, ms: number, reproBase: string, trace: TraceEntry[] | undefined): CaseResult {
  const message = [verdict.message, applied.note].filter((m) => m !== undefined).join(" — ");
  return {
    id: c.id,
    kind: c.kind,
    outcome: applied.outcome,
    expected: applied.expected,
    area,
    clauses: c.clauses,
    durationMs: Math.round(ms * 1000) / 1000,
    ...(message ? { message } : {}),
    ...(applied.outcome !== verdict.outcome ? { actual: { outcome: verdict.outcome, ...(verdict.message ? { message: verdict.message } : {}) } } : {}),
    repro: `${reproBase} ${shellQuote(`=${c.id}`)}`,
    ...(trace ? { trace } : {}),
  };
}
