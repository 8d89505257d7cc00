// Expectations: known deviations of one driver (and host), each with a reason.
// An entry turns a matching failure into XFAIL and a matching pass into XPASS.
// One entry per deviation: `query` may list every case the deviation reaches.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadValidated, displayPath } from "../../spec/validate.js";
import { compileQuery } from "../case/query.js";
import { inputFileProblem } from "../case/load.js";
import { InputError, pointer } from "../../spec/errors.js";
import type { OutcomeName } from "./outcomes.js";

export interface ExpectationEntry {
  query: string | string[];
  expected: OutcomeName | OutcomeName[];
  reason: string;
  link?: string;
  evidence?: string;
  /** the kernel builds (uname -r) the deviation was seen on */
  hosts?: string[];
}

export interface ExpectationsFile {
  driver: string;
  description?: string;
  entries: ExpectationEntry[];
}

/** An entry as one of its queries met it: `query` is that query. */
export type MatchedExpectation = ExpectationEntry & { query: string };

export class Expectations {
  private readonly matchers: { entry: MatchedExpectation; match: (id: string) => boolean; used: boolean }[];

  constructor(
    readonly file: string | undefined,
    private readonly entries: ExpectationEntry[],
  ) {
    this.matchers = entries.flatMap((entry) => [entry.query].flat().map((query) => ({ entry: { ...entry, query }, match: compileQuery(query), used: false })));
  }

  static load(...files: string[]): Expectations {
    const entries: ExpectationEntry[] = [];
    for (const file of files) {
      // The schema admits only the failing outcomes (FAIL, ERROR, TIMEOUT, CRASH) as expected ones.
      const bad = inputFileProblem(file);
      if (bad) throw new InputError([bad]);
      const loaded = loadValidated<ExpectationsFile>("expectations.schema.json", file).entries;
      // A blank query would match every case and turn every failure into an XFAIL.
      const blank = loaded.flatMap((e, i) => [e.query].flat().flatMap((q, j) => (q.trim() === "" ? [{ file: displayPath(file), pointer: Array.isArray(e.query) ? pointer("entries", i, "query", j) : pointer("entries", i, "query"), expected: "a query that is not empty or blank" }] : [])));
      if (blank.length > 0) throw new InputError(blank);
      for (const e of loaded) entries.push(e);
    }
    return new Expectations(files.map(displayPath).join(", ") || undefined, entries);
  }

  /** A driver's expectations: <dir>/<driver>.json and <dir>/<driver>.<topic>.json, merged. */
  static forDriver(dir: string, driver: string): Expectations {
    if (!existsSync(dir)) return Expectations.none();
    const files = readdirSync(dir)
      .filter((f) => f === `${driver}.json` || (f.startsWith(`${driver}.`) && f.endsWith(".json")))
      .sort()
      .map((f) => join(dir, f));
    return files.length === 0 ? Expectations.none() : Expectations.load(...files);
  }

  /** Only the entries that name this host build: what may explain a difference from its capture. */
  forHost(kernel: string): Expectations {
    return new Expectations(this.file, this.entries.filter((e) => e.hosts?.includes(kernel)));
  }

  static none(): Expectations {
    return new Expectations(undefined, []);
  }

  /** The same entries, with nothing marked used yet (one per run). */
  fresh(): Expectations {
    return new Expectations(this.file, this.entries);
  }

  /** The entry for a case: the most specific (longest) matching query wins. */
  lookup(id: string): MatchedExpectation | undefined {
    let best: (typeof this.matchers)[number] | undefined;
    for (const m of this.matchers) if (m.match(id) && (!best || m.entry.query.length > best.entry.query.length)) best = m;
    if (best) best.used = true;
    return best?.entry;
  }

  /**
   * Apply an entry to an actual outcome. With the running host's kernel build, an XFAIL by an
   * entry that does not name that build says so: the quirk is new there and its evidence
   * (and `hosts`) should be brought up to date.
   */
  classify(id: string, actual: OutcomeName, kernel?: string): { outcome: OutcomeName; expected: string; note?: string } {
    const e = this.lookup(id);
    if (!e || actual === "SKIP") return { outcome: actual, expected: e ? [e.expected].flat().join("|") : "PASS" };
    const expected = [e.expected].flat();
    if (actual === "PASS") return { outcome: "XPASS", expected: expected.join("|"), note: `listed as an expected ${expected.join("/")} (${e.reason}) but passed` };
    const unseenHere = kernel !== undefined && e.hosts !== undefined && !e.hosts.includes(kernel);
    if (expected.includes(actual))
      return { outcome: "XFAIL", expected: expected.join("|"), note: unseenHere ? `${e.reason} [recorded on ${e.hosts!.join(", ")}, not yet on ${kernel}]` : e.reason };
    return { outcome: actual, expected: expected.join("|"), note: `expected ${expected.join("/")} (${e.reason})` };
  }

  /** Queries that matched no case, each with its entry. */
  unused(): MatchedExpectation[] {
    return this.matchers.filter((m) => !m.used).map((m) => m.entry);
  }
}
