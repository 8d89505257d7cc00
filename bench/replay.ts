// The replay anchor (bench/replay.c): the libc calls the linux driver child made
// for each case of a recorded run (harness/drivers/linux/call-log.ts), issued
// again from C, one forked child per case. Built with this machine's gcc at bench time.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { buildC } from "./anchor.js";

export interface ReplayResult {
  /** cases replayed (those that made at least one call) */
  cases: number;
  calls: number;
  /** seconds of the forked children, fork to reaped */
  seconds: number;
  /** CPU seconds (user + system) of the forked children */
  cpuSeconds: number;
  /** calls whose result differed from the recorded one (then the replay was not faithful there) */
  mismatches: number;
  mismatchCases: number;
  /** watchdog timers a child created because the driver had created its own in an earlier case */
  lazyTimers: number;
  /** VMs and vCPUs the driver held that the replayer could not (no request numbers): held as /dev/null */
  unheldKvm: number;
  crashed: number;
  firstMismatches: string[];
}

export interface Replay {
  /** where the driver child writes its call log: set PRIVMEM_CTS_CALL_LOG to it for the recorded run */
  readonly logDir: string;
  /** replay every log in logDir once: one forked child per case, or every case in one process */
  run(oneProcess?: boolean): ReplayResult;
  dispose(): void;
}

/** Build the replayer, or say why it cannot be built. `kvm`: KVM_CREATE_VM and KVM_CREATE_VCPU's numbers, to hold the VM the driver holds. */
export function buildReplay(kvm?: { createVm: number; createVcpu: number }): Replay | string {
  const built = buildC("replay");
  if (typeof built === "string") return built;
  const { dir, exe } = built;
  const logDir = join(dir, "log");
  mkdirSync(logDir);
  return {
    logDir,
    run(oneProcess = false): ReplayResult {
      const logs = readdirSync(logDir).filter((f) => f.endsWith(".log")).sort().map((f) => join(logDir, f));
      if (logs.length === 0) throw new Error("replay: the recorded run wrote no call log");
      const requests = kvm === undefined ? [] : [`--kvm-requests=${kvm.createVm.toString(16)},${kvm.createVcpu.toString(16)}`];
      return JSON.parse(execFileSync(exe, [...(oneProcess ? ["--one-process"] : []), ...requests, ...logs], { encoding: "utf8", maxBuffer: 1 << 20 })) as ReplayResult;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
