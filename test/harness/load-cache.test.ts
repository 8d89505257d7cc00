// The suites cache (harness/case/load-cache.ts): a load from it gives exactly the cases a full
// load gives, and an edit to a suite makes it stale.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";

describe("suites cache", function () {
  this.timeout(60000);

  it("gives the cases and files a load without it gives", async () => {
    const spec = loadSpec();
    const cached = await loadSuites(spec, [SUITES_DIR]);
    const again = await loadSuites(spec, [SUITES_DIR]);
    process.env.PRIVMEM_CTS_NO_CACHE = "1";
    let fresh;
    try {
      fresh = await loadSuites(spec, [SUITES_DIR]);
    } finally {
      delete process.env.PRIVMEM_CTS_NO_CACHE;
    }
    expect(again).to.deep.equal(fresh);
    expect(cached).to.deep.equal(fresh);
  });

  it("is used while nothing changed, and not once a suite has changed", async () => {
    await loadSuites(loadSpec(), [SUITES_DIR]); // the project's entry, copied with dist/
    const dir = mkdtempSync(join(tmpdir(), "pmc-cache-"));
    try {
      for (const part of ["package.json", "spec", "suites", "dist"]) cpSync(join(PROJECT_ROOT, part), join(dir, part), { recursive: true });
      symlinkSync(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
      const script = `import { loadSpec } from "./dist/spec/index.js"; import { SUITES_DIR } from "./dist/spec/paths.js"; import { loadSuites } from "./dist/harness/case/load.js";
        const { cases } = await loadSuites(loadSpec(), [SUITES_DIR]); console.log(cases.find((c) => c.id === "gmem:create:valid_size:size=PAGE_SIZE").title);`;
      const title = () => execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, encoding: "utf8" }).trim();
      const entries = () => readdirSync(join(dir, "dist", ".cache")).map((f) => readFileSync(join(dir, "dist", ".cache", f), "utf8"));
      const kept = entries(); // the project's entries, copied: its suites' and any its tests loaded
      expect(kept.length).to.be.greaterThan(0);
      const before = title();
      expect(entries(), "a load from the entry leaves it as it was").to.deep.equal(kept);
      const file = join(dir, "suites", "gmem", "create.json");
      writeFileSync(file, readFileSync(file, "utf8").replace(before, "an edited title"));
      expect(title()).to.equal("an edited title");
      expect(entries(), "the full load after the edit writes a new entry").to.not.deep.equal(kept);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
