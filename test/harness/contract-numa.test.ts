// Contract 1.4's NUMA operations: a 1.3 driver is never sent move_pages or
// get_mempolicy_node (the cases that need them are skipped, naming them), while the
// cases of the same suites that need only older operations still run.
import { expect } from "chai";
import sinon from "sinon";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { offeredOperations, opSince, type Handshake } from "../../spec/driver/contract.js";
import { OPS, type OpName } from "../../spec/driver/ops.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, type DriverChoice } from "../../harness/runner/runner.js";
import { numaFeatures, parseNodeList } from "../../harness/drivers/linux/numa.js";

const spec = loadSpec();
const SINCE_1_4 = (Object.keys(OPS) as OpName[]).filter((op) => opSince(op) === "1.4");

describe("contract 1.4: NUMA operations", function () {
  this.timeout(120000);

  it("move_pages and get_mempolicy_node are 1.4 operations, absent from a 1.3 vocabulary", () => {
    expect(SINCE_1_4).to.include.members(["move_pages", "get_mempolicy_node"]);
    const hs: Handshake = { contractVersion: "1.3", name: "t", version: "1", profile: "linux-6.18", features: [], host: { kernel: "t", arch: "x86_64", pageSize: 4096 } };
    for (const op of SINCE_1_4) expect(offeredOperations(hs).has(op), op).to.equal(false);
  });

  it("a 1.3 driver is never sent them: those cases SKIP naming the operation, the others of mm:numa run (the reference as 1.4 is the control)", async () => {
    const inner = driverChoice("reference", { profile: "linux-6.18", host: "pvm" });
    const calls: sinon.SinonSpy[] = [];
    // the reference itself, announcing 1.3 and no operation list; a spy records what it is sent
    const old: DriverChoice = {
      label: "reference-as-1.3",
      reproArgs: [],
      open: async () => {
        const d = await inner.open();
        const { operations: _none, ...hs } = d.handshake;
        Object.defineProperty(d, "handshake", { value: { ...hs, contractVersion: "1.3" } });
        calls.push(sinon.spy(d, "call"));
        return d;
      },
    };
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const runWith = (driver: DriverChoice) => run({ spec, cases, driver, filters: ["mm:numa:*", "gmem:numa:*"], timeoutMs: 20000, expectations: Expectations.forDriver(EXPECTATIONS_DIR, "reference"), reporters: [], suiteFiles: files });
    const r = await runWith(old);
    const sent = new Set(calls.flatMap((spy) => spy.getCalls().map((c) => (c.args[0] as { op: string }).op)));
    expect(sent.has("mbind")).to.equal(true);
    for (const op of SINCE_1_4) expect(sent.has(op), op).to.equal(false);
    const byOp = r.results.filter((x) => /^needs operations? /.test(x.message ?? ""));
    expect(byOp.length).to.be.greaterThan(10);
    for (const x of byOp) expect(x.message, x.id).to.match(/\b(move_pages|get_mempolicy_node)\b/);
    const passed = r.results.filter((x) => x.outcome === "PASS").map((x) => x.id);
    expect(passed).to.include("mm:numa:mbind_unaligned:offset=1");
    const current = await runWith(inner);
    const outcome = new Map(current.results.map((x) => [x.id, x.outcome]));
    for (const x of byOp) expect([x.id, outcome.get(x.id)]).to.satisfy(([, o]: [string, string]) => o === "PASS" || o === "SKIP");
    expect(byOp.filter((x) => outcome.get(x.id) === "PASS").length).to.be.greaterThan(10);
  });
});

describe("linux driver: numa:multi-node from /sys/devices/system/node/has_memory", () => {
  it("parses sysfs node lists", () => {
    expect(parseNodeList("0\n")).to.deep.equal([0]);
    expect(parseNodeList("0-1,3\n")).to.deep.equal([0, 1, 3]);
    expect(parseNodeList("\n")).to.deep.equal([]);
  });

  it("offers the feature only when nodes 0 and 1 both have memory; an unreadable file offers nothing", () => {
    expect(numaFeatures(() => "0\n")).to.deep.equal([]);
    expect(numaFeatures(() => "0-1\n")).to.deep.equal(["numa:multi-node"]);
    expect(numaFeatures(() => "0,2-3\n")).to.deep.equal([]);
    expect(
      numaFeatures(() => {
        throw new Error("ENOENT");
      }),
    ).to.deep.equal([]);
  });
});
