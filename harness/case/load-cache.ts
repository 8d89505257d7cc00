// What loading derives from the project's suites (expanded, checked cases) is kept in
// dist/.cache/, so that a process pays for reading its suites, not for expanding and checking
// them again. An entry is used only when everything loading reads is byte for byte what it was
// when the entry was written: every file below the suite folders, every spec/ JSON file and the
// compiled loader itself (dist/spec, dist/harness/case, dist/harness/protocol), all hashed into
// the entry's key. Only folders inside the project, loaded with the project's own spec and
// without any problem, are cached; TypeScript suites are still imported (their cases hold code),
// and their cases must equal the ones the entry was checked with.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { isProjectSpec, type Spec } from "../../spec/index.js";
import { PROJECT_ROOT, SPEC_DIR } from "../../spec/paths.js";
import type { CaseDef } from "./types.js";
import { readInputFile } from "./input-files.js";

/** Bump when the entry's shape changes. */
const FORMAT = "privmem-cts suites cache 2";
const CACHE_DIR = join(PROJECT_ROOT, "dist", ".cache");
/** The compiled code that loading runs: a change to any of it makes every entry stale. */
const CODE_DIRS = [join("dist", "spec"), join("dist", "harness", "case"), join("dist", "harness", "protocol")];

/** One file of a loaded folder, in load order: a JSON suite's cases, or a code suite that is imported again. */
export type CachedItem = { file: string; cases: CaseDef[] } | { file: string; module: string };

interface Entry {
  key: string;
  items: CachedItem[];
  /** the step lists, kept once: the cases of one definition share theirs (a case's `steps` is an index here) */
  steps: number[][];
  /** the steps, each kept once: a list holds indexes here (a fixture's steps recur in every case that uses it) */
  stepTable: unknown[];
  /** the code suites' cases without their bodies, as they were when the entry was checked */
  scenarioCases: unknown[];
}

/** A case of a code suite as loading checks it: everything but its code. */
export function checkedPart(c: CaseDef): unknown {
  const { scenario: _code, ...rest } = c;
  return rest;
}

/** Every entry below dir (names and contents of regular files), in name order; false when something cannot be read plainly. */
function hashTree(h: ReturnType<typeof createHash>, dir: string, keep: (name: string) => boolean): boolean {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return false;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) return false;
    if (st.isDirectory()) {
      h.update(`dir ${relative(PROJECT_ROOT, p)}\n`);
      if (!hashTree(h, p, keep)) return false;
      continue;
    }
    h.update(`file ${relative(PROJECT_ROOT, p)}\n`);
    if (!keep(name)) continue;
    const read = readInputFile(p);
    if ("problem" in read) return false;
    h.update(`${read.bytes.length}\n`).update(read.bytes);
  }
  return true;
}

let codeAndSpecHash: string | undefined;

/** The loader's compiled code and the spec files, hashed once per process. */
function baseHash(): string | undefined {
  if (codeAndSpecHash !== undefined) return codeAndSpecHash;
  const h = createHash("sha256").update(`${FORMAT}\n`);
  for (const d of CODE_DIRS) if (!hashTree(h, join(PROJECT_ROOT, d), (n) => n.endsWith(".js") || n.endsWith(".cjs"))) return undefined;
  if (!hashTree(h, SPEC_DIR, (n) => n.endsWith(".json"))) return undefined;
  codeAndSpecHash = h.digest("hex");
  return codeAndSpecHash;
}

/** The folders' cache: undefined when they cannot be cached (outside the project, another spec, no dist/). */
export function suitesCache(spec: Spec, dirs: string[]): SuitesCache | undefined {
  if (process.env.PRIVMEM_CTS_NO_CACHE !== undefined || !isProjectSpec(spec) || !existsSync(join(PROJECT_ROOT, "dist"))) return undefined;
  const rel = dirs.map((d) => relative(PROJECT_ROOT, d));
  if (rel.some((r) => r === "" || r.startsWith("..") || r.startsWith("/") || r.split(/[\\/]/)[0] === "dist")) return undefined;
  if (!dirs.every((d) => statSync(d, { throwIfNoEntry: false })?.isDirectory())) return undefined;
  return new SuitesCache(dirs, rel);
}

