import { expect } from "chai";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/runner.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";
import { journal } from "./fixtures/scenarios/fake-scenario.js";

describe("kselftest-style scenario suites", function () {
  this.timeout(20000);

  it("multiply cases by variants, run teardown after every case, stop on ASSERT and go on after EXPECT", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [join(FIXTURES, "scenarios")]);
    expect(cases.map((c) => c.id)).to.deep.equal(["fake:scenario:sizes:pages=1", "fake:scenario:sizes:pages=2", "fake:scenario:sizes:pages=3", "fake:scenario:expect_goes_on_assert_stops", "fake:scenario:skips"]);
    journal.length = 0;
    const r = await run({ spec, cases, driver: driverChoice(FAKE_DRIVER), filters: [], timeoutMs: 5000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
    expect(r.results.map((x) => x.outcome)).to.deep.equal(["PASS", "PASS", "PASS", "FAIL", "SKIP"]);
    const failed = r.results[3]!.message!;
    expect(failed).to.contain("first expectation fails").and.contain("second expectation fails: expected 2, got 1").and.contain("assertion stops here");
    expect(failed).not.to.contain("never reached");
    expect(r.results[4]!.message).to.equal("nothing to do here");
    expect(journal).to.deep.equal(["setup", "teardown", "setup", "teardown", "setup", "teardown", "setup", "teardown"]);
  });
});
