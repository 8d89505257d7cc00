// The replay anchor (bench/replay.c): the libc calls the linux driver child made
// for each case of a recorded run (harness/drivers/linux/call-log.ts), issued
// again from C, one forked child per case. Built with this machine's gcc at bench time.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../spec/paths.js";

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

/** Build the replayer, or say why it cannot be built. */
export function buildReplay(): Replay | string {
  const gcc = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (gcc.error || gcc.status !== 0) return "gcc is not available on this machine";
  const dir = mkdtempSync(join(tmpdir(), "pmc-replay-"));
  const exe = join(dir, "replay");
  const built = spawnSync("gcc", ["-O2", "-o", exe, join(PROJECT_ROOT, "bench", "replay.c")], { encoding: "utf8" });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `gcc could not build bench/replay.c: ${built.stderr.trim()}`;
  }
  const logDir = join(dir, "log");
  execFileSync("mkdir", [logDir]);
  return {
    logDir,
    run(oneProcess = false): ReplayResult {
      const logs = readdirSync(logDir).filter((f) => f.endsWith(".log")).sort().map((f) => join(logDir, f));
      if (logs.length === 0) throw new Error("replay: the recorded run wrote no call log");
      return JSON.parse(execFileSync(exe, [...(oneProcess ? ["--one-process"] : []), ...logs], { encoding: "utf8", maxBuffer: 1 << 20 })) as ReplayResult;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
