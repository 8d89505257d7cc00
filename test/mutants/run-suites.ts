// Every suite a mutant must fail (suite-run.ts MUTANT_CONFIGS) against the project's model, in this
// process; StrykerJS runs it in each of its sandboxes (stryker.config.mjs). Prints one JSON line: the
// ids of the cases that did not pass or skip. With --first-failure it stops at the first such case.
// --first <profile>@<host> <case id> runs that case first. With --exit-code the process exits 1 when
// a case failed (StrykerJS's command runner reads the exit status). --check-invariants checks the
// model's invariants after every operation, so a mutant that makes an invariant too strict fails.
import { writeSync } from "node:fs";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { failingCases } from "./suite-run.js";

const firstAt = process.argv.indexOf("--first");
const spec = loadSpec();
const failed = await failingCases(spec, await loadSuites(spec, [SUITES_DIR]), {
  firstFailure: process.argv.includes("--first-failure"),
  ...(firstAt < 0 ? {} : { first: `${process.argv[firstAt + 1]} FAIL ${process.argv[firstAt + 2]}` }),
  checkInvariants: process.argv.includes("--check-invariants"),
});
writeSync(1, JSON.stringify({ failed }) + "\n");
if (process.argv.includes("--exit-code") && failed.length > 0) process.exit(1);
