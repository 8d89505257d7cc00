// `privmem-cts list`: clauses or cases, for people or (--json) for tools.
import { resolve } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { compileFilters } from "../case/query.js";
import { json, out, parse, UsageError, loadSuiteArgs } from "./common.js";

export const LIST_HELP = `privmem-cts list [--clauses | --cases] [--json] [--filter Q] [--suites DIR]

  --clauses   the uAPI rules (default): id, area, statement, sources, profiles
  --cases     the conformance cases: id, clauses, requires, file
  --json      a JSON array instead of text
  --filter Q  only ids matching the query (cases) or starting with it (clauses)`;

export async function cmdList(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, {
    clauses: { type: "boolean", default: false },
    cases: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    filter: { type: "string", multiple: true },
    suites: { type: "string", multiple: true },
  });
  if (o.clauses && o.cases) throw new UsageError("choose one of --clauses and --cases");
  const spec = loadSpec();
  const match = compileFilters(o.filter ?? []);
  if (!o.cases) {
    const prefixes = (o.filter ?? []).flatMap((f) => f.split(",")).map((f) => f.trim());
    const clauses = spec.clauses.filter((c) => match(c.id) || prefixes.some((f) => f !== "" && c.id.startsWith(f)));
    if (o.json) json(clauses.map((c) => ({ id: c.id, area: c.area, subject: c.subject, ...(c.title ? { title: c.title } : {}), statement: c.statement, sources: c.sources, profiles: c.profiles, verification: c.verification, ...(c.arch ? { arch: c.arch } : {}) })));
    else for (const c of clauses) out(`${c.id.padEnd(17)} ${Object.keys(c.profiles).join(",").padEnd(22)} ${c.title ?? c.statement}`);
    return 0;
  }
  const { cases } = await loadSuiteArgs(spec, (o.suites ?? [SUITES_DIR]).map((d) => resolve(d)));
  const selected = cases.filter((c) => match(c.id));
  if (o.json) json(selected.map((c) => ({ id: c.id, clauses: c.clauses, requires: c.requires, ...(c.profiles ? { profiles: c.profiles } : {}), kind: c.kind, file: c.file })));
  else for (const c of selected) out(`${c.id}  [${c.clauses.join(" ")}]${c.requires.length ? ` requires ${c.requires.join(" ")}` : ""}`);
  return 0;
}
