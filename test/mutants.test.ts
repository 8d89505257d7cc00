// How strong are the suites? Every hand-written mutant of the reference must make
// some case fail. A mutant that no case notices is a hole in the suites.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../spec/paths.js";
import { MUTANTS } from "./mutants/mutants.js";

/** A copy of the project (compiled code, spec, suites) with one patch applied. */
function mutatedCopy(file: string, search: string, replace: string): string {
  const dir = mkdtempSync(join(tmpdir(), "pmc-mutant-"));
  for (const part of ["package.json", "spec", "suites", "dist"]) cpSync(join(PROJECT_ROOT, part), join(dir, part), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  const path = join(dir, "dist", "reference-impl", file);
  const text = readFileSync(path, "utf8");
  const at = text.indexOf(search);
  if (at < 0 || text.indexOf(search, at + 1) >= 0) throw new Error(`the mutant's search text must occur exactly once in ${file}; the model has changed: update test/mutants/mutants.ts`);
  writeFileSync(path, text.slice(0, at) + replace + text.slice(at + search.length));
  return dir;
}

function failuresIn(dir: string): string[] {
  const out = execFileSync(process.execPath, [join(dir, "dist", "test", "mutants", "run-suites.js")], { encoding: "utf8", maxBuffer: 64 << 20 });
  return (JSON.parse(out.trim().split("\n").pop()!) as { failed: string[] }).failed;
}

describe("mutants of the reference implementation", function () {
  this.timeout(120000);

  it("the unmutated copy passes every case (so a failure below is the mutant's doing)", () => {
    const dir = mutatedCopy("vm/attributes.js", "vm.mmu.zap(asId", "vm.mmu.zap(asId");
    try {
      expect(failuresIn(dir)).to.deep.equal([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const m of MUTANTS) {
    it(`kills ${m.name}: ${m.why}`, () => {
      const dir = mutatedCopy(m.file, m.search, m.replace);
      try {
        const failed = failuresIn(dir);
        expect(failed.length, `no case noticed the mutant ${m.name}`).to.be.greaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
