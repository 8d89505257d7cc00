// `privmem-cts fuzz`: model-based differential fuzzing of two drivers (harness/fuzz/).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR } from "../../spec/paths.js";
import { isProfileName } from "../../spec/profiles.js";
import { DriverUnavailable } from "../../spec/driver/contract.js";
import { driverChoice } from "../drivers/index.js";
import { readCapture } from "../capture/capture.js";
import { replayCapture, type ReplayReport } from "../fuzz/capture-replay.js";
import { Expectations } from "../runner/expectations.js";
import { counterexampleSuite } from "../fuzz/case-writer.js";
import { fuzz, type FuzzReport } from "../fuzz/fuzz.js";
import { err, out, parse, shownPath, UsageError } from "./common.js";

export const FUZZ_HELP = `privmem-cts fuzz --a DRIVER --b DRIVER [--profile-a P] [--profile-b P] [--host-a H] [--host-b H] [--ops N] [--seed S] [--max-length L] [--out FILE] [--json]

Model-based differential fuzzing. fast-check generates random sequences of operations
over fds, guest_memfd, memslots, memory attributes, mappings and guest accesses (only
the kinds both drivers' features allow); both drivers run every step and their outcomes
(success, return value, errno, signal, exit, data; not fd numbers or addresses) are
compared step by step. A sequence ends at its first divergence.

Where the two sides run different profiles, a divergence on a step whose subject has a
clause that 'privmem-cts profiles diff A B' lists is expected: it is counted under those
clauses. Any other divergence is shrunk to a short sequence and written to --out
(default reports/fuzz/seed-S.json) as a suite file whose expectations are driver A's
results, ready to review and commit under suites/.

  --a, --b          reference (default), linux, or remote:<command>; --b also capture:FILE
                    (below)
  --profile-a/-b    a driver's profile (reference default linux-7.2; linux: the running kernel)
  --host-a/-b       reference host model: full (default), pvm, s390 or a capture file
  --ops N           operations to run in all (default 10000)
  --seed S          fast-check seed (default 1): the same seed replays the same sequences
  --max-length L    steps per sequence at most (default 40)
  --out FILE        where a counterexample goes (default reports/fuzz/seed-S.json)
  --json            print the report as JSON

With --b capture:FILE (captures/*.jsonl), B is a real host as it was captured: every
captured case's steps (each request and the host's result) run again on A (by default
the reference configured as that host), and each result is compared with the host's;
the host's fds and addresses are translated to A's. A divergence in a case that an
entry of expectations/<captured driver>*.json lists for that host build (a host quirk)
is explained; any other is reported (--only PREFIX limits the cases, repeatable).

Exit status: 0 when every divergence is explained, 1 when one is not (or a driver
failed), 2 on bad input.`;

