// The uAPI as data: load every spec file, validate it against its schema, run the
// checks a schema cannot express, and answer look-ups per profile.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { InputError, type InputProblem, pointer } from "./errors.js";
import { SPEC_DIR } from "./paths.js";
import { expandProfileSet, isProfileName, loadProfiles, PROFILE_ORDER, type ProfileInfo, type ProfileName } from "./profiles.js";
import { ioc, formatRequest, type IocDir } from "./ioc.js";
import { layoutProblems, StructCodec, type StructDef } from "./codec.js";
import { displayPath, loadValidated } from "./validate.js";

export type { ProfileName } from "./profiles.js";

type NumberText = number | string;
type ConstantEntry = NumberText | { value: NumberText; profiles?: string; note?: string } | { values: { profiles: string; value: NumberText }[]; note?: string };

interface ConstantsFile {
  constants: Record<string, Record<string, ConstantEntry>>;
  ioctls: Record<string, IoctlDefFile[]>;
}

interface IoctlDefFile {
  dir: IocDir;
  nr: string;
  arg: string | null;
  on: FdKind[];
  profiles: string;
  number: string;
  returns: "int" | "fd";
  buffer?: string;
  note?: string;
  /** the type byte, default 0xAE (KVMIO) */
  type?: string;
  /** the argument size the number encodes, where it differs from the argument's */
  size?: number;
}

/** "file": a request the VFS answers for every file (fs/ioctl.c), before the file's own ioctl */
export type FdKind = "system" | "vm" | "vcpu" | "guest_memfd" | "file";

export interface IoctlDef {
  name: string;
  request: number;
  dir: IocDir;
  nr: number;
  /** null: no argument; "value": by value; "u64": pointer to u64; else a struct name */
  arg: string | null;
  on: FdKind[];
  returns: "int" | "fd";
  /** the struct whose bytes are passed, when it differs from `arg` */
  buffer?: string;
}

export interface Source {
  kind: "api.rst" | "source" | "selftest" | "lore" | "observed" | "spec";
  ref: string;
  note?: string;
  /** observed: the kernel build (uname -r) it was seen on */
  build?: string;
  /** observed: the committed capture (captures/*.jsonl) that records it */
  capture?: string;
}

export interface ClauseVariant {
  errno?: string[];
  result?: string;
  statement?: string;
  note?: string;
}

export interface Clause {
  id: string;
  area: string;
  subject: string;
  title?: string;
  statement: string;
  sources: Source[];
  /** profile set as written in the file -> variant */
  profiles: Record<string, ClauseVariant>;
  arch?: string[];
  verification: { status: "verified" | "observed" | "unverified"; note?: string };
  /**
   * Features a case must itself require to exercise this clause (its own, else its area's;
   * `!f`: the feature must be absent). Coverage and evidence count only such cases: a memfd
   * control case never exercises a guest_memfd rule.
   */
  requires: string[];
  file: string;
}

export interface Area {
  area: string;
  title: string;
  description?: string;
  subjects: string[];
  file: string;
}

export interface Feature {
  name: string;
  description: string;
  probe: string;
}

export interface Spec {
  profiles: ProfileInfo[];
  areas: Area[];
  clauses: Clause[];
  clauseById: Map<string, Clause>;
  features: Feature[];
  structs: Map<string, StructDef>;
  codec: StructCodec;
  /** constant group -> names */
  groups: Map<string, string[]>;
  constant(name: string, profile: ProfileName): bigint | undefined;
  constantsFor(profile: ProfileName): ReadonlyMap<string, bigint>;
  groupOf(name: string): string | undefined;
  ioctl(name: string, profile: ProfileName): IoctlDef | undefined;
  /** a request as cases name it: "NAME" in the driver's profile, or "NAME@profile" for another revision's definition */
  request(request: string, profile: ProfileName): IoctlDef | undefined;
  ioctlNames(): string[];
  /** every profile where the ioctl is defined, with its definition */
  ioctlRevisions(name: string): { profiles: ProfileName[]; def: IoctlDef; note?: string }[];
  errnoName(n: number): string;
  errnoNumber(name: string): number | undefined;
  signalName(n: number): string;
  signalNumber(name: string): number | undefined;
  /** the clause's variant in a profile, or undefined where it does not exist */
  clauseVariant(clause: Clause, profile: ProfileName): ClauseVariant | undefined;
}

function num(v: NumberText): bigint {
  return BigInt(v);
}