export class SuitesCache {
  private readonly file: string;
  private key: string | undefined;

  constructor(private readonly dirs: string[], rel: string[]) {
    this.file = join(CACHE_DIR, `suites-${createHash("sha256").update(rel.join("\n")).digest("hex").slice(0, 16)}.json`);
  }

  /** The key of the folders as they are now, or undefined when they cannot be hashed. */
  private currentKey(): string | undefined {
    if (this.key !== undefined) return this.key;
    const base = baseHash();
    if (base === undefined) return undefined;
    const h = createHash("sha256").update(`${base}\n`);
    for (const d of this.dirs) {
      h.update(`root ${relative(PROJECT_ROOT, d)}\n`);
      if (!hashTree(h, d, (n) => n.endsWith(".json") || /\.(ts|m?js)$/.test(n))) return undefined;
    }
    this.key = h.digest("hex");
    return this.key;
  }

  /** The entry for the folders as they are now, if one was written. */
  read(): Entry | undefined {
    const key = this.currentKey();
    if (key === undefined || !existsSync(this.file)) return undefined;
    try {
      const entry = JSON.parse(readFileSync(this.file, "utf8")) as Entry;
      if (entry.key !== key) return undefined;
      const lists = entry.steps.map((list) => list.map((i) => entry.stepTable[i]));
      for (const item of entry.items) if ("cases" in item) for (const c of item.cases) if (c.steps !== undefined) c.steps = lists[c.steps as unknown as number] as CaseDef["steps"];
      return entry;
    } catch {
      return undefined;
    }
  }

  /** Whether the code suites' cases, as imported now, are the ones the entry was checked with. */
  static sameScenarioCases(entry: Entry, cases: CaseDef[]): boolean {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(cases.map(checkedPart))), entry.scenarioCases);
  }

  /** Keep a load that found no problem. Written only if JSON gives back exactly these cases; a failure to write is no error. */
  write(items: CachedItem[], scenarioCases: CaseDef[]): void {
    const key = this.currentKey();
    if (key === undefined) return;
    const steps = new Map<unknown, number>();
    const shared = (list: unknown) => steps.get(list) ?? (steps.set(list, steps.size), steps.size - 1);
    const kept = items.map((item) => ("cases" in item ? { ...item, cases: item.cases.map((c) => (c.steps === undefined ? c : { ...c, steps: shared(c.steps) })) } : item));
    const lists = [...steps.keys()] as unknown[][];
    const table = new Map<string, number>();
    const stepTable: unknown[] = [];
    const stepIndex = (step: unknown) => {
      const text = JSON.stringify(step);
      let i = table.get(text);
      if (i === undefined) table.set(text, (i = stepTable.push(step) - 1));
      return i;
    };
    const entry: Entry = { key, items: kept as CachedItem[], steps: lists.map((list) => list.map(stepIndex)), stepTable, scenarioCases: scenarioCases.map(checkedPart) };
    let text: string;
    try {
      text = JSON.stringify(entry);
      const back = JSON.parse(text) as Entry;
      const backLists = back.steps.map((list) => list.map((i) => back.stepTable[i]));
      if (!isDeepStrictEqual(back.items, kept) || !isDeepStrictEqual(backLists, lists) || !isDeepStrictEqual(back.scenarioCases, entry.scenarioCases)) return;
    } catch {
      return;
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      mkdirSync(CACHE_DIR, { recursive: true });
      writeFileSync(tmp, text);
      renameSync(tmp, this.file);
    } catch {
      rmSync(tmp, { force: true });
    }
  }
}
