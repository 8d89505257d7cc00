// Capture replay learns the handles ops.ts declares (spec/driver/returns.ts): fcntl's
// F_DUPFD_CLOEXEC returns an fd, F_GETFL (O_RDWR | O_LARGEFILE on a memfd) does not; a pipe's out.write_fd is an fd. A
// synthetic capture whose host numbered its fds far from the reference's must replay
// without a divergence only if each of those is translated.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { openReference } from "../../harness/drivers/reference.js";
import { readCapture, type Capture } from "../../harness/capture/capture.js";
import { replayCapture } from "../../harness/fuzz/capture-replay.js";
import { Expectations } from "../../harness/runner/expectations.js";
import type { TraceEntry } from "../../harness/case/execute.js";

describe("capture replay: handles declared in ops.ts (returnsIf, outFds, names: fd)", () => {
  const spec = loadSpec();
  const real = readCapture("captures/x86_64-kvm_pvm-6.18.44-fc-v1300.jsonl");
  const K = (n: string) => Number(spec.constant(n, "linux-6.18")!);
  const step = (i: number, op: Record<string, unknown>, result: Record<string, unknown>): TraceEntry => ({ step: `synthetic#/steps/${i}`, op, result });
  const trace: TraceEntry[] = [
    step(0, { op: "memfd_create", name: "dup", flags: 0 }, { ret: 40 }),
    step(1, { op: "fcntl", fd: 40, cmd: K("F_DUPFD_CLOEXEC"), arg: 0 }, { ret: 41 }),
    step(2, { op: "fcntl", fd: 41, cmd: K("F_GETFL") }, { ret: 0x8002 }),
    step(3, { op: "pwrite", fd: 41, data: "a1a2", offset: 0 }, { ret: 2 }),
    step(4, { op: "pread", fd: 40, len: 2, offset: 0 }, { ret: 2, out: { data: "a1a2" } }),
    step(5, { op: "pipe", flags: 0 }, { ret: 60, out: { write_fd: 61 } }),
    step(6, { op: "write", fd: 61, data: "b1" }, { ret: 1 }),
    step(7, { op: "read", fd: 60, len: 4 }, { ret: 1, out: { data: "b1" } }),
  ];
  const capture: Capture = { file: "synthetic.jsonl", header: real.header, cases: [{ type: "case", id: "synthetic:handles", kind: "steps", outcome: "PASS", trace }] };

  it("translates the duplicated fd and the pipe's write end: no divergence", async () => {
    const driver = openReference({ profile: "linux-6.18", host: "full" });
    const r = await replayCapture(spec, capture, driver, { quirks: Expectations.forDriver("expectations", "linux").forHost("none") });
    expect(r.steps).to.equal(trace.length);
    expect(r.unexplained).to.deep.equal([]);
  });

  it("compares F_GETFL's value (fcntl returns an fd only for the F_DUPFD commands)", async () => {
    const driver = openReference({ profile: "linux-6.18", host: "full" });
    const wrong = { ...capture, cases: [{ ...capture.cases[0]!, trace: trace.map((t, i) => (i === 2 ? { ...t, result: { ret: 0 } } : t)) }] };
    const r = await replayCapture(spec, wrong, driver, { quirks: Expectations.forDriver("expectations", "linux").forHost("none") });
    expect(r.unexplained.map((d) => [d.at, d.host])).to.deep.equal([[2, "ret 0"]]);
  });
});
