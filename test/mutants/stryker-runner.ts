// StrykerJS test-runner plugin "privmem-suites" (stryker.config.mjs, mutation/README.md). A test is one
// case on one configuration of the reference matrix ("<profile>@<host> <case id>": every host model
// and profile `npm run cts` runs, more than npm test's mutant configurations), or one
// broken-model unit test of the model's invariant checks ("mocha <title>"). Everything runs in the
// worker process, so the spec and suites load once per worker, and with per-test coverage a mutant
// runs only the cases that reach its code.
//
// A mutant is killed by a case whose verdict differs from the unmutated model's (dry run), so a
// mutant that turns a pass into a skip (a feature the model stops advertising) counts, and by a
// failing unit test. This file is loaded from the project's own dist/; the model, suites and spec
// are imported from the sandbox (the worker's cwd), where Stryker's instrumented build lives.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Mocha from "mocha";
import { declareClassPlugin, PluginKind, tokens } from "@stryker-mutator/api/plugin";
import {
  DryRunStatus,
  MutantRunStatus,
  TestStatus,
  type DryRunOptions,
  type DryRunResult,
  type MutantRunOptions,
  type MutantRunResult,
  type TestResult,
  type TestRunner,
} from "@stryker-mutator/api/test-runner";
import type { MutantCoverage } from "@stryker-mutator/api/core";
import type { CaseDef } from "../../harness/case/types.js";
import type * as SuiteRun from "./suite-run.js";
import type { ProfileName } from "../../spec/profiles.js";

/** The unit tests that kill a mutant making one of the model's invariant checks too lax. */
const UNIT_TESTS = ["vm-invariants", "invariants", "gmem-invariants", "cca-invariants", "pkvm-invariants"].map((n) => `dist/test/reference-impl/${n}.test.js`);
/** Each test's verdict on the unmutated model, written by the dry run for every worker to read (in the sandbox). */
const BASELINE = ".privmem-baseline.json";
/** Coverage while a configuration's model opens or closes: every case of that configuration depends on it. */
const SETUP = "<setup>";

interface StrykerNamespace {
  activeMutant?: string;
  currentTestId?: string;
  mutantCoverage?: MutantCoverage;
  hitCount?: number;
  hitLimit?: number;
}
const ns = (): StrykerNamespace => ((globalThis as { __stryker__?: StrykerNamespace }).__stryker__ ??= {});

interface Loaded {
  spec: Parameters<typeof SuiteRun.runConfig>[0];
  cases: CaseDef[];
  files: string[];
  suiteRun: typeof SuiteRun;
  matrix: { profile: ProfileName; host: string }[];
}

interface Outcome {
  /** "mocha <title>" or "<profile>@<host> <case id>" */
  id: string;
  verdict: string;
  message?: string;
  ms: number;
}

const sandbox = (path: string) => pathToFileURL(join(process.cwd(), path)).href;

export class SuiteTestRunner implements TestRunner {
  static inject = tokens();
  private readonly baselineFile: string;
  /** the labels ("<profile>@<host>") of the configurations to run: every one of the matrix by default */
  private readonly configs: string[] | undefined;
  /** another model (tests): the sandbox's by default */
  private readonly open: SuiteRun.OpenModel | undefined;
  constructor(options: { baselineFile?: string; configs?: string[]; open?: SuiteRun.OpenModel } = {}) {
    this.baselineFile = options.baselineFile ?? BASELINE;
    this.configs = options.configs;
    this.open = options.open;
  }
  private loaded?: Promise<Loaded>;
  private mochaRuns = 0;
  /** attribute coverage to the running test (dry run only: mutant runs need none) */
  private tracking = false;

  capabilities() {
    // ES modules cannot be unloaded: Stryker starts a new worker for a static mutant.
    return { reloadEnvironment: false };
  }

  private load(): Promise<Loaded> {
    return (this.loaded ??= (async () => {
      const [{ loadSpec }, { SUITES_DIR }, { loadSuites }, suiteRun, { REFERENCE_MATRIX }] = await Promise.all([
        import(sandbox("dist/spec/index.js")) as Promise<typeof import("../../spec/index.js")>,
        import(sandbox("dist/spec/paths.js")) as Promise<typeof import("../../spec/paths.js")>,
        import(sandbox("dist/harness/case/load.js")) as Promise<typeof import("../../harness/case/load.js")>,
        import(sandbox("dist/test/mutants/suite-run.js")) as Promise<typeof SuiteRun>,
        import(sandbox("dist/harness/drivers/index.js")) as Promise<typeof import("../../harness/drivers/index.js")>,
      ]);
      const spec = loadSpec();
      const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
      return { spec, cases, files, suiteRun, matrix: REFERENCE_MATRIX };
    })());
  }

