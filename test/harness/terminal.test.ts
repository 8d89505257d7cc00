// Terminal use (issue 15): the progress line on stderr never interleaves with KTAP on
// the same terminal. script(1) gives the CLI a pseudo-terminal.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");
const PROGRESS = "\r\x1b[K[1/1]";

/** Runs a shell command on a pseudo-terminal and returns what the terminal showed, or undefined without script(1). */
function onTerminal(command: string): string | undefined {
  const r = spawnSync("script", ["-qfec", command, "/dev/null"], { encoding: "utf8", timeout: 30000 });
  return r.error ? undefined : r.stdout;
}

describe("terminal use", function () {
  this.timeout(40000);
  const run = `"${process.execPath}" "${CLI}" run --driver '${FAKE_DRIVER}' --suites '${join(FIXTURES, "suites")}' --filter =fake:robust:a_pass`;

  it("shows no progress line when KTAP goes to the same terminal; shows it when stdout is redirected", function () {
    const both = onTerminal(`${run} --out '${mkdtempSync(join(tmpdir(), "pmc-tty-"))}'`);
    if (both === undefined) {
      console.log("      SKIP: no script(1) to make a pseudo-terminal");
      this.skip();
    }
    expect(both).to.contain("ok 1 fake:robust:a_pass");
    expect(both).not.to.contain(PROGRESS);
    // Control: stdout to a file, stderr on the terminal: the progress line is there.
    const dir = mkdtempSync(join(tmpdir(), "pmc-tty-"));
    const apart = onTerminal(`${run} --out '${dir}' > '${join(dir, "ktap.txt")}'`);
    expect(apart).to.contain(PROGRESS);
    expect(apart).not.to.contain("ok 1 fake:robust:a_pass");
  });
});
