import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";
import { parseKtap } from "./ktap-check.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: PROJECT_ROOT });

describe("CLI", function () {
  this.timeout(30000);

  it("rejects a malformed suite before running anything: exit 2, file, pointer and what was expected", () => {
    const r = cli("run", "--suites", join(FIXTURES, "bad-suite"), "--out", mkdtempSync(join(tmpdir(), "pmc-")));
    expect(r.status).to.equal(2);
    expect(r.stderr).to.contain("bad input, nothing was run");
    expect(r.stderr).to.match(/test\/harness\/fixtures\/bad-suite\/broken\.json: at \/cases\/0\/steps\/0\/flag: expected unknown property "flag"/);
    expect(r.stderr).to.match(/missing required property "flags"/);
    expect(r.stdout).to.equal("");
  });

  it("runs the suites against the reference: valid KTAP on stdout, every report written, exit 0", () => {
    const out = mkdtempSync(join(tmpdir(), "pmc-"));
    const r = cli("run", "--driver", "reference", "--filter", "gmem:create:*,slot2:overlap:*", "--out", out);
    expect(r.status, r.stderr).to.equal(0);
    const areas = parseKtap(r.stdout);
    expect(areas.map((a) => a.description)).to.deep.equal(["GMEM-CREATE", "SLOT2"]);
    expect(areas.every((a) => a.ok)).to.equal(true);
    for (const f of ["results.jsonl", "results.json", "junit.xml", "coverage.json", "matrix.html"]) expect(existsSync(join(out, f)), f).to.equal(true);
    const results = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    expect(results.runInfo).to.include({ driver: "reference", profile: "linux-7.2" });
    expect(results.summary.PASS).to.be.greaterThan(100);
    expect(results.summary.FAIL + results.summary.ERROR).to.equal(0);
  });

  it("merges coverage from several runs (a profile list writes one results.json per configuration)", () => {
    const out = mkdtempSync(join(tmpdir(), "pmc-"));
    expect(cli("run", "--profile", "linux-6.8,linux-7.2", "--filter", "gmem:create:*", "--out", out).status).to.equal(0);
    const r = cli("coverage", "--results", out, "--json");
    expect(r.status, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { runs: unknown[] }).runs).to.have.length(2);
  });

  it("runs as the README runs it: npx privmem-cts (the bin is executable after npm ci or npm run build)", () => {
    const r = spawnSync("npx", ["--no-install", "privmem-cts", "--help"], { encoding: "utf8", cwd: PROJECT_ROOT });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^privmem-cts <command>/);
  });

  it("exits 2 on usage errors", () => {
    expect(cli("run", "--reporter", "xml").status).to.equal(2);
    expect(cli("run", "--driver", "nosuch").status).to.equal(2);
    expect(cli("nosuchcommand").status).to.equal(2);
    expect(cli("run", "--profile", "linux-9.9").status).to.equal(2);
    const host = cli("run", "--host", "bogus");
    expect(host.status).to.equal(2);
    expect(host.stderr).to.match(/unknown host model bogus \(host models: full, full-inplace, pvm, s390, arm64, arm64-pkvm, arm64-cca, arm64-gunyah, full-shmem-huge, full-shmem-within-size, or a capture file such as captures\/<host>.jsonl\)/);
    const nested = cli("run", "--profile", "linux-6.8,linux-7.2", "--reporter", "json");
    expect(nested.status).to.equal(2);
    expect(nested.stdout).to.equal("");
    const nomatch = cli("run", "--filter", "gmem:creat");
    expect(nomatch.status).to.equal(2);
    expect(nomatch.stderr).to.match(/--filter gmem:creat matches no case/);
    expect(cli("coverage", "--results", "/nonexistent/results.json").status).to.equal(2);
  });

  it("bails out with exit 1 when the driver is there but cannot start", () => {
    const r = cli("run", "--driver", "remote:/nonexistent/driver --flag", "--out", mkdtempSync(join(tmpdir(), "pmc-")));
    expect(r.status).to.equal(1);
    expect(r.stdout).to.match(/^KTAP version 1\nBail out! driver remote:\/nonexistent\/driver --flag could not start: /);
    expect(r.stderr).not.to.match(/internal error/);
  });

  it("keeps every finished case in results.jsonl when the runner is killed", async () => {
    const out = mkdtempSync(join(tmpdir(), "pmc-"));
    const child = spawn(process.execPath, [CLI, "run", "--driver", FAKE_DRIVER, "--suites", join(FIXTURES, "suites"), "--filter", "fake:robust:a_pass,fake:robust:b_crash,fake:robust:c_pass_after_crash,fake:robust:d_hang", "--timeout", "60000", "--out", out], { stdio: "ignore" });
    const jsonl = join(out, "results.jsonl");
    const deadline = Date.now() + 20000;
    for (;;) {
      const lines = existsSync(jsonl) ? readFileSync(jsonl, "utf8").trim().split("\n") : [];
      if (lines.length >= 4 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const lines = readFileSync(jsonl, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id ?? l.type)).to.deep.equal(["run", "fake:robust:a_pass", "fake:robust:b_crash", "fake:robust:c_pass_after_crash"]);
    expect(existsSync(join(out, "results.json"))).to.equal(false);
  });

  it("lists clauses as JSON with id, area, statement, sources and profiles", () => {
    const r = cli("list", "--clauses", "--json");
    expect(r.status).to.equal(0);
    const clauses = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(clauses.length).to.be.greaterThan(0);
    for (const c of clauses) expect(c).to.include.keys(["id", "area", "statement", "sources", "profiles"]);
  });

  it("diffs two profiles for people and for tools", () => {
    const text = cli("profiles", "diff", "linux-6.8", "linux-7.2");
    expect(text.status).to.equal(0);
    expect(text.stdout).to.match(/^Clauses from linux-6.8 to linux-7.2: \d+ added, \d+ removed, \d+ changed\./);
    const json = JSON.parse(cli("profiles", "diff", "linux-6.8", "linux-7.2", "--json").stdout);
    expect(json).to.have.keys(["from", "to", "added", "removed", "changed", "history"]);
    expect(json.history.map((s: { from: string; to: string }) => `${s.from}>${s.to}`), "the steps between them").to.deep.equal(["linux-6.8>linux-6.18", "linux-6.18>linux-6.19", "linux-6.19>linux-7.2"]);
    expect(cli("profiles", "diff", "linux-6.8").status).to.equal(2);
  });
});
