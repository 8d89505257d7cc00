// SIGINT and SIGTERM mid-run (issue 15): the CLI stops, writes the final reports for
// the finished cases, and exits 130 or 143. KTAP, results.jsonl, results.json and
// junit.xml then agree on which cases ran.
import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { parseKtap } from "./ktap-check.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");
const FINISHED = ["fake:robust:a_pass", "fake:robust:c_pass_after_crash"];
// d_hang never answers: the signal comes while it is in flight, and j_last_pass is never reached.
const FILTER = [...FINISHED, "fake:robust:d_hang", "fake:robust:j_last_pass"].join(",");

async function interrupted(signal: NodeJS.Signals, extra: string[] = []) {
  const out = mkdtempSync(join(tmpdir(), "pmc-int-"));
  const child = spawn(process.execPath, [CLI, "run", "--driver", FAKE_DRIVER, "--suites", join(FIXTURES, "suites"), "--timeout", "20000", "--filter", FILTER, "--out", out, ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  // Wait until the finished cases are on record, then signal while d_hang is in flight.
  const jsonl = join(out, "results.jsonl");
  const recorded = () => (existsSync(jsonl) ? readFileSync(jsonl, "utf8").split("\n").filter((l) => l.includes('"case"')).length : 0);
  for (let i = 0; i < 300 && recorded() < FINISHED.length; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  child.kill(signal);
  const code = await exited;
  return { code, ms: Date.now() - t0, out, stdout };
}

describe("an interrupted run (CLI, SIGINT and SIGTERM)", function () {
  this.timeout(30000);

  it("SIGINT: exit 130; KTAP, results.jsonl, results.json and junit.xml all hold exactly the finished cases", async () => {
    const r = await interrupted("SIGINT");
    expect(r.code).to.equal(130);
    expect(r.ms, "the hanging case does not hold the exit").to.be.lessThan(5000);
    const results = JSON.parse(readFileSync(join(r.out, "results.json"), "utf8"));
    expect(results.runInfo.interrupted).to.equal(true);
    expect(results.cases.map((c: { id: string }) => c.id)).to.deep.equal(FINISHED);
    const jsonl = readFileSync(join(r.out, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; id?: string });
    expect(jsonl.filter((l) => l.type === "case").map((l) => l.id)).to.deep.equal(FINISHED);
    const junit = readFileSync(join(r.out, "junit.xml"), "utf8");
    expect([...junit.matchAll(/<testcase [^>]*name="([^"]+)"/g)].map((m) => m[1])).to.deep.equal(FINISHED);
    expect(junit).to.match(/tests="2"/);
    // KTAP: the open plan ends with "Bail out!", not with a short plan or an "ok" for the unfinished area.
    const ktap = parseKtap(r.stdout);
    expect(ktap.bailOut).to.equal("the run was interrupted: 2 of 4 cases finished, the rest were not run");
    expect(ktap).to.have.length(0);
    expect(r.stdout.split("\n").filter((l) => /^\s*ok \d+ fake:/.test(l)).map((l) => l.trim().split(" ")[2])).to.deep.equal(FINISHED);
    expect(r.stdout).to.match(/# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0 timeout:0 crash:0\n$/);
  });

  it("SIGTERM: exit 143 with the same reports", async () => {
    const r = await interrupted("SIGTERM");
    expect(r.code).to.equal(143);
    const results = JSON.parse(readFileSync(join(r.out, "results.json"), "utf8"));
    expect(results.cases.map((c: { id: string }) => c.id)).to.deep.equal(FINISHED);
    expect(parseKtap(r.stdout).bailOut).to.match(/^the run was interrupted/);
  });
});
