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

/** Runs a shell command on a pseudo-terminal and returns what the terminal showed. */
function onTerminal(command: string): string {
  const r = spawnSync("script", ["-qfec", command, "/dev/null"], { encoding: "utf8", timeout: 30000 });
  if (r.error) throw r.error;
  return r.stdout;
}

/** Why this machine cannot give a command a pseudo-terminal (no script(1), or no usable /dev/ptmx), or undefined when it can. */
function noTerminal(): string | undefined {
  const r = spawnSync("script", ["-qfec", "echo tty-ok", "/dev/null"], { encoding: "utf8", timeout: 30000 });
  if (r.error) return `no script(1): ${r.error.message}`;
  return r.stdout.includes("tty-ok") ? undefined : `script(1) cannot make a pseudo-terminal: ${(r.stderr || r.stdout).trim() || `exit ${r.status}`}`;
}

describe("terminal use", function () {
  this.timeout(40000);
  const run = `"${process.execPath}" "${CLI}" run --driver '${FAKE_DRIVER}' --suites '${join(FIXTURES, "suites")}' --filter =fake:robust:a_pass`;

  it("shows no progress line when KTAP goes to the same terminal; shows it when stdout is redirected", function () {
    const why = noTerminal();
    if (why !== undefined) {
      console.log(`      SKIP: ${why}`);
      this.skip();
    }
    const both = onTerminal(`${run} --out '${mkdtempSync(join(tmpdir(), "pmc-tty-"))}'`);
    expect(both).to.contain("ok 1 fake:robust:a_pass");
    expect(both).not.to.contain(PROGRESS);
    // Control: stdout to a file, stderr on the terminal: the progress line is there.
    const dir = mkdtempSync(join(tmpdir(), "pmc-tty-"));
    const apart = onTerminal(`${run} --out '${dir}' > '${join(dir, "ktap.txt")}'`);
    expect(apart).to.contain(PROGRESS);
    expect(apart).not.to.contain("ok 1 fake:robust:a_pass");
  });
});
