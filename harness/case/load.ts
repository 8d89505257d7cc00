// Load suites: JSON suites (validated against spec/schema/suite.schema.json) and
// TypeScript scenario suites. Parameters are expanded into cases, ids are made,
// and everything a schema cannot check is checked here, before anything runs:
// unique ids, known clauses and features, bound names, controls for error cases, and
// that cases and their clauses agree (./agree.ts).
import { closeSync, existsSync, readFileSync, fstatSync, lstatSync, openSync, readSync, readdirSync, realpathSync, statSync, constants } from "node:fs";
import { extname, join, relative, sep } from "node:path";
import { pathToFileURL } from "node:url";
import type { Spec } from "../../spec/index.js";
import { isProfileName } from "../../spec/profiles.js";
import { InputError, type InputProblem, pointer } from "../../spec/errors.js";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { displayPath, readJson, schemaProblems } from "../../spec/validate.js";
import { OPS, type ParamSpec } from "../../spec/driver/ops.js";
import { jsonDepth } from "../protocol/wire.js";
import { DEFAULT_SUITE_ARCH } from "../protocol/schemas.js";
import { isOpName } from "../../spec/driver/contract.js";
import { ExprError, parse, references } from "./expr.js";
import { caseId, LABEL_FORBIDDEN } from "./query.js";
import { controlProblems, errnoProblems } from "./consistency.js";
import { staleBuildProblems } from "./stale.js";
import { expandGenerators } from "./generators.js";
import { applyArguments, parseFixtureCall } from "./fixture-call.js";
import type { CaseDef, Expect, Outcome, ParamValue, StepDef } from "./types.js";
import type { ScenarioSuite } from "../scenario/index.js";

interface SuiteFile {
  suite: string;
  title: string;
  description?: string;
  arch?: string;
  fixtures?: Record<string, { description?: string; requires?: string[]; steps: Record<string, unknown>[] }>;
  cases: {
    name: string;
    title?: string;
    clauses: string[];
    requires?: string[];
    profiles?: string;
    params?: Record<string, ParamValue[] | Record<string, ParamValue>> | Record<string, ParamValue>[];
    fixture?: string | string[];
    control?: string;
    steps: Record<string, unknown>[];
    timeoutMs?: number;
  }[];
}

export interface LoadedSuites {
  cases: CaseDef[];
  files: string[];
}

class TooManyCombinations extends Error {
  constructor(readonly count: number) {
    super(`at most ${MAX_COMBINATIONS} parameter combinations per case (these params make ${count})`);
  }
}

/** expandParams, with a product over the bound reported as a problem at the case's params. */
function combinations(params: Parameters<typeof expandParams>[0], file: string, at: string, problems: InputProblem[]): Combination[] {
  try {
    return expandParams(params);
  } catch (err) {
    if (!(err instanceof TooManyCombinations)) throw err;
    problems.push({ file, pointer: at, expected: err.message });
    return [];
  }
}

type Combination = { labels: [string, string][]; values: Record<string, ParamValue> };

/** Expand `params` into combinations, keeping declaration order for ids. */
export function expandParams(params: SuiteFile["cases"][number]["params"] | ScenarioSuite["cases"][number]["variants"]): Combination[] {
  if (params === undefined) return [{ labels: [], values: {} }];
  if (!Array.isArray(params)) {
    let n = 1;
    for (const spec of Object.values(params)) n *= Array.isArray(spec) ? spec.length : Object.keys(spec).length;
    if (n > MAX_COMBINATIONS) throw new TooManyCombinations(n);
  }
  if (Array.isArray(params)) return params.map((p) => ({ labels: Object.entries(p).map(([k, v]) => [k, String(v)]), values: { ...p } }));
  let combos: Combination[] = [{ labels: [], values: {} }];
  for (const [name, spec] of Object.entries(params)) {
    const choices: [string, ParamValue][] = Array.isArray(spec) ? spec.map((v) => [String(v), v]) : Object.entries(spec);
    combos = combos.flatMap((c) => choices.map(([label, v]) => ({ labels: [...c.labels, [name, label] as [string, string]], values: { ...c.values, [name]: v } })));
  }
  return combos;
}

