// `privmem-cts run`: the main job.
import { join, resolve } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { driverChoice, hostLabel, REFERENCE_MATRIX } from "../drivers/index.js";
import { compileFilters } from "../case/query.js";
import { Expectations } from "../runner/expectations.js";
import { run, suiteRevision, type CaseResult, type Reporter, type RunInfo, type RunOutcome } from "../runner/runner.js";
import { KtapReporter } from "../reporters/ktap.js";
import { claimOutDir, JsonlReporter, JsonReporter, JunitReporter, junitXml, writeReportFile } from "../reporters/files.js";
import { clauseCoverage, COVERAGE_JSON, CoverageReporter } from "../reporters/coverage.js";
import { matrixHtml, type MatrixRun } from "../reporters/html.js";
import { DEFAULT_TIMEOUT_MS, defaultReportsDir, err, parse, parseTimeout, shownPath, UsageError, loadSuiteArgs } from "./common.js";
import { EXIT_OK, type OutcomeName } from "../runner/outcomes.js";
import { CaptureReporter } from "../capture/capture.js";
import { packageVersion } from "../../spec/paths.js";

export const MATRIX_HTML = "matrix.html";

export const RUN_HELP = `privmem-cts run [options]

Run the conformance suites against one driver. KTAP v1 goes to stdout; reports
(results.jsonl, results.json, junit.xml, coverage.json, matrix.html) go to --out.

  --driver D         reference (default), linux, or remote:<command>
  --profile P        uAPI revision: poison-rfc-v2 upm-v9 upm-v10 rfc-v11 linux-6.8 linux-6.18 linux-6.19 linux-7.2 cca-v14 conv-v7 conv-v8
                     (reference default linux-7.2; linux default: from the running kernel)
  --host H           reference host model: full (default), pvm, s390, arm64 (and the others in
                     reference-impl/system/hosts.ts), or a capture file
                     (captures/*.jsonl): the model configured as the captured host
                     For the reference, --profile and --host take comma lists: every
                     combination is run, each into <out>/<profile>@<host>/, and the
                     KTAP document nests one suite per combination.
  --matrix           the reference on every modelled release and every host model, and
                     as every captured host (captures/*.jsonl) (the main job: npm run cts)
  --suites DIR       suites to load (repeatable; default: suites/). TypeScript suites
                     are code and are imported (*.ts under the project, *.suite.js or
                     *.suite.mjs elsewhere): use only folders you trust
  --filter Q         case query, e.g. 'gmem:fallocate:*' (repeatable or comma-separated)
  --reporter R       what goes to stdout: ktap (default), json, junit
  --out DIR          report directory (default: reports/latest in the current
                     directory; locked while a run writes it)
  --timeout MS       per-case timeout (default 10000)
  --expectations F   known deviations (default: expectations/<driver>.json and
                     expectations/<driver>.<topic>.json; none for remote drivers)
  --no-expectations  ignore the default expectations file
  --seed N           shuffle case order within each area with this seed
  --trace            keep every case's operations and results in results.jsonl
  --capture FILE     record what this host did (the whole handshake, every step's request
                     and result) as a host capture (captures/README.md); one driver only
  --check-invariants reference only: check the model's invariants after every operation

Exit status: 0 when nothing failed (PASS, SKIP, XFAIL), 1 on FAIL, ERROR, CRASH,
TIMEOUT or XPASS, 2 on bad input or usage; on SIGINT or SIGTERM the finished
cases' reports are written and the status is 130 or 143 (harness/RELIABILITY.md).`;

class ProgressReporter implements Reporter {
  private total = 0;
  private done = 0;
  begin(_info: RunInfo, plan: { id: string }[]): void {
    this.total = plan.length;
  }
  caseDone(r: CaseResult): void {
    this.done++;
    process.stderr.write(`\r\x1b[K[${this.done}/${this.total}] ${r.outcome} ${r.id.slice(0, 100)}`);
  }
  end(): void {
    process.stderr.write("\r\x1b[K");
  }
}

class StdoutFileReporter implements Reporter {
  constructor(private readonly kind: "json" | "junit") {}
  end(info: RunInfo, results: CaseResult[], summary: Record<OutcomeName, number>): void {
    if (this.kind === "junit") process.stdout.write(junitXml(info, results));
    else process.stdout.write(JSON.stringify({ runInfo: info, summary, cases: results.map(({ trace: _t, ...c }) => c) }, null, 2) + "\n");
  }
}

