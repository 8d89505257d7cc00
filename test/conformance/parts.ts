// Every conformance case against the reference implementation, one `it` per case,
// for each configuration of the main job (profiles x host models) on the host model's machine, with the
// model checking its invariants after every operation. c8 measures
// reference-impl/ coverage from this run.
//
// The run is cut into PARTS files (part-NN.test.ts), each a contiguous slice of the list of
// (configuration, case) tests. Why: in parallel mode a mocha worker sends a file's events (three per
// test) to the main process in one array, which the main process empties with Array.shift(); past
// ~16,000 elements V8 can no longer trim an array's start in place, each shift copies the rest, and
// the whole conformance run in one file (55,000 tests) cost the main process ~30 s of CPU.
// parts.test.ts checks that the parts hold every test once and stay under MAX_TESTS_PER_PART.
import { expect } from "chai";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import type { CaseDef } from "../../harness/case/types.js";
import type { Driver, Handshake } from "../../spec/driver/contract.js";
import type { ProfileName } from "../../spec/profiles.js";
import { driverChoice, referenceHost, REFERENCE_MATRIX } from "../../harness/drivers/index.js";
import { hostModel } from "../../reference-impl/system/hosts.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { runCase, skipReason } from "../../harness/runner/runner.js";

/** How many part files there are (part-01.test.ts ... part-16.test.ts). */
export const PARTS = 16;
/** 3 events per test keep a part's events well under the ~16,000 elements V8 trims in place. */
export const MAX_TESTS_PER_PART = 4500;

// Loaded once per mocha worker process: every part file it runs shares them.
const spec = loadSpec();
const { cases } = await loadSuites(spec, [SUITES_DIR]);
const ALL = REFERENCE_MATRIX.map((cfg) => ({ ...cfg, cases: cases.filter((c) => c.arch === hostModel(referenceHost(cfg.host).model).arch) }));

export interface ConfigurationSlice {
  profile: ProfileName;
  host: string;
  cases: CaseDef[];
}

/** Every configuration with the cases written for its host model's machine (others are not listed: the runner's skip of them is tested in test/harness). */
export function conformanceTests(): ConfigurationSlice[] {
  return ALL;
}

/** Part `part` (1-based) of PARTS: a contiguous slice of the tests, in matrix order, as configurations holding some of their cases. */
export function conformancePart(part: number, all = conformanceTests()): ConfigurationSlice[] {
  const total = all.reduce((n, s) => n + s.cases.length, 0);
  const [from, to] = [Math.floor((total * (part - 1)) / PARTS), Math.floor((total * part) / PARTS)];
  const slices: ConfigurationSlice[] = [];
  let at = 0;
  for (const s of all) {
    const [lo, hi] = [Math.max(from, at), Math.min(to, at + s.cases.length)];
    if (lo < hi) slices.push({ ...s, cases: s.cases.slice(lo - at, hi - at) });
    at += s.cases.length;
  }
  return slices;
}

/** Declares the part a part file's name says (part-NN.test.js). */
export async function describeConformancePart(fileUrl: string): Promise<void> {
  const m = /^part-(\d+)\.test\.js$/.exec(basename(fileURLToPath(fileUrl)));
  if (!m) throw new Error(`${fileUrl}: a conformance part file is named part-NN.test.ts`);
  for (const slice of conformancePart(Number(m[1]))) describeSlice(slice, await handshakeOf(slice));
}

/** The handshake of the configuration's driver, from a session opened and closed for it. */
async function handshakeOf(cfg: { profile: ProfileName; host: string }): Promise<Handshake> {
  const d = await driverChoice("reference", { ...cfg, checkInvariants: true }).open();
  await d.close();
  return d.handshake;
}

/**
 * A case the driver's handshake rules out (skipReason) is declared pending (it.skip), as the runner
 * skips it without running anything: mocha then sends two events for it instead of three and runs no
 * hook. The handshake is read when the tests are declared; the session the tests run on must state
 * the same one.
 */
function describeSlice({ profile, host, cases: slice }: ConfigurationSlice, declared: Handshake): void {
  describe(`conformance: reference ${profile}@${host}`, function () {
    let driver: Driver;
    const expectations = Expectations.forDriver(EXPECTATIONS_DIR, "reference");
    before(async () => {
      driver = await driverChoice("reference", { profile, host, checkInvariants: true }).open();
      expect(driver.handshake, "the handshake the skips were decided on").to.deep.equal(declared);
    });
    after(async () => driver.close());
    for (const c of slice) {
      if (skipReason(spec, c, declared) !== undefined) {
        it.skip(c.id);
        continue;
      }
      it(c.id, async function () {
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