function nonNegative(text: string | undefined, what: string, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${what}: expected a non-negative integer, got ${text}`);
  return n;
}

export async function cmdFuzz(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, {
    a: { type: "string", default: "reference" },
    b: { type: "string", default: "reference" },
    "profile-a": { type: "string" },
    "profile-b": { type: "string" },
    "host-a": { type: "string" },
    "host-b": { type: "string" },
    ops: { type: "string" },
    seed: { type: "string" },
    "max-length": { type: "string" },
    out: { type: "string" },
    only: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
  });
  if (o.b.startsWith("capture:")) return fuzzCapture(o.b.slice("capture:".length), o);
  for (const p of [o["profile-a"], o["profile-b"]]) if (p !== undefined && !isProfileName(p)) throw new UsageError(`unknown profile ${p}`);
  const ops = nonNegative(o.ops, "--ops", 10000);
  const seed = nonNegative(o.seed, "--seed", 1);
  const maxLength = Math.max(1, nonNegative(o["max-length"], "--max-length", 40));
  const choice = (d: string, profile: string | undefined, host: string | undefined) =>
    driverChoice(d, { ...(profile !== undefined ? { profile } : {}), ...(host !== undefined ? { host } : {}) });
  const ca = choice(o.a, o["profile-a"], o["host-a"]);
  const cb = choice(o.b, o["profile-b"], o["host-b"]);
  const spec = loadSpec();
  let a, b;
  try {
    a = await ca.open();
    b = await cb.open();
  } catch (e) {
    if (e instanceof DriverUnavailable) {
      err(`privmem-cts fuzz: a driver is unavailable here: ${e.reason}`);
      await a?.close();
      return 0;
    }
    throw e;
  }
  const label = (d: typeof a) => `${d.handshake.name} (${d.handshake.profile}, ${String(d.handshake.host.kernel)})`;
  let report: FuzzReport;
  try {
    if (!o.json) out(`# fuzz: A = ${label(a)}, B = ${label(b)}, seed ${seed}, ${ops} ops`);
    report = await fuzz(spec, a, b, { ops, seed, maxLength }, o.json ? undefined : (r) => out(`# ${r.ops} ops in ${r.sequences} sequences...`));
  } finally {
    await a.close();
    await b.close();
  }
  let written: string | undefined;
  if (report.counterexample) {
    const c = report.counterexample;
    const suite = counterexampleSuite({ seed, a: o.a, b: o.b, steps: c.steps, outcomes: c.a, at: c.at, why: c.why, profiles: [a.handshake.profile] });
    written = resolve(o.out ?? `reports/fuzz/seed-${seed}.json`);
    mkdirSync(dirname(written), { recursive: true });
    writeFileSync(written, JSON.stringify(suite, null, 2) + "\n");
  }
  const rate = report.seconds > 0 ? Math.round(report.ops / report.seconds) : 0;
  const cpuRate = report.cpuSeconds > 0 ? Math.round(report.ops / report.cpuSeconds) : 0;
  if (o.json) out(JSON.stringify({ ...report, opsPerSecond: rate, opsPerCpuSecond: cpuRate, ...(written ? { written: shownPath(written) } : {}) }, null, 2));
  else {
    out(`# ${report.ops} ops in ${report.sequences} sequences, ${report.seconds.toFixed(1)} s (${rate} ops/s; ${report.cpuSeconds.toFixed(1)} s of CPU, ${cpuRate} ops per CPU second); step kinds: ${report.kinds.join(" ")}`);
    if (report.unsupported > 0) out(`# ${report.unsupported} sequences cut short: a driver could not run a step (unsupported)`);
    const explained = Object.entries(report.explained).sort();
    if (explained.length > 0) out(`# expected divergences (clauses that profiles diff lists): ${explained.map(([id, n]) => `${id} x${n}`).join(", ")}`);
    if (report.counterexample) {
      out(`not ok: unexplained divergence after shrinking to ${report.counterexample.steps.length} steps: ${report.counterexample.why}`);
      out(`# replay: privmem-cts fuzz ${argv.join(" ")} (fast-check path ${report.counterexample.path}); case written to ${shownPath(written!)}`);
    } else out("ok: no unexplained divergence");
  }
  return report.counterexample ? 1 : 0;
}

/** fuzz --b capture:FILE: the captured host's steps replayed on A and compared step by step. */
async function fuzzCapture(file: string, o: { a: string; "profile-a"?: string; "host-a"?: string; only?: string[]; json: boolean }): Promise<number> {
  if (!existsSync(file)) throw new UsageError(`capture:${file}: no such file`);
  const capture = readCapture(file);
  const hostA = o["host-a"] ?? (o.a === "reference" ? file : undefined);
  const a = await driverChoice(o.a, { ...(o["profile-a"] !== undefined ? { profile: o["profile-a"] } : {}), ...(hostA !== undefined ? { host: hostA } : {}) }).open();
  const kernel = capture.header.handshake.host.kernel;
  const quirks = Expectations.forDriver(EXPECTATIONS_DIR, capture.header.driver).forHost(kernel);
  let r: ReplayReport;
  try {
    r = await replayCapture(loadSpec(), capture, a, { quirks, ...(o.only ? { filters: o.only } : {}) });
  } finally {
    await a.close();
  }
  if (o.json) {
    out(JSON.stringify(r, null, 2));
    return r.unexplained.length > 0 ? 1 : 0;
  }
  out(`# capture ${shownPath(file)} (${capture.header.driver} on ${kernel}, ${capture.header.handshake.profile}) against ${a.handshake.name} (${a.handshake.profile}, ${String(a.handshake.host.kernel)})`);
  out(`# ${r.cases} captured cases, ${r.steps} steps replayed in ${r.seconds.toFixed(1)} s`);
  if (r.unsupported.length > 0) {
    const first = r.unsupported.slice(0, 3).map((u) => `${u.id}: ${u.why}`);
    out(`# ${r.unsupported.length} cases cut short: A could not run a step (${first.join("; ")}${r.unsupported.length > 3 ? "; ..." : ""})`);
  }
  for (const d of r.explained) out(`# explained by a host quirk (${d.quirk}): ${d.id} step ${d.at}: host ${d.host}; A ${d.driver}`);
  for (const d of r.unexplained) out(`not ok: ${d.id} step ${d.at} (${d.step}): host ${d.host}; A ${d.driver}`);
  out(r.unexplained.length === 0 ? `ok: ${r.explained.length} divergences, each explained by a host quirk` : `${r.unexplained.length} unexplained divergences (${r.explained.length} explained by host quirks)`);
  return r.unexplained.length > 0 ? 1 : 0;
}
