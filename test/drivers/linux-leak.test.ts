// A full run of every suite against the real kernel leaves the linux driver's
// process with the fds it had before the first case, and with none of the
// regions the cases or the driver mapped. V8 maps and unmaps memory of its own
// meanwhile, so the mapping count alone says nothing, and an address a case once
// used may be V8's later: overlaps are therefore checked right after each reset,
// against the regions of the case just finished. The driver's own regions are
// recognisable by name (the guest code memfd, the vCPUs' kvm_run).
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import type { Driver, Handshake } from "../../spec/driver/contract.js";
import type { ChildProcessDriver } from "../../harness/protocol/child.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { parseMaps, type Vma } from "../../harness/drivers/linux/memory.js";
import { CODE_REGION_NAME } from "../../harness/drivers/linux/vcpu.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, skipReason } from "../../harness/runner/runner.js";

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const maps = (pid: number): Vma[] => parseMaps(readFileSync(`/proc/${pid}/maps`, "utf8"));
const driverOwned = (v: Vma) => v.path.includes(CODE_REGION_NAME) || v.path.includes("kvm-vcpu");
const hex = (r: { start: bigint; end: bigint }) => `${r.start.toString(16)}-${r.end.toString(16)}`;

interface Region {
  start: bigint;
  end: bigint;
  by: string;
}

describe("linux driver: resources over a full run", function () {
  this.timeout(180000);

  it("holds the same fds after every suite has run as before the first case, and no mapping overlaps a region a case or the driver mapped", async function () {
    const reason = kvmUnavailableReason();
    if (reason !== undefined) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const seen: { pid: number; fdsBefore: number; fdsAfter?: number; driverRegionsAfter?: Vma[] }[] = [];
    const leaks: string[] = [];
    let caseRegions = 0;
    let driverRegions = 0;
    let handshake: Handshake | undefined;
    const open = async (): Promise<Driver> => {
      const d = (await openLinux()) as ChildProcessDriver;
      const pid = d.pid!;
      handshake = d.handshake;
      const entry: (typeof seen)[number] = { pid, fdsBefore: fds(pid) };
      seen.push(entry);
      let regions: Region[] = [];
      return {
        handshake: d.handshake,
        call: async (op) => {
          const r = await d.call(op);
          if (op.op === "mmap" && r.ret >= 0n) regions.push({ start: r.ret, end: r.ret + ((op.len + 4095n) & ~4095n), by: "case" });
          return r;
        },
        reset: async () => {
          const held = maps(pid).filter(driverOwned);
          regions.push(...held.map((v) => ({ start: v.start, end: v.end, by: `driver (${v.path})` })));
          caseRegions += regions.filter((r) => r.by === "case").length;
          driverRegions += held.length;
          const report = await d.reset();
          const after = maps(pid);
          for (const r of regions)
            for (const v of after) if (v.start < r.end && r.start < v.end) leaks.push(`${r.by} region ${hex(r)} overlapped by ${hex(v)} ${v.path}`);
          regions = [];
          return report;
        },
        abort: (why) => d.abort(why),
        close: async () => {
          entry.fdsAfter = fds(pid);
          entry.driverRegionsAfter = maps(pid).filter(driverOwned);
          await d.close();
        },
      };
    };
    const r = await run({ spec, cases, driver: { label: "linux", reproArgs: [], open }, filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], keepTrace: true, suiteFiles: files });
    // What this host can run is what its handshake qualifies for; every such case must
    // really execute (a case may still skip at run time when it states nothing for the profile).
    expect(handshake, "the driver started").to.not.equal(undefined);
    const eligible = new Set(cases.filter((c) => skipReason(spec, c, handshake!) === undefined).map((c) => c.id));
    const executed = r.results.filter((x) => x.outcome !== "SKIP");
    const skippedEligible = r.results.filter((x) => eligible.has(x.id) && x.outcome === "SKIP" && !/states no expectation for profile/.test(x.message ?? ""));
    expect(eligible.size, "cases this host qualifies for").to.be.greaterThan(0);
    expect(skippedEligible.map((x) => `${x.id}: ${x.message}`), "eligible cases that did not run").to.deep.equal([]);
    expect(executed.length, "cases executed").to.be.greaterThan(0);
    expect(seen, "one driver process served the whole run (no crash replaced it)").to.have.length(1);
    const [p] = seen;
    expect(p!.fdsAfter, "open fds of the driver process").to.equal(p!.fdsBefore);
    const mapping = executed.filter((x) => x.trace?.some((t) => t.op.op === "mmap" && Number(t.result.ret) >= 0)).length;
    expect(caseRegions, "every region the executed cases mapped was seen").to.be.at.least(mapping);
    expect(mapping, "executed cases that mapped memory").to.be.greaterThan(0);
    // guest programs map guest code and kvm_run, where the host runs guests
    if (handshake!.features.includes("guest-run")) expect(driverRegions, "the driver mapped guest code and kvm_run").to.be.greaterThan(0);
    expect(leaks, "mappings overlapping a region mapped during the case just reset").to.deep.equal([]);
    expect(p!.driverRegionsAfter, "the driver's own regions after the run").to.deep.equal([]);
  });
});
