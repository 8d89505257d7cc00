// Batched calls (contract 1.4): verdicts and traces are the same with and without
// batches, and a batch that cannot be run as sent is a clear protocol error.
import { expect } from "chai";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import sinon from "sinon";
import { loadSpec } from "../../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { openReference } from "../../harness/drivers/reference.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, type DriverChoice } from "../../harness/runner/runner.js";
import { serveDriver } from "../../harness/protocol/server.js";
import { batchReplyFromWire } from "../../harness/protocol/wire.js";
import { batchLimit, MAX_BATCH_STEPS, runBatch, type BatchStep } from "../../spec/driver/batch.js";
import type { Driver, Op, OpResult } from "../../spec/driver/contract.js";
import type { ProfileName } from "../../spec/index.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");

/** The reference in process; without batches it states none in its handshake and has no batch method. */
function reference(profile: ProfileName, host: string, batching: boolean, batches: BatchStep[][] = []): DriverChoice {
  return {
    label: `reference${batching ? "" : " (no batches)"}`,
    reproArgs: [],
    open: async (): Promise<Driver> => {
      const d = openReference({ profile, host });
      const { batch, ...rest } = d;
      if (batching)
        return {
          ...rest,
          batch: (steps: BatchStep[]) => {
            batches.push(steps);
            return batch!(steps);
          },
        };
      const { batch: _b, ...hs } = d.handshake;
      return { ...rest, handshake: hs };
    },
  };
}

