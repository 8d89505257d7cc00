// Per-file mutation score of reports/mutation/mutation.json (StrykerJS's mutation-testing-report
// schema), with the mutants listed in mutation/equivalent-mutants.json counted as equivalent:
// not killable by any case because no uAPI-visible behaviour changes. Each entry names the
// file, line, mutator and replacement, and says why; an entry that matches no surviving mutant
// is reported as stale (the model changed: look again).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const REPORT = join(ROOT, "reports", "mutation", "mutation.json");
const EQUIVALENTS = join(ROOT, "mutation", "equivalent-mutants.json");
const README = join(ROOT, "mutation", "README.md");
/** The last measured score of every file, kept across runs on one file at a time. */
const SCORES = join(ROOT, "mutation", "scores.json");
const DETECTED = new Set(["Killed", "Timeout"]);
const UNDETECTED = new Set(["Survived", "NoCoverage"]);

function matches(e, file, m) {
  return e.file === file && e.line === m.location.start.line && e.mutator === m.mutatorName && (e.replacement === undefined || e.replacement === m.replacement);
}

/** Prints the table; returns false when the report is missing. */
export function scoreReport({ writeReadme }) {
  if (!existsSync(REPORT)) {
    console.error(`no report at ${REPORT}: run npm run mutation first`);
    return false;
  }
  const report = JSON.parse(readFileSync(REPORT, "utf8"));
  const equivalents = JSON.parse(readFileSync(EQUIVALENTS, "utf8")).mutants;
  const used = new Set();
  const rows = [];
  const total = { detected: 0, undetected: 0, equivalent: 0, invalid: 0 };
  for (const [file, { mutants }] of Object.entries(report.files).sort()) {
    const row = { file, detected: 0, undetected: 0, equivalent: 0, invalid: 0, survivors: [] };
    for (const m of mutants) {
      if (DETECTED.has(m.status)) row.detected++;
      else if (UNDETECTED.has(m.status)) {
        const i = equivalents.findIndex((e) => matches(e, file, m));
        if (i >= 0) {
          used.add(i);
          row.equivalent++;
        } else {
          row.undetected++;
          row.survivors.push(`${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} ${JSON.stringify(m.replacement ?? "")}`);
        }
      } else row.invalid++; // CompileError, RuntimeError, Ignored, Pending
    }
    for (const k of ["detected", "undetected", "equivalent", "invalid"]) total[k] += row[k];
    rows.push(row);
  }
  const pct = (r) => (r.detected + r.undetected === 0 ? "n/a" : `${((100 * r.detected) / (r.detected + r.undetected)).toFixed(1)}%`);
  const lines = ["| file | score | killed | survived | equivalent | not valid |", "|---|---|---|---|---|---|"];
  for (const r of rows) lines.push(`| \`${r.file}\` | ${pct(r)} | ${r.detected} | ${r.undetected} | ${r.equivalent} | ${r.invalid} |`);
  lines.push(`| all | ${pct(total)} | ${total.detected} | ${total.undetected} | ${total.equivalent} | ${total.invalid} |`);
  const table = lines.join("\n");
  console.log(`\nMutation score per file (killed / (killed + survived); equivalent mutants from mutation/equivalent-mutants.json left out)\n\n${table}\n`);
  const stale = equivalents.filter((_, i) => !used.has(i));
  for (const e of stale) if (rows.some((r) => r.file === e.file)) console.log(`stale equivalent-mutant entry (no surviving mutant matches it): ${e.file}:${e.line} ${e.mutator}`);
  const below = rows.filter((r) => r.detected + r.undetected > 0 && r.detected / (r.detected + r.undetected) < 0.9);
  if (below.length > 0) console.log(`below 90%: ${below.map((r) => r.file).join(", ")}`);
  if (writeReadme) {
    const when = new Date().toISOString().slice(0, 10);
    const kept = existsSync(SCORES) ? JSON.parse(readFileSync(SCORES, "utf8")) : {};
    for (const r of rows) kept[r.file] = { score: pct(r), killed: r.detected, survived: r.undetected, equivalent: r.equivalent, notValid: r.invalid, measured: when };
    writeFileSync(SCORES, JSON.stringify(kept, null, 2) + "\n");
    writeTable(kept);
  }
  return true;
}

/** The table of mutation/README.md, from the kept scores (several runs, or merged branches). */
export function writeTable(kept = JSON.parse(readFileSync(SCORES, "utf8"))) {
  const all = ["| file | score | killed | survived | equivalent | not valid | measured |", "|---|---|---|---|---|---|---|"];
  for (const [file, k] of Object.entries(kept).sort()) all.push(`| \`${file}\` | ${k.score} | ${k.killed} | ${k.survived} | ${k.equivalent} | ${k.notValid} | ${k.measured} |`);
  if (!existsSync(README)) return;
  const text = readFileSync(README, "utf8");
  const begin = "<!-- score:begin -->";
  const end = "<!-- score:end -->";
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  const files = readdirSync(join(ROOT, "reference-impl"), { recursive: true }).filter((f) => String(f).endsWith(".ts")).length;
  const rows = Object.values(kept);
  const high = rows.filter((k) => parseFloat(k.score) >= 90).length;
  const summary = `${rows.length} of the ${files} files of reference-impl/ measured; ${high} at 90% or more.`;
  if (a >= 0 && b > a) writeFileSync(README, `${text.slice(0, a + begin.length)}\nWritten by \`npm run mutation\` (mutation/scores.json): the last score measured for each file; files not listed were not measured yet. ${summary}\n\n${all.join("\n")}\n${text.slice(b)}`);
}

// node mutation/score.mjs: score the last report; --table: rewrite mutation/README.md's table from mutation/scores.json
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--table")) writeTable();
  else process.exit(scoreReport({ writeReadme: false }) ? 0 : 1);
}
