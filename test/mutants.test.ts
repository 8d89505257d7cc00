// How strong are the suites? Every hand-written mutant of the reference must make
// some case fail. A mutant that no case notices is a hole in the suites.
//
// Each mutant runs every suite in its own process, from its own patched copy of the
// project; the runs go two at a time (fewer on a one-core machine), and a mutant's
// run stops at its first failing case (one is all it takes to show it killed).
// The unmutated copy runs every case to the end.
import { expect } from "chai";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { MUTANTS } from "./mutants/mutants.js";
import { mutatedCopy } from "./mutants/copy.js";
import { loadSpec } from "../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";

/** The failing cases of a patched copy's run (a mutant's run stops at the first). */
function failuresIn(dir: string, firstFailure: boolean, hint?: string): Promise<string[]> {
  const [config, , id] = hint?.split(" ") ?? [];
  const args = [join(dir, "dist", "test", "mutants", "run-suites.js"), ...(firstFailure ? ["--first-failure"] : []), ...(config && id ? ["--first", config, id] : [])];
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { encoding: "utf8", maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      try {
        resolve((JSON.parse(stdout.trim().split("\n").pop()!) as { failed: string[] }).failed);
      } catch (e) {
        reject(new Error(`the suite run printed no result (${(e as Error).message}): ${stdout.slice(-500)}\n${stderr}`));
      }
    }),
  );
}

/**
 * For each mutant, the case that killed it when the kills were last written ("<profile>@<host>
 * <outcome> <case id>", as run-suites prints a failure): its run starts with that case, then runs
 * every case as before if that one passes. Only the order changes, never what must fail.
 */
const KILLS_FILE = join(PROJECT_ROOT, "test", "mutants", "kills.json");
const KILLS = (existsSync(KILLS_FILE) ? JSON.parse(readFileSync(KILLS_FILE, "utf8")) : {}) as Record<string, string>;

type Settled = { ok: true; failed: string[] } | { ok: false; error: unknown };

/** Runs jobs in order, at most `width` at a time; each result is kept settled so none is an unhandled rejection. */
class Pool {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly width: number) {}

  add(job: () => Promise<string[]>): Promise<Settled> {
    return new Promise<Settled>((resolve) => {
      const start = () => {
        this.running++;
        job()
          .then((failed) => resolve({ ok: true, failed }), (error: unknown) => resolve({ ok: false, error }))
          .finally(() => {
            this.running--;
            this.queue.shift()?.();
          });
      };
      if (this.running < this.width) start();
      else this.queue.push(start);
    });
  }
}

function copyAndRun(file: string, search: string, replace: string, firstFailure: boolean, hint?: string): Promise<string[]> {
  let dir: string;
  try {
    dir = mutatedCopy(file, search, replace);
  } catch (err) {
    return Promise.reject(err);
  }
  return failuresIn(dir, firstFailure, hint).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function outcome(s: Settled | undefined): string[] {
  if (!s) throw new Error("the run was not started");
  if (!s.ok) throw s.error;
  return s.failed;
}

describe("mutants of the reference implementation", function () {
  this.timeout(180000);
  const runs = new Map<string, Promise<Settled>>();
  const UNMUTATED = "(unmutated)";

  before(async () => {
    // The copies take dist/ with them: a warm suites cache there spares each run the loading.
    await loadSuites(loadSpec(), [SUITES_DIR]);
    const pool = new Pool(Math.max(1, Math.min(2, availableParallelism())));
    runs.set(UNMUTATED, pool.add(() => copyAndRun("vm/attributes.js", "vm.mmu.zap(asId", "vm.mmu.zap(asId", false)));
    for (const m of MUTANTS) runs.set(m.name, pool.add(() => copyAndRun(m.file, m.search, m.replace, true, KILLS[m.name])));
  });

  // PRIVMEM_CTS_WRITE_KILLS=1: keep the case that killed each mutant, to be run first next time.
  after(async () => {
    if (process.env.PRIVMEM_CTS_WRITE_KILLS === undefined) return;
    const kills: Record<string, string> = {};
    for (const m of MUTANTS) {
      const s = await runs.get(m.name);
      if (s?.ok && s.failed[0] !== undefined) kills[m.name] = s.failed[0];
    }
    writeFileSync(KILLS_FILE, JSON.stringify(kills, null, 2) + "\n");
  });

  it("the unmutated copy passes every case (so a failure below is the mutant's doing)", async () => {
    expect(outcome(await runs.get(UNMUTATED))).to.deep.equal([]);
  });

  for (const m of MUTANTS) {
    it(`kills ${m.name}: ${m.why}`, async () => {
      const failed = outcome(await runs.get(m.name));
      expect(failed.length, `no case noticed the mutant ${m.name}`).to.be.greaterThan(0);
    });
  }
});
