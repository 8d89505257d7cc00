// Clause coverage per profile for the seed systems (issue 12): every variant of an RMEM,
// ATTR-H, CONV and POISON clause has a passing case that exercises it in every profile of
// the reference matrix where the clause exists. `coverage --variants` prints the same for
// every area from a run's results.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice, REFERENCE_MATRIX } from "../../harness/drivers/index.js";
import type { RunResults } from "../../harness/reporters/coverage.js";
import { formatVariantGaps, variantCoverage } from "../../harness/reporters/variant-coverage.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/runner.js";

const SEED_AREAS = ["RMEM", "ATTR-H", "CONV", "POISON"] as const;

describe("clause variants of the seed systems: a passing case in every profile where they exist", function () {
  this.timeout(120_000);
  const spec = loadSpec();
  let cases: Awaited<ReturnType<typeof loadSuites>>["cases"];
  const runs: RunResults[] = [];

  before(async () => {
    const loaded = await loadSuites(spec, [SUITES_DIR]);
    // Only the cases that name a clause of these areas: the rest cannot cover them.
    cases = loaded.cases.filter((c) => c.clauses.some((id) => SEED_AREAS.includes(spec.clauseById.get(id)!.area as (typeof SEED_AREAS)[number])));
    for (const cfg of REFERENCE_MATRIX.filter((c) => !c.host.endsWith(".jsonl"))) {
      const r = await run({ spec, cases, driver: driverChoice("reference", { ...cfg, checkInvariants: true }), filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], suiteFiles: loaded.files });
      runs.push({ runInfo: r.info, cases: r.results });
    }
  });

  it("no (clause, profile) pair of RMEM, ATTR-H, CONV or POISON is left without a passing case", () => {
    const v = variantCoverage(spec, runs, cases, SEED_AREAS);
    expect(v.checked, "pairs checked").to.be.greaterThan(100);
    expect(v.gaps, formatVariantGaps(v)).to.deep.equal([]);
  });

  it("the check fails where a profile's only passing cases are missing (RMEM-012 in upm-v9)", () => {
    const without = runs.map((r) => (r.runInfo.profile === "upm-v9" ? { ...r, cases: r.cases.filter((c) => !c.clauses.includes("RMEM-012")) } : r));
    const v = variantCoverage(spec, without, cases, SEED_AREAS);
    expect(v.gaps.map((g) => `${g.clause} ${g.variant} ${g.profile}`)).to.deep.equal(["RMEM-012 upm-v9 upm-v9"]);
  });

  it("a passing control case that does not require the clause's features does not count", () => {
    const asControls = cases.map((c) => (c.clauses.includes("RMEM-012") ? { ...c, requires: [] } : c));
    const v = variantCoverage(spec, runs, asControls, ["RMEM"]);
    expect(v.gaps.map((g) => g.profile)).to.deep.equal(["upm-v9", "upm-v10"]);
  });
});
