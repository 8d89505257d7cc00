// Checks that keep cases and clauses saying the same thing, run by the loader over every
// case before anything runs:
// - errnos: in each profile where a case runs and its clauses name errnos, every step that
//   expects an errno must name at least one of them (a case expecting EPERM under a clause that
//   says EINVAL is a suite bug or a clause bug, never something to run);
// - controls: an error case's control must match a case that shares its labels, except the
//   argument under test (one label, or a range given as a start and a size or len).
import type { Spec } from "../../spec/index.js";
import { type InputProblem, pointer } from "../../spec/errors.js";
import { expandProfileSet, PROFILE_ORDER, type ProfileName } from "../../spec/profiles.js";
import { queryIndex } from "./query.js";
import type { CaseDef, Expect, Outcome, StepDef } from "./types.js";

/** The profiles a case runs in: its own `profiles`, else those where every clause exists. */
export function caseProfiles(spec: Spec, c: CaseDef): ProfileName[] {
  if (c.profiles !== undefined) {
    try {
      return expandProfileSet(c.profiles);
    } catch {
      return [];
    }
  }
  const clauses = c.clauses.map((id) => spec.clauseById.get(id));
  return PROFILE_ORDER.filter((p) => clauses.every((cl) => cl !== undefined && spec.clauseVariant(cl, p) !== undefined));
}

/** Each outcome of an expectation with the JSON pointer below the step's "expect" and the profiles it applies to (undefined: all). */
function outcomesWithPath(e: Expect | undefined, path: string[] = []): { o: Outcome; path: string[]; set?: string }[] {
  if (e === undefined) return [];
  if ("byProfile" in e) return Object.entries(e.byProfile).map(([set, o]) => ({ o, path: [...path, "byProfile", set], set }));
  if ("if" in e) return [...outcomesWithPath(e.then, [...path, "then"]), ...outcomesWithPath(e.else, [...path, "else"])];
  return [{ o: e, path }];
}

function interpolate(name: string, params: CaseDef["params"]): string {
  return name.replace(/\$\{([a-z_][a-z0-9_]*)\}/g, (m, n: string) => (n in params ? String(params[n]) : m));
}

interface ExpectedErrno {
  errnos: string[];
  step: StepDef;
  path: string[];
}

/** The errnos a case expects in one profile, step by step. */
function expectedErrnos(c: CaseDef, profile: ProfileName): ExpectedErrno[] {
  const out: ExpectedErrno[] = [];
  for (const step of c.steps ?? [])
    for (const { o, path, set } of outcomesWithPath(step.expect)) {
      if (o.errno === undefined) continue;
      if (set !== undefined && !safeIncludes(set, profile)) continue;
      const errnos = (Array.isArray(o.errno) ? o.errno : [o.errno]).map((e) => interpolate(e, c.params));
      out.push({ errnos, step, path });
    }
  return out;
}

function safeIncludes(set: string, profile: ProfileName): boolean {
  try {
    return expandProfileSet(set).includes(profile);
  } catch {
    return false;
  }
}

/** A case whose expected errnos contradict its clauses' errnos in some profile; one problem per step, naming every such profile. */
export function errnoProblems(spec: Spec, cases: CaseDef[], problems: InputProblem[]): void {
  const found = new Map<string, { problem: InputProblem; profiles: string[]; says: string[]; got: Set<string>; name: string }>();
  for (const c of cases) {
    if (c.kind !== "steps") continue;
    const clauses = c.clauses.map((id) => spec.clauseById.get(id)).filter((cl) => cl !== undefined);
    for (const profile of caseProfiles(spec, c)) {
      const allowed = new Set(clauses.flatMap((cl) => spec.clauseVariant(cl, profile)?.errno ?? []));
      if (allowed.size === 0) continue;
      const expected = expectedErrnos(c, profile);
      const first = expected.find((x) => !x.errnos.some((e) => allowed.has(e)));
      if (first === undefined) continue;
      const [file, at] = first.step.origin.split("#") as [string, string];
      const where = { file, pointer: at + pointer("expect", ...first.path, "errno") };
      const key = `${where.file}#${where.pointer}`;
      let f = found.get(key);
      if (!f) found.set(key, (f = { problem: { ...where, expected: "" }, profiles: [], says: [], got: new Set(), name: `${c.suite}:${c.name}` }));
      if (!f.profiles.includes(profile)) {
        f.profiles.push(profile);
        f.says.push(`${profile}: ${clauses.map((cl) => `${cl.id} ${(spec.clauseVariant(cl, profile)?.errno ?? ["-"]).join("|")}`).join(", ")}`);
      }
      for (const e of first.errnos) f.got.add(e);
    }
  }
  for (const f of found.values()) {
    f.problem.expected = `an errno that the case's clauses allow (${f.says.join("; ")}); this step of ${f.name} expects only ${[...f.got].join(", ")} there. Name the clause whose rule the step relies on, or correct the clause from its sources`;
    problems.push(f.problem);
  }
}

