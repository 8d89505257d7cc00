// Evidence flows back into the spec: a clause that a committed host capture shows passing cites it.
import { expect } from "chai";
import { relative } from "node:path";
import { loadSpec } from "../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import { exercises } from "../harness/reporters/coverage.js";
import { readCapture } from "../harness/capture/capture.js";
import { committedCaptures } from "../harness/drivers/index.js";

describe("captures cited by clauses", () => {
  it("every clause with a passing case in a committed capture cites that capture as observed", async () => {
    const spec = loadSpec();
    const { cases } = await loadSuites(spec, [SUITES_DIR]);
    const uncited: string[] = [];
    for (const file of committedCaptures()) {
      const capture = relative(PROJECT_ROOT, file);
      const passed = new Set(readCapture(file).cases.filter((c) => c.outcome === "PASS").map((c) => c.id));
      const byId = new Map(spec.clauses.map((c) => [c.id, c]));
      const shown = new Map<string, string>(); // clause id -> a passing case that exercises it
      for (const c of cases.filter((k) => passed.has(k.id)))
        for (const id of c.clauses) if (!shown.has(id) && exercises(c.requires, byId.get(id)!)) shown.set(id, c.id);
      for (const [id, example] of shown)
        if (!byId.get(id)!.sources.some((s) => s.kind === "observed" && s.capture === capture)) uncited.push(`${id} (${example} passes in ${capture})`);
    }
    expect(uncited, "clauses to cite the capture in an observed source").to.deep.equal([]);
  });
});
