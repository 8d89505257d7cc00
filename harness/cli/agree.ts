// `privmem-cts agree`: compare two implementations case by case and step by step.
// Live: run the suites against two drivers (default: linux, and the reference with the
// same profile on the pvm host model). Offline: compare the reference, configured as the
// captured host at the capture's profile, with a host capture; no /dev/kvm needed.
// Disagreements are annotated with the expectation entry that explains them, if any.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Spec } from "../../spec/index.js";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, REPORTS_DIR, SUITES_DIR } from "../../spec/paths.js";
import type { CaseDef } from "../case/types.js";
import { capturedResults, readCapture, type Capture } from "../capture/capture.js";
import { driverChoice } from "../drivers/index.js";
import { Expectations } from "../runner/expectations.js";
import { run, type CaseResult, type RunInfo } from "../runner/runner.js";
import { compareRuns, type CaseAgreement } from "../runner/agreement.js";
import { DEFAULT_TIMEOUT_MS, err, parse, parseTimeout, shownPath, UsageError, loadSuiteArgs } from "./common.js";
import { markdownCell as cell } from "../reporters/text.js";

export const AGREE_HELP = `privmem-cts agree [--driver D] [--with D2] [--capture FILE] [--profile P] [--host H] [--filter Q] [--suites DIR] [--timeout MS] [--expectations F] [--out DIR]

Compare two implementations case by case: each case's outcome, and what each step
observed (success, errno, signal, exit, data; not fd numbers or addresses).

Live (default): run the suites against --driver (default linux) and --with
(default: the reference with the same profile, configured as the host the first
driver probed, or on the --host model).

Offline, --capture FILE: compare a host capture (captures/*.jsonl, made with
'run --capture') with the reference configured as the captured host, at the
capture's profile. No /dev/kvm is needed. A difference counts as explained only
by an expectations entry whose "hosts" names the captured kernel build. Cases
added to the suites since the capture, and captured cases no longer in the
suites, are listed apart.

Writes agreement.json and agreement.md to --out (default
reports/latest/agreement/). Differences are explained by the first driver's
expectations (expectations/<driver>.json, or --expectations F; none for remote
drivers). Exit 1 when a difference is not explained, 0 otherwise (also when the
driver is unavailable here), 2 on bad input.`;

export interface AgreementReport {
  a: Summary;
  b: Summary;
  summary: { cases: number; agree: number; differ: number; explained: number; notComparable: number; notCaptured?: number; noLongerInSuites?: number };
  cases: CaseAgreement[];
  notCaptured?: string[];
  noLongerInSuites?: string[];
}

type Summary = ReturnType<typeof summaryOf>;

/** The reference, configured as the captured host, compared with the capture. */
export async function agreeWithCapture(spec: Spec, cases: CaseDef[], suiteFiles: string[], capture: Capture, expectations: Expectations, opts: { filters?: string[]; timeoutMs?: number } = {}): Promise<AgreementReport> {
  const hs = capture.header.handshake;
  const reference = await run({
    spec,
    cases,
    driver: driverChoice("reference", { probed: hs, profile: hs.profile }),
    filters: opts.filters ?? [],
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    expectations: Expectations.none(),
    reporters: [],
    keepTrace: true,
    suiteFiles,
  });
  const captured = capturedResults(capture);
  const capturedIds = new Set(captured.map((c) => c.id));
  const current = new Set(cases.map((c) => c.id));
  const info: RunInfo = { ...reference.info, driver: `capture:${shownPath(capture.file)}`, driverName: hs.name, driverVersion: hs.version, contractVersion: hs.contractVersion, profile: hs.profile, features: hs.features, host: hs.host, startedAt: capture.header.capturedAt };
  const report = compare(info, reference.info, captured, reference.results, expectations.forHost(hs.host.kernel));
  report.notCaptured = reference.results.filter((r) => !capturedIds.has(r.id)).map((r) => r.id);
  report.noLongerInSuites = captured.filter((c) => !current.has(c.id)).map((c) => c.id);
  report.summary.notCaptured = report.notCaptured.length;
  report.summary.noLongerInSuites = report.noLongerInSuites.length;
  return report;
}

function compare(a: RunInfo, b: RunInfo, ra: CaseResult[], rb: CaseResult[], explain: Expectations): AgreementReport {
  const rows = compareRuns(ra, rb, explain);
  const differ = rows.filter((r) => r.verdict === "differ");
  return {
    a: summaryOf(a),
    b: summaryOf(b),
    summary: {
      cases: rows.length,
      agree: rows.filter((r) => r.verdict === "agree").length,
      differ: differ.length,
      explained: differ.filter((r) => r.explainedBy).length,
      notComparable: rows.filter((r) => r.verdict === "not-comparable").length,
    },
    cases: rows,
  };
}

