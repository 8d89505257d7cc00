// In-place conversion (conv-v7, conv-v8) on the host model that uses it: full-inplace, the full
// host with per-VM attributes off (v7: kvm.vm_memory_attributes=0; v8: a kernel built without
// them, where kvm.gmem_in_place_conversion defaults to on). The main matrix also runs them on `full`, where per-VM
// attributes are in use and only the ENOTTY/capability cases run; the other suites assume
// per-VM attributes, so full-inplace runs the conversion suites (conv:*) alone, here, with
// the model checking its invariants. Together the two cover every CONV clause.
import { expect } from "chai";
import { loadSpec } from "../spec/index.js";
import { SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import { driverChoice } from "../harness/drivers/index.js";
import { clauseCoverage } from "../harness/reporters/coverage.js";
import { Expectations } from "../harness/runner/expectations.js";
import { run } from "../harness/runner/runner.js";

const spec = loadSpec();
const { cases, files } = await loadSuites(spec, [SUITES_DIR]);

async function runConv(host: string, profile: "conv-v7" | "conv-v8") {
  return run({
    spec,
    cases,
    driver: driverChoice("reference", { profile, host, checkInvariants: true }),
    filters: ["conv:*"],
    timeoutMs: 10000,
    expectations: Expectations.none(),
    reporters: [],
    suiteFiles: files,
  });
}

for (const profile of ["conv-v7", "conv-v8"] as const)
  describe(`in-place conversion (${profile})`, function () {
    this.timeout(60000);

    it("full-inplace passes every conversion case except those for hosts with per-VM attributes, which it skips", async () => {
      const r = await runConv("full-inplace", profile);
      const bad = r.results.filter((c) => c.outcome !== "PASS" && c.outcome !== "SKIP").map((c) => `${c.outcome} ${c.id}: ${c.message ?? ""}`);
      expect(bad).to.deep.equal([]);
      // A case whose clause does not exist in this revision (CONV-024 is v8's) is skipped for that reason.
      const skipped = r.results.filter((c) => c.outcome === "SKIP" && !/does not exist in profile/.test(c.message ?? "")).map((c) => c.id);
      const needVmAttributes = cases.filter((c) => c.id.startsWith("conv:") && (c.requires ?? []).includes("!gmem-attributes")).map((c) => c.id);
      expect(skipped.sort()).to.deep.equal(needVmAttributes.sort());
      expect(r.results.filter((c) => c.outcome === "PASS").length).to.be.greaterThan(30);
    });

    it("with per-VM attributes in use (full), the ENOTTY, capability and INIT_SHARED cases pass", async () => {
      const r = await runConv("full", profile);
      const passed = r.results.filter((c) => c.outcome === "PASS").map((c) => c.id.split(":").slice(0, 3).join(":"));
      expect(r.results.filter((c) => c.outcome !== "PASS" && c.outcome !== "SKIP")).to.deep.equal([]);
      expect([...new Set(passed)].sort()).to.deep.equal(["conv:host:cap_with_vm_attributes", "conv:host:enotty_with_vm_attributes", "conv:host:init_shared_refused_with_vm_attributes"]);
    });
  });

describe("in-place conversion (conv-v7 and conv-v8)", function () {
  this.timeout(120000);

  it("the two revisions on the two hosts together cover every CONV clause", async () => {
    const runs = [];
    for (const profile of ["conv-v7", "conv-v8"] as const)
      for (const host of ["full-inplace", "full"]) {
        const r = await runConv(host, profile);
        runs.push({ runInfo: r.info, cases: r.results });
      }
    const report = clauseCoverage(spec, runs, cases);
    const conv = report.areas["CONV"]!;
    expect(conv.uncovered, JSON.stringify(conv.why)).to.deep.equal([]);
    expect(conv.covered).to.equal(conv.total);
  });
});