describe("batched calls (contract 1.4)", function () {
  this.timeout(120000);

  const spec = loadSpec();
  let suites: Awaited<ReturnType<typeof loadSuites>>;
  before(async () => {
    suites = await loadSuites(spec, [SUITES_DIR]);
  });
  const runWith = (driver: DriverChoice) =>
    run({ spec, cases: suites.cases, driver, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: suites.files });
  const view = (rs: Awaited<ReturnType<typeof runWith>>["results"]) => rs.map((r) => ({ id: r.id, outcome: r.outcome, message: r.message, trace: r.trace }));

  for (const [profile, host] of [
    ["linux-6.18", "full"],
    ["linux-6.8", "pvm"],
    ["linux-7.2", "arm64-pkvm"],
    ["conv-v8", "full-inplace"],
    ["upm-v10", "full"],
  ] as [ProfileName, string][]) {
    it(`every suite gives the same verdicts and traces with and without batches (reference, ${profile}@${host})`, async () => {
      const batches: BatchStep[][] = [];
      const on = await runWith(reference(profile, host, true, batches));
      const off = await runWith(reference(profile, host, false));
      expect(view(on.results)).to.deep.equal(view(off.results));
      expect(on.results.length).to.equal(suites.cases.length);
      // batches were really sent, with references between their steps, and FAILs are compared too
      expect(batches.length).to.be.greaterThan(50);
      expect(batches.some((b) => b.some((s) => s.refs !== undefined))).to.equal(true);
      expect(batches.some((b) => b.some((s) => s.expect.errno !== undefined))).to.equal(true);
    });
  }

  it("the reference served over stdio runs batches and agrees with the reference in process without them", async () => {
    const filters = ["gmem:*"];
    const common = { spec, cases: suites.cases, filters, timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: suites.files };
    const remoteChoice = driverChoice(`remote:${process.execPath} ${CLI} serve --host full`, { profile: "linux-6.18" });
    const opened: Driver[] = [];
    const remote = await run({ ...common, driver: { ...remoteChoice, open: async () => { const d = await remoteChoice.open(); opened.push(d); return d; } } });
    const local = await run({ ...common, driver: reference("linux-6.18", "full", false) });
    expect(batchLimit(opened[0]!.handshake)).to.equal(MAX_BATCH_STEPS);
    expect(view(remote.results)).to.deep.equal(view(local.results));
    expect(remote.results.filter((r) => r.outcome !== "SKIP").length).to.be.greaterThan(10);
  });

  it("a driver whose handshake states no batch (1.3, or none offered) is never sent one", () => {
    expect(batchLimit({ contractVersion: "1.3", batch: { maxSteps: 8 } })).to.equal(0);
    expect(batchLimit({ contractVersion: "1.4" })).to.equal(0);
    expect(batchLimit({ contractVersion: "1.4", batch: { maxSteps: 8 } })).to.equal(8);
    expect(batchLimit({ contractVersion: "1.4", batch: { maxSteps: 10_000 } })).to.equal(MAX_BATCH_STEPS);
  });

  describe("hostile batches are protocol errors, before any step runs", () => {
    const open = (op: Op): BatchStep => ({ op, expect: {} });
    const memfd: Op = { op: "memfd_create", name: "b", flags: 0n } as Op;
    const close = (ref: unknown, field: unknown = "ret"): BatchStep => ({ op: { op: "close", fd: 0n } as Op, refs: { fd: { ref: ref as number, field: field as string } }, expect: {} });

    for (const [what, steps, why] of [
      ["a forward reference", [close(1), open(memfd)], /refers to step 1, which does not run before it/],
      ["a reference to itself", [open(memfd), close(1)], /does not run before it/],
      ["a negative reference", [open(memfd), close(-1)], /not a step index/],
      ["a reference that is not an integer", [open(memfd), close("0")], /not a step index/],
      ["a reference to an unknown field", [open(memfd), close(0, "exit.reason")], /expected "ret" or "out.NAME"/],
      ["an empty batch", [], /non-empty list of steps/],
      ["an oversized batch", Array.from({ length: MAX_BATCH_STEPS + 1 }, () => open(memfd)), new RegExp(`${MAX_BATCH_STEPS + 1} steps; a batch holds at most ${MAX_BATCH_STEPS}`)],
    ] as [string, BatchStep[], RegExp][]) {
      it(`${what}`, async () => {
        const call = sinon.spy(async (): Promise<OpResult> => ({ ret: 3n }));
        let err: unknown;
        try {
          await runBatch(call, steps);
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(Error);
        expect((err as { kind?: string }).kind).to.equal("protocol");
        expect((err as Error).message).to.match(why);
        expect(call.called).to.equal(false);
      });
    }

    it("a reference to a step that failed stops the batch there with a protocol error; the steps before it have run", async () => {
      const call = sinon.stub<[Op], Promise<OpResult>>().resolves({ ret: -1n, errno: "EINVAL" });
      const reply = await runBatch(call, [{ op: memfd, expect: { errno: ["EINVAL"] } }, close(0)]);
      expect(reply.results).to.deep.equal([{ ret: -1n, errno: "EINVAL" }]);
      expect(reply.error).to.include({ kind: "protocol" });
      expect(reply.error!.message).to.match(/refers to step 0, which failed \(EINVAL\)/);
      expect(call.callCount).to.equal(1);
    });

    it("control: a valid reference is filled in, and the batch stops at the first step that deviates", async () => {
      const ops: Op[] = [];
      const call = async (op: Op): Promise<OpResult> => (ops.push(op), op.op === "memfd_create" ? { ret: 7n } : { ret: -1n, errno: "EBADF" });
      const reply = await runBatch(call, [open(memfd), close(0), close(0), open(memfd)]);
      expect(ops.map((o) => o.op)).to.deep.equal(["memfd_create", "close"]);
      expect((ops[1] as { fd: bigint }).fd).to.equal(7n);
      expect(reply.results).to.have.length(2);
      expect(reply.stopped).to.match(/step 1 deviates: expected success/);
    });

    it("an out field the step did not report stops the batch before the referring step, which the runner evaluates itself", async () => {
      const call = sinon.spy(async (): Promise<OpResult> => ({ ret: 3n }));
      const reply = await runBatch(call, [open(memfd), close(0, "out.size")]);
      expect(reply.results).to.have.length(1);
      expect(reply.stopped).to.match(/out.size of step 0, which is not an integer/);
      expect(call.callCount).to.equal(1);
    });

    const serve = async (lines: object[]) => {
      const input = new PassThrough();
      const output = new PassThrough();
      const served = serveDriver(async () => openReference({ profile: "linux-6.18", host: "full" }), input, output);
      input.end([{ type: "hello", id: 0, contractVersion: "1.4" }, ...lines].map((l) => JSON.stringify(l)).join("\n") + "\n");
      await served;
      return String(output.read()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    };

    it("over the protocol: refs given both in op and refs, to a non-integer parameter, too many steps, or malformed expectations are protocol errors", async () => {
      const step = { op: { op: "memfd_create", name: "b", flags: 0 } };
      const replies = await serve([
        { type: "batch", id: 1, steps: [step, { op: { op: "close", fd: 3 }, refs: { fd: { ref: 0, field: "ret" } } }] },
        { type: "batch", id: 2, steps: [step, { op: { op: "open", flags: 2 }, refs: { path: { ref: 0, field: "ret" } } }] },
        { type: "batch", id: 3, steps: Array.from({ length: MAX_BATCH_STEPS + 1 }, () => step) },
        { type: "batch", id: 4, steps: [{ ...step, expect: { errno: "EINVAL" } }] },
        { type: "batch", id: 5, steps: [step, { op: { op: "close" }, refs: { fd: { ref: 5, field: "ret" } } }] },
        { type: "batch", id: 6, steps: [step, { op: { op: "close" }, refs: { fd: { ref: 0, field: "ret" } } }] },
      ]);
      expect(replies[0]).to.include({ type: "hello" });
      expect(replies[0]!.batch).to.deep.equal({ maxSteps: MAX_BATCH_STEPS });
      const byId = new Map(replies.slice(1).map((r) => [r.id, r]));
      expect(byId.get(1)).to.include({ type: "error", kind: "protocol" });
      expect(byId.get(1)!.message).to.match(/fd is given both in op and in refs/);
      expect(byId.get(2)!.message).to.match(/refs: path is not an integer parameter of open, nor a field of a struct parameter/);
      expect(byId.get(3)!.message).to.match(/65 steps; a batch holds at most 64/);
      expect(byId.get(4)!.message).to.match(/expect.errno: expected a non-empty list/);
      expect(byId.get(5)!.message).to.match(/refers to step 5, which does not run before it/);
      // control: the same batch with a valid reference runs both steps
      expect(byId.get(6)).to.include({ type: "results" });
      expect(byId.get(6)!.results).to.deep.equal([{ ret: 3 }, { ret: 0 }]);
    });

    it("the runner refuses a batch reply that answers more steps than were sent, or fewer without saying why", () => {
      expect(() => batchReplyFromWire({ results: [{ ret: 0 }, { ret: 0 }] }, 1)).to.throw(/2 results for 1 steps/);
      expect(() => batchReplyFromWire({ results: [{ ret: 0 }] }, 2)).to.throw(/no word on why it stopped/);
      expect(() => batchReplyFromWire({ results: [{ ret: 0 }], error: { kind: "internal", message: "x" } }, 1)).to.throw(/an error after the last step/);
      expect(batchReplyFromWire({ results: [{ ret: 0 }], stopped: "step 0 deviates" }, 2).results).to.deep.equal([{ ret: 0n }]);
    });
  });
});
