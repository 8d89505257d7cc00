import { expect } from "chai";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { loadSpec } from "../../spec/index.js";
import { SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { DriverUnavailable } from "../../spec/driver/contract.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, skipReason, type Reporter } from "../../harness/runner/runner.js";
import { KtapReporter } from "../../harness/reporters/ktap.js";
import { JsonlReporter, JsonReporter, JunitReporter } from "../../harness/reporters/files.js";
import { parseKtap } from "./ktap-check.js";
import { FAKE_DRIVER, FIXTURES } from "./fixtures.js";

class Capture extends Writable {
  text = "";
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

async function runFake(opts: { lie?: boolean; expectations?: Expectations; filters?: string[] } = {}) {
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
  const dir = mkdtempSync(join(tmpdir(), "privmem-cts-"));
  const ktap = new Capture();
  const reporters: Reporter[] = [new KtapReporter(ktap), new JsonlReporter(dir), new JsonReporter(dir), new JunitReporter(dir)];
  if (opts.lie) process.env.FAKE_LIE = "1";
  try {
    const result = await run({
      spec,
      cases,
      driver: driverChoice(FAKE_DRIVER),
      filters: opts.filters ?? [],
      timeoutMs: 1500,
      expectations: opts.expectations ?? Expectations.none(),
      reporters,
      suiteFiles: files,
    });
    return { result, dir, ktap: ktap.text };
  } finally {
    delete process.env.FAKE_LIE;
  }
}

describe("runner against a misbehaving remote driver", function () {
  this.timeout(30000);
  let outcome: Awaited<ReturnType<typeof runFake>>;
  before(async () => {
    outcome = await runFake();
  });

  it("reports each kind of driver failure on its own case and goes on with a fresh driver", () => {
    const by = Object.fromEntries(outcome.result.results.map((r) => [r.id, r.outcome]));
    expect(by).to.deep.equal({
      "fake:robust:a_pass": "PASS",
      "fake:robust:b_crash": "CRASH",
      "fake:robust:c_pass_after_crash": "PASS",
      "fake:robust:d_hang": "TIMEOUT",
      "fake:robust:e_garbage": "ERROR",
      "fake:robust:f_exit": "CRASH",
      "fake:robust:g_badresult": "ERROR",
      "fake:robust:h_wrong_errno:size=1": "PASS",
      "fake:robust:h_wrong_errno:size=0": "PASS",
      "fake:robust:k_bad_reset": "PASS",
      "fake:robust:l_hang_reset": "PASS",
      "fake:robust:i_needs_snp": "SKIP",
      "fake:robust:j_last_pass": "PASS",
    });
    const msg = Object.fromEntries(outcome.result.results.map((r) => [r.id, r.message ?? ""]));
    expect(msg["fake:robust:b_crash"]).to.match(/SIGSEGV/);
    expect(msg["fake:robust:f_exit"]).to.match(/status 3/);
    expect(msg["fake:robust:e_garbage"]).to.match(/not JSON/);
    expect(msg["fake:robust:g_badresult"]).to.match(/malformed/);
    expect(msg["fake:robust:i_needs_snp"]).to.match(/vm-type:snp/);
    // A driver that cannot reset is replaced; the case keeps its own verdict, with a note.
    expect(msg["fake:robust:k_bad_reset"]).to.match(/could not reset after the case \(malformed reset reply: \/released|missing required property "released"/);
    expect(msg["fake:robust:l_hang_reset"]).to.match(/could not reset after the case/);
    expect(outcome.result.exitCode).to.equal(1);
  });

  it("prints valid nested KTAP with directives", () => {
    const top = parseKtap(outcome.ktap);
    expect(top).to.have.length(1);
    expect(top[0]!.ok).to.equal(false);
    const kids = top[0]!.children!;
    expect(kids).to.have.length(13);
    expect(kids.find((k) => k.description === "fake:robust:d_hang")!.directive).to.match(/^TIMEOUT/);
    expect(kids.find((k) => k.description === "fake:robust:i_needs_snp")).to.include({ ok: true });
    expect(kids.find((k) => k.description === "fake:robust:i_needs_snp")!.directive).to.match(/^SKIP/);
    expect(kids.find((k) => k.description === "fake:robust:b_crash")!.directive).to.match(/^ERROR CRASH/);
  });

  it("writes results.json, results.jsonl and junit.xml", () => {
    const json = JSON.parse(readFileSync(join(outcome.dir, "results.json"), "utf8"));
    expect(json.runInfo).to.include({ driver: FAKE_DRIVER, driverName: "fake", profile: "linux-6.18" });
    expect(json.runInfo.suiteRevision).to.match(/suites-sha256:[0-9a-f]{16}/);
    expect(json.summary).to.include({ PASS: 7, CRASH: 2, TIMEOUT: 1, ERROR: 2, SKIP: 1 });
    expect(json.cases[0]).to.have.keys(["id", "kind", "outcome", "expected", "area", "clauses", "durationMs", "repro"]);
    expect(json.cases[0].repro).to.contain("--filter =fake:robust:a_pass");
    const lines = readFileSync(join(outcome.dir, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0].type).to.equal("run");
    expect(lines.slice(1).map((l) => l.id)).to.deep.equal(json.cases.map((c: { id: string }) => c.id));
    const junit = readFileSync(join(outcome.dir, "junit.xml"), "utf8");
    expect(junit).to.contain('<testsuite name="GMEM-CREATE" tests="13" failures="0" errors="5" skipped="1"');
  });

  it("fails the cases of a driver that gives the wrong answer", async () => {
    const lying = await runFake({ lie: true, filters: ["fake:robust:h_wrong_errno"] });
    expect(lying.result.results.map((r) => r.outcome)).to.deep.equal(["FAIL", "FAIL"]);
    expect(lying.result.results[0]!.message).to.match(/expected errno EINVAL, got ret \d+/);
    expect(lying.result.exitCode).to.equal(1);
  });

  it("turns listed deviations into XFAIL (exit 0) and a listed pass into XPASS (exit 1)", async () => {
    const exp = new Expectations("inline", [
      { query: "fake:robust:b_crash", expected: "CRASH", reason: "the fake crashes on purpose" },
      { query: "fake:robust:f_exit", expected: "CRASH", reason: "the fake exits on purpose" },
      { query: "fake:robust:d_hang", expected: "TIMEOUT", reason: "the fake hangs on purpose" },
      { query: "fake:robust:e_*", expected: "ERROR", reason: "the fake writes garbage on purpose" },
      { query: "fake:robust:g_badresult", expected: "ERROR", reason: "the fake answers badly on purpose" },
    ]);
    const r = await runFake({ expectations: exp });
    expect(r.result.summary.XFAIL).to.equal(5);
    expect(r.result.exitCode).to.equal(0);
    const xpass = await runFake({ filters: ["fake:robust:a_pass"], expectations: new Expectations("inline", [{ query: "fake:robust:a_pass", expected: "FAIL", reason: "pretend this was known to fail" }]) });
    expect(xpass.result.results[0]!.outcome).to.equal("XPASS");
    expect(xpass.result.exitCode).to.equal(1);
  });

  it("lets one entry list every case its deviation reaches, and reports each of its queries that matched nothing", async () => {
    const exp = new Expectations("inline", [
      { query: ["fake:robust:b_crash", "fake:robust:f_exit", "fake:robust:no_such_case"], expected: "CRASH", reason: "the fake dies on purpose" },
    ]);
    const r = await runFake({ expectations: exp });
    const outcome = (id: string) => r.result.results.find((c) => c.id === id)!.outcome;
    expect(outcome("fake:robust:b_crash")).to.equal("XFAIL");
    expect(outcome("fake:robust:f_exit")).to.equal("XFAIL");
    expect(outcome("fake:robust:d_hang")).to.equal("TIMEOUT");
    expect(r.result.unusedExpectations.map((e) => e.query)).to.deep.equal(["fake:robust:no_such_case"]);
    expect(Expectations.none().lookup("fake:robust:b_crash")).to.equal(undefined);
    expect(exp.fresh().lookup("fake:robust:f_exit")?.query).to.equal("fake:robust:f_exit");
  });

  it("skips the whole run with the reason when the driver cannot run here (KTAP 1..0 # SKIP, exit 0)", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
    const ktap = new Capture();
    const unavailable = { label: "linux", reproArgs: [], open: async () => Promise.reject(new DriverUnavailable("/dev/kvm does not exist (no KVM on this machine)")) };
    const r = await run({ spec, cases, driver: unavailable, filters: [], timeoutMs: 1000, expectations: Expectations.none(), reporters: [new KtapReporter(ktap)], suiteFiles: files });
    expect(r.exitCode).to.equal(0);
    expect(r.results).to.deep.equal([]);
    expect(r.info.skippedRun).to.match(/\/dev\/kvm does not exist/);
    expect(ktap.text).to.equal("KTAP version 1\n1..0 # SKIP /dev/kvm does not exist (no KVM on this machine)\n# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0 timeout:0 crash:0\n");
    expect(parseKtap(ktap.text)).to.deep.equal([]);
  });

  it("skips the whole run when a remote driver answers hello with 'unavailable'", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [join(FIXTURES, "suites")]);
    process.env.FAKE_UNAVAILABLE = "no KVM in this container";
    try {
      const r = await run({ spec, cases, driver: driverChoice(FAKE_DRIVER), filters: [], timeoutMs: 5000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
      expect(r.info.skippedRun).to.equal("no KVM in this container");
      expect(r.exitCode).to.equal(0);
    } finally {
      delete process.env.FAKE_UNAVAILABLE;
    }
  });
});

describe("cases written for another machine", () => {
  it("skip with the machine named, on drivers of any other arch; run where the arch and features match", async () => {
    const spec = loadSpec();
    const { cases } = await loadSuites(spec, [SUITES_DIR]);
    const s390 = cases.find((c) => c.id === "slot2:s390:protected_vm")!;
    const x86 = cases.find((c) => c.suite === "slot2:flags")!;
    expect(s390.arch).to.equal("s390x");
    expect(x86.arch).to.equal("x86_64");
    const hs = (arch: string, features: string[]) => ({ contractVersion: "1", name: "t", version: "1", profile: "linux-7.2" as const, features, host: { kernel: "t", arch, pageSize: 4096 } });
    expect(skipReason(spec, s390, hs("x86_64", ["kvm", "s390:protected", "user-memory2"]))).to.equal("the case is written for s390x, the driver runs on x86_64");
    expect(skipReason(spec, x86, hs("s390x", ["kvm", "vm-type:default", "user-memory2"]))).to.equal("the case is written for x86_64, the driver runs on s390x");
    expect(skipReason(spec, s390, hs("s390x", ["kvm", "s390:protected", "user-memory2"]))).to.equal(undefined);
    expect(skipReason(spec, s390, hs("s390x", ["kvm", "user-memory2"]))).to.match(/needs feature s390:protected/);
  });
});