type RunFlags = ReturnType<typeof parseRunFlags>;

function parseRunFlags(argv: string[]) {
  const { values: o } = parse(argv, {
    driver: { type: "string", default: "reference" },
    profile: { type: "string" },
    host: { type: "string" },
    matrix: { type: "boolean", default: false },
    suites: { type: "string", multiple: true },
    filter: { type: "string", multiple: true },
    reporter: { type: "string", default: "ktap" },
    out: { type: "string" },
    timeout: { type: "string", default: String(DEFAULT_TIMEOUT_MS) },
    expectations: { type: "string" },
    "no-expectations": { type: "boolean", default: false },
    seed: { type: "string" },
    trace: { type: "boolean", default: false },
    capture: { type: "string" },
    "check-invariants": { type: "boolean", default: false },
  });
  if (!["ktap", "json", "junit"].includes(o.reporter)) throw new UsageError(`--reporter must be ktap, json or junit (got ${o.reporter})`);
  if (o.matrix && (o.driver !== "reference" || o.profile !== undefined || o.host !== undefined)) throw new UsageError("--matrix runs the reference on its standard profiles and hosts; it takes no --driver, --profile or --host");
  return o;
}

/** The configurations to run: the reference matrix, or every --profile with every --host. */
function configurationsOf(o: RunFlags): { profile?: string; host?: string }[] {
  const configs: { profile?: string; host?: string }[] = o.matrix
    ? REFERENCE_MATRIX
    : (o.profile?.split(",").map((p) => p.trim()) ?? [undefined]).flatMap((profile) =>
        (o.host?.split(",").map((h) => h.trim()) ?? [undefined]).map((host) => ({ ...(profile ? { profile } : {}), ...(host ? { host } : {}) })),
      );
  if (configs.length > 1) {
    if (o.driver !== "reference") throw new UsageError("comma lists in --profile and --host are for the reference driver");
    if (o.capture !== undefined) throw new UsageError("--capture records one driver on one host; give one --profile and --host");
    if (o.reporter !== "ktap") throw new UsageError("--reporter json and junit write one document; run one profile and host at a time (the files in --out are written for every configuration)");
  }
  return configs;
}

function expectationsOf(o: RunFlags): Expectations {
  if (o["no-expectations"]) return Expectations.none();
  if (o.expectations !== undefined) return Expectations.load(resolve(o.expectations));
  return o.driver.startsWith("remote:") ? Expectations.none() : Expectations.forDriver(EXPECTATIONS_DIR, o.driver);
}

/** SIGINT/SIGTERM: stop, write the reports of the finished cases, exit 128+signal (a second one exits at once). */
function stopOnSignals(): { signal: AbortSignal; code: () => number | undefined; dispose: () => void } {
  const stop = new AbortController();
  let stopCode: number | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(stopCode);
    stopCode = sig === "SIGINT" ? 130 : 143;
    stop.abort();
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  return { signal: stop.signal, code: () => stopCode, dispose: () => process.off("SIGINT", onSignal).off("SIGTERM", onSignal) };
}

