// `privmem-cts agree`: run the suites against two drivers and compare them case by
// case and step by step. Used to hold the reference's linux-6.18 profile to the
// real kernel. Disagreements are annotated with the expectation entry that
// explains them, if there is one.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, REPORTS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../case/load.js";
import { driverChoice } from "../drivers/index.js";
import { Expectations } from "../runner/expectations.js";
import { run, type RunInfo } from "../runner/run.js";
import { compareRuns } from "../runner/agreement.js";
import { DEFAULT_TIMEOUT_MS, err, parse, parseTimeout, shownPath } from "./common.js";
import { markdownCell as cell } from "../reporters/text.js";

export const AGREE_HELP = `privmem-cts agree [--driver D] [--with D2] [--profile P] [--host H] [--filter Q] [--suites DIR] [--timeout MS] [--expectations F] [--out DIR]

Run the suites against two drivers (default: linux, and the reference with the
same profile on the pvm host model) and compare every case: its outcome, and
what each step observed (success, errno, signal, exit, data; not fd numbers or
addresses). Writes agreement.json and agreement.md to --out (default
reports/latest/agreement/). Differences are explained by the first driver's
expectations (expectations/<driver>.json, or --expectations F; none for remote
drivers). Exit 1 when a difference is not explained, 0 otherwise (also when the
driver is unavailable here), 2 on bad input.`;

export async function cmdAgree(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, {
    driver: { type: "string", default: "linux" },
    with: { type: "string", default: "reference" },
    profile: { type: "string" },
    host: { type: "string", default: "pvm" },
    filter: { type: "string", multiple: true },
    suites: { type: "string", multiple: true },
    expectations: { type: "string" },
    out: { type: "string" },
    timeout: { type: "string", default: String(DEFAULT_TIMEOUT_MS) },
  });
  const timeoutMs = parseTimeout(o.timeout);
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, (o.suites ?? [SUITES_DIR]).map((d) => resolve(d)));
  const dir = resolve(o.out ?? join(REPORTS_DIR, "latest", "agreement"));
  const explain =
    o.expectations !== undefined ? Expectations.load(resolve(o.expectations)) : o.driver.startsWith("remote:") ? Expectations.none() : Expectations.forDriver(EXPECTATIONS_DIR, o.driver);
  const common = { spec, cases, filters: o.filter ?? [], timeoutMs, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files };
  const first = await run({ ...common, driver: driverChoice(o.driver, { ...(o.profile ? { profile: o.profile } : {}), onStderr: (c) => process.stderr.write(c) }) });
  mkdirSync(dir, { recursive: true });
  if (first.info.skippedRun !== undefined) {
    writeFileSync(join(dir, "agreement.json"), JSON.stringify({ skipped: first.info.skippedRun }, null, 2) + "\n");
    err(`privmem-cts agree: ${o.driver} is not available here (${first.info.skippedRun}); nothing compared`);
    return 0;
  }
  const profile = o.profile ?? first.info.profile;
  const refOpts = o.with === "reference" ? { profile, host: o.host } : { profile };
  const second = await run({ ...common, driver: driverChoice(o.with, refOpts) });
  const rows = compareRuns(first.results, second.results, explain);
  const differ = rows.filter((r) => r.verdict === "differ");
  const notComparable = rows.filter((r) => r.verdict === "not-comparable");
  const report = {
    a: summaryOf(first.info),
    b: summaryOf(second.info),
    summary: {
      cases: rows.length,
      agree: rows.filter((r) => r.verdict === "agree").length,
      differ: differ.length,
      explained: differ.filter((r) => r.explainedBy).length,
      notComparable: notComparable.length,
    },
    cases: rows,
  };
  writeFileSync(join(dir, "agreement.json"), JSON.stringify(report, null, 2) + "\n");
  const md = [
    `# Agreement: ${o.driver} (A) vs ${o.with} (B), profile ${profile}`,
    "",
    `- A: ${report.a.driver} ${report.a.name} ${report.a.version}, kernel ${report.a.kernel}, features: ${report.a.features.join(" ")}`,
    `- B: ${report.b.driver} ${report.b.name} ${report.b.version}, kernel ${report.b.kernel}, features: ${report.b.features.join(" ")}`,
    `- ${report.summary.cases} cases: ${report.summary.agree} agree (same outcome; for step cases, the same observation at every step), ` +
      `${report.summary.differ} differ (${report.summary.explained} explained by ${explain.file ?? "no expectations file"}), ` +
      `${report.summary.notComparable} not comparable (skipped by one side only)`,
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
  writeFileSync(join(dir, "agreement.md"), md.join("\n") + "\n");
  err(`privmem-cts agree: ${report.summary.agree}/${report.summary.cases} cases agree, ${report.summary.differ} differ (${report.summary.differ - report.summary.explained} unexplained), ${report.summary.notComparable} not comparable; ${shownPath(join(dir, "agreement.md"))}`);
  return report.summary.differ - report.summary.explained > 0 ? 1 : 0;
}

function summaryOf(i: RunInfo) {
  return { driver: i.driver, name: i.driverName, version: i.driverVersion, profile: i.profile, kernel: i.host.kernel, features: i.features };
}
