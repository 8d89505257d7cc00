import { PassThrough } from "node:stream";
import sinon from "sinon";
import { LineSplitter, LineTooLong } from "../../harness/protocol/lines.js";
import { serveDriver } from "../../harness/protocol/server.js";
import { expect } from "chai";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/runner.js";
import { observation } from "../../harness/runner/agreement.js";
import { opFromWire, opToWire, resultFromWire, resultToWire } from "../../harness/protocol/wire.js";
import { ChildProcessDriver, splitCommand } from "../../harness/protocol/child.js";
import { FAKE_DRIVER } from "./fixtures.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");

describe("driver protocol", function () {
  this.timeout(120000);

  it("round-trips operations and results through the wire form", () => {
    const op = { op: "ioctl" as const, fd: 5n, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, guest_phys_addr: 1n << 40n, pad2: [0n, (1n << 64n) - 1n] } };
    expect(opFromWire(JSON.parse(JSON.stringify(opToWire(op))))).to.deep.equal(op);
    const store = { op: "store" as const, addr: 0x7fff00001000n, data: new Uint8Array([0, 1, 255]) };
    expect(opFromWire(JSON.parse(JSON.stringify(opToWire(store))))).to.deep.equal(store);
    const res = { ret: -1n, errno: "EFAULT", exit: { reason: "KVM_EXIT_MEMORY_FAULT", memory_fault: { flags: 8n, gpa: 1n << 62n, size: 4096n } }, out: { data: new Uint8Array([7]), link: "anon_inode:[kvm-gmem]" } };
    expect(resultFromWire(JSON.parse(JSON.stringify(resultToWire(res))))).to.deep.equal(res);
  });

  it("leaves no timer running after a child driver is closed", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    await new Promise((r) => setImmediate(r)); // mocha arms its own test timer once the test yields
    const before = timers();
    const [command, ...args] = splitCommand(FAKE_DRIVER.slice("remote:".length));
    const d = await ChildProcessDriver.start({ command: command!, args });
    await d.close();
    expect(timers(), process.getActiveResourcesInfo().join(",")).to.equal(before);
  });

  it("rejects malformed operations with a protocol error", () => {
    expect(() => opFromWire({ op: "close" })).to.throw(/missing parameter fd/);
    expect(() => opFromWire({ op: "close", fd: 1, extra: 2 })).to.throw(/unknown parameter extra/);
    expect(() => opFromWire({ op: "frobnicate" })).to.throw(/unknown op/);
    expect(() => opFromWire({ op: "close", fd: 1.5 })).to.throw(/expected an integer/);
  });

  for (const cfg of [
    { profile: "linux-6.18", host: "pvm" },
    { profile: "linux-7.2", host: "full" },
  ]) {
    it(`gives the same results for the reference in process and served over stdio (${cfg.profile}@${cfg.host})`, async () => {
      const spec = loadSpec();
      const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
      const common = { spec, cases, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files };
      const local = await run({ ...common, driver: driverChoice("reference", cfg) });
      const remote = await run({ ...common, driver: driverChoice(`remote:${process.execPath} ${CLI} serve --host ${cfg.host}`, { profile: cfg.profile }) });
      expect(remote.info.profile).to.equal(cfg.profile);
      const view = (rs: typeof local.results) => rs.map((r) => ({ id: r.id, outcome: r.outcome, message: r.message, steps: (r.trace ?? []).map(observation) }));
      expect(view(remote.results)).to.deep.equal(view(local.results));
      expect(local.results.length).to.equal(cases.length);
    });
  }
});

describe("protocol lines are bounded at both ends", () => {
  it("LineSplitter joins lines across chunks, drops a CR before LF, and refuses a line past the bound before it ends", () => {
    const s = new LineSplitter(8);
    expect(s.push(Buffer.from('{"a"'))).to.deep.equal([]);
    expect(s.push(Buffer.from(':1}\r\n{}\n{'))).to.deep.equal(['{"a":1}', "{}"]);
    expect(s.rest()).to.equal("{");
    expect(() => s.push(Buffer.from("12345678"))).to.throw(LineTooLong);
  });

  it("serve answers a line without end once, as a protocol error, and stops without buffering it", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const open = sinon.spy(async () => {
      throw new Error("not reached");
    });
    const served = serveDriver(open, input, output, 1024);
    input.write("x".repeat(600));
    input.write("y".repeat(600));
    await served;
    const replies = String(output.read() ?? "").trim().split("\n").map((l) => JSON.parse(l) as { type: string; kind: string; message: string });
    expect(replies).to.have.length(1);
    expect(replies[0]).to.include({ type: "error", kind: "protocol" });
    expect(replies[0]!.message).to.match(/longer than 1024 bytes/);
    expect(open.called).to.equal(false);
    expect(input.destroyed).to.equal(true);
  });

  it("control: a message within the bound is answered", async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const served = serveDriver(async () => {
      throw new Error("no driver");
    }, input, output, 1024);
    input.end('{"type":"call","id":7,"op":{"op":"close","fd":"3"}}\n');
    await served;
    const reply = JSON.parse(String(output.read()).trim()) as { type: string; id: number; message: string };
    expect(reply).to.include({ type: "error", id: 7 });
    expect(reply.message).to.equal("call before hello");
  });
});
