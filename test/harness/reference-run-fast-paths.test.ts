// The reference run's fast paths give what the plain paths give: the in-process reference
// (no batches) the same verdicts and traces as the reference with batches, a data check by one
// native comparison the same answer and message as a byte-by-byte one, one operation gate per
// driver, and KTAP written in groups the same document as KTAP written line by line.
import { expect } from "chai";
import fc from "fast-check";
import { Writable } from "node:stream";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { matchData } from "../../harness/case/match.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { openReference } from "../../harness/drivers/reference.js";
import { gateOperations } from "../../harness/protocol/operations.js";
import { KtapReporter } from "../../harness/reporters/ktap.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, type CaseResult, type DriverChoice, type RunInfo } from "../../harness/runner/runner.js";
import { emptySummary } from "../../harness/runner/outcomes.js";
import { Deadline } from "../../harness/runner/driver-session.js";
import { DriverFailure } from "../../spec/driver/contract.js";

const noNames = { name: () => undefined, ref: () => undefined };

/** The check as it was written before the fast path: the first byte that differs, found one by one. */
function byteByByte(actual: Uint8Array, fill: number): string | undefined {
  if (actual.length === 0) return `bytes all 0x${fill.toString(16)} (got none)`;
  const bad = actual.findIndex((b) => b !== fill);
  return bad < 0 ? undefined : `every byte 0x${fill.toString(16)} (byte ${bad} is 0x${actual[bad]!.toString(16)})`;
}

