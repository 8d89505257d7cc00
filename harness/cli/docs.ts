// `privmem-cts docs`: one Markdown page per ioctl or object — layout tables, the
// clauses with their sources and per-profile differences, and the cases that
// cover each clause — plus an index.
import { join, resolve } from "node:path";
import { loadSpec, type Clause, type Spec } from "../../spec/index.js";
import { formatRequest } from "../../spec/ioc.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../case/load.js";
import { defaultReportsDir, err, parse, shownPath } from "./common.js";
import { markdownCell } from "../reporters/text.js";
import { ensureDir, writeReportFile } from "../reporters/files.js";

/** Text from the spec in a Markdown page: <, > and & as entities, so it is never read as HTML. */
const md = (s: string) => s.replace(/[<>&]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;" })[c]!);
const cell = (s: string) => markdownCell(md(s));
/** A name from the spec or the suites in a code span: a backtick in it cannot end the span early. */
const code = (s: string) => `\`${String(s).replace(/`/g, "'")}\``;

export const DOCS_HELP = `privmem-cts docs [--out DIR]

Write the uAPI as documentation (default reports/docs/): index.md, and one page per
ioctl or object with its request numbers and struct layouts per profile, every
clause with sources and per-profile variants, and the cases covering each clause.`;

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

function layoutTable(spec: Spec, struct: string): string[] {
  const s = spec.structs.get(struct);
  if (!s) return [];
  const lines = [`#### struct ${md(struct)} (${s.size} bytes; profiles ${md(s.profiles)})`, "", "| offset | size | type | field | |", "|---:|---:|---|---|---|"];
  for (const f of s.fields) {
    const size = spec.codec.sizeOf(f.type) * (f.count ?? 1);
    const type = f.count ? `${f.type}[${f.count}]` : f.type;
    const notes = [f.out ? "written back" : "", f.union ? `union ${f.union}` : "", f.aliases ? `alias ${f.aliases.join(", ")}` : ""].filter(Boolean).join("; ");
    lines.push(`| ${f.offset} | ${size} | ${cell(type)} | ${cell(f.name)} | ${cell(notes)} |`);
  }
  if (s.note) lines.push("", md(s.note));
  return [...lines, ""];
}

function ioctlSection(spec: Spec, name: string): string[] {
  const revs = spec.ioctlRevisions(name);
  if (revs.length === 0) return [];
  const lines = ["## Request", "", "| profiles | request | direction | argument | issued on |", "|---|---|---|---|---|"];
  const structs = new Set<string>();
  for (const r of revs) {
    const arg = r.def.arg === null ? "none" : r.def.arg === "value" ? "by value" : r.def.arg;
    lines.push(`| ${cell(r.profiles.join(", "))} | ${code(formatRequest(r.def.request))} | ${cell(r.def.dir)} | ${cell(`${arg}${r.def.buffer ? ` (reads ${r.def.buffer})` : ""}`)} | ${cell(r.def.on.join(", "))} |`);
    for (const s of [r.def.arg, r.def.buffer]) if (s && s !== "value" && s !== "u64") structs.add(s);
    if (r.note) lines.push(`|  | ${cell(r.note)} | | | |`);
  }
  lines.push("", "## Layout", "");
  for (const s of structs) lines.push(...layoutTable(spec, s));
  return lines;
}

function clauseSection(c: Clause, coveredBy: string[]): string[] {
  const lines = [`### ${md(c.id)}${c.title ? ` — ${md(c.title)}` : ""}`, "", md(c.statement), ""];
  lines.push("| profiles | rule in these profiles |", "|---|---|");
  for (const [set, v] of Object.entries(c.profiles)) {
    const text = [v.statement, v.errno ? `errno ${v.errno.join(" or ")}` : "", v.result ? `result: ${v.result}` : "", v.note ? `note: ${v.note}` : ""].filter(Boolean).join("; ") || "holds as stated";
    lines.push(`| ${cell(set)} | ${cell(text)} |`);
  }
  lines.push("", `Sources (${md(c.verification.status)}${c.verification.note ? `: ${md(c.verification.note)}` : ""}):`);
  for (const s of c.sources) lines.push(`- ${md(s.ref.startsWith(`${s.kind}:`) ? s.ref : `${s.kind}: ${s.ref}`)}${s.note ? ` — ${md(s.note)}` : ""}`);
  if (c.arch) lines.push(`- architectures: ${md(c.arch.join(", "))}`);
  lines.push("", coveredBy.length ? `Named by ${coveredBy.length} case(s): ${coveredBy.slice(0, 20).map(code).join(", ")}${coveredBy.length > 20 ? ", ..." : ""}` : "**No case names this clause yet.**", "");
  return lines;
}

export async function cmdDocs(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { out: { type: "string" } });
  const dir = resolve(o.out ?? join(defaultReportsDir(), "docs"));
  const spec = loadSpec();
  const { cases } = await loadSuites(spec, [SUITES_DIR]);
  const byClause = new Map<string, string[]>();
  for (const c of cases) for (const id of c.clauses) byClause.set(id, [...(byClause.get(id) ?? []), c.id]);
  ensureDir(dir);
  const index = ["# privmem-cts: the KVM guest private memory uAPI", "", `${spec.clauses.length} clauses in ${spec.areas.length} areas; ${cases.length} cases.`, "", "## Profiles", ""];
  for (const p of spec.profiles) index.push(`- **${md(p.name)}** (${md(p.date)}, ${md(p.kind)}): ${md(p.title)}`);
  const pages = new Map<string, Clause[]>();
  for (const c of spec.clauses) pages.set(c.subject, [...(pages.get(c.subject) ?? []), c]);
  for (const area of spec.areas) {
    index.push("", `## ${md(area.area)}: ${md(area.title)}`, "");
    if (area.description) index.push(md(area.description), "");
    for (const subject of area.subjects) {
      const n = spec.clauses.filter((c) => c.area === area.area && c.subject === subject).length;
      index.push(`- [${md(subject)}](${slug(subject)}.md) — ${n} clause(s) in this area`);
    }
  }
  // Every ioctl of every profile, history included, with a page even where no clause is about it.
  index.push("", "## Every ioctl across profiles", "", "| ioctl | profiles | request | direction | argument |", "|---|---|---|---|---|");
  for (const name of spec.ioctlNames()) {
    if (!pages.has(name)) pages.set(name, []);
    for (const r of spec.ioctlRevisions(name))
      index.push(`| [${md(name)}](${slug(name)}.md) | ${cell(r.profiles.join(", "))} | ${code(formatRequest(r.def.request))} | ${cell(r.def.dir)} | ${cell(r.def.arg === null ? "none" : r.def.arg)} |`);
  }
  for (const [subject, clauses] of pages) {
    const lines = [`# ${md(subject)}`, "", "[index](index.md)", "", ...ioctlSection(spec, subject)];
    const struct = subject.replace(/\./g, "_");
    if (!spec.ioctlRevisions(subject).length && spec.structs.has(struct)) lines.push("## Layout", "", ...layoutTable(spec, struct));
    lines.push("## Clauses", "");
    if (clauses.length === 0) lines.push("No clause has this ioctl as its subject (a clause may name it under another subject: see the index).", "");
    for (const c of clauses) lines.push(...clauseSection(c, byClause.get(c.id) ?? []));
    writeReportFile(dir, `${slug(subject)}.md`, lines.join("\n"));
  }
  writeReportFile(dir, "index.md", index.join("\n") + "\n");
  err(`privmem-cts: wrote ${pages.size + 1} pages to ${shownPath(dir)}`);
  return 0;
}