/** Expand profile-set keys to one entry per profile, reporting overlaps. */
function perProfile<T>(entries: { set: string; value: T }[], where: (i: number) => { file: string; pointer: string }, problems: InputProblem[]): Map<ProfileName, T> {
  const map = new Map<ProfileName, T>();
  entries.forEach(({ set, value }, i) => {
    let profiles: ProfileName[];
    try {
      profiles = expandProfileSet(set);
    } catch (err) {
      problems.push({ ...where(i), expected: (err as Error).message });
      return;
    }
    for (const p of profiles) {
      if (map.has(p)) problems.push({ ...where(i), expected: `profile sets that do not overlap (${p} is named twice)` });
      map.set(p, value);
    }
  });
  return map;
}

let cached: Spec | undefined;

export function loadSpec(dir: string = SPEC_DIR): Spec {
  if (cached && dir === SPEC_DIR) return cached;
  const spec = buildSpec(dir);
  if (dir === SPEC_DIR) cached = spec;
  return spec;
}

type ConstantTable = Map<string, Map<ProfileName, bigint>>;
type IoctlRevision = { profiles: ProfileName[]; def: IoctlDef; note?: string };
type ClauseFile = { area: string; title: string; description?: string; subjects: string[]; requires?: string[]; clauses: (Omit<Clause, "area" | "file" | "requires"> & { requires?: string[] })[] };

/** Every constant per profile, its group, and the groups' names in file order. */
function loadConstants(cfile: ConstantsFile, cdisp: string, problems: InputProblem[]) {
  const values: ConstantTable = new Map();
  const groups = new Map<string, string[]>();
  const groupByName = new Map<string, string>();
  for (const [group, entries] of Object.entries(cfile.constants)) {
    groups.set(group, Object.keys(entries));
    for (const [name, entry] of Object.entries(entries)) {
      const at = (i?: number) => ({ file: cdisp, pointer: i === undefined ? pointer("constants", group, name) : pointer("constants", group, name, "values", i) });
      if (values.has(name)) problems.push({ ...at(), expected: `a constant name used once (${name} is also in group ${groupByName.get(name)})` });
      groupByName.set(name, group);
      let list: { set: string; value: bigint }[];
      if (typeof entry === "number" || typeof entry === "string") list = [{ set: PROFILE_ORDER[0] + "+", value: num(entry) }];
      else if ("values" in entry) list = entry.values.map((v) => ({ set: v.profiles, value: num(v.value) }));
      else list = [{ set: entry.profiles ?? PROFILE_ORDER[0] + "+", value: num(entry.value) }];
      values.set(name, perProfile(list, (i) => at("values" in (entry as object) ? i : undefined), problems));
    }
  }
  return { values, groups, groupByName };
}

/** Struct layouts, checked for consistency. */
function loadLayouts(layoutsPath: string, problems: InputProblem[]): Map<string, StructDef> {
  const lfile = loadValidated<{ structs: Record<string, Omit<StructDef, "name">> }>("layouts.schema.json", layoutsPath);
  const structs = new Map<string, StructDef>(Object.entries(lfile.structs).map(([name, s]) => [name, { name, ...s }]));
  for (const p of layoutProblems(structs)) {
    const fieldIdx = p.field === undefined ? -1 : structs.get(p.struct)!.fields.findIndex((f) => f.name === p.field);
    problems.push({ file: displayPath(layoutsPath), pointer: fieldIdx < 0 ? pointer("structs", p.struct) : pointer("structs", p.struct, "fields", fieldIdx), expected: `a consistent layout: ${p.problem}` });
  }
  return structs;
}

/** One revision of an ioctl: the documented number must equal the _IOC computation from the layout. */
function ioctlRevision(name: string, d: IoctlDefFile, at: { file: string; pointer: string }, structs: Map<string, StructDef>, problems: InputProblem[]): IoctlDef | undefined {
  let size = 0;
  if (d.arg === "u64") size = 8;
  else if (d.arg !== null && d.arg !== "value") {
    if (!structs.has(d.arg)) {
      problems.push({ ...at, pointer: at.pointer + "/arg", expected: `a struct defined in layouts.json (${d.arg} is not)` });
      return undefined;
    }
    size = structs.get(d.arg)!.size;
  }
  const encoded = d.size ?? size;
  if (d.dir === "none" && encoded !== 0) problems.push({ ...at, expected: "an argument size of 0 for a request without direction" });
  for (const s of [d.arg, d.buffer]) {
    const def = s === undefined || s === null ? undefined : structs.get(s);
    if (!def) continue;
    const missing = safeExpand(d.profiles).filter((p) => !safeExpand(def.profiles).includes(p));
    if (missing.length > 0) problems.push({ ...at, pointer: at.pointer + "/profiles", expected: `profiles in which struct ${s} exists (it is not defined in ${missing.join(", ")})` });
  }
  const request = ioc(d.dir, parseInt(d.type ?? "0xae", 16), parseInt(d.nr, 16), d.dir === "none" ? 0 : encoded);
  if (formatRequest(request) !== d.number)
    problems.push({ ...at, pointer: at.pointer + "/number", expected: `the _IOC value ${formatRequest(request)} computed from dir, nr and the ${d.arg ?? "argument"} size (file says ${d.number})` });
  return { name, request, dir: d.dir, nr: parseInt(d.nr, 16), arg: d.arg, on: d.on, returns: d.returns, ...(d.buffer ? { buffer: d.buffer } : {}) };
}