export async function cmdRun(argv: string[]): Promise<number> {
  const o = parseRunFlags(argv);
  const timeoutMs = parseTimeout(o.timeout);
  const seed = o.seed === undefined ? undefined : Number(o.seed);
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError(`--seed must be an integer (got ${o.seed})`);
  const configs = configurationsOf(o);
  const nested = configs.length > 1;
  const choices = configs.map((cfg) => ({
    cfg,
    choice: driverChoice(o.driver, { ...cfg, ...(o["check-invariants"] ? { checkInvariants: true } : {}), onStderr: (chunk) => process.stderr.write(chunk) }),
  }));

  const spec = loadSpec();
  const suiteDirs = (o.suites ?? [SUITES_DIR]).map((d) => resolve(d));
  const { cases, files } = await loadSuiteArgs(spec, suiteDirs);
  const filters = o.filter ?? [];
  if (filters.length > 0 && !cases.some((c) => compileFilters(filters)(c.id))) throw new UsageError(`--filter ${filters.join(",")} matches no case`);
  const expectations = expectationsOf(o);
  // What a repro command needs beyond the driver and the case id.
  const reproExtra = [...(o.suites ?? []).flatMap((d) => ["--suites", resolve(d)]), ...(timeoutMs !== DEFAULT_TIMEOUT_MS ? ["--timeout", String(timeoutMs)] : [])];

  const outDir = resolve(o.out ?? join(defaultReportsDir(), "latest"));
  claimOutDir(outDir);
  const stop = stopOnSignals();
  if (nested && o.reporter === "ktap") process.stdout.write(`KTAP version 1\n1..${configs.length}\n`);
  let exitCode = EXIT_OK;
  const merged: MatrixRun[] = [];
  // the suites as loaded above: read and hashed once for every configuration
  const revision = suiteRevision(files);
  for (const [i, { cfg, choice }] of choices.entries()) {
    if (stop.signal.aborted) break;
    const label = nested ? `${cfg.profile ?? "default"}@${cfg.host === undefined ? "default" : hostLabel(cfg.host)}` : choice.label;
    const dir = nested ? join(outDir, label) : outDir;
    const reporters: Reporter[] = [new JsonlReporter(dir, o.trace), new JsonReporter(dir), new JunitReporter(dir), new CoverageReporter(spec, dir, cases)];
    const ktap = o.reporter === "ktap" ? new KtapReporter(process.stdout, nested ? "  " : "") : undefined;
    if (ktap) reporters.unshift(ktap);
    else reporters.push(new StdoutFileReporter(o.reporter as "json" | "junit"));
    if (process.stderr.isTTY && !process.stdout.isTTY) reporters.push(new ProgressReporter());
    const capture = o.capture === undefined ? undefined : new CaptureReporter(resolve(o.capture), packageVersion(), ["npx", "privmem-cts", "run", ...argv].join(" "));
    if (capture) reporters.push(capture);
    const result = await run({
      spec,
      cases,
      driver: { ...choice, reproArgs: [...choice.reproArgs, ...reproExtra] },
      filters,
      timeoutMs,
      expectations: expectations.fresh(),
      ...(seed !== undefined ? { seed } : {}),
      reporters,
      keepTrace: o.trace || capture !== undefined,
      suiteFiles: files,
      suiteRevision: revision,
      signal: stop.signal,
    });
    if (nested && ktap && !ktap.bailedOut) {
      process.stdout.write(`${result.exitCode === EXIT_OK ? "ok" : "not ok"} ${i + 1} ${o.driver} ${label}\n`);
      if (stop.signal.aborted && i + 1 < choices.length) process.stdout.write(`Bail out! the run was interrupted: ${i + 1} of ${choices.length} configurations finished, the rest were not run\n`);
    }
    exitCode = Math.max(exitCode, result.exitCode);
    merged.push({ label, runInfo: result.info, cases: result.results });
    tellOutcome(result, nested ? ` ${label}` : ` (${result.info.profile})`, dir, filters, capture, o.capture);
  }
  writeReportFile(outDir, MATRIX_HTML, matrixHtml(spec, merged));
  if (nested) writeReportFile(outDir, COVERAGE_JSON, JSON.stringify(clauseCoverage(spec, merged, cases), null, 2) + "\n");
  stop.dispose();
  return stop.code() ?? exitCode;
}

/** The summary lines on stderr: counts, the capture, and expectation entries no case matched. */
function tellOutcome(result: RunOutcome, which: string, dir: string, filters: string[], capture: CaptureReporter | undefined, captureFile: string | undefined): void {
  const s = result.summary;
  err(
    `privmem-cts: ${result.results.length} cases against ${result.info.driver}${which}: ` +
      `${s.PASS} pass, ${s.FAIL} fail, ${s.SKIP} skip, ${s.XFAIL} xfail, ${s.XPASS} xpass, ${s.ERROR} error, ${s.TIMEOUT} timeout, ${s.CRASH} crash` +
      `${result.info.skippedRun ? ` (driver unavailable: ${result.info.skippedRun})` : ""}; reports in ${shownPath(dir)}`,
  );
  if (capture) err(capture.written > 0 ? `privmem-cts: captured ${capture.written} cases in ${shownPath(resolve(captureFile!))}` : `privmem-cts: nothing captured (${result.info.skippedRun ?? "no case ran"})`);
  const unused = result.unusedExpectations;
  if (unused.length > 0 && filters.length === 0 && !result.info.skippedRun) err(`privmem-cts: ${unused.length} expectation entries matched no case: ${unused.map((e) => e.query).join(", ")}`);
}
