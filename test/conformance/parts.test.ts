// The conformance run's part files (parts.ts) hold every test of the matrix exactly once, and
// each part stays small enough for mocha's parallel mode to hand its events on without copying.
import { expect } from "chai";
import { readdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { conformancePart, conformanceTests, MAX_TESTS_PER_PART, PARTS } from "./parts.js";

describe("conformance parts", () => {
  const all = conformanceTests();
  const parts = Array.from({ length: PARTS }, (_, i) => conformancePart(i + 1, all));

  it("there is one file per part, part-01 to part-NN, so that no part goes unrun", () => {
    const files = readdirSync(dirname(fileURLToPath(import.meta.url))).filter((f) => /^part-\d+\.test\.js$/.test(f));
    expect(files.sort()).to.deep.equal(Array.from({ length: PARTS }, (_, i) => `part-${String(i + 1).padStart(2, "0")}.test.js`));
  });

  it("the parts, in order, are every configuration's cases once, and none holds more than MAX_TESTS_PER_PART", () => {
    const key = (s: { profile: string; host: string }, id: string) => `${s.profile}@${s.host} ${id}`;
    const expected = all.flatMap((s) => s.cases.map((c) => key(s, c.id)));
    const got = parts.flatMap((p) => p.flatMap((s) => s.cases.map((c) => key(s, c.id))));
    expect(got).to.deep.equal(expected);
    expect(expected.length).to.be.greaterThan(PARTS);
    for (const [i, p] of parts.entries()) expect(p.reduce((n, s) => n + s.cases.length, 0), `part ${i + 1}`).to.be.at.most(MAX_TESTS_PER_PART);
  });
});