/** Every ioctl per profile, and its revisions. */
function loadIoctls(cfile: ConstantsFile, cdisp: string, structs: Map<string, StructDef>, problems: InputProblem[]) {
  const revisions = new Map<string, IoctlRevision[]>();
  const perName = new Map<string, Map<ProfileName, IoctlDef>>();
  for (const [name, defs] of Object.entries(cfile.ioctls)) {
    const revs: { set: string; value: IoctlDef; note?: string; index: number }[] = [];
    defs.forEach((d, i) => {
      const value = ioctlRevision(name, d, { file: cdisp, pointer: pointer("ioctls", name, i) }, structs, problems);
      if (value) revs.push({ set: d.profiles, value, ...(d.note ? { note: d.note } : {}), index: i });
    });
    perName.set(name, perProfile(revs.map((r) => ({ set: r.set, value: r.value })), (i) => ({ file: cdisp, pointer: pointer("ioctls", name, revs[i]!.index, "profiles") }), problems));
    revisions.set(name, revs.map((r) => ({ profiles: safeExpand(r.set), def: r.value, ...(r.note ? { note: r.note } : {}) })));
  }
  return { revisions, perName };
}

/** Pointer markers: a u64 field; its size or chooser fields exist; its payloads name constants and structs. */
function checkPointerMarkers(structs: Map<string, StructDef>, constantNames: Set<string>, layoutsPath: string, problems: InputProblem[]): void {
  for (const def of structs.values())
    def.fields.forEach((f, i) => {
      const m = f.pointer;
      if (m === undefined) return;
      const at = { file: displayPath(layoutsPath), pointer: pointer("structs", def.name, "fields", i, "pointer") };
      if (f.type !== "u64") problems.push({ ...at, expected: `a pointer marker on a u64 field (${f.name} is ${f.type})` });
      for (const ref of [m.size, m.by]) if (ref !== undefined && !def.fields.some((x) => x.name === ref)) problems.push({ ...at, expected: `a field of ${def.name} (${ref} is not one)` });
      for (const [c, payload] of Object.entries(m.payload ?? {})) {
        if (!constantNames.has(c)) problems.push({ ...at, expected: `payload keys that are constants (${c} is not)` });
        if (payload !== null && !structs.has(payload)) problems.push({ ...at, expected: `payload structs defined in layouts.json (${payload} is not)` });
      }
    });
}

/** The clauses of one area file, checked against the area and the features. */
function areaClauses(data: ClauseFile, disp: string, features: Feature[], clauseById: Map<string, Clause>, problems: InputProblem[]): Clause[] {
  return data.clauses.map((c, i) => {
    const at = (...rest: (string | number)[]) => ({ file: disp, pointer: pointer("clauses", i, ...rest) });
    if (!c.id.startsWith(data.area + "-") || !/^\d{3}$/.test(c.id.slice(data.area.length + 1))) problems.push({ ...at("id"), expected: `an id of the form ${data.area}-NNN` });
    const prior = clauseById.get(c.id);
    if (prior) problems.push({ ...at("id"), expected: `a unique clause id (${c.id} is also defined in ${prior.file})` });
    if (!data.subjects.includes(c.subject)) problems.push({ ...at("subject"), expected: `one of the area's subjects ${JSON.stringify(data.subjects)}` });
    perProfile(Object.entries(c.profiles).map(([set, value]) => ({ set, value })), () => at("profiles"), problems);
    const requires = c.requires ?? data.requires ?? [];
    requires.forEach((f, k) => {
      if (!features.some((x) => x.name === f.replace(/^!/, ""))) problems.push({ ...(c.requires ? at("requires", k) : { file: disp, pointer: pointer("requires", k) }), expected: `a feature of spec/features.json (${f} is not one)` });
    });
    const clause: Clause = { ...c, requires, area: data.area, file: disp };
    clauseById.set(c.id, clause);
    return clause;
  });
}

