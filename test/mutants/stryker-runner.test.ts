// The Stryker test-runner plugin (stryker-runner.ts) on the project's own, uninstrumented build: a
// mutant run compares each case's verdict with the dry run's, runs only the tests it is given, and
// coverage taken while a configuration's model opens is spread over that configuration's cases.
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MutantRunStatus } from "@stryker-mutator/api/test-runner";
import type { Mutant } from "@stryker-mutator/api/core";
import sinon from "sinon";
import { DriverUnavailable } from "../../spec/driver/contract.js";
import { spreadSetup, SuiteTestRunner } from "./stryker-runner.js";

const A = "linux-7.2@full gmem:create:valid_size:size=PAGE_SIZE";
const B = "upm-v9@full gmem:create:valid_size:size=PAGE_SIZE";
const mutant = { id: "999999" } as Mutant;
const run = (r: SuiteTestRunner, testFilter: string[]) =>
  r.mutantRun({ activeMutant: mutant, testFilter, timeout: 60000, disableBail: false, sandboxFileName: "x.ts", mutantActivation: "runtime", reloadEnvironment: false });

describe("Stryker test-runner plugin", function () {
  this.timeout(60000);
  let dir: string;
  let baseline: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "privmem-stryker-"));
    baseline = join(dir, "baseline.json");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a mutant survives when every given case keeps its dry-run verdict", async () => {
    writeFileSync(baseline, JSON.stringify({ [A]: "PASS", [B]: "SKIP" }));
    const result = await run(new SuiteTestRunner({ baselineFile: baseline }), [A, B]);
    expect(result).to.deep.equal({ status: MutantRunStatus.Survived, nrOfTests: 2 });
  });

  it("a case whose verdict differs from the dry run's kills the mutant, naming the case", async () => {
    writeFileSync(baseline, JSON.stringify({ [A]: "PASS", [B]: "PASS" }));
    const result = await run(new SuiteTestRunner({ baselineFile: baseline }), [A, B]);
    expect(result).to.include({ status: MutantRunStatus.Killed });
    expect(result).to.have.property("killedBy").that.deep.equals([B]);
    expect(result).to.have.property("failureMessage").that.matches(/^PASS became SKIP/);
  });

  it("a configuration whose model does not open kills the mutant with its cases' verdicts gone", async () => {
    writeFileSync(baseline, JSON.stringify({ [A]: "PASS" }));
    const open = sinon.fake.rejects(new DriverUnavailable("the model threw while it opened"));
    const result = await run(new SuiteTestRunner({ baselineFile: baseline, open }), [A]);
    expect(open.callCount).to.equal(1);
    expect(result).to.include({ status: MutantRunStatus.Killed, failureMessage: "PASS became NOT RUN: the configuration did not run this case" });
    expect(result).to.have.property("killedBy").that.deep.equals([A]);
  });

  it("the dry run records every case's verdict as the baseline", async function () {
    const r = new SuiteTestRunner({ baselineFile: baseline, configs: ["linux-7.2@full", "upm-v9@full"] });
    const dry = await r.dryRun({ coverageAnalysis: "off", timeout: 300000, disableBail: false });
    expect(dry.status).to.equal("complete");
    const verdicts = JSON.parse(readFileSync(baseline, "utf8")) as Record<string, string>;
    expect(verdicts[A]).to.equal("PASS");
    expect(verdicts[B]).to.equal("SKIP");
    expect(Object.keys(verdicts).filter((id) => id.startsWith("mocha ")).length).to.be.greaterThan(10);
    expect(Object.keys(verdicts).filter((id) => id.startsWith("linux-6.18@"))).to.deep.equal([]);
  });

  it("coverage while a configuration opens goes to each of its cases and to no other", () => {
    const coverage = { static: {}, perTest: { "p@h <setup>": { "1": 1 }, "p@h c1": { "2": 1 }, "q@h c1": { "3": 1 } } };
    const outcomes = ["p@h c1", "p@h c2", "q@h c1"].map((id) => ({ id, verdict: "PASS", ms: 0 }));
    expect(spreadSetup(coverage, outcomes).perTest).to.deep.equal({ "p@h c1": { "1": 1, "2": 1 }, "p@h c2": { "1": 1 }, "q@h c1": { "3": 1 } });
  });
});
