// `privmem-cts coverage`: clause coverage per area, from the results of earlier
// runs, or, when there are none, from an in-process run of the reference matrix.
import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { InputError } from "../../spec/errors.js";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { readJson } from "../../spec/validate.js";
import { inputFileProblem, loadSuites, walkFiles } from "../case/load.js";
import { driverChoice, REFERENCE_MATRIX } from "../drivers/index.js";
import { clauseCoverage, formatCoverage, type RunResults } from "../reporters/coverage.js";
import { RESULTS_JSON } from "../reporters/files.js";
import { formatVariantGaps, variantCoverage } from "../reporters/variant-coverage.js";
import { Expectations } from "../runner/expectations.js";
import { run } from "../runner/runner.js";
import { defaultReportsDir, err, json, out, parse } from "./common.js";

export const COVERAGE_HELP = `privmem-cts coverage [--json] [--variants] [--results PATH ...]

Clause coverage: which clauses have at least one passing case, per area, with the
uncovered ones listed. Reads results.json files (a file, or a directory searched
recursively; default reports/latest/). With no results at all it runs the suites
against the reference matrix in process (${REFERENCE_MATRIX.map((c) => `${c.profile}@${c.host}`).join(", ")}).

  --variants   per profile instead: every (clause, profile) pair where the clause exists
               and a run was made in that profile, without a passing case that exercises
               the clause there (a rule covered in one revision but never run in another)`;

function findResults(path: string): string[] {
  if (statSync(path).isFile()) return [path];
  return walkFiles(path).filter((f) => basename(f) === RESULTS_JSON);
}

export async function cmdCoverage(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { json: { type: "boolean", default: false }, variants: { type: "boolean", default: false }, results: { type: "string", multiple: true } });
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  for (const p of o.results ?? []) if (!existsSync(resolve(p))) throw new InputError([{ file: p, pointer: "", expected: "a results.json file or a directory holding some" }]);
  const defaultDir = join(defaultReportsDir(), "latest");
  const paths = (o.results ?? (existsSync(defaultDir) ? [defaultDir] : [])).flatMap((p) => findResults(resolve(p)));
  let runs: RunResults[];
  const unreadable = paths.map((p) => inputFileProblem(p)).filter((p) => p !== undefined);
  if (unreadable.length > 0) throw new InputError(unreadable);
  if (paths.length > 0) runs = paths.map((p) => readJson(p) as RunResults);
  else {
    if (!o.json) err("privmem-cts: no results found; running the suites against the reference matrix in process");
    runs = [];
    for (const cfg of REFERENCE_MATRIX) {
      const r = await run({ spec, cases, driver: driverChoice("reference", cfg), filters: [], timeoutMs: 10000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
      runs.push({ runInfo: r.info, cases: r.results });
    }
  }
  if (o.variants) {
    const v = variantCoverage(spec, runs, cases);
    if (o.json) json(v);
    else out(formatVariantGaps(v));
    return 0;
  }
  const report = clauseCoverage(spec, runs, cases);
  if (o.json) json(report);
  else {
    out(`from ${runs.length} run(s): ${runs.map((r) => `${r.runInfo.driver} ${r.runInfo.profile} on ${String(r.runInfo.host.kernel)}`).join(", ")}`);
    out(formatCoverage(report));
    if (report.withoutCases.length) out(`clauses no case names yet: ${report.withoutCases.length}`);
  }
  return 0;
}