/** Bounds on input files: size, JSON nesting, and how many cases one definition may expand into. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;
export const MAX_INPUT_DEPTH = 128;
export const MAX_COMBINATIONS = 10000;

/**
 * Why an input file cannot be read as one, or undefined when it can: it must be a regular file
 * (not a FIFO, a device or a socket, which could block or never end), within MAX_INPUT_BYTES,
 * and for JSON, nested no deeper than MAX_INPUT_DEPTH.
 */
export function inputFileProblem(file: string, maxBytes = MAX_INPUT_BYTES): InputProblem | undefined {
  const at = (expected: string): InputProblem => ({ file: displayPath(file), pointer: "", expected });
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return at(`a readable file (${(err as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return at(`a regular file (this is a ${st.isFIFO() ? "FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "device" : st.isSocket() ? "socket" : st.isDirectory() ? "directory" : "special file"})`);
    if (st.size > maxBytes) return at(`a file of at most ${maxBytes} bytes (it has ${st.size})`);
    if (!file.endsWith(".json")) return undefined;
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (jsonDepth(buf.toString("utf8", 0, got), MAX_INPUT_DEPTH) > MAX_INPUT_DEPTH) return at(`JSON nested at most ${MAX_INPUT_DEPTH} levels deep`);
    return undefined;
  } catch (err) {
    return at(`a readable file (${(err as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

/** Every file below dir, in name order. Links are followed once; loops and dangling links are problems. */
export function walkFiles(dir: string, problems?: InputProblem[], seen: Set<string> = new Set()): string[] {
  const out: string[] = [];
  const problem = (file: string, expected: string) => {
    if (problems) problems.push({ file: displayPath(file), pointer: "", expected });
    else throw new InputError([{ file: displayPath(file), pointer: "", expected }]);
  };
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    problem(dir, `a directory that can be read (${(err as Error).message})`);
    return out;
  }
  if (seen.has(real)) {
    problem(dir, `no directory reached twice (a symlink loop leads back to ${displayPath(real)})`);
    return out;
  }
  seen.add(real);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    problem(dir, `a directory that can be read (${(err as Error).message})`);
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p).isSymbolicLink() ? statSync(p) : lstatSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problem(p, code === "ELOOP" ? "a link that resolves (this one loops)" : code === "ENOENT" ? "a link to something that exists (this one dangles)" : `a readable entry (${(err as Error).message})`);
      continue;
    }
    if (st.isDirectory()) for (const f of walkFiles(p, problems, seen)) out.push(f);
    else out.push(p);
  }
  return out;
}

/**
 * The module a code suite is imported from. Importing runs its code, so only the files the
 * suite format defines are imported: a `*.ts` suite under the project (from its compiled form
 * in dist/) whose source says `export default defineSuite(`, and outside it compiled suites named `*.suite.js` or `*.suite.mjs`. Other .js and
 * .mjs files below --suites are never imported.
 */
function moduleFor(file: string): string | undefined {
  const ext = extname(file);
  if (ext === ".js" || ext === ".mjs") return /\.suite\.m?js$/.test(file) ? file : undefined;
  if (ext !== ".ts" || file.endsWith(".d.ts")) return undefined;
  const rel = relative(PROJECT_ROOT, file);
  if (rel.startsWith("..")) return undefined;
  // Only a file that declares a suite: `--suites .` must not run the project's scripts.
  // (A file that is not a regular one of bounded size is kept, so that the loader reports it.)
  const dist = join(PROJECT_ROOT, "dist", rel.replace(/\.ts$/, ".js"));
  if (inputFileProblem(file) !== undefined) return dist;
  return SUITE_SOURCE.test(readFileSync(file, "utf8")) ? dist : undefined;
}
const SUITE_SOURCE = /^export\s+default\s+defineSuite\s*\(/m;

type FixtureMap = NonNullable<SuiteFile["fixtures"]>;
type SharedFixtures = Map<string, { fixture: FixtureMap[string]; file: string }>;
const FIXTURES_SUFFIX = ".fixtures.json";

/** Fixtures shared by every JSON suite in the same directory tree (files named *.fixtures.json). */
function loadSharedFixtures(files: string[], problems: InputProblem[]): SharedFixtures {
  const shared: SharedFixtures = new Map();
  for (const file of files.filter((f) => f.endsWith(FIXTURES_SUFFIX))) {
    const data = readJson(file) as { fixtures: FixtureMap };
    const p = schemaProblems("fixtures.schema.json", data, file);
    if (p.length > 0) {
      problems.push(...p);
      continue;
    }
    for (const [name, fixture] of Object.entries(data.fixtures)) {
      const prior = shared.get(name);
      if (prior) problems.push({ file: displayPath(file), pointer: pointer("fixtures", name), expected: `a fixture name defined once (${name} is also defined in ${prior.file})` });
      shared.set(name, { fixture, file: displayPath(file) });
    }
  }
  return shared;
}

export async function loadSuites(spec: Spec, dirs: string[]): Promise<LoadedSuites> {
  const problems: InputProblem[] = staleBuildProblems();
  const cases: CaseDef[] = [];
  const files: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) {
      problems.push({ file: displayPath(dir), pointer: "", expected: "a directory of suites" });
      continue;
    }
    const all = statSync(dir).isDirectory() ? walkFiles(dir, problems) : [dir];
    const unreadable = new Set<string>();
    for (const file of all) {
      if (!file.endsWith(".json") && moduleFor(file) === undefined) continue;
      const bad = inputFileProblem(file);
      if (bad) {
        problems.push(bad);
        unreadable.add(file);
      }
    }
    const shared = loadSharedFixtures(all.filter((f) => !unreadable.has(f)), problems);
    const root = statSync(dir).isDirectory() ? dir : undefined;
    for (const file of all) {
      if (unreadable.has(file)) continue;
      if (file.endsWith(FIXTURES_SUFFIX)) files.push(displayPath(file));
      else if (file.endsWith(".json")) {
        files.push(displayPath(file));
        const loaded = loadJsonSuite(spec, file, shared, problems);
        if (root !== undefined) suiteIdProblem(root, file, loaded[0]?.suite, problems);
        cases.push(...loaded);
      } else {
        const mod = moduleFor(file);
        if (!mod) continue;
        files.push(displayPath(file));
        if (!existsSync(mod)) {
          problems.push({ file: displayPath(file), pointer: "", expected: `a compiled module at ${displayPath(mod)} (run npm run build)` });
          continue;
        }
        const suite = ((await import(pathToFileURL(mod).href)) as { default?: ScenarioSuite }).default;
        if (!suite || typeof suite.suite !== "string" || !Array.isArray(suite.cases)) {
          problems.push({ file: displayPath(file), pointer: "", expected: "a default export made with defineSuite()" });
          continue;
        }
        if (root !== undefined) suiteIdProblem(root, file, suite.suite, problems);
        cases.push(...loadScenarioSuite(suite, displayPath(file), problems));
      }
    }
  }
  checkCases(spec, cases, problems);
  // A problem in a shared fixture is found once per case that uses it; report it once.
  const unique = [...new Map(problems.map((p) => [`${p.file}|${p.pointer}|${p.expected}`, p])).values()];
  if (unique.length > 0) throw new InputError(unique);
  return { cases, files };
}

/**
 * One grouping: a suite's id is where its file is. suites/gmem/fallocate.json is gmem:fallocate,
 * suites/hw/snp/rmp.ts is hw:snp:rmp, and a file may carry a part after a dot
 * (gmem/fallocate.times.ts is another file of gmem:fallocate).
 */
export function suiteIdFor(root: string, file: string): string {
  const parts = relative(root, file).split(sep);
  const stem = parts.pop()!.split(".")[0]!;
  return [...parts, stem].join(":");
}

function suiteIdProblem(root: string, file: string, id: string | undefined, problems: InputProblem[]): void {
  const want = suiteIdFor(root, file);
  if (id !== undefined && id !== want) problems.push({ file: displayPath(file), pointer: "/suite", expected: `the suite id its place gives it, "${want}" (folders and file name, before any dot), not "${id}"` });
}

function loadScenarioSuite(suite: ScenarioSuite, file: string, problems: InputProblem[]): CaseDef[] {
  const out: CaseDef[] = [];
  suite.cases.forEach((c, i) => {
    const fixture = c.fixture === undefined ? undefined : suite.fixtures?.[c.fixture];
    if (c.fixture !== undefined && !fixture) problems.push({ file, pointer: pointer("cases", i, "fixture"), expected: `a fixture defined in the suite (${c.fixture} is not)` });
    for (const combo of combinations(c.variants, file, pointer("cases", i, "variants"), problems)) {
      for (const [k, label] of combo.labels)
        if (LABEL_FORBIDDEN.test(label)) problems.push({ file, pointer: pointer("cases", i, "variants", k), expected: `variant values (or labels) without ; , : # = or spaces, which would break the case id (${JSON.stringify(label)})` });
      out.push({
        id: caseId(suite.suite, c.name, combo.labels),
        suite: suite.suite,
        name: c.name,
        ...(c.title ? { title: c.title } : {}),
        file,
        pointer: pointer("cases", i),
        clauses: c.clauses,
        arch: suite.arch ?? DEFAULT_SUITE_ARCH,
        requires: [...(fixture?.requires ?? []), ...(c.requires ?? [])],
        ...(c.profiles ? { profiles: c.profiles } : {}),
        params: combo.values,
        ...(c.control ? { control: c.control } : {}),
        ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
        kind: "scenario",
        scenario: { ...(fixture ? { fixture } : {}), run: c.run },
      });
    }
  });
  return out;
}

const STEP_META = new Set(["op", "as", "expect", "note"]);

function loadJsonSuite(spec: Spec, file: string, shared: SharedFixtures, problems: InputProblem[]): CaseDef[] {
  const disp = displayPath(file);
  let data: SuiteFile;
  try {
    data = readJson(file) as SuiteFile;
  } catch (err) {
    if (err instanceof InputError) problems.push(...err.problems);
    else throw err;
    return [];
  }
  const generated: InputProblem[] = [];
  expandGenerators(spec, data, disp, generated);
  if (generated.length > 0) {
    problems.push(...generated);
    return [];
  }
  const schema = schemaProblems("suite.schema.json", data, file);
  if (schema.length > 0) {
    problems.push(...schema);
    return [];
  }
  const toStep = (raw: Record<string, unknown>, at: string, inFile = disp): StepDef => {
    const args: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (!STEP_META.has(k)) args[k] = v;
    return {
      op: raw.op as StepDef["op"],
      ...(raw.as !== undefined ? { as: raw.as as string } : {}),
      ...(raw.expect !== undefined ? { expect: raw.expect as Expect } : {}),
      ...(raw.note !== undefined ? { note: raw.note as string } : {}),
      origin: `${inFile}#${at}`,
      args,
    };
  };
  const out: CaseDef[] = [];
  data.cases.forEach((c, i) => {
    const fixtureNames = c.fixture === undefined ? [] : Array.isArray(c.fixture) ? c.fixture : [c.fixture];
    const steps: StepDef[] = [];
    const requires: string[] = [];
    fixtureNames.forEach((ref) => {
      const call = parseFixtureCall(ref);
      if (typeof call === "string") {
        problems.push({ file: disp, pointer: pointer("cases", i, "fixture"), expected: call });
        return;
      }
      const { name, args } = call;
      const local = data.fixtures?.[name];
      const fromShared = local ? undefined : shared.get(name);
      const fx = local ?? fromShared?.fixture;
      if (!fx) {
        problems.push({ file: disp, pointer: pointer("cases", i, "fixture"), expected: `a fixture defined in this suite or a *.fixtures.json file (${name} is not)` });
        return;
      }
      const used = JSON.stringify(fx.steps);
      for (const arg of args.keys())
        if (!new RegExp(`(?<![A-Za-z0-9_$.])${arg}(?![A-Za-z0-9_])`).test(used)) problems.push({ file: disp, pointer: pointer("cases", i, "fixture"), expected: `arguments the fixture's steps use (${name} has no ${arg})` });
      for (const r of fx.requires ?? []) if (!requires.includes(r)) requires.push(r);
      fx.steps.forEach((s, j) => steps.push(toStep(applyArguments(s, args), pointer("fixtures", name, "steps", j), fromShared?.file ?? disp)));
    });
    c.steps.forEach((s, j) => steps.push(toStep(s, pointer("cases", i, "steps", j))));
    for (const combo of combinations(c.params, disp, pointer("cases", i, "params"), problems)) {
      for (const [k, label] of combo.labels)
        if (LABEL_FORBIDDEN.test(label)) problems.push({ file: disp, pointer: pointer("cases", i, "params", k), expected: `parameter values (or labels) without ; , : # = or spaces, which would break the case id (${JSON.stringify(label)})` });
      out.push({
        id: caseId(data.suite, c.name, combo.labels),
        suite: data.suite,
        name: c.name,
        ...(c.title ? { title: c.title } : {}),
        file: disp,
        pointer: pointer("cases", i),
        clauses: c.clauses,
        arch: data.arch ?? DEFAULT_SUITE_ARCH,
        requires: [...requires, ...(c.requires ?? []).filter((r) => !requires.includes(r))],
        ...(c.profiles ? { profiles: c.profiles } : {}),
        params: combo.values,
        ...(c.control ? { control: c.control } : {}),
        ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
        kind: "steps",
        steps,
        fixtures: fixtureNames,
      });
    }
  });
  return out;
}

function knownRequest(spec: Spec, request: string): boolean {
  const [name, profile] = request.split("@");
  if (profile === undefined) return spec.ioctlNames().includes(name!);
  return isProfileName(profile) && spec.request(request, profile) !== undefined;
}

function conditions(e: Expect | undefined): string[] {
  if (e === undefined || "byProfile" in e || !("if" in e)) return [];
  return [e.if, ...conditions(e.then), ...conditions(e.else)];
}

/** ${name} interpolations in a value (strings of string, enum and bool arguments, errno and exit names). */
function interpolations(value: unknown): string[] {
  if (typeof value === "string") return [...value.matchAll(/\$\{([a-z_][a-z0-9_]*)\}/g)].map((m) => m[1]!);
  if (Array.isArray(value)) return value.flatMap(interpolations);
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(interpolations);
  return [];
}

function outcomes(e: Expect | undefined): Outcome[] {
  if (e === undefined) return [];
  if ("byProfile" in e) return Object.values(e.byProfile);
  if ("if" in e) return [...outcomes(e.then), ...outcomes(e.else)];
  return [e];
}

function expressionsOf(value: unknown, kind: ParamSpec["kind"] | "match", fields?: ParamSpec["fields"]): string[] {
  if (kind === "records" && Array.isArray(value))
    return value.flatMap((r) => Object.entries(r as Record<string, unknown>).flatMap(([k, x]) => (fields?.[k] ? expressionsOf(x, fields[k]!.kind) : [])));
  if (typeof value === "string") return kind === "string" || kind === "enum" || kind === "bool" ? [] : [value];
  if (Array.isArray(value)) return value.flatMap((v) => expressionsOf(v, kind));
  if (typeof value === "object" && value !== null) {
    if ("hex" in value || "text" in value) return [];
    return Object.values(value).flatMap((v) => expressionsOf(v, kind));
  }
  return [];
}

/** Checks over all cases together. */
function checkCases(spec: Spec, cases: CaseDef[], problems: InputProblem[]): void {
  const features = new Set(spec.features.map((f) => f.name));
  const constantNames = new Set([...spec.groups.values()].flat());
  const ids = new Map<string, CaseDef>();
  const reported = new Set<string>();
  for (const c of cases) {
    const at = (...rest: (string | number)[]) => ({ file: c.file, pointer: c.pointer + pointer(...rest) });
    const prior = ids.get(c.id);
    if (prior) problems.push({ ...at("name"), expected: `a unique case id (${c.id} is also defined in ${prior.file}${prior.pointer})` });
    ids.set(c.id, c);
    // Per-definition checks run once, not once per parameter combination.
    const defKey = `${c.file}${c.pointer}`;
    if (reported.has(defKey)) continue;
    reported.add(defKey);
    c.clauses.forEach((id, i) => {
      if (!spec.clauseById.has(id)) problems.push({ ...at("clauses", i), expected: `a clause id defined in spec/clauses (${id} is not)` });
    });
    c.requires.forEach((r, i) => {
      if (!features.has(r.replace(/^!/, ""))) problems.push({ ...at("requires", i), expected: `a feature from spec/features.json (${r} is not)` });
    });
    if (c.kind !== "steps") continue;
    const bound = new Set<string>();
    const paramNames = new Set(Object.keys(c.params));
    let needsControl = false;
    for (const step of c.steps ?? []) {
      const where = (suffix = "") => ({ file: step.origin.split("#")[0]!, pointer: step.origin.split("#")[1]! + suffix });
      if (!isOpName(step.op)) continue;
      const checkExpr = (src: string, suffix: string) => {
        try {
          const { names, refs } = references(parse(src));
          for (const n of names) if (!paramNames.has(n) && n !== "PAGE_SIZE" && !constantNames.has(n)) problems.push({ ...where(suffix), expected: `a parameter, PAGE_SIZE or a constant from spec/constants.json (${n} is none)` });
          for (const r of refs) if (!bound.has(r)) problems.push({ ...where(suffix), expected: `a binding made by an earlier step's "as" ($${r} is not bound)` });
        } catch (err) {
          if (err instanceof ExprError) problems.push({ ...where(suffix), expected: `a valid expression: ${err.message}` });
          else throw err;
        }
      };
      for (const [name, p] of Object.entries(OPS[step.op].params) as [string, ParamSpec][]) {
        const v = step.args[name];
        if (v !== undefined) for (const src of expressionsOf(v, p.kind, p.fields)) checkExpr(src, `/${name}`);
        if (v !== undefined && (p.kind === "string" || p.kind === "enum" || p.kind === "bool"))
          for (const n of interpolations(v)) if (!paramNames.has(n)) problems.push({ ...where(`/${name}`), expected: `\${...} naming a parameter of the case (${n} is not one)` });
      }
      for (const src of conditions(step.expect)) checkExpr(src, "/expect/if");
      for (const o of outcomes(step.expect))
        for (const n of interpolations([o.errno, o.signal, o.exit?.reason, o.out])) if (!paramNames.has(n)) problems.push({ ...where("/expect"), expected: `\${...} naming a parameter of the case (${n} is not one)` });
      if (step.op === "ioctl" && typeof step.args.request === "string" && !knownRequest(spec, step.args.request))
        problems.push({ ...where("/request"), expected: `an ioctl named in spec/constants.json, optionally NAME@profile for another revision's definition (${step.args.request} is not)` });
      for (const o of outcomes(step.expect)) {
        if (o.errno !== undefined || o.signal !== undefined) needsControl = true;
        for (const src of expressionsOf(o.ret, "match")) checkExpr(src, "/expect/ret");
        for (const src of expressionsOf(o.out, "match")) checkExpr(src, "/expect/out");
        for (const src of expressionsOf(o.data, "match")) checkExpr(src, "/expect/data");
        const { reason: _r, ...payload } = o.exit ?? { reason: "" };
        for (const src of expressionsOf(payload, "match")) checkExpr(src, "/expect/exit");
      }
      if (step.as !== undefined) bound.add(step.as);
    }
    if (needsControl && c.control === undefined) problems.push({ ...at(), expected: `a "control" naming the case(s) that succeed with the same arguments but one (this case expects an error or a signal)` });
  }
  controlProblems(cases, problems);
  errnoProblems(spec, cases, problems);
}