/** The labels of a case id: "k=v;k=v" after "suite:name:". */
export function caseLabels(c: CaseDef): Map<string, string> {
  const rest = c.id.slice(`${c.suite}:${c.name}`.length + 1);
  const labels = new Map<string, string>();
  if (rest === "") return labels;
  for (const kv of rest.split(";")) {
    const eq = kv.indexOf("=");
    if (eq > 0) labels.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return labels;
}

const RANGE_SIZES = new Set(["size", "len"]);

/** The labels two cases share but give different values. */
export function differingLabels(a: Map<string, string>, b: Map<string, string>): string[] {
  return [...a].filter(([k, v]) => b.has(k) && b.get(k) !== v).map(([k]) => k);
}

/** "The same arguments but one": at most one shared label differs, or two that are one range (a start and its size or len). */
export function oneArgumentApart(differ: string[]): boolean {
  return differ.length <= 1 || (differ.length === 2 && differ.some((k) => RANGE_SIZES.has(k)));
}

/** Whether a case expects an error or a signal anywhere: such a case needs a control. */
export function expectsFailure(c: CaseDef): boolean {
  return (c.steps ?? []).some((s) => outcomesWithPath(s.expect).some(({ o }) => o.errno !== undefined || o.signal !== undefined));
}

/**
 * Every control matches a case; and one of the cases it matches is one argument apart from the
 * error case. A label value that no succeeding case of the suite takes (say new=gmem_same_file_range,
 * which only ever fails) is itself a fault under test: it is not compared, so a case that combines
 * two faults to show which check wins can name the control of the other.
 */
export function controlProblems(cases: CaseDef[], problems: InputProblem[]): void {
  const labelsOf = new Map<CaseDef, Map<string, string>>();
  const labels = (c: CaseDef) => {
    let l = labelsOf.get(c);
    if (!l) labelsOf.set(c, (l = caseLabels(c)));
    return l;
  };
  const succeeding = new Set<string>();
  for (const c of cases) if (c.kind === "steps" && !expectsFailure(c)) for (const [k, v] of labels(c)) succeeding.add(`${c.suite}\0${k}\0${v}`);
  const reported = new Set<string>();
  const lookUp = queryIndex(cases.map((c) => c.id));
  for (const c of cases) {
    if (c.control === undefined) continue;
    const at = { file: c.file, pointer: c.pointer + "/control" };
    const key = at.file + at.pointer;
    const matched = lookUp(c.control).map((i) => cases[i]!);
    if (matched.length === 0) {
      problems.push({ ...at, expected: `a query that matches at least one case (${c.control} matches none)` });
      continue;
    }
    if (reported.has(key) || c.kind !== "steps") continue;
    const mine = new Map([...labels(c)].filter(([k, v]) => succeeding.has(`${c.suite}\0${k}\0${v}`)));
    const apart = matched.map((o) => ({ o, differ: differingLabels(mine, labels(o)) }));
    if (apart.some((x) => oneArgumentApart(x.differ))) continue;
    reported.add(key);
    const nearest = apart.reduce((a, b) => (b.differ.length < a.differ.length ? b : a));
    problems.push({
      ...at,
      expected: `a control one argument apart (one label, or a range: a start and its size or len): ${c.id} and its nearest control ${nearest.o.id} differ in ${nearest.differ.join(", ")}`,
    });
  }
}
