// A small input fuzzer: seeded mutations of a suite and of an expectations file. Every
// mutation either loads or is refused with an InputError (file, pointer, what was expected),
// in bounded time; what loads runs on the reference without a harness error.
import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../../spec/errors.js";
import { loadSpec } from "../../spec/index.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { mulberry32 } from "../../harness/runner/random.js";
import { run } from "../../harness/runner/runner.js";
import { FIXTURES } from "./fixtures.js";

const NASTY: unknown[] = [
  "1<<100000000", "(".repeat(500) + "1" + ")".repeat(500), "", "   ", "$nosuch", "PAGE_SIZE/0", "\u0000\u001b[2J", "x".repeat(100000),
  -1, 0, 1e308, 2 ** 53 + 1, 1.5, true, null, [], {}, Array.from({ length: 2000 }, (_, i) => i),
  JSON.parse("[".repeat(200) + "]".repeat(200)), { "*": 1 }, "gmem:*", "=",
];

type Json = unknown;
function leaves(v: Json, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(path);
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...path, i], out));
  else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) leaves(x, [...path, k], out);
  return out;
}
function setAt(v: Json, path: (string | number)[], value: unknown): Json {
  if (path.length === 0) return value;
  const copy = structuredClone(v) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path[path.length - 1]!] = value;
  return copy;
}
function mutate(text: string, rnd: () => number): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const kind = rnd();
  if (kind < 0.7) {
    const data = JSON.parse(text) as Json;
    return JSON.stringify(setAt(data, pick(leaves(data)), structuredClone(pick(NASTY))));
  }
  const at = Math.floor(rnd() * text.length);
  if (kind < 0.85) return text.slice(0, at);
  return text.slice(0, at) + pick(["{", "]", '"', "\\", "\u0000", ",", "1e999"]) + text.slice(at);
}

describe("input fuzzer", function () {
  this.timeout(30000);
  const spec = loadSpec();

  it("mutated suites load or are refused with file and pointer, in bounded time, and what loads runs without a harness error", async () => {
    const rnd = mulberry32(15);
    const base = readFileSync(join(FIXTURES, "suites", "fake.json"), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "pmc-fuzz-"));
    cpSync(join(FIXTURES, "suites", "kvm.fixtures.json"), join(dir, "kvm.fixtures.json"));
    let loaded = 0;
    let refused = 0;
    for (let i = 0; i < 60; i++) {
      const text = mutate(base, rnd);
      writeFileSync(join(dir, "fake.json"), text);
      const t0 = performance.now();
      let cases;
      try {
        cases = (await loadSuites(spec, [dir])).cases;
        loaded++;
      } catch (e) {
        expect(e, `mutation ${i}: ${String(e)}\n${text.slice(0, 300)}`).to.be.instanceOf(InputError);
        expect((e as InputError).problems[0]!.file).to.match(/fake\.json|kvm\.fixtures\.json/);
        refused++;
      }
      expect(performance.now() - t0, `mutation ${i} loads in bounded time`).to.be.lessThan(3000);
      if (cases) {
        const t1 = performance.now();
        const r = await run({ spec, cases, driver: driverChoice("reference", { profile: "linux-6.18", host: "pvm" }), filters: ["fake:*"], timeoutMs: 2000, expectations: Expectations.none(), reporters: [], suiteFiles: [] });
        for (const c of r.results) expect(c.message ?? "", `mutation ${i}: ${c.id}`).not.to.match(/harness error/);
        expect(performance.now() - t1, `mutation ${i} runs in bounded time`).to.be.lessThan(5000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    expect(loaded).to.be.greaterThan(0);
    expect(refused).to.be.greaterThan(0);
  });

  it("mutated expectations load or are refused with file and pointer", () => {
    const rnd = mulberry32(16);
    const base = JSON.stringify({ driver: "fake", entries: [{ query: ["fake:robust:b_crash", "fake:robust:f_*"], expected: "CRASH", reason: "the fake crashes on purpose", link: "x" }] });
    const dir = mkdtempSync(join(tmpdir(), "pmc-fuzz-"));
    const f = join(dir, "fake.json");
    for (let i = 0; i < 60; i++) {
      const text = mutate(base, rnd);
      writeFileSync(f, text);
      try {
        const e = Expectations.load(f);
        // Whatever loads matches no more than it says: a blank query, which would match every case, never gets through.
        expect(e.lookup("zz:unrelated:case"), `mutation ${i}: ${text}`).to.equal(undefined);
      } catch (e) {
        expect(e, `mutation ${i}: ${String(e)}\n${text}`).to.be.instanceOf(InputError);
      }
    }
  });
});
