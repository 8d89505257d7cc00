// `privmem-cts profiles diff A B`: which clauses appear, vanish or change between
// two uAPI revisions.
import { loadSpec, type ClauseVariant } from "../../spec/index.js";
import { isProfileName, PROFILE_ORDER, type ProfileName } from "../../spec/profiles.js";
import { json, out, parse, UsageError } from "./common.js";

export const PROFILES_HELP = `privmem-cts profiles [list | diff A B] [--json]

  list        the profiles (uAPI revisions) in timeline order
  diff A B    clauses added (exist in B only), removed (in A only) and changed
              (a different variant: errno, result or statement) from A to B; when
              revisions lie between them on the timeline, the history too: each
              step's clauses added, gone and changed (in-flight branches such as
              cca-v14 or conv-v7 are left out unless one of A and B is one)`;

export interface ProfileDiff {
  from: string;
  to: string;
  added: { id: string; statement: string; variant: ClauseVariant }[];
  removed: { id: string; statement: string; variant: ClauseVariant }[];
  changed: { id: string; statement: string; from: ClauseVariant; to: ClauseVariant }[];
  /** the steps through the revisions between A and B, when there are any */
  history?: ProfileDiff[];
}

/** What a variant says about behaviour: its errnos, result and statement (not its notes). */
function ruleOf(v: ClauseVariant): string {
  return JSON.stringify([v.errno ?? null, v.result ?? null, v.statement ?? null]);
}

export function diffProfiles(a: string, b: string): ProfileDiff {
  if (!isProfileName(a) || !isProfileName(b)) throw new UsageError(`unknown profile (profiles: ${PROFILE_ORDER.join(", ")})`);
  const spec = loadSpec();
  const d: ProfileDiff = { from: a, to: b, added: [], removed: [], changed: [] };
  for (const c of spec.clauses) {
    const va = spec.clauseVariant(c, a);
    const vb = spec.clauseVariant(c, b);
    if (!va && vb) d.added.push({ id: c.id, statement: vb.statement ?? c.statement, variant: vb });
    else if (va && !vb) d.removed.push({ id: c.id, statement: va.statement ?? c.statement, variant: va });
    else if (va && vb && ruleOf(va) !== ruleOf(vb)) d.changed.push({ id: c.id, statement: c.statement, from: va, to: vb });
  }
  return d;
}

/**
 * The revisions from a to b along the timeline (PROFILE_ORDER): those in between, less the
 * in-flight series, which branch off the release line rather than lead from one revision to the next.
 */
export function timelinePath(a: ProfileName, b: ProfileName): ProfileName[] {
  const spec = loadSpec();
  const kind = new Map(spec.profiles.map((p) => [p.name, p.kind]));
  const [i, j] = [PROFILE_ORDER.indexOf(a), PROFILE_ORDER.indexOf(b)];
  if (i >= j) return [a, b];
  return [a, ...PROFILE_ORDER.slice(i + 1, j).filter((p) => kind.get(p) !== "in-flight"), b];
}

/** The diff from a to b, with the step-by-step history when the path has more than one step. */
export function profileHistory(a: string, b: string): ProfileDiff {
  const d = diffProfiles(a, b);
  const path = timelinePath(d.from as ProfileName, d.to as ProfileName);
  if (path.length > 2) d.history = path.slice(1).map((to, k) => diffProfiles(path[k] as string, to));
  return d;
}

/** Clause ids grouped by area: "ATTR (3): ATTR-001 ATTR-002 ATTR-003". */
function byArea(ids: string[]): string {
  const areas = new Map<string, string[]>();
  for (const id of ids) {
    const area = id.replace(/-\d+$/, "");
    areas.set(area, [...(areas.get(area) ?? []), id]);
  }
  return [...areas].map(([area, list]) => (list.length > 6 ? `${area} (${list.length})` : list.join(" "))).join(", ");
}

function historyLines(steps: ProfileDiff[]): string[] {
  const spec = loadSpec();
  const date = new Map<string, string>(spec.profiles.map((p) => [p.name, p.date]));
  const title = (id: string) => spec.clauseById.get(id)?.title ?? "";
  const lines = ["History, one revision at a time:"];
  for (const s of steps) {
    lines.push(`  ${s.from} (${date.get(s.from)}) -> ${s.to} (${date.get(s.to)}): ${s.added.length} added, ${s.removed.length} gone, ${s.changed.length} changed`);
    if (s.added.length) lines.push(`      added: ${byArea(s.added.map((x) => x.id))}`);
    if (s.removed.length) lines.push(`      gone:  ${byArea(s.removed.map((x) => x.id))}`);
    for (const x of s.changed) lines.push(`      ~ ${x.id} ${title(x.id)}: ${ruleText(x.from)} -> ${ruleText(x.to)}`);
  }
  return lines;
}

/** A variant's rule in a few words: errnos and result, or that its statement differs. */
function ruleText(v: ClauseVariant): string {
  return [v.errno ? `errno ${v.errno.join("/")}` : "", v.result ? `result ${v.result}` : "", v.statement ? "(own statement)" : ""].filter(Boolean).join("; ") || "holds";
}

function variantText(v: ClauseVariant): string {
  return [v.errno ? `errno ${v.errno.join("/")}` : "", v.result ? `result ${v.result}` : "", v.statement ? `"${v.statement}"` : "", v.note ? `(${v.note})` : ""].filter(Boolean).join("; ") || "holds";
}

export async function cmdProfiles(argv: string[]): Promise<number> {
  const { values: o, positionals } = parse(argv, { json: { type: "boolean", default: false } }, true);
  const [sub, a, b] = positionals;
  if (sub === undefined || sub === "list") {
    const spec = loadSpec();
    if (o.json) json(spec.profiles);
    else
      for (const p of spec.profiles) {
        out(`${p.name.padEnd(11)} ${p.date}  ${p.kind.padEnd(9)} ${p.title}${p.stable ? ` (at stable ${p.stable})` : ""}`);
        if (p.note) out(`${"".padEnd(34)}${p.note}`);
      }
    return 0;
  }
  if (sub !== "diff" || a === undefined || b === undefined) throw new UsageError("usage: privmem-cts profiles diff A B [--json]");
  const d = profileHistory(a, b);
  if (o.json) {
    json(d);
    return 0;
  }
  out(`Clauses from ${a} to ${b}: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed.`);
  if (d.history) out("\n" + historyLines(d.history).join("\n"));
  if (d.added.length) out(`\nAdded in ${b}:`);
  for (const x of d.added) out(`  + ${x.id}  ${x.statement}\n      ${variantText(x.variant)}`);
  if (d.removed.length) out(`\nGone in ${b}:`);
  for (const x of d.removed) out(`  - ${x.id}  ${x.statement}\n      ${variantText(x.variant)}`);
  if (d.changed.length) out(`\nChanged:`);
  for (const x of d.changed) out(`  ~ ${x.id}  ${x.statement}\n      ${a}: ${variantText(x.from)}\n      ${b}: ${variantText(x.to)}`);
  return 0;
}
