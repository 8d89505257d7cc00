// In-place conversion (conv-v7) on the host model that uses it: full-inplace, the full host
// booted with kvm.vm_memory_attributes=0. The main matrix runs conv-v7 on `full`, where per-VM
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

async function runConv(host: string) {
  return run({
    spec,
    cases,
    driver: driverChoice("reference", { profile: "conv-v7", host, checkInvariants: true }),
    filters: ["conv:*"],
    timeoutMs: 10000,
    expectations: Expectations.none(),
    reporters: [],
    suiteFiles: files,
  });
}

describe("in-place conversion (conv-v7)", function () {
  this.timeout(60000);

  it("full-inplace passes every conversion case except those for hosts with per-VM attributes, which it skips", async () => {
    const r = await runConv("full-inplace");
    const bad = r.results.filter((c) => c.outcome !== "PASS" && c.outcome !== "SKIP").map((c) => `${c.outcome} ${c.id}: ${c.message ?? ""}`);
    expect(bad).to.deep.equal([]);
    const skipped = r.results.filter((c) => c.outcome === "SKIP").map((c) => c.id);
    const needVmAttributes = cases.filter((c) => c.id.startsWith("conv:") && (c.requires ?? []).includes("!gmem-attributes")).map((c) => c.id);
    expect(skipped.sort()).to.deep.equal(needVmAttributes.sort());
    expect(r.results.filter((c) => c.outcome === "PASS").length).to.be.greaterThan(30);
  });

  it("with per-VM attributes in use (full), the ENOTTY, capability and INIT_SHARED cases pass", async () => {
    const r = await runConv("full");
    const passed = r.results.filter((c) => c.outcome === "PASS").map((c) => c.id.split(":").slice(0, 3).join(":"));
    expect(r.results.filter((c) => c.outcome !== "PASS" && c.outcome !== "SKIP")).to.deep.equal([]);
    expect([...new Set(passed)].sort()).to.deep.equal(["conv:host:cap_with_vm_attributes", "conv:host:enotty_with_vm_attributes", "conv:host:init_shared_refused_with_vm_attributes"]);
  });

  it("the two hosts together cover every CONV clause", async () => {
    const runs = [];
    for (const host of ["full-inplace", "full"]) {
      const r = await runConv(host);
      runs.push({ runInfo: r.info, cases: r.results });
    }
    const report = clauseCoverage(spec, runs, cases);
    const conv = report.areas["CONV"]!;
    expect(conv.uncovered, JSON.stringify(conv.why)).to.deep.equal([]);
    expect(conv.covered).to.equal(conv.total);
  });
});
