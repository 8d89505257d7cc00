// `privmem-cts profiles diff A B`: which clauses appear, vanish or change between
// two uAPI revisions.
import { loadSpec, type ClauseVariant } from "../../spec/index.js";
import { isProfileName, PROFILE_ORDER } from "../../spec/profiles.js";
import { json, out, parse, UsageError } from "./common.js";

export const PROFILES_HELP = `privmem-cts profiles [list | diff A B] [--json]

  list        the profiles (uAPI revisions) in timeline order
  diff A B    clauses added (exist in B only), removed (in A only) and changed
              (a different variant: errno, result or statement) from A to B`;

export interface ProfileDiff {
  from: string;
  to: string;
  added: { id: string; statement: string; variant: ClauseVariant }[];
  removed: { id: string; statement: string; variant: ClauseVariant }[];
  changed: { id: string; statement: string; from: ClauseVariant; to: ClauseVariant }[];
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
  const d = diffProfiles(a, b);
  if (o.json) {
    json(d);
    return 0;
  }
  out(`Clauses from ${a} to ${b}: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed.`);
  if (d.added.length) out(`\nAdded in ${b}:`);
  for (const x of d.added) out(`  + ${x.id}  ${x.statement}\n      ${variantText(x.variant)}`);
  if (d.removed.length) out(`\nGone in ${b}:`);
  for (const x of d.removed) out(`  - ${x.id}  ${x.statement}\n      ${variantText(x.variant)}`);
  if (d.changed.length) out(`\nChanged:`);
  for (const x of d.changed) out(`  ~ ${x.id}  ${x.statement}\n      ${a}: ${variantText(x.from)}\n      ${b}: ${variantText(x.to)}`);
  return 0;
}
