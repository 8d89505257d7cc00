// `privmem-cts agree`: run the suites against two drivers and compare them case by
// case and step by step. Used to hold the reference's linux-6.18 profile to the
// real kernel. Disagreements are annotated with the expectation entry that
// explains them, if there is one.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, REPORTS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../case/load.js";
import type { TraceEntry } from "../case/execute.js";
import { driverChoice } from "../drivers/index.js";
import { Expectations } from "../runner/expectations.js";
import { run, type CaseResult, type RunInfo } from "../runner/run.js";
import { err, parse } from "./common.js";

export const AGREE_HELP = `privmem-cts agree [--driver D] [--with D2] [--profile P] [--host H] [--filter Q] [--out DIR]

Run the suites against two drivers (default: linux, and the reference with the
same profile on the pvm host model) and compare every case: its outcome, and
what each step observed (success, errno, signal, exit, data; not fd numbers or
addresses). Writes agreement.json and agreement.md to --out (default
reports/latest/agreement/). Exit 1 when a difference is not explained by the
driver's expectations file, 0 otherwise (also when the driver is unavailable).`;

/** What a step observed that two implementations must agree on. */
export function observation(t: TraceEntry): string {
  const op = t.op as Record<string, unknown>;
  const r = t.result as { ret: unknown; errno?: string; signal?: string; out?: Record<string, unknown>; exit?: Record<string, unknown> };
  const name = op.op === "ioctl" ? `ioctl ${String(op.request)}` : String(op.op);
  if (r.signal) return `${name}: signal ${r.signal}`;
  if (r.errno) return `${name}: errno ${r.errno}${r.exit ? ` exit ${JSON.stringify(r.exit)}` : ""}`;
  const handle = ["open", "dup", "memfd_create", "memfd_restricted", "mmap", "fork"].includes(String(op.op)) || ["KVM_CREATE_VM", "KVM_CREATE_VCPU", "KVM_CREATE_GUEST_MEMFD"].includes(String(op.request));
  const parts = [`${name}: ok`];
  if (!handle) parts.push(`ret ${String(r.ret)}`);
  if (typeof r.out?.data === "string") parts.push(`data ${r.out.data}`);
  if (r.exit) parts.push(`exit ${JSON.stringify(r.exit)}`);
  return parts.join(" ");
}

export interface CaseAgreement {
  id: string;
  a: string;
  b: string;
  /** agree: same outcome and, for step cases, the same observations; differ; or not comparable (skipped on one side) */
  verdict: "agree" | "differ" | "not-comparable";
  firstDifference?: { step: number; a: string; b: string };
  messages?: { a?: string; b?: string };
  explainedBy?: string;
}

export function compareRuns(a: CaseResult[], b: CaseResult[], explain: Expectations): CaseAgreement[] {
  const byId = new Map(b.map((r) => [r.id, r]));
  const out: CaseAgreement[] = [];
  for (const ra of a) {
    const rb = byId.get(ra.id);
    if (!rb) continue;
    const messages = { ...(ra.message ? { a: ra.message } : {}), ...(rb.message ? { b: rb.message } : {}) };
    if ((ra.outcome === "SKIP") !== (rb.outcome === "SKIP")) {
      out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "not-comparable", messages });
      continue;
    }
    // A scenario may loop on what it observes (a clock, a retry), so its steps are not compared one by one.
    let diff: CaseAgreement["firstDifference"];
    if (ra.kind === "steps") {
      const ta = (ra.trace ?? []).map(observation);
      const tb = (rb.trace ?? []).map(observation);
      for (let i = 0; i < Math.max(ta.length, tb.length); i++)
        if (ta[i] !== tb[i]) {
          diff = { step: i + 1, a: ta[i] ?? "(no step)", b: tb[i] ?? "(no step)" };
          break;
        }
    }
    if (ra.outcome === rb.outcome && diff === undefined) {
      out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "agree" });
      continue;
    }
    const entry = explain.lookup(ra.id);
    out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "differ", ...(diff ? { firstDifference: diff } : {}), messages, ...(entry ? { explainedBy: `${entry.query}: ${entry.reason}` } : {}) });
  }
  return out;
}

export async function cmdAgree(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, {
    driver: { type: "string", default: "linux" },
    with: { type: "string", default: "reference" },
    profile: { type: "string" },
    host: { type: "string", default: "pvm" },
    filter: { type: "string", multiple: true },
    out: { type: "string" },
    timeout: { type: "string", default: "10000" },
  });
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  const dir = resolve(o.out ?? join(REPORTS_DIR, "latest", "agreement"));
  const common = { spec, cases, filters: o.filter ?? [], timeoutMs: Number(o.timeout), expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files };
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
  const explain = Expectations.forDriver(EXPECTATIONS_DIR, o.driver.split(":")[0]!);
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
  const cell = (s: string) => s.replace(/\|/g, "\\|");
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
  err(`privmem-cts agree: ${report.summary.agree}/${report.summary.cases} cases agree, ${report.summary.differ} differ (${report.summary.differ - report.summary.explained} unexplained), ${report.summary.notComparable} not comparable; ${relative(process.cwd(), dir)}/agreement.md`);
  return report.summary.differ - report.summary.explained > 0 ? 1 : 0;
}

function summaryOf(i: RunInfo) {
  return { driver: i.driver, name: i.driverName, version: i.driverVersion, profile: i.profile, kernel: i.host.kernel, features: i.features };
}
