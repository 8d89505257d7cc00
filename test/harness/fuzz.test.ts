// The differential fuzzer (harness/fuzz): a seed replays exactly, the synchronous path for
// in-process drivers gives the same verdicts as the promise path, and a driver whose results
// differ is caught, shrunk to a short sequence and written out as a suite; a host capture
// replays on the reference as that host with every divergence a listed quirk.
import { expect } from "chai";
import sinon from "sinon";
import type { Driver, Op, OpResult } from "../../spec/driver/contract.js";
import { loadSpec } from "../../spec/index.js";
import { openReference } from "../../harness/drivers/reference.js";
import { referenceHost } from "../../harness/drivers/index.js";
import { readCapture } from "../../harness/capture/capture.js";
import { replayCapture } from "../../harness/fuzz/capture-replay.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { counterexampleSuite } from "../../harness/fuzz/case-writer.js";
import { isSync } from "../../harness/fuzz/exec.js";
import { fuzz } from "../../harness/fuzz/fuzz.js";

const spec = loadSpec();
const ref = (profile: "linux-7.2" | "linux-6.18" = "linux-7.2") => openReference({ profile, host: "full" });
/** The same driver without its synchronous entry points: the fuzzer takes the promise path. */
const asyncOnly = (d: Driver): Driver => ({ handshake: d.handshake, call: (op) => d.call(op), reset: () => d.reset(), close: () => d.close(), abort: (r) => d.abort(r) });

/** A reference whose host loads return one byte off: a bug only a load after a store can show. */
function brokenLoads(): Driver {
  const d = ref();
  const skew = (op: Op, r: OpResult): OpResult => {
    const data = r.out?.data;
    if (op.op !== "load" || !(data instanceof Uint8Array) || data.every((x) => x === 0)) return r;
    return { ...r, out: { ...r.out, data: data.map((x) => (x + 1) & 0xff) } };
  };
  return { ...asyncOnly(d), call: async (op) => skew(op, await d.call(op)) };
}

describe("fuzz (harness/fuzz)", function () {
  this.timeout(60000);

  it("replays a seed exactly: the same sequences, operations and explained divergences", async () => {
    const o = { ops: 3000, seed: 7, maxLength: 40 };
    const r1 = await fuzz(spec, ref(), ref("linux-6.18"), o);
    const r2 = await fuzz(spec, ref(), ref("linux-6.18"), o);
    expect(r1.ops).to.be.greaterThan(2000);
    expect([r2.sequences, r2.ops, r2.explained, r2.unsupported]).to.deep.equal([r1.sequences, r1.ops, r1.explained, r1.unsupported]);
    expect(r1.counterexample).to.equal(undefined);
  });

  it("runs in-process drivers synchronously, with the verdicts of the promise path", async () => {
    const a = ref();
    expect(isSync(a)).to.equal(true);
    expect(isSync(asyncOnly(a))).to.equal(false);
    const o = { ops: 2000, seed: 3, maxLength: 40 };
    const spy = sinon.spy(a, "callSync");
    const sync = await fuzz(spec, a, ref("linux-6.18"), o);
    expect(spy.called).to.equal(true);
    const promised = await fuzz(spec, asyncOnly(ref()), asyncOnly(ref("linux-6.18")), o);
    expect([promised.sequences, promised.ops, promised.explained]).to.deep.equal([sync.sequences, sync.ops, sync.explained]);
  });

  it("finds a driver that diverges, shrinks the sequence, and replays the same counterexample", async () => {
    const o = { ops: 20000, seed: 5, maxLength: 40 };
    const r = await fuzz(spec, ref(), brokenLoads(), o);
    const c = r.counterexample!;
    expect(c, "a counterexample").to.not.equal(undefined);
    expect(c.steps[c.at]!.k).to.equal("load");
    expect(c.steps.length).to.be.at.most(6);
    expect(c.why).to.match(/step \d+ load: A ok, ret 0, data (\w+); B ok, ret 0, data (?!\1)\w+/);
    const again = await fuzz(spec, ref(), brokenLoads(), o);
    expect(again.counterexample!.steps).to.deep.equal(c.steps);
    const suite = counterexampleSuite({ seed: 5, a: "reference", b: "broken", steps: c.steps, outcomes: c.a, at: c.at, why: c.why, profiles: ["linux-7.2"] });
    expect(JSON.stringify(suite)).to.contain('"load"');
  });
});

describe("fuzz --b capture:FILE (harness/fuzz/capture-replay)", function () {
  this.timeout(60000);
  const FILE = "captures/x86_64-kvm_pvm-6.18.44-fc-v1300.jsonl";

  async function replay(broken?: (op: Op, r: OpResult) => OpResult) {
    const capture = readCapture(FILE);
    const { model, profile } = referenceHost(FILE);
    const d = openReference({ profile: profile!, host: model });
    const driver: Driver = broken ? { ...asyncOnly(d), call: async (op) => broken(op, await d.call(op)) } : d;
    const quirks = Expectations.forDriver("expectations", "linux").forHost(capture.header.handshake.host.kernel);
    return { capture, r: await replayCapture(spec, capture, driver, { quirks }) };
  }

  it("replays every captured step on the reference as that host; each divergence is a listed host quirk", async () => {
    const { capture, r } = await replay();
    const traced = capture.cases.filter((c) => (c.trace ?? []).length > 0);
    expect(r.cases).to.equal(traced.length);
    expect(r.steps).to.equal(traced.reduce((n, c) => n + c.trace!.length, 0));
    expect(r.unexplained).to.deep.equal([]);
    // the host's failing cases are exactly the quirks: each diverges, and is explained
    const failed = traced.filter((c) => c.outcome === "FAIL").map((c) => c.id);
    expect(r.explained.map((d) => d.id).sort()).to.deep.equal(failed.sort());
  });

  it("reports a driver that answers differently from the host (handles translated, so fd numbers are not it)", async () => {
    // a model whose fstat reports one byte more than the file holds
    const { r } = await replay((op, res) => (op.op === "fstat" && res.out ? { ...res, out: { ...res.out, size: (res.out.size as bigint) + 1n } } : res));
    expect(r.unexplained.length).to.be.greaterThan(0);
    for (const d of r.unexplained) expect(d.host).to.match(/size=\d+/), expect(d.driver).to.not.equal(d.host);
  });
});
