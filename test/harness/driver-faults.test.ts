// Driver faults, injected by a proxy driver (fixtures/hostile-driver.mjs): each is
// contained to its case or refused at start, and the run ends in bounded time with
// complete reports.
import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { Writable } from "node:stream";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { loadSpec } from "../../spec/index.js";
import { loadSuites } from "../../harness/case/load.js";
import { ChildProcessDriver, jsonDepth } from "../../harness/protocol/child.js";
import { MAX_STDERR_BYTES } from "../../harness/protocol/rate.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { DriverStartError, run, type DriverChoice, type Reporter } from "../../harness/runner/runner.js";
import { KtapReporter } from "../../harness/reporters/ktap.js";
import { JsonlReporter, JsonReporter, JunitReporter } from "../../harness/reporters/files.js";
import { parseKtap } from "./ktap-check.js";
import { FIXTURES } from "./fixtures.js";

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const HOSTILE = join(FIXTURES, "hostile-driver.mjs");

function hostile(fault: string, extraEnv: Record<string, string> = {}, startTimeoutMs = 3000): DriverChoice {
  return {
    label: `hostile:${fault}`,
    reproArgs: [],
    open: () => ChildProcessDriver.start({ command: process.execPath, args: [HOSTILE], env: { ...process.env, HOSTILE_FAULT: fault, ...extraEnv }, startTimeoutMs }),
  };
}

/** A driver whose first process behaves and every replacement has the fault (at start, with this start timeout). */
function goodThenFaulty(fault: string, startTimeoutMs: number): DriverChoice {
  let opened = 0;
  return {
    label: `then-${fault}`,
    reproArgs: [],
    open: () => {
      const first = opened++ === 0;
      return ChildProcessDriver.start({ command: process.execPath, args: [HOSTILE], env: { ...process.env, HOSTILE_FAULT: first ? "" : fault }, startTimeoutMs: first ? 5000 : startTimeoutMs });
    },
  };
}

async function runHostile(fault: string, opts: { filters?: string[]; env?: Record<string, string>; startTimeoutMs?: number; timeoutMs?: number; breakAfter?: number } = {}) {
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
  const dir = mkdtempSync(join(tmpdir(), "pmc-fault-"));
  const ktap = new Capture();
  const reporters: Reporter[] = [new KtapReporter(ktap), new JsonlReporter(dir), new JsonReporter(dir), new JunitReporter(dir)];
  const t0 = performance.now();
  const result = await run({
    spec,
    cases,
    // By default the fault fires in the first driver process only; its replacements behave.
    driver: hostile(fault, { HOSTILE_ONCE: join(dir, "fired"), ...opts.env }, opts.startTimeoutMs),
    filters: opts.filters ?? ["fake:robust:a_pass", "fake:robust:c_pass_after_crash", "fake:robust:j_last_pass"],
    timeoutMs: opts.timeoutMs ?? 1500,
    expectations: Expectations.none(),
    reporters,
    suiteFiles: files,
    ...(opts.breakAfter !== undefined ? { breakAfter: opts.breakAfter } : {}),
  });
  const by = Object.fromEntries(result.results.map((r) => [r.id, r]));
  return { result, by, dir, ktap: ktap.text, ms: performance.now() - t0 };
}

const complete = (dir: string) => {
  for (const f of ["results.jsonl", "results.json", "junit.xml"]) expect(existsSync(join(dir, f)), f).to.equal(true);
};