export async function cmdAgree(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, {
    driver: { type: "string" },
    with: { type: "string" },
    capture: { type: "string" },
    profile: { type: "string" },
    host: { type: "string" },
    filter: { type: "string", multiple: true },
    suites: { type: "string", multiple: true },
    expectations: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: String(DEFAULT_TIMEOUT_MS) },
  });
  if (o.capture !== undefined && (o.driver !== undefined || o.with !== undefined || o.profile !== undefined || o.host !== undefined))
    throw new UsageError("--capture compares the reference, configured as the captured host at its profile, with the capture: it takes no --driver, --with, --profile or --host");
  const timeoutMs = parseTimeout(o.timeout);
  const spec = loadSpec();
  const capture = o.capture === undefined ? undefined : readCapture(resolve(o.capture));
  const { cases, files } = await loadSuiteArgs(spec, (o.suites ?? [SUITES_DIR]).map((d) => resolve(d)));
  const dir = resolve(o.out ?? join(REPORTS_DIR, "latest", "agreement"));
  const driver = o.driver ?? capture?.header.handshake.name ?? "linux";
  const explain =
    o.expectations !== undefined ? Expectations.load(resolve(o.expectations)) : driver.startsWith("remote:") ? Expectations.none() : Expectations.forDriver(EXPECTATIONS_DIR, driver);
  const filters = o.filter ?? [];
  let report: AgreementReport;
  let title: string;
  if (capture) {
    report = await agreeWithCapture(spec, cases, files, capture, explain, { filters, timeoutMs });
    title = `# Agreement: capture ${shownPath(capture.file)} (A) vs the reference configured as that host (B), profile ${capture.header.handshake.profile}`;
  } else {
    const common = { spec, cases, filters, timeoutMs, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files };
    const first = await run({ ...common, driver: driverChoice(driver, { ...(o.profile ? { profile: o.profile } : {}), onStderr: (c) => process.stderr.write(c) }) });
    if (first.info.skippedRun !== undefined) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "agreement.json"), JSON.stringify({ skipped: first.info.skippedRun }, null, 2) + "\n");
      err(`privmem-cts agree: ${driver} is not available here (${first.info.skippedRun}); nothing compared`);
      return 0;
    }
    const withDriver = o.with ?? "reference";
    const profile = o.profile ?? first.info.profile;
    // The reference is configured as the host the first driver probed, unless --host names a model.
    const referenceAs = o.host !== undefined ? { host: o.host } : { probed: { features: first.info.features, host: first.info.host } };
    const second = await run({ ...common, driver: driverChoice(withDriver, withDriver === "reference" ? { profile, ...referenceAs } : { profile }) });
    report = compare(first.info, second.info, first.results, second.results, explain);
    title = `# Agreement: ${driver} (A) vs ${withDriver} (B), profile ${profile}`;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "agreement.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(dir, "agreement.md"), markdown(title, report, explain.file));
  const s = report.summary;
  const extra = capture ? `, ${s.notCaptured} not in the capture, ${s.noLongerInSuites} captured but no longer in the suites` : "";
  err(`privmem-cts agree: ${s.agree}/${s.cases} cases agree, ${s.differ} differ (${s.differ - s.explained} unexplained), ${s.notComparable} not comparable${extra}; ${shownPath(join(dir, "agreement.md"))}`);
  return s.differ - s.explained > 0 ? 1 : 0;
}

function markdown(title: string, report: AgreementReport, expectationsFile: string | undefined): string {
  const { a, b, summary: s } = report;
  const differ = report.cases.filter((r) => r.verdict === "differ");
  const notComparable = report.cases.filter((r) => r.verdict === "not-comparable");
  const md = [
    title,
    "",
    `- A: ${a.driver} ${a.name} ${a.version}, kernel ${a.kernel}${a.build ? ` (${a.build})` : ""}, features: ${a.features.join(" ")}`,
    `- B: ${b.driver} ${b.name} ${b.version}, kernel ${b.kernel}, features: ${b.features.join(" ")}`,
    `- ${s.cases} cases: ${s.agree} agree (same outcome; for step cases, the same observation at every step), ` +
      `${s.differ} differ (${s.explained} explained by ${expectationsFile ?? "no expectations file"}), ` +
      `${s.notComparable} not comparable (skipped by one side only)`,
    "",
    "## Differences",
    "",
    "| case | A | B | first difference | explained by |",
    "|---|---|---|---|---|",
    ...differ.map((r) => `| \`${r.id}\` | ${r.a} | ${r.b} | ${r.firstDifference ? cell(`step ${r.firstDifference.step}: A ${r.firstDifference.a} / B ${r.firstDifference.b}`) : cell(`outcome only: ${r.messages?.a ?? r.messages?.b ?? ""}`)} | ${cell(r.explainedBy ?? "**unexplained**")} |`),
    "",
    "## Not comparable",
    "",
    ...notComparable.map((r) => `- \`${r.id}\`: A ${r.a}, B ${r.b} — ${cell(r.a === "SKIP" ? (r.messages?.a ?? "") : (r.messages?.b ?? ""))}`),
  ];
  if (report.notCaptured !== undefined) md.push("", "## Not in the capture (added to the suites since)", "", ...report.notCaptured.map((id) => `- \`${id}\``));
  if (report.noLongerInSuites !== undefined) md.push("", "## Captured, no longer in the suites", "", ...report.noLongerInSuites.map((id) => `- \`${id}\``));
  return md.join("\n") + "\n";
}

function summaryOf(i: RunInfo) {
  return { driver: i.driver, name: i.driverName, version: i.driverVersion, profile: i.profile, kernel: i.host.kernel, ...(typeof i.host.build === "string" ? { build: i.host.build } : {}), features: i.features };
}
