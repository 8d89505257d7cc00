// A process that checks mutants of the model one after another for test/mutants.test.ts, started
// with an IPC channel (child_process.fork). It loads the spec and the suites once; each mutant's
// model is loaded as new module instances from its own patched copy (copy.ts ModelCopies), so no
// mutant sees another's code or state. Receives MutantJob messages, answers each with a MutantResult,
// and ends when the channel closes.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { MODEL_ADAPTER, ModelCopies } from "./copy.js";
import { failingCases, type OpenModel } from "./suite-run.js";

export interface MutantJob {
  name: string;
  /** file under dist/reference-impl/, the text to find there exactly once, and what replaces it */
  file: string;
  search: string;
  replace: string;
  /** stop at the first failing case (the unmutated model runs every case) */
  firstFailure: boolean;
  /** the case that killed the mutant last time (kills.json): run first */
  first?: string;
  /** only these configurations ("<profile>@<host>") */
  configs?: string[];
}

export type MutantResult = { name: string; failed: string[] } | { name: string; error: string };

const spec = loadSpec();
const loaded = await loadSuites(spec, [SUITES_DIR]);

const copies = new ModelCopies();

async function check(job: MutantJob): Promise<string[]> {
  const dir = copies.next(job.file, job.search, job.replace);
  const { openReference } = (await import(pathToFileURL(join(dir, MODEL_ADAPTER)).href)) as { openReference: OpenModel };
  return await failingCases(spec, loaded, { open: openReference, firstFailure: job.firstFailure, ...(job.first ? { first: job.first } : {}), ...(job.configs ? { configs: job.configs } : {}) });
}

// One job at a time, in the order they come.
let queue = Promise.resolve();
process.on("message", (job: MutantJob) => {
  queue = queue.then(async () => {
    let result: MutantResult;
    try {
      result = { name: job.name, failed: await check(job) };
    } catch (err) {
      result = { name: job.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    process.send!(result);
  });
});
process.on("disconnect", () => {
  copies.close();
  process.exit(0);
});
process.send!({ ready: true });