describe("the reference run's fast paths", function () {
  this.timeout(120000);

  it("the in-process reference states no batch and has none; the served one (openReference) still offers them", async () => {
    const inProcess = await driverChoice("reference", { profile: "linux-7.2", host: "full" }).open();
    expect(inProcess.handshake.batch).to.equal(undefined);
    expect(inProcess.batch).to.equal(undefined);
    const served = openReference({ profile: "linux-7.2", host: "full" });
    expect(served.handshake.batch).to.not.equal(undefined);
    expect(served.batch).to.be.a("function");
    // control: apart from batches, both state the same handshake
    const { batch: _b, ...rest } = served.handshake;
    expect(inProcess.handshake).to.deep.equal(rest);
  });

  it("a run on the in-process reference gives the verdicts, messages and traces of a run with batches", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const batched: DriverChoice = { label: "reference", reproArgs: [], open: async () => openReference({ profile: "linux-6.18", host: "pvm" }) };
    const common = { spec, cases, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files };
    const view = (rs: CaseResult[]) => rs.map((r) => ({ id: r.id, outcome: r.outcome, message: r.message, trace: r.trace }));
    const fast = await run({ ...common, driver: { ...driverChoice("reference", { profile: "linux-6.18", host: "pvm" }), label: "reference" } });
    const slow = await run({ ...common, driver: batched });
    expect(view(fast.results)).to.deep.equal(view(slow.results));
    expect(fast.summary.PASS).to.be.greaterThan(500);
  });

  it("a data check by native comparison agrees with a byte-by-byte check, message included (fast-check)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 * 4096 + 7 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat(64), (fill, len, flips, offset) => {
        // a view into a larger buffer, at an offset: the comparison must see only the view's bytes
        const backing = new Uint8Array(len + offset + 5).fill(fill ^ 0x5a);
        const actual = backing.subarray(offset, offset + len).fill(fill);
        for (const [at, v] of flips) if (len > 0) actual[at % len] = v;
        expect(matchData(actual, { fill: String(fill) }, noNames)).to.equal(byteByByte(actual, fill));
      }),
      { numRuns: 300 },
    );
  });

  it("a data check finds a difference in the last byte of a long buffer, and none in an all-fill one (control)", () => {
    const data = new Uint8Array(16 * 4096).fill(0x4e);
    expect(matchData(data, { fill: "0x4e" }, noNames)).to.equal(undefined);
    data[data.length - 1] = 0x4f;
    expect(matchData(data, { fill: "0x4e" }, noNames)).to.equal(`every byte 0x4e (byte ${data.length - 1} is 0x4f)`);
  });

  it("one operation gate per driver: a run's cases share it, another driver gets its own", () => {
    const a = openReference({ profile: "linux-7.2", host: "full" });
    const b = openReference({ profile: "linux-7.2", host: "full" });
    expect(gateOperations(a)).to.equal(gateOperations(a));
    expect(gateOperations(a)).to.not.equal(gateOperations(b));
  });

  it("KTAP written in groups is the document written line by line, and all of it is out when the run ends", () => {
    const info = { driver: "reference", driverName: "reference", driverVersion: "0", profile: "linux-7.2", host: { kernel: "model:full" } } as unknown as RunInfo;
    const plan = Array.from({ length: 40 }, (_, i) => ({ id: `a:${i < 20 ? "x" : "y"}:c${i}`, area: i < 20 ? "x" : "y" }));
    let text = "";
    let writes = 0;
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        writes++;
        done();
      },
    });
    const ktap = new KtapReporter(out);
    ktap.begin(info, plan);
    const summary = emptySummary();
    const results = plan.map((p, i) => ({ id: p.id, kind: "steps", outcome: i === 7 ? "FAIL" : "PASS", expected: "PASS", area: p.area, clauses: [], durationMs: 0, repro: "npx privmem-cts run", ...(i === 7 ? { message: "step 1 failed" } : {}) }) as CaseResult);
    for (const r of results) {
      summary[r.outcome]++;
      ktap.caseDone(r);
    }
    ktap.end(info, results, summary);
    const lines = text.split("\n");
    expect(lines[0]).to.equal("KTAP version 1");
    expect(lines).to.include("  not ok 8 a:x:c7");
    expect(lines).to.include("not ok 1 x");
    expect(lines).to.include("ok 2 y");
    expect(lines.filter((l) => /^ {2}(not )?ok \d+ a:/.test(l))).to.have.length(40);
    expect(lines.at(-2)).to.equal("# Totals: pass:39 fail:1 xfail:0 xpass:0 skip:0 error:0 timeout:0 crash:0");
    // grouped: far fewer writes than lines
    expect(writes).to.be.lessThan(lines.length / 4);
  });

  describe("one timer for a session's time limits (Deadline)", () => {
    const never = () => new Promise<never>(() => {});
    const settle = async <T>(p: Promise<T>) => p.then((v) => ({ v }), (err: unknown) => ({ err }));

    it("a race that does not settle in time fails with a timeout after onTimeout; one that settles keeps its value (control)", async () => {
      const d = new Deadline();
      try {
        let aborted = 0;
        expect(await d.race(Promise.resolve(7), 40, () => aborted++)).to.equal(7);
        const t0 = performance.now();
        const r = await settle(d.race(never(), 40, () => aborted++));
        expect(performance.now() - t0).to.be.at.least(35);
        expect((r as { err: unknown }).err).to.be.instanceOf(DriverFailure);
        expect(((r as { err: DriverFailure }).err).kind).to.equal("timeout");
        expect(((r as { err: Error }).err).message).to.equal("the case did not finish within 40 ms");
        expect(aborted).to.equal(1);
      } finally {
        d.stop();
      }
    });

    it("a rejection is passed on as it is", async () => {
      const d = new Deadline();
      try {
        const boom = new Error("boom");
        expect(await settle(d.race(Promise.reject(boom), 1000, () => {}))).to.deep.equal({ err: boom });
      } finally {
        d.stop();
      }
    });

    it("a later race with a shorter limit times out on its own limit, not the pending timer's", async () => {
      const d = new Deadline();
      try {
        await d.race(Promise.resolve(1), 60000, () => {});
        const t0 = performance.now();
        await settle(d.race(never(), 50, () => {}));
        expect(performance.now() - t0).to.be.within(45, 5000);
      } finally {
        d.stop();
      }
    });

    it("the timer re-arms for what is left when it fires before the race in flight is due", async () => {
      const d = new Deadline();
      try {
        // the first race arms the timer for 40 ms; the second, started 25 ms later with 60 ms, is due at 85 ms
        await settle(d.race(new Promise((r) => setTimeout(r, 25)), 40, () => {}));
        const t0 = performance.now();
        let aborted = false;
        const r = await settle(d.race(never(), 60, () => (aborted = true)));
        expect(aborted).to.equal(true);
        expect(performance.now() - t0).to.be.at.least(55);
        expect(((r as { err: DriverFailure }).err).kind).to.equal("timeout");
      } finally {
        d.stop();
      }
    });
  });
});
