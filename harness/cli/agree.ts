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
reports/latest/agreement/). Exit 0 unless a run could not be made.`;

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
  agree: boolean;
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
    const ta = (ra.trace ?? []).map(observation);
    const tb = (rb.trace ?? []).map(observation);
    let diff: CaseAgreement["firstDifference"];
    for (let i = 0; i < Math.max(ta.length, tb.length); i++)
      if (ta[i] !== tb[i]) {
        diff = { step: i + 1, a: ta[i] ?? "(no step)", b: tb[i] ?? "(no step)" };
        break;
      }
    const agree = ra.outcome === rb.outcome && diff === undefined;
    const entry = agree ? undefined : explain.lookup(ra.id);
    out.push({
      id: ra.id,
      a: ra.outcome,
      b: rb.outcome,
      agree,
      ...(diff ? { firstDifference: diff } : {}),
      ...(!agree ? { messages: { ...(ra.message ? { a: ra.message } : {}), ...(rb.message ? { b: rb.message } : {}) } } : {}),
      ...(entry ? { explainedBy: `${entry.query}: ${entry.reason}` } : {}),
    });
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
  const disagree = rows.filter((r) => !r.agree);
  const report = {
    a: summaryOf(first.info),
    b: summaryOf(second.info),
    summary: { cases: rows.length, agree: rows.length - disagree.length, disagree: disagree.length, explained: disagree.filter((r) => r.explainedBy).length },
    cases: rows,
  };
  writeFileSync(join(dir, "agreement.json"), JSON.stringify(report, null, 2) + "\n");
  const md = [
    `# Agreement: ${o.driver} vs ${o.with} (${profile})`,
    "",
    `- A: ${report.a.driver} ${report.a.name} ${report.a.version}, kernel ${report.a.kernel}, features: ${report.a.features.join(" ")}`,
    `- B: ${report.b.driver} ${report.b.name} ${report.b.version}, kernel ${report.b.kernel}, features: ${report.b.features.join(" ")}`,
    `- ${report.summary.cases} cases: ${report.summary.agree} agree, ${report.summary.disagree} differ (${report.summary.explained} explained by ${explain.file ?? "no expectations file"})`,
    "",
    "| case | A | B | first difference | explained by |",
    "|---|---|---|---|---|",
    ...disagree.map((r) => `| \`${r.id}\` | ${r.a} | ${r.b} | ${r.firstDifference ? `step ${r.firstDifference.step}: A ${r.firstDifference.a} / B ${r.firstDifference.b}`.replace(/\|/g, "\\|") : "outcome only"} | ${(r.explainedBy ?? "**unexplained**").replace(/\|/g, "\\|")} |`),
  ];
  writeFileSync(join(dir, "agreement.md"), md.join("\n") + "\n");
  err(`privmem-cts agree: ${report.summary.agree}/${report.summary.cases} cases agree; ${report.summary.disagree - report.summary.explained} unexplained differences; ${relative(process.cwd(), dir)}/agreement.md`);
  return 0;
}

function summaryOf(i: RunInfo) {
  return { driver: i.driver, name: i.driverName, version: i.driverVersion, profile: i.profile, kernel: i.host.kernel, features: i.features };
}
