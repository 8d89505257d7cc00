// Bad input of every kind gives exit 2 (or an InputError) with the file named, in bounded
// time and memory, never a stack trace; --out is guarded; reports are never stale or torn.
import { expect } from "chai";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, cpSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { InputError } from "../../spec/errors.js";
import { loadSpec } from "../../spec/index.js";
import { loadSuites } from "../../harness/case/load.js";
import { evaluate, ExprError, parse } from "../../harness/case/expr.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { writeReportFile } from "../../harness/reporters/files.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");
const cli = (args: string[], opts: { cwd?: string; timeout?: number } = {}) =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", cwd: opts.cwd ?? PROJECT_ROOT, timeout: opts.timeout ?? 20000 });
const tmp = (p = "pmc-in-") => mkdtempSync(join(tmpdir(), p));
const noTrace = (r: { stderr: string }) => expect(r.stderr).not.to.match(/internal error|\n\s+at .*\.js:\d+/);
// One case of the fixture suites against the fake driver: the quickest real run.
const ONE = ["--driver", FAKE_DRIVER, "--suites", join(FIXTURES, "suites"), "--filter", "=fake:robust:a_pass"];

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, "an InputError").to.be.instanceOf(InputError);
  return e as InputError;
}

describe("bad input and --out (exit 2, bounded, no stack traces)", function () {
  this.timeout(30000);

  it("refuses an --out that is a file, under /proc, or a --timeout past 2^31-1, and remote: commands it cannot split", () => {
    const d = tmp();
    writeFileSync(join(d, "file"), "x");
    for (const args of [["--out", join(d, "file")], ["--out", "/proc/self/x"], ["--timeout", "3000000000"], ["--driver", "remote:'unterminated"]]) {
      const t0 = Date.now();
      const r = cli(["run", ...ONE, ...args]);
      expect(r.status, `${args.join(" ")}: ${r.stderr}`).to.equal(2);
      expect(Date.now() - t0).to.be.lessThan(10000);
      noTrace(r);
    }
  });

  it("runs remote:VAR=x cmd with VAR set in the driver's environment", () => {
    const r = cli(["run", "--driver", FAKE_DRIVER.replace("remote:", "remote:FAKE_UNAVAILABLE=from-env "), "--suites", join(FIXTURES, "suites"), "--filter", "=fake:robust:a_pass", "--out", tmp()]);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain("1..0 # SKIP from-env");
  });

  it("refuses a FIFO or a device as a suite or as expectations instead of hanging", () => {
    const d = tmp();
    mkdirSync(join(d, "suites"));
    execFileSync("mkfifo", [join(d, "suites", "x.json"), join(d, "exp.json")]);
    const a = cli(["run", "--suites", join(d, "suites"), "--out", join(d, "o")], { timeout: 15000 });
    expect(a.status, a.stderr).to.equal(2);
    expect(a.stderr).to.match(/x\.json: at \/: expected a regular file \(this is a FIFO\)/);
    const b = cli(["run", ...ONE, "--expectations", join(d, "exp.json"), "--out", join(d, "o")], { timeout: 15000 });
    expect(b.status, b.stderr).to.equal(2);
    expect(b.stderr).to.match(/exp\.json: at \/: expected a regular file/);
    // A device reads without end: refused by its type, also behind a link.
    const c = cli(["run", ...ONE, "--expectations", "/dev/zero", "--out", join(d, "o")], { timeout: 15000 });
    expect(c.stderr).to.match(/\/dev\/zero: at \/: expected a regular file \(this is a device\)/);
    symlinkSync("/dev/zero", join(d, "suites", "zero.json"));
    rmSync(join(d, "suites", "x.json"));
    const e = cli(["run", "--suites", join(d, "suites"), "--out", join(d, "o")], { timeout: 15000 });
    expect([c.status, e.status], e.stderr).to.deep.equal([2, 2]);
    expect(e.stderr).to.match(/zero\.json: at \/: expected a regular file \(this is a device\)/);
  });

  it("refuses a second run into the same --out while the first holds it; takes over a stale lock", () => {
    const d = tmp();
    writeFileSync(join(d, ".privmem-cts.lock"), `${process.pid}\n`);
    const r = cli(["run", ...ONE, "--out", d]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/in use by another run \(pid \d+\)/);
    writeFileSync(join(d, ".privmem-cts.lock"), "999999999\n");
    const s = cli(["run", ...ONE, "--out", d]);
    expect(s.status, s.stderr).to.equal(0);
    expect(existsSync(join(d, ".privmem-cts.lock")), "the lock goes with the run").to.equal(false);
  });

  it("two real runs started together into one --out: exactly one runs, the other is refused, and the reports are one run's", async () => {
    const d = tmp();
    // a whole reference configuration takes seconds, far longer than the second process needs to start
    const args = [CLI, "run", "--driver", "reference", "--host", "pvm", "--profile", "linux-6.18", "--out", d];
    const run = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, args, { cwd: PROJECT_ROOT });
        let stdout = "", stderr = "";
        c.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
        c.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
        c.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    const statuses = [a.status, b.status].sort();
    expect(statuses, `${a.stderr}\n${b.stderr}`).to.deep.equal([0, 2]);
    const refused = a.status === 2 ? a : b;
    const ran = a.status === 2 ? b : a;
    expect(refused.stderr).to.match(/in use by another run \(pid \d+\)/);
    noTrace(refused);
    // the reports are the run that ran: its header, its cases, no NUL bytes, no lock left behind
    const jsonl = readFileSync(join(d, "results.jsonl"), "utf8");
    expect(jsonl.includes("\0")).to.equal(false);
    const lines = jsonl.trim().split("\n").map((l) => JSON.parse(l) as { type: string });
    expect(lines.filter((l) => l.type === "run"), "one run's header").to.have.length(1);
    expect(lines[0]!.type).to.equal("run");
    const results = JSON.parse(readFileSync(join(d, "results.json"), "utf8")) as { cases: unknown[] };
    expect(results.cases.length).to.be.greaterThan(0);
    expect(results.cases.length, "results.json and results.jsonl are the same run").to.equal(lines.filter((l) => l.type === "case").length);
    expect(ran.stdout).to.match(/^KTAP version 1\n/);
    expect(existsSync(join(d, ".privmem-cts.lock"))).to.equal(false);
  });

  it("never writes through a symlink inside --out, and a failed start leaves no stale report behind", () => {
    const d = tmp();
    const victim = join(tmp(), "victim");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, join(d, "results.json"));
    symlinkSync(victim, join(d, "junit.xml"));
    const r = cli(["run", ...ONE, "--out", d]);
    expect(r.status, r.stderr).to.equal(0);
    expect(readFileSync(victim, "utf8")).to.equal("precious\n");
    expect(JSON.parse(readFileSync(join(d, "results.json"), "utf8")).cases).to.have.length(1);
    // Then a run whose driver cannot start: the previous run's reports are gone, the KTAP is well-formed.
    const f = cli(["run", "--driver", "remote:/nonexistent/driver", "--suites", join(FIXTURES, "suites"), "--out", d]);
    expect(f.status).to.equal(1);
    expect(f.stdout).to.match(/^KTAP version 1\nBail out! /);
    for (const x of ["results.json", "junit.xml", "results.jsonl", "matrix.html", "coverage.json"]) expect(existsSync(join(d, x)), x).to.equal(false);
  });

  it("writes reports under the current directory by default", () => {
    const d = tmp();
    const r = cli(["run", ...ONE], { cwd: d });
    expect(r.status, r.stderr).to.equal(0);
    expect(existsSync(join(d, "reports", "latest", "results.json"))).to.equal(true);
  });

  it("exits quietly when its reader goes away (| head): list, run, coverage, serve", () => {
    const piped = (cmd: string) => spawnSync("sh", ["-c", `${cmd} | head -1`], { encoding: "utf8", cwd: PROJECT_ROOT, timeout: 60000 });
    const node = `"${process.execPath}" "${CLI}"`;
    const r = piped(`${node} list --clauses`);
    expect(r.stdout.split("\n").filter(Boolean)[0]).to.match(/^[A-Z0-9-]+-\d+/);
    expect(r.stderr).to.equal("");
    // run goes on after its reader left and writes its reports
    const out = tmp();
    const quoted = ONE.map((a) => `'${a}'`).join(" ");
    const ran = piped(`${node} run ${quoted} --out '${out}'`);
    expect(ran.stdout.split("\n")[0]).to.equal("KTAP version 1");
    expect(ran.stderr).to.match(/^privmem-cts: 1 cases against/);
    noTrace(ran);
    expect(existsSync(join(out, "results.json"))).to.equal(true);
    const cov = piped(`${node} coverage --results '${out}'`);
    expect(cov.stderr).to.equal("");
    const hello = JSON.stringify({ type: "hello", id: 0, contractVersion: "1.0" });
    const call = JSON.stringify({ type: "call", id: 999, op: { op: "open", path: "/dev/kvm", flags: 2 } }).replace("999", "$i");
    const served = piped(`(echo '${hello}'; i=1; while [ $i -le 3000 ]; do echo "${call.replace(/"/g, '\\"')}"; i=$((i+1)); done) | ${node} serve`);
    expect(served.stdout).to.match(/^\{"type":"hello"/);
    expect(served.stderr).to.equal("");
  });

  it("imports no project .ts file that does not declare a suite (--suites harness/cli would run the CLI again)", () => {
    const r = cli(["list", "--cases", "--suites", join(PROJECT_ROOT, "harness", "cli")]);
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stdout).to.equal("");
    expect(r.stderr).to.match(/harness\/cli: at \/: expected a folder holding suite files, or a suite file/);
    noTrace(r);
  });

  it("refuses a --suites path that holds no suite (an empty folder, /dev/null, a README) instead of passing 0 cases", () => {
    const empty = tmp();
    writeFileSync(join(empty, "README.md"), "no suites here\n");
    for (const p of [empty, "/dev/null", join(empty, "README.md")]) {
      const r = cli(["run", "--suites", p, "--out", tmp()]);
      expect(r.status, `${p}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.contain(`${p}: at /: expected a folder holding suite files, or a suite file`);
    }
  });

  it("stops with exit 2 on a malformed spec/schema file or a FIFO among the spec files", () => {
    const root = tmp("pmc-root-");
    cpSync(join(PROJECT_ROOT, "package.json"), join(root, "package.json"));
    cpSync(join(PROJECT_ROOT, "spec"), join(root, "spec"), { recursive: true });
    cpSync(join(PROJECT_ROOT, "dist", "spec"), join(root, "dist", "spec"), { recursive: true });
    cpSync(join(PROJECT_ROOT, "dist", "harness"), join(root, "dist", "harness"), { recursive: true });
    cpSync(join(PROJECT_ROOT, "dist", "reference-impl"), join(root, "dist", "reference-impl"), { recursive: true });
    symlinkSync(join(PROJECT_ROOT, "node_modules"), join(root, "node_modules"));
    const main = join(root, "dist", "harness", "cli", "main.js");
    writeFileSync(join(root, "spec", "schema", "suite.schema.json"), '{"$id": "suite.schema.json", ');
    const a = spawnSync(process.execPath, [main, "list", "--clauses"], { encoding: "utf8", timeout: 15000 });
    expect(a.status, a.stderr).to.equal(2);
    expect(a.stderr).to.match(/spec\/schema\/suite\.schema\.json: at \/: expected valid JSON/);
    cpSync(join(PROJECT_ROOT, "spec", "schema", "suite.schema.json"), join(root, "spec", "schema", "suite.schema.json"));
    execFileSync("mkfifo", [join(root, "spec", "clauses", "zz.json")]);
    const b = spawnSync(process.execPath, [main, "list", "--clauses"], { encoding: "utf8", timeout: 15000 });
    expect(b.status, b.stderr).to.equal(2);
    expect(b.stderr).to.match(/zz\.json: at \/: expected a regular file \(this is a FIFO\)/);
  });
});

describe("bounds on what suites and expectations control (in process)", function () {
  this.timeout(20000);
  const spec = loadSpec();

  it("refuses an expression that would compute a huge value, quickly", () => {
    const scope = { name: () => 1n, ref: () => 1n };
    for (const src of ["1<<100000000", "1 >> -100000000", "(1<<4000)*(1<<4000)", "(".repeat(1000) + "1" + ")".repeat(1000), "-".repeat(1000) + "1", "1+".repeat(3000) + "1"]) {
      const t0 = performance.now();
      expect(() => evaluate(parse(src), scope, src), src.slice(0, 20)).to.throw(ExprError);
      expect(performance.now() - t0).to.be.lessThan(200);
    }
    expect(evaluate(parse("(1<<64)-1"), scope)).to.equal((1n << 64n) - 1n);
  });

  it("refuses a params product past the bound, symlink loops and dangling links, and JSON nested too deep", async () => {
    const d = tmp();
    const params = Object.fromEntries(["a", "b", "c", "d", "e", "f", "g"].map((k) => [k, Array.from({ length: 20 }, (_, i) => i)]));
    writeFileSync(join(d, "p.json"), JSON.stringify({ suite: "p:q", title: "t", cases: [{ name: "n", clauses: ["GMEM-CREATE-001"], params, steps: [{ op: "open", path: "/dev/kvm", flags: 0 }] }] }));
    const t0 = performance.now();
    const e = await inputError(loadSuites(spec, [d]));
    expect(performance.now() - t0).to.be.lessThan(3000);
    expect(e.message).to.match(/p\.json: at \/cases\/0\/params: expected at most 10000 parameter combinations per case \(these params make 1280000000\)/);
    const l = tmp();
    symlinkSync(l, join(l, "loop"));
    symlinkSync(join(l, "nowhere"), join(l, "dangling.json"));
    symlinkSync("self.json", join(l, "self.json"));
    writeFileSync(join(l, "deep.json"), "[".repeat(5000) + "]".repeat(5000));
    const m = (await inputError(loadSuites(spec, [l]))).message;
    expect(m).to.match(/loop: at \/: expected no directory reached twice/);
    expect(m).to.match(/dangling\.json: at \/: expected a link to something that exists/);
    expect(m).to.match(/self\.json: at \/: expected a link that resolves/);
    expect(m).to.match(/deep\.json: at \/: expected JSON nested at most 128 levels deep/);
  });

  it("imports no .js file from --suites other than *.suite.js / *.suite.mjs", async () => {
    const d = tmp();
    const marker = join(d, "ran");
    writeFileSync(join(d, "evil.js"), `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(marker)}, "x");`);
    cpSync(join(FIXTURES, "suites"), d, { recursive: true });
    const { cases } = await loadSuites(spec, [d]);
    expect(cases.length).to.be.greaterThan(0);
    expect(existsSync(marker)).to.equal(false);
  });

  it("refuses an expectations entry whose query is empty or blank", async () => {
    const d = tmp();
    const f = join(d, "e.json");
    writeFileSync(f, JSON.stringify({ driver: "x", entries: [{ query: "gmem:*", expected: "FAIL", reason: "a reason long enough" }, { query: ["a:b", "   "], expected: "FAIL", reason: "a reason long enough" }] }));
    const e = await inputError(Promise.resolve().then(() => Expectations.load(f)));
    expect(e.message).to.match(/e\.json: at \/entries\/1\/query\/1: expected a query that is not empty or blank/);
  });
});

describe("final reports are replaced atomically (harness/reporters/files.ts)", () => {
  it("a reader of the previous report keeps it whole while the new one is written, and no temporary file is left", () => {
    const d = tmp();
    writeReportFile(d, "results.json", "old complete report\n");
    const reader = openSync(join(d, "results.json"), "r");
    try {
      const before = fstatSync(reader).ino;
      writeReportFile(d, "results.json", "new report\n");
      // an in-place rewrite would truncate what the open reader sees; a rename leaves it the old file
      const buf = Buffer.alloc(64);
      const n = readSync(reader, buf, 0, 64, 0);
      expect(buf.subarray(0, n).toString()).to.equal("old complete report\n");
      expect(statSync(join(d, "results.json")).ino).to.not.equal(before);
      expect(readFileSync(join(d, "results.json"), "utf8")).to.equal("new report\n");
      expect(readdirSync(d).filter((f) => f.endsWith(".tmp"))).to.deep.equal([]);
    } finally {
      closeSync(reader);
    }
  });
});
