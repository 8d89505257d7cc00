// How strong are the suites? Every hand-written mutant of the reference must make
// some case fail. A mutant that no case notices is a hole in the suites.
//
// Every mutant is checked on every run. Worker processes (test/mutants/worker.ts; one per core but
// one) load the spec and the suites once and check mutants one after another, each from its own
// patched module copy of the model; a mutant's run stops at its first failing case (one is all it
// takes to show it killed). The unmutated copy runs every case to the end, one configuration per
// job, so that no job is long.
// The workers run without coverage: c8 measures the project's model, not the copies.
import { expect } from "chai";
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { MUTANTS } from "./mutants/mutants.js";
import type { MutantJob, MutantResult } from "./mutants/worker.js";
import { configLabel, MUTANT_CONFIGS } from "./mutants/suite-run.js";
import { PROJECT_ROOT } from "../spec/paths.js";

/**
 * For each mutant, the case that killed it when the kills were last written ("<profile>@<host>
 * <outcome> <case id>", as a failure reads): its run starts with that case, then runs
 * every case as before if that one passes. Only the order changes, never what must fail.
 */
const KILLS_FILE = join(PROJECT_ROOT, "test", "mutants", "kills.json");
const KILLS = (existsSync(KILLS_FILE) ? JSON.parse(readFileSync(KILLS_FILE, "utf8")) : {}) as Record<string, string>;

type Settled = { ok: true; failed: string[] } | { ok: false; error: unknown };

/**
 * Hands the jobs, in order, to the workers as each becomes free. Returns at once, with a promise of
 * every job's result (kept settled), so that each test waits for its own mutant under its own timeout.
 */
function checkAll(jobs: MutantJob[], width: number): Map<string, Promise<Settled>> {
  const settle = new Map<string, (s: Settled) => void>();
  const results = new Map(jobs.map((j) => [j.name, new Promise<Settled>((resolve) => settle.set(j.name, resolve))]));
  const pending = [...jobs];
  const env = { ...process.env };
  // Deleting the variable is not enough: node passes its own NODE_V8_COVERAGE on to a child whose env
  // lacks one. An empty value turns coverage off.
  env.NODE_V8_COVERAGE = "";
  const one = (): void => {
    const worker: ChildProcess = fork(join(PROJECT_ROOT, "dist", "test", "mutants", "worker.js"), [], { env, execArgv: [], stdio: ["ignore", "inherit", "pipe", "ipc"] });
    let stderr = "";
    let current: MutantJob | undefined;
    worker.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const next = () => {
      current = pending.shift();
      if (current) worker.send(current);
      else worker.disconnect();
    };
    worker.on("message", (m: MutantResult | { ready: true }) => {
      if ("ready" in m) return next();
      settle.get(m.name)?.("error" in m ? { ok: false, error: new Error(m.error) } : { ok: true, failed: m.failed });
      current = undefined;
      next();
    });
    worker.on("exit", (code, signal) => {
      // A worker that dies takes its job with it: say so for that job; the others go on in the other worker.
      if (current) settle.get(current.name)?.({ ok: false, error: new Error(`the mutant worker ended (${signal ?? code}) while checking it:\n${stderr}`) });
      // With no worker left, the jobs nobody took are reported, not waited for.
      if (--alive === 0) for (const j of pending.splice(0)) settle.get(j.name)?.({ ok: false, error: new Error(`no mutant worker was left to check it:\n${stderr}`) });
    });
  };
  let alive = Math.min(width, jobs.length);
  for (let i = 0; i < alive; i++) one();
  return results;
}

function outcome(s: Settled | undefined): string[] {
  if (!s) throw new Error("the mutant was not checked");
  if (!s.ok) throw s.error;
  return s.failed;
}

/** A mutant counts as killed when some case failed against it. */
function expectKilled(name: string, failed: string[]): void {
  expect(failed.length, `no case noticed the mutant ${name}`).to.be.greaterThan(0);
}

describe("mutants of the reference implementation", function () {
  this.timeout(180000);
  let results: Map<string, Promise<Settled>>;
  const UNMUTATED = "(unmutated)";
  const unmutatedJobs: MutantJob[] = MUTANT_CONFIGS.map((c) => ({ name: `${UNMUTATED} ${configLabel(c)}`, file: "vm/attributes.js", search: "vm.mmu.zap(asId", replace: "vm.mmu.zap(asId", firstFailure: false, configs: [configLabel(c)] }));
  const unmutatedFailures = async () => (await Promise.all(unmutatedJobs.map((j) => results.get(j.name)))).flatMap(outcome);

  before(() => {
    const jobs = [...unmutatedJobs, ...MUTANTS.map((m) => ({ name: m.name, file: m.file, search: m.search, replace: m.replace, firstFailure: true, ...(KILLS[m.name] ? { first: KILLS[m.name] } : {}) }))];
    // One worker: the mocha worker running this file only waits, so the mutant worker has its core and
    // the other mocha worker the other (two cores); more would only contend with the other files.
    results = checkAll(jobs, Math.max(1, availableParallelism() - 1));
  });

  // PRIVMEM_CTS_WRITE_KILLS=1: keep the case that killed each mutant, to be run first next time.
  after(async () => {
    if (process.env.PRIVMEM_CTS_WRITE_KILLS === undefined) return;
    const kills: Record<string, string> = {};
    for (const m of MUTANTS) {
      const s = await results.get(m.name);
      if (s?.ok && s.failed[0] !== undefined) kills[m.name] = s.failed[0];
    }
    writeFileSync(KILLS_FILE, JSON.stringify(kills, null, 2) + "\n");
  });

  it("the unmutated copy passes every case (so a failure below is the mutant's doing)", async () => {
    expect(await unmutatedFailures()).to.deep.equal([]);
  });

  it("a mutant that no case notices is reported (the unmutated copy is one)", async () => {
    const failed = await unmutatedFailures();
    expect(() => expectKilled(UNMUTATED, failed)).to.throw(`no case noticed the mutant ${UNMUTATED}`);
  });

  for (const m of MUTANTS) {
    it(`kills ${m.name}: ${m.why}`, async () => expectKilled(m.name, outcome(await results.get(m.name))));
  }
});
