// Run by the capture test in a child process, from a (possibly patched) copy of the
// project: the reference against every committed capture. Prints one JSON line: per
// capture, the cases whose difference no expectations entry naming that host explains.
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { readCapture } from "../../harness/capture/capture.js";
import { agreeWithCapture } from "../../harness/cli/agree.js";
import { committedCaptures } from "../../harness/drivers/index.js";
import { Expectations } from "../../harness/runner/expectations.js";

export async function unexplainedByCapture(): Promise<Record<string, string[]>> {
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  const out: Record<string, string[]> = {};
  for (const file of committedCaptures()) {
    const capture = readCapture(file);
    const report = await agreeWithCapture(spec, cases, files, capture, Expectations.forDriver(EXPECTATIONS_DIR, capture.header.handshake.name));
    out[file.slice(file.lastIndexOf("/") + 1)] = report.cases.filter((c) => c.verdict === "differ" && !c.explainedBy).map((c) => `${c.id}: ${c.firstDifference ? `step ${c.firstDifference.step}: capture ${c.firstDifference.a} / reference ${c.firstDifference.b}` : `capture ${c.a} / reference ${c.b}`}`);
  }
  return out;
}

if (process.argv[1]?.endsWith("agree.js")) process.stdout.write(JSON.stringify(await unexplainedByCapture()) + "\n");
