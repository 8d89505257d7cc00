// A full conformance run against the in-process reference: cases per second
// (target, issue 4: >= 1000/s).
import { loadSpec } from "../spec/index.js";
import { SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import { driverChoice } from "../harness/drivers/index.js";
import { Expectations } from "../harness/runner/expectations.js";
import { run } from "../harness/runner/run.js";
import { line } from "./stats.js";

export async function benchRunner(): Promise<void> {
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  for (const cfg of [{ profile: "linux-7.2", host: "full" }, { profile: "linux-6.18", host: "pvm" }]) {
    const t = performance.now();
    const r = await run({ spec, cases, driver: driverChoice("reference", cfg), filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
    const s = (performance.now() - t) / 1000;
    const executed = r.results.length - r.summary.SKIP;
    line(`conformance run, reference ${cfg.profile}@${cfg.host}`, { cases: r.results.length, executed, seconds: s, casesPerSec: Math.round(r.results.length / s), executedPerSec: Math.round(executed / s) });
  }
}