/** Every area file of clauses/, in name order. */
function loadClauses(clauseDir: string, features: Feature[], problems: InputProblem[]) {
  const areas: Area[] = [];
  const clauses: Clause[] = [];
  const clauseById = new Map<string, Clause>();
  for (const f of readdirSync(clauseDir).filter((x) => x.endsWith(".json")).sort()) {
    const path = join(clauseDir, f);
    const disp = displayPath(path);
    let data: ClauseFile;
    try {
      data = loadValidated("clauses.schema.json", path);
    } catch (err) {
      if (err instanceof InputError) {
        problems.push(...err.problems);
        continue;
      }
      throw err;
    }
    if (areas.some((a) => a.area === data.area)) problems.push({ file: disp, pointer: "/area", expected: `an area defined once (${data.area} is defined twice)` });
    areas.push({ area: data.area, title: data.title, ...(data.description ? { description: data.description } : {}), subjects: data.subjects, file: disp });
    clauses.push(...areaClauses(data, disp, features, clauseById, problems));
  }
  return { areas, clauses, clauseById };
}

function buildSpec(dir: string): Spec {
  const problems: InputProblem[] = [];
  const profiles = loadProfiles(dir);
  const constantsPath = join(dir, "constants.json");
  const cfile = loadValidated<ConstantsFile>("constants.schema.json", constantsPath);
  const cdisp = displayPath(constantsPath);
  const constants = loadConstants(cfile, cdisp, problems);
  const layoutsPath = join(dir, "layouts.json");
  const structs = loadLayouts(layoutsPath, problems);
  const ioctls = loadIoctls(cfile, cdisp, structs, problems);
  checkPointerMarkers(structs, new Set(constants.values.keys()), layoutsPath, problems);
  const features = loadValidated<{ features: Feature[] }>("features.schema.json", join(dir, "features.json")).features;
  const { areas, clauses, clauseById } = loadClauses(join(dir, "clauses"), features, problems);
  if (problems.length > 0) throw new InputError(problems);
  return makeSpec({ profiles, areas, clauses, clauseById, features, structs, codec: new StructCodec(structs), groups: constants.groups }, constants.values, constants.groupByName, ioctls);
}

/** The look-ups over loaded, checked data. */
function makeSpec(data: Pick<Spec, "profiles" | "areas" | "clauses" | "clauseById" | "features" | "structs" | "codec" | "groups">, constantValues: ConstantTable, groupByName: Map<string, string>, ioctls: { revisions: Map<string, IoctlRevision[]>; perName: Map<string, Map<ProfileName, IoctlDef>> }): Spec {
  const constantsCache = new Map<ProfileName, Map<string, bigint>>();
  const variantCache = new Map<Clause, Map<ProfileName, ClauseVariant>>();
  const byNumber = (group: string) => new Map((data.groups.get(group) ?? []).map((name) => [Number(constantValues.get(name)!.get("linux-6.8")), name]));
  const errnoByNumber = byNumber("errno");
  const signalByNumber = byNumber("signal");
  const numberIn = (group: string) => (name: string) => {
    const v = constantValues.get(name)?.get("linux-6.8");
    return v === undefined || groupByName.get(name) !== group ? undefined : Number(v);
  };
  const ioctlPer = ioctls.perName;
  return {
    ...data,
    constant: (name, profile) => constantValues.get(name)?.get(profile),
    constantsFor(profile) {
      let m = constantsCache.get(profile);
      if (!m) {
        m = new Map();
        for (const [name, per] of constantValues) {
          const v = per.get(profile);
          if (v !== undefined) m.set(name, v);
        }
        constantsCache.set(profile, m);
      }
      return m;
    },
    groupOf: (name) => groupByName.get(name),
    ioctl: (name, profile) => ioctlPer.get(name)?.get(profile),
    ioctlNames: () => [...ioctlPer.keys()],
    request(request, profile) {
      const [name, other] = request.split("@");
      if (other !== undefined && !isProfileName(other)) return undefined;
      return ioctlPer.get(name!)?.get((other as ProfileName | undefined) ?? profile);
    },
    ioctlRevisions: (name) => ioctls.revisions.get(name) ?? [],
    errnoName: (n) => errnoByNumber.get(n) ?? `E#${n}`,
    errnoNumber: numberIn("errno"),
    signalName: (n) => signalByNumber.get(n) ?? `SIG#${n}`,
    signalNumber: numberIn("signal"),
    clauseVariant(clause, profile) {
      let m = variantCache.get(clause);
      if (!m) {
        m = new Map();
        for (const [set, v] of Object.entries(clause.profiles)) for (const p of expandProfileSet(set)) m.set(p, v);
        variantCache.set(clause, m);
      }
      return m.get(profile);
    },
  };
}

function safeExpand(set: string): ProfileName[] {
  try {
    return expandProfileSet(set);
  } catch {
    return [];
  }
}