  async dryRun(options: DryRunOptions): Promise<DryRunResult> {
    try {
      delete ns().activeMutant;
      this.tracking = options.coverageAnalysis === "perTest";
      // Before the model loads: each instrumented file keeps the object its first coverage call finds.
      if (this.tracking) ns().mutantCoverage ??= { static: {}, perTest: {} };
      const outcomes = [...(await this.unitTests(undefined, false)), ...(await this.cases(undefined, false))];
      writeFileSync(this.baselineFile, JSON.stringify(Object.fromEntries(outcomes.map((o) => [o.id, o.verdict]))));
      const failed = outcomes.filter((o) => o.verdict === "FAIL" && o.id.startsWith("mocha "));
      if (failed.length > 0) return { status: DryRunStatus.Error, errorMessage: `unit tests fail on the unmutated model: ${failed.map((f) => f.id).join(", ")}` };
      const tests: TestResult[] = outcomes.map((o) => ({ id: o.id, name: `${o.id} (${o.verdict})`, timeSpentMs: o.ms, status: TestStatus.Success }));
      const coverage = ns().mutantCoverage;
      return { status: DryRunStatus.Complete, tests, ...(coverage && this.tracking ? { mutantCoverage: spreadSetup(coverage, outcomes) } : {}) };
    } catch (err) {
      return { status: DryRunStatus.Error, errorMessage: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    } finally {
      this.tracking = false;
    }
  }

  async mutantRun(options: MutantRunOptions): Promise<MutantRunResult> {
    const s = ns();
    s.activeMutant = options.activeMutant.id;
    delete s.currentTestId;
    s.hitLimit = options.hitLimit;
    s.hitCount = options.hitLimit === undefined ? undefined : 0;
    try {
      const filter = options.testFilter === undefined ? undefined : new Set(options.testFilter);
      const baseline = JSON.parse(readFileSync(this.baselineFile, "utf8")) as Record<string, string>;
      const bail = !options.disableBail;
      const outcomes = [...(await this.unitTests(filter, bail))];
      const unitKill = outcomes.find((o) => o.verdict === "FAIL");
      if (!(unitKill && bail)) outcomes.push(...(await this.cases(filter, bail, baseline)));
      if (s.hitLimit !== undefined && s.hitCount! > s.hitLimit) return { status: MutantRunStatus.Timeout, reason: `hit limit reached (${s.hitCount}/${s.hitLimit})` };
      const killers = outcomes.filter((o) => (o.id.startsWith("mocha ") ? o.verdict === "FAIL" : o.verdict !== baseline[o.id]));
      if (killers.length === 0) return { status: MutantRunStatus.Survived, nrOfTests: outcomes.length };
      const k = killers[0]!;
      const failureMessage = k.id.startsWith("mocha ") ? (k.message ?? "failed") : `${baseline[k.id]} became ${k.verdict}${k.message ? `: ${k.message}` : ""}`;
      return { status: MutantRunStatus.Killed, killedBy: killers.map((o) => o.id), failureMessage, nrOfTests: outcomes.length };
    } catch (err) {
      // The model threw out of the runner (a configuration that no longer opens): observable, so killed.
      return { status: MutantRunStatus.Killed, killedBy: [], failureMessage: err instanceof Error ? err.message : String(err), nrOfTests: 0 };
    } finally {
      delete s.activeMutant;
    }
  }

  /** The cases in `filter` (every one without it), configuration by configuration; with `bail`, until one differs from `baseline`. */
  private async cases(filter: Set<string> | undefined, bail: boolean, baseline?: Record<string, string>): Promise<Outcome[]> {
    const { spec, cases, files, suiteRun, matrix } = await this.load();
    const outcomes: Outcome[] = [];
    const stop = new AbortController();
    for (const cfg of matrix) {
      if (stop.signal.aborted) break;
      const label = suiteRun.configLabel(cfg);
      if (this.configs !== undefined && !this.configs.includes(label)) continue;
      const chosen = filter === undefined ? cases : cases.filter((c) => filter.has(`${label} ${c.id}`));
      if (chosen.length === 0) continue;
      // The runner reports no case start: the plan's order says which case runs after which.
      const track = (id: string | undefined) => {
        if (this.tracking) ns().currentTestId = id ?? `${label} ${SETUP}`;
      };
      track(undefined);
      let plan: string[] = [];
      let next = 0;
      const reporter = {
        begin(_: unknown, p: { id: string }[]) {
          plan = p.map((c) => `${label} ${c.id}`);
          track(plan[0]);
        },
        caseDone(r: { id: string; outcome: string; message?: string; durationMs: number }) {
          const id = `${label} ${r.id}`;
          outcomes.push({ id, verdict: r.outcome, ...(r.message ? { message: r.message } : {}), ms: r.durationMs });
          track(plan[++next]);
          if (bail && baseline !== undefined && baseline[id] !== r.outcome) stop.abort();
        },
      };
      try {
        await suiteRun.runConfig(spec, chosen, files, cfg, { checkInvariants: true, reporter, signal: stop.signal, ...(this.open ? { open: this.open } : {}) });
      } finally {
        delete ns().currentTestId;
      }
      // A model that no longer opens (the runner calls the driver unavailable) runs no case: each is a changed verdict.
      if (stop.signal.aborted) continue;
      const reported = new Set(outcomes.map((o) => o.id));
      for (const c of chosen) {
        const id = `${label} ${c.id}`;
        if (reported.has(id)) continue;
        outcomes.push({ id, verdict: "NOT RUN", message: "the configuration did not run this case", ms: 0 });
        if (bail && baseline !== undefined && baseline[id] !== "NOT RUN") stop.abort();
      }
    }
    return outcomes;
  }

  /** The invariant checks' unit tests, when `filter` names one of them (or there is no filter). */
  private async unitTests(filter: Set<string> | undefined, bail: boolean): Promise<Outcome[]> {
    if (filter !== undefined && ![...filter].some((id) => id.startsWith("mocha "))) return [];
    const mocha = new Mocha({ reporter: "base", timeout: 60000, bail });
    // A fresh instance of each test file (a query string), sharing the model's modules already loaded.
    const run = ++this.mochaRuns;
    for (const file of UNIT_TESTS) {
      mocha.suite.emit("pre-require", globalThis, file, mocha);
      await import(`${sandbox(file)}?run=${run}`);
    }
    const outcomes: Outcome[] = [];
    const s = ns();
    await new Promise<void>((resolve) => {
      const runner = mocha.run(() => resolve());
      runner.on("test", (t) => {
        if (this.tracking) s.currentTestId = `mocha ${t.fullTitle()}`;
      });
      runner.on("test end", (t) => {
        outcomes.push({ id: `mocha ${t.fullTitle()}`, verdict: t.state === "failed" ? "FAIL" : "PASS", ...(t.err ? { message: t.err.message } : {}), ms: t.duration ?? 0 });
        delete s.currentTestId;
      });
      runner.on("fail", (t: Mocha.Runnable, err: Error) => {
        if (t instanceof Mocha.Hook) outcomes.push({ id: `mocha ${t.fullTitle()}`, verdict: "FAIL", message: err.message, ms: 0 });
      });
    });
    return outcomes;
  }
}

/** Coverage recorded while a configuration's model opened or closed goes to every case of that configuration. */
export function spreadSetup(coverage: MutantCoverage, outcomes: Outcome[]): MutantCoverage {
  const perTest = { ...coverage.perTest };
  for (const key of Object.keys(perTest).filter((k) => k.endsWith(` ${SETUP}`))) {
    const label = key.slice(0, -SETUP.length - 1);
    const setup = perTest[key]!;
    delete perTest[key];
    for (const o of outcomes) {
      if (!o.id.startsWith(`${label} `)) continue;
      const into = (perTest[o.id] ??= {});
      for (const [mutant, hits] of Object.entries(setup)) into[mutant] = (into[mutant] ?? 0) + hits;
    }
  }
  return { static: coverage.static, perTest };
}

export const strykerPlugins = [declareClassPlugin(PluginKind.TestRunner, "privmem-suites", SuiteTestRunner)];
