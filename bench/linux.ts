// The linux driver's bridge: the same ioctls issued directly through libc in one
// process, through the driver in process, and through the driver in its child
// process (the JSON-lines protocol). The overhead is the ratio of the rates.
import { loadSpec } from "../spec/index.js";
import * as libc from "../harness/drivers/linux/libc.js";
import { kvmUnavailableReason, openLinux } from "../harness/drivers/linux/index.js";
import { LinuxDriver } from "../harness/drivers/linux/driver.js";
import type { Driver, Op } from "../spec/driver/contract.js";
import { line } from "./stats.js";
import { buildAnchor } from "./anchor.js";
import { buildReplay } from "./replay.js";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import type { DriverChoice } from "../harness/runner/runner.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import { driverChoice } from "../harness/drivers/index.js";
import { Expectations } from "../harness/runner/expectations.js";
import { run } from "../harness/runner/runner.js";

const PROFILE = "linux-6.18";

async function rate(n: number, f: () => unknown | Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, n); i++) await f(); // warm up
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f();
  return n / (Number(process.hrtime.bigint() - t) / 1e9);
}

export async function benchLinux(n = 5000): Promise<void> {
  const reason = kvmUnavailableReason();
  if (reason !== undefined) {
    console.log(`linux bridge: skipped (${reason})`);
    return;
  }
  const spec = loadSpec();
  const c = (name: string) => spec.constant(name, PROFILE)!;
  const checkExt = spec.ioctl("KVM_CHECK_EXTENSION", PROFILE)!.request;
  const createGmem = spec.ioctl("KVM_CREATE_GUEST_MEMFD", PROFILE)!.request;

  // Direct: libc calls in this process, arguments encoded once.
  const kvm = libc.open("/dev/kvm", c("O_RDWR") | c("O_CLOEXEC"), 0n).ret;
  const vm = libc.ioctlValue(kvm, spec.ioctl("KVM_CREATE_VM", PROFILE)!.request, 0n).ret;
  const arg = Buffer.from(spec.codec.encode("kvm_create_guest_memfd", { size: 4096 }));
  // Without guest_memfd the create fails at once: timing it would measure an error path.
  const probe = libc.ioctlBuffer(vm, createGmem, arg).ret;
  const hasGmem = probe >= 0n;
  if (hasGmem) libc.close(probe);
  const direct = {
    check: await rate(n, () => libc.ioctlValue(kvm, checkExt, c("KVM_CAP_GUEST_MEMFD"))),
    gmem: hasGmem ? await rate(n, () => libc.close(libc.ioctlBuffer(vm, createGmem, arg).ret)) : NaN,
  };
  libc.close(vm);
  libc.close(kvm);

  const viaDriver = async (d: Driver) => {
    const k = (await d.call({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") })).ret;
    const v = (await d.call({ op: "ioctl", fd: k, request: "KVM_CREATE_VM", arg: 0n })).ret;
    const check: Op = { op: "ioctl", fd: k, request: "KVM_CHECK_EXTENSION", arg: c("KVM_CAP_GUEST_MEMFD") };
    const r = {
      check: await rate(n, () => d.call(check)),
      gmem: hasGmem
        ? await rate(n, async () => {
            const g = await d.call({ op: "ioctl", fd: v, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 4096n } });
            await d.call({ op: "close", fd: g.ret });
          })
        : NaN,
    };
    await d.reset();
    await d.close();
    return r;
  };
  const inProcess = await viaDriver(LinuxDriver.open({ profile: PROFILE }));
  const child = await viaDriver(await openLinux({ profile: PROFILE }));

  const show = (name: string, r: { check: number; gmem: number }) =>
    line(`linux: ${name}`, {
      checkExtPerSec: Math.round(r.check),
      overheadCheck: `${(direct.check / r.check).toFixed(1)}x`,
      ...(hasGmem ? { createCloseGmemPerSec: Math.round(r.gmem), overheadGmem: `${(direct.gmem / r.gmem).toFixed(1)}x` } : { createCloseGmem: "skipped (no guest_memfd on this host)" }),
    });
  show("direct libc ioctls (baseline)", direct);
  show("LinuxDriver in process", inProcess);
  show("linux driver over the protocol", child);
}

/**
 * The linux driver per executed case over the whole run (every suite, as `npx
 * privmem-cts run --driver linux` runs it), against the replay anchor: the same
 * libc calls, recorded from a run of the driver and issued again from C, one
 * forked child per case (bench/replay.c). Rounds alternate anchor and driver, so
 * each ratio compares runs made seconds apart on this shared machine. The old
 * fixed-call anchor (bench/anchor.c) is printed too, for what it is.
 */
export async function benchLinuxRun(rounds = Number(process.env["PRIVMEM_CTS_BENCH_ROUNDS"] ?? 3), anchorCases = 300): Promise<void> {
  const reason = kvmUnavailableReason();
  if (reason !== undefined) {
    console.log(`linux run: skipped (${reason})`);
    return;
  }
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  const runDriver = async () => {
    const child = { cpu: 0, startSeconds: 0, startCpu: 0 };
    const choice = cpuCounted(driverChoice("linux", {}), child);
    const c0 = process.cpuUsage();
    const t = performance.now();
    const r = await run({ spec, cases, driver: choice, filters: [], timeoutMs: 10000, expectations: expectationsFor(), reporters: [], suiteFiles: files });
    const seconds = (performance.now() - t) / 1000;
    const c = process.cpuUsage(c0);
    return { r, seconds, cpuSeconds: (c.user + c.system) / 1e6 + child.cpu, runnerCpu: (c.user + c.system) / 1e6, childCpu: child.cpu, startSeconds: child.startSeconds, startCpu: child.startCpu };
  };
  const replay = buildReplay({ createVm: spec.ioctl("KVM_CREATE_VM", PROFILE)!.request, createVcpu: spec.ioctl("KVM_CREATE_VCPU", PROFILE)!.request });
  const anchor = buildAnchor(spec, PROFILE);
  try {
    if (typeof replay === "string") console.log(`replay anchor: skipped (${replay}); the linux driver's figures are printed without a ratio`);
    else {
      // The recorded run: not timed (recording costs), only its calls are kept.
      process.env["PRIVMEM_CTS_CALL_LOG"] = replay.logDir;
      try {
        await runDriver();
      } finally {
        delete process.env["PRIVMEM_CTS_CALL_LOG"];
      }
    }
    const ratios = { forked: [] as number[], oneProcess: [] as number[], cpu: [] as number[], forkedAfterStart: [] as number[] };
    const load = () => loadavg().map((l) => l.toFixed(2)).join("/");
    line("linux run: load average at start", { load: load() });
    for (let i = 0; i < rounds; i++) {
      const forked = typeof replay === "string" ? undefined : replay.run();
      const single = typeof replay === "string" ? undefined : replay.run(true);
      const { r, seconds, cpuSeconds, runnerCpu, childCpu, startSeconds, startCpu } = await runDriver();
      const executed = Math.max(1, r.results.length - r.summary.SKIP);
      const perCase = seconds / executed;
      const figures: Record<string, string | number> = {};
      for (const [name, rep] of [["forked", forked], ["oneProcess", single]] as const) {
        if (rep === undefined) continue;
        const per = rep.seconds / Math.max(1, rep.cases);
        line(`replay anchor, ${name === "forked" ? "one forked child per case" : "all cases in one process"}, round ${i + 1}`, { cases: rep.cases, calls: rep.calls, msPerCase: per * 1000, cpuMsPerCase: (rep.cpuSeconds / Math.max(1, rep.cases)) * 1000, mismatches: rep.mismatches, crashed: rep.crashed, unheldKvm: rep.unheldKvm });
        for (const m of rep.firstMismatches) console.log(`  replay mismatch: ${m}`);
        ratios[name].push(perCase / per);
        figures[name === "forked" ? "vsForked" : "vsOneProcess"] = `${(perCase / per).toFixed(2)}x`;
      }
      // the child's start-up (Node, modules, the probe) is paid once a run; the replay's parse is not timed
      if (forked !== undefined) ratios.forkedAfterStart.push((seconds - startSeconds) / executed / (forked.seconds / Math.max(1, forked.cases)));
      if (single !== undefined) {
        const cpuRatio = cpuSeconds / executed / (single.cpuSeconds / Math.max(1, single.cases));
        ratios.cpu.push(cpuRatio);
        figures["cpuVsOneProcess"] = `${cpuRatio.toFixed(2)}x`;
      }
      line(`linux driver: whole run, round ${i + 1}`, { executed, seconds, msPerExecutedCase: perCase * 1000, cpuMsPerExecutedCase: (cpuSeconds / executed) * 1000, ...figures });
      line(`linux driver: CPU ms per executed case, round ${i + 1}`, { runner: (runnerCpu / executed) * 1000, driverChild: (childCpu / executed) * 1000 });
      line(`linux driver: start-up (spawn to handshake), round ${i + 1}`, { seconds: startSeconds, childCpuSeconds: startCpu });
      line(`linux driver: outcomes, round ${i + 1}`, { pass: r.summary.PASS, xfail: r.summary.XFAIL, skip: r.summary.SKIP, fail: r.summary.FAIL, error: r.summary.ERROR });
    }
    const range = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return `${s[0]!.toFixed(2)}x / ${s[Math.floor(s.length / 2)]!.toFixed(2)}x / ${s[s.length - 1]!.toFixed(2)}x`;
    };
    if (ratios.forked.length > 0) {
      line("linux driver vs replay (min / median / max)", { rounds: ratios.forked.length, wallVsForked: range(ratios.forked), wallVsOneProcess: range(ratios.oneProcess), cpuVsOneProcess: range(ratios.cpu), load: load() });
      line("  the same, the driver's start-up left out (not the headline)", { wallVsForked: range(ratios.forkedAfterStart) });
    }
    if (typeof anchor === "string") console.log(`fixed-call anchor: skipped (${anchor})`);
    else
      line("fixed-call anchor (not the cases' calls)", {
        cases: anchorCases,
        msPerCase: anchor.perCase(anchorCases) * 1000,
        calls: "open /dev/kvm, 4 CHECK_EXTENSION, CREATE_VM, one memslot set and deleted",
      });
  } finally {
    if (typeof replay !== "string") replay.dispose();
    if (typeof anchor !== "string") anchor.dispose();
  }
}

/**
 * The choice, its drivers' processes' CPU time (read just before each closes) added to
 * `into.cpu`; the wall time from spawn to handshake and the child's CPU by then to `into.start*`.
 */
function cpuCounted(choice: DriverChoice, into: { cpu: number; startSeconds: number; startCpu: number }): DriverChoice {
  return {
    ...choice,
    open: async () => {
      const t = performance.now();
      const d = await choice.open();
      into.startSeconds += (performance.now() - t) / 1000;
      const pid = (d as { pid?: number }).pid;
      if (pid === undefined) return d;
      into.startCpu += processCpuSeconds(pid);
      const close = d.close.bind(d);
      d.close = async () => {
        into.cpu += processCpuSeconds(pid);
        return close();
      };
      return d;
    },
  };
}

/** utime + stime of a process from /proc (clock ticks of 10 ms, as on every Linux this runs on). */
function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function expectationsFor(): Expectations {
  return Expectations.forDriver(EXPECTATIONS_DIR, "linux");
}
