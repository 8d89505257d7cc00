// The clause x driver matrix as one self-contained HTML page: for each clause and
// each run, whether a case naming it passed, failed, was expected to fail or was skipped.
import type { Spec } from "../../spec/index.js";
import type { CaseResult, RunInfo } from "../runner/runner.js";
import { isBad, type OutcomeName } from "../runner/outcomes.js";
import { escapeMarkup as esc } from "./text.js";


export interface MatrixRun {
  label: string;
  runInfo: Pick<RunInfo, "driver" | "profile" | "host" | "suiteRevision">;
  cases: Pick<CaseResult, "id" | "outcome" | "clauses" | "message">[];
}

type Cell = "pass" | "fail" | "xfail" | "skip" | "none";

function cellFor(outcomes: OutcomeName[]): Cell {
  if (outcomes.length === 0) return "none";
  if (outcomes.some(isBad)) return "fail";
  if (outcomes.some((o) => o === "XFAIL")) return "xfail";
  if (outcomes.some((o) => o === "PASS")) return "pass";
  return "skip";
}

export function matrixHtml(spec: Spec, runs: MatrixRun[]): string {
  const perRun = runs.map((r) => {
    const m = new Map<string, { outcomes: OutcomeName[]; cases: string[] }>();
    for (const c of r.cases)
      for (const id of c.clauses) {
        const e = m.get(id) ?? { outcomes: [], cases: [] };
        e.outcomes.push(c.outcome);
        if (c.outcome !== "PASS") e.cases.push(`${c.outcome} ${c.id}${c.message ? `: ${c.message}` : ""}`);
        m.set(id, e);
      }
    return m;
  });
  const rows: string[] = [];
  for (const area of spec.areas) {
    rows.push(`<tr class="area"><th colspan="${runs.length + 2}">${esc(area.area)} — ${esc(area.title)}</th></tr>`);
    for (const clause of spec.clauses.filter((c) => c.area === area.area)) {
      const cells = perRun.map((m) => {
        const e = m.get(clause.id);
        const cell = cellFor(e?.outcomes ?? []);
        const title = e ? `${e.outcomes.length} case(s)${e.cases.length ? "\n" + e.cases.slice(0, 12).join("\n") : ""}` : "no case";
        return `<td class="${cell}" title="${esc(title)}">${cell === "none" ? "" : cell}</td>`;
      });
      rows.push(`<tr><td class="id">${esc(clause.id)}</td><td class="st">${esc(clause.title ?? clause.statement.slice(0, 100))}</td>${cells.join("")}</tr>`);
    }
  }
  const head = runs.map((r) => `<th>${esc(r.label)}<br><small>${esc(r.runInfo.profile)}<br>${esc(String(r.runInfo.host.kernel))}</small></th>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>privmem-cts: clause × driver matrix</title>
<style>
body{font:13px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
tr.area th{background:#eee;text-align:left}td.id{font-family:monospace;white-space:nowrap}td.st{max-width:44em}
td.pass{background:#c8f0c8}td.fail{background:#f4b4b4}td.xfail{background:#f8e0a0}td.skip{background:#e4e4ff}td.none{background:#fff}
</style></head><body>
<h1>privmem-cts: clause × driver matrix</h1>
<p>Suite revision ${esc(runs[0]?.runInfo.suiteRevision ?? "-")}. A cell is <b>pass</b> when a case naming the clause passed and none failed,
<b>fail</b> when one failed (FAIL, ERROR, CRASH, TIMEOUT, XPASS), <b>xfail</b> for a known deviation, <b>skip</b> when every case was skipped,
empty when no case names the clause. Hover a cell for its cases.</p>
<table><thead><tr><th>clause</th><th>rule</th>${head}</tr></thead><tbody>
${rows.join("\n")}
</tbody></table></body></html>
`;
}