describe("driver faults (fault-injecting proxy driver)", function () {
  this.timeout(20000);

  it("measures JSON nesting without parsing", () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[["}]}', 64)).to.equal(3);
    expect(jsonDepth("[".repeat(100000), 64)).to.equal(65);
  });

  it("a line without a newline, longer than the bound, is an ERROR of its case; the run goes on and writes every report", async () => {
    const r = await runHostile("long-line");
    expect(r.by["fake:robust:a_pass"]!.outcome).to.equal("ERROR");
    expect(r.by["fake:robust:a_pass"]!.message).to.match(/line longer than \d+ bytes/);
    expect(r.by["fake:robust:c_pass_after_crash"]!.outcome).to.equal("PASS");
    expect(r.by["fake:robust:j_last_pass"]!.outcome).to.equal("PASS");
    complete(r.dir);
  });

  it("a reply nested 5000 levels deep is refused as a protocol error before schema validation", async () => {
    const r = await runHostile("deep-reply");
    expect(r.by["fake:robust:a_pass"]!.outcome).to.equal("ERROR");
    expect(r.by["fake:robust:a_pass"]!.message).to.match(/nested deeper than 64 levels/);
    expect(r.by["fake:robust:j_last_pass"]!.outcome).to.equal("PASS");
  });

  it("a handshake nested 5000 levels deep is a clear refusal at start, and the runner does not hang", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
    const p = run({ spec, cases, driver: hostile("deep-hello"), filters: [], timeoutMs: 1000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(DriverStartError);
    expect((err as Error).message).to.match(/nested deeper than 64 levels/);
  });

  it("the CLI with a handshake nested 5000 levels deep: Bail out!, exit 1, and the process ends", () => {
    const cli = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [cli, "run", "--driver", `remote:${process.execPath} ${HOSTILE}`, "--suites", join(FIXTURES, "suites"), "--out", mkdtempSync(join(tmpdir(), "pmc-dh-"))], {
      encoding: "utf8",
      timeout: 15000,
      env: { ...process.env, HOSTILE_FAULT: "deep-hello" },
    });
    expect(r.status, r.stderr).to.equal(1);
    expect(r.stdout).to.match(/^KTAP version 1\nBail out! driver remote:.* could not start: driver wrote a message nested deeper than 64 levels\n$/);
    expect(performance.now() - t0).to.be.lessThan(10000);
  });

  it("driver-controlled handshake strings cannot inject KTAP lines or escape characters", async () => {
    const r = await runHostile("inject-hello", { filters: ["fake:robust:a_pass"] });
    expect(r.result.info.driverName).to.contain("\n");
    const lines = r.ktap.split("\n");
    expect(lines.filter((l) => /^\s*(not ok|Bail out!|# Totals)/.test(l))).to.have.length(1); // only the real Totals
    expect(r.ktap).not.to.match(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(parseKtap(r.ktap)).to.have.length(1);
  });

  it("a grandchild that holds stdout open neither hangs the runner nor outlives it", async () => {
    const pidfile = join(mkdtempSync(join(tmpdir(), "pmc-gc-")), "pid");
    const r = await runHostile("grandchild", { filters: ["fake:robust:a_pass", "fake:robust:f_exit", "fake:robust:j_last_pass"], env: { HOSTILE_PIDFILE: pidfile } });
    expect(r.by["fake:robust:f_exit"]!.outcome).to.equal("CRASH");
    expect(r.by["fake:robust:j_last_pass"]!.outcome).to.equal("PASS");
    expect(r.ms).to.be.lessThan(8000);
    const pid = Number(readFileSync(pidfile, "utf8"));
    await new Promise((res) => setTimeout(res, 100));
    // Gone, or a zombie waiting for a reaper (the container's init may not reap).
    const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]![0] : "gone";
    expect(state, "the grandchild was killed with its group").to.be.oneOf(["gone", "Z", "X"]);
  });

  it("trips the circuit breaker: a driver that never answers hello costs N start timeouts, then the rest are ERROR with the reason", async () => {
    const r = await runHostile("hang-hello", { filters: ["fake:robust:*"], startTimeoutMs: 200, breakAfter: 3 }).catch((e: unknown) => e);
    // A driver that cannot start at all is a refusal at start.
    expect(r).to.be.instanceOf(DriverStartError);
    // Starts once, then every replacement hangs at hello.
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
    const flaky = goodThenFaulty("hang-hello", 200);
    const t0 = performance.now();
    const dir = mkdtempSync(join(tmpdir(), "pmc-brk-"));
    const out = await run({ spec, cases, driver: flaky, filters: ["fake:robust:*"], timeoutMs: 1000, expectations: Expectations.none(), reporters: [new JsonReporter(dir)], suiteFiles: files, breakAfter: 3 });
    const outcomes = out.results.map((x) => x.outcome);
    expect(outcomes[0]).to.equal("PASS");
    expect(outcomes[1]).to.equal("CRASH"); // b_crash kills the first driver, and the fresh one does not start
    expect(out.results[1]!.message).to.match(/crash.*could not start/);
    // That failed start was the first of three in a row; two more, then the breaker trips.
    expect(out.results.slice(2, 4).map((x) => x.outcome)).to.deep.equal(["TIMEOUT", "TIMEOUT"]);
    const rest = out.results.slice(4).filter((x) => x.outcome !== "SKIP");
    expect(rest.length).to.be.greaterThan(3);
    for (const x of rest) {
      expect(x.outcome).to.equal("ERROR");
      expect(x.message).to.match(/not run: the driver failed to start or reset 3 times in a row/);
    }
    expect(out.info.circuitBroken).to.match(/3 times in a row/);
    expect(performance.now() - t0).to.be.lessThan(5000);
    expect(existsSync(join(dir, "results.json"))).to.equal(true);
  });

  it("a driver that dies right after answering a reset is blamed on the case whose session it was resetting", async () => {
    const r = await runHostile("die-after-reset");
    const next = r.by["fake:robust:c_pass_after_crash"]!;
    expect(next.outcome).to.equal("PASS");
    const blamed = [r.by["fake:robust:a_pass"]!.message ?? "", next.message ?? ""].join(" | ");
    expect(blamed).to.match(/could not reset after the case|failed after the previous case's reset|inherited from the previous case's reset failed here/);
    expect(r.by["fake:robust:j_last_pass"]!.outcome).to.equal("PASS");
  });

  describe("message rate: one reply per request, anything else ends the driver", () => {
    for (const [fault, why] of [
      ["flood-unknown", /answered an unknown request/],
      ["flood-blank", /not JSON/],
      ["flood-dup", /answered an unknown request/],
    ] as const) {
      it(`${fault}: a driver writing megabytes of lines a second is a protocol error at its first extra line, in bounded time and memory`, async () => {
        const rss = process.memoryUsage().rss;
        const r = await runHostile(fault);
        const first = r.by["fake:robust:a_pass"]!;
        // flood-dup answers the call before flooding: the case may pass, and the extra replies end the driver between cases.
        if (fault !== "flood-dup") expect(first.outcome).to.equal("ERROR");
        expect([first.message ?? "", r.by["fake:robust:c_pass_after_crash"]!.message ?? ""].join(" | ")).to.match(why);
        expect(r.by["fake:robust:j_last_pass"]!.outcome).to.equal("PASS");
        expect(r.ms).to.be.lessThan(8000);
        expect(process.memoryUsage().rss - rss, "runner memory").to.be.lessThan(200 << 20);
        complete(r.dir);
      });
    }

    it("flood-hello: unsolicited messages before the handshake are a clear refusal at start", async () => {
      const spec = loadSpec();
      const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
      const t0 = performance.now();
      const err = await run({ spec, cases, driver: hostile("flood-hello"), filters: [], timeoutMs: 1000, expectations: Expectations.none(), reporters: [], suiteFiles: files }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(DriverStartError);
      expect((err as Error).message).to.match(/answered an unknown request/);
      expect(performance.now() - t0).to.be.lessThan(5000);
    });

    it("flood-hello after a good start: every replacement floods, and the circuit breaker ends the run", async () => {
      const spec = loadSpec();
      const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
      const flaky = goodThenFaulty("flood-hello", 2000);
      const t0 = performance.now();
      const rss = process.memoryUsage().rss;
      const out = await run({ spec, cases, driver: flaky, filters: ["fake:robust:*"], timeoutMs: 1000, expectations: Expectations.none(), reporters: [], suiteFiles: files, breakAfter: 3 });
      expect(out.info.circuitBroken).to.match(/3 times in a row.*unknown request/);
      expect(out.results.at(-1)!.message).to.match(/not run: the driver failed to start or reset 3 times in a row/);
      expect(performance.now() - t0).to.be.lessThan(8000);
      expect(process.memoryUsage().rss - rss, "runner memory").to.be.lessThan(200 << 20);
    });

    it("flood-stderr: what a driver writes to stderr is forwarded up to a bound per process, then dropped with one note", async () => {
      const seen: string[] = [];
      let bytes = 0;
      const d = await ChildProcessDriver.start({
        command: process.execPath,
        args: [HOSTILE],
        env: { ...process.env, HOSTILE_FAULT: "flood-stderr" },
        onStderr: (chunk) => {
          bytes += chunk.length;
          if (seen.length < 1000) seen.push(chunk);
        },
      });
      const t0 = performance.now();
      while (performance.now() - t0 < 1500) expect((await d.call({ op: "open", path: "/dev/kvm", flags: 2n })).ret).to.be.a("bigint");
      await d.close();
      expect(bytes, "forwarded bytes").to.be.at.most(MAX_STDERR_BYTES + 200);
      expect(seen.join("")).to.match(/driver stderr: more than 1048576 bytes; the rest is dropped/);
    });
  });
});
