// A full run of every suite against the real kernel leaves the linux driver's
// process with the fds it had before the first case, and with none of the
// regions the cases mapped (V8 maps and unmaps heap of its own meanwhile, so the
// mapping count alone says nothing).
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import type { Driver } from "../../harness/driver/contract.js";
import type { ChildProcessDriver } from "../../harness/driver/child.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/run.js";

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const mappings = (pid: number): Set<string> =>
  new Set(
    readFileSync(`/proc/${pid}/maps`, "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(" ")[0]!),
  );
const range = (addr: bigint, len: bigint) => `${addr.toString(16)}-${(addr + ((len + 4095n) & ~4095n)).toString(16)}`;

describe("linux driver: resources over a full run", function () {
  this.timeout(180000);

  it("holds the same fds after every suite has run as before the first case, and none of the regions the cases mapped", async function () {
    const reason = kvmUnavailableReason();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const seen: { pid: number; fdsBefore: number; fdsAfter?: number; mapsAfter?: Set<string> }[] = [];
    const open = async (): Promise<Driver> => {
      const d = (await openLinux()) as ChildProcessDriver;
      const pid = d.pid!;
      const entry: (typeof seen)[number] = { pid, fdsBefore: fds(pid) };
      seen.push(entry);
      return {
        handshake: d.handshake,
        call: (op) => d.call(op),
        reset: () => d.reset(),
        abort: (why) => d.abort(why),
        close: async () => {
          entry.fdsAfter = fds(pid);
          entry.mapsAfter = mappings(pid);
          await d.close();
        },
      };
    };
    const r = await run({ spec, cases, driver: { label: "linux", reproArgs: [], open }, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files });
    const mapped = r.results.flatMap((x) => x.trace ?? []).filter((t) => t.op.op === "mmap" && Number(t.result.ret) >= 0);
    const executed = r.results.filter((x) => x.outcome !== "SKIP").length;
    expect(executed).to.be.greaterThan(500);
    expect(seen, "one driver process served the whole run (no crash replaced it)").to.have.length(1);
    const [p] = seen;
    expect(p!.fdsAfter, "open fds of the driver process").to.equal(p!.fdsBefore);
    expect(mapped.length, "the cases mapped memory").to.be.greaterThan(100);
    const left = mapped.map((t) => range(BigInt(t.result.ret as string | number), BigInt(t.op.len as string | number))).filter((m) => p!.mapsAfter!.has(m));
    expect(left, "regions mapped by cases and still mapped").to.deep.equal([]);
  });
});
