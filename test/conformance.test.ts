// Every conformance case against the reference implementation, one `it` per case,
// for each configuration of the main job (profiles x host models) on the host model's machine, with the
// model checking its invariants after every operation. c8 measures
// reference-impl/ coverage from this run.
import { loadSpec } from "../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import type { Driver } from "../spec/driver/contract.js";
import { driverChoice, referenceHost, REFERENCE_MATRIX } from "../harness/drivers/index.js";
import { hostModel } from "../reference-impl/system/hosts.js";
import { Expectations } from "../harness/runner/expectations.js";
import { runCase, skipReason } from "../harness/runner/runner.js";

const spec = loadSpec();
const { cases } = await loadSuites(spec, [SUITES_DIR]);

for (const cfg of REFERENCE_MATRIX) {
  describe(`conformance: reference ${cfg.profile}@${cfg.host}`, function () {
    let driver: Driver;
    const expectations = Expectations.forDriver(EXPECTATIONS_DIR, "reference");
    before(async () => {
      driver = await driverChoice("reference", { ...cfg, checkInvariants: true }).open();
    });
    after(async () => driver.close());
    // Cases written for another machine are not listed: the runner's skip of them is tested in test/harness.
    for (const c of cases.filter((c) => c.arch === hostModel(referenceHost(cfg.host).model).arch)) {
      it(c.id, async function () {
        if (skipReason(spec, c, driver.handshake) !== undefined) this.skip();
        let verdict;
        try {
          verdict = await runCase(spec, c, driver);
        } finally {
          await driver.reset();
        }
        const applied = expectations.classify(c.id, verdict.outcome);
        if (applied.outcome === "SKIP" || applied.outcome === "XFAIL") this.skip();
        if (applied.outcome !== "PASS") throw new Error(`${applied.outcome}: ${verdict.message ?? applied.note ?? ""}`);
      });
    }
  });
}
