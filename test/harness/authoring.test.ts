// Authoring: the worked example of spec/README.md and suites/README.md, built in a
// scratch copy and run; and the loader's refusal of cases that contradict their clauses
// or whose controls are not one argument apart.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { InputError } from "../../spec/errors.js";
import { PROJECT_ROOT, SPEC_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { staleBuildProblems } from "../../harness/case/stale.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { runCase, skipReason } from "../../harness/runner/runner.js";

const CLI = join(PROJECT_ROOT, "dist", "harness", "cli", "main.js");

/** The JSON block that follows `<!-- worked-example:NAME -->` in a README. */
function example(readme: string, name: string): unknown {
  const text = readFileSync(join(PROJECT_ROOT, readme), "utf8");
  const m = new RegExp(`<!-- worked-example:${name} -->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\``).exec(text);
  if (!m) throw new Error(`${readme} has no worked-example:${name} block`);
  return JSON.parse(m[1]!);
}

/** A scratch project: a copy of spec/ with the example clause added, and suites/ holding the shared fixtures and `suite`. */
function scratch(suite: unknown, clause: unknown = example("spec/README.md", "clause")): { dir: string; spec: string; suites: string } {
  const dir = mkdtempSync(join(tmpdir(), "pmc-authoring-"));
  const spec = join(dir, "spec");
  cpSync(SPEC_DIR, spec, { recursive: true });
  const areaFile = join(spec, "clauses", "gmem-file.json");
  const area = JSON.parse(readFileSync(areaFile, "utf8")) as { clauses: unknown[] };
  area.clauses.push(clause);
  writeFileSync(areaFile, JSON.stringify(area, null, 2));
  const suites = join(dir, "suites");
  mkdirSync(join(suites, "gmem"), { recursive: true });
  cpSync(join(SUITES_DIR, "kvm.fixtures.json"), join(suites, "kvm.fixtures.json"));
  writeFileSync(join(suites, "gmem", "seals.json"), JSON.stringify(suite, null, 2));
  return { dir, spec, suites };
}

type Suite = { cases: { name: string; clauses: string[]; control?: string; params?: Record<string, unknown>; steps: { expect?: Record<string, unknown> }[] }[] };
const workedSuite = () => example("suites/README.md", "suite") as Suite;

async function problemsOf(s: { spec: string; suites: string }): Promise<string[]> {
  try {
    await loadSuites(loadSpec(s.spec), [s.suites]);
    return [];
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    return err.problems.map((p) => `${p.file}: at ${p.pointer}: expected ${p.expected}`);
  }
}

describe("authoring: the worked example", function () {
  this.timeout(30000);

  it("a new clause, its case, the control and a boundary variant: two files, loaded and passing on the reference", async () => {
    const s = scratch(workedSuite());
    try {
      const spec = loadSpec(s.spec);
      expect(spec.clauseById.get("GMEM-FILE-014")?.area).to.equal("GMEM-FILE");
      const { cases } = await loadSuites(spec, [s.suites]);
      expect(cases.map((c) => c.id)).to.deep.equal(["gmem:seals:get_seals_refused", "gmem:seals:memfd_seals:mfd=allow_sealing", "gmem:seals:memfd_seals:mfd=none"]);
      const driver = await driverChoice("reference", { profile: "linux-7.2", host: "full" }).open();
      try {
        for (const c of cases) {
          expect(skipReason(spec, c, driver.handshake), c.id).to.equal(undefined);
          const verdict = await runCase(spec, c, driver);
          await driver.reset();
          expect(verdict.outcome, `${c.id}: ${verdict.message ?? ""}`).to.equal("PASS");
        }
      } finally {
        await driver.close();
      }
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it("the example's expectations are live: a wrong boundary value fails", async () => {
    const suite = workedSuite();
    suite.cases[1]!.steps[1]!.expect = { ret: "F_SEAL_SEAL" };
    const s = scratch(suite);
    try {
      const spec = loadSpec(s.spec);
      const { cases } = await loadSuites(spec, [s.suites]);
      const driver = await driverChoice("reference", { profile: "linux-7.2", host: "full" }).open();
      try {
        const outcomes = [];
        for (const c of cases) {
          outcomes.push((await runCase(spec, c, driver)).outcome);
          await driver.reset();
        }
        expect(outcomes).to.deep.equal(["PASS", "FAIL", "PASS"]);
      } finally {
        await driver.close();
      }
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe("authoring: the loader holds cases to their clauses", function () {
  this.timeout(30000);

  it("refuses a case whose errno contradicts its clause, with the file and the step's pointer", async () => {
    const suite = workedSuite();
    suite.cases[0]!.steps[0]!.expect = { errno: "EPERM" };
    const s = scratch(suite);
    try {
      const problems = await problemsOf(s);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/gmem\/seals\.json: at \/cases\/0\/steps\/0\/expect\/errno: expected an errno that the case's clauses allow \(linux-6\.8: GMEM-FILE-014 EINVAL;.*this step of gmem:seals:get_seals_refused expects only EPERM/);
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it("holds every step to the clauses, not only one: a second step whose errno no clause gives is refused at its own pointer", async () => {
    const suite = workedSuite();
    const first = suite.cases[0]!.steps[0]!;
    const added = suite.cases[0]!.steps.push({ ...first, expect: { errno: "EPERM" } }) - 1;
    const s = scratch(suite);
    try {
      const problems = await problemsOf(s);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.have.string(`gmem/seals.json: at /cases/0/steps/${added}/expect/errno: expected an errno that the case's clauses allow`);
      expect(problems[0]).to.have.string("this step of gmem:seals:get_seals_refused expects only EPERM there");
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it("accepts the errno of a clause's byProfile variant, and refuses it in the profiles where the clause says otherwise", async () => {
    const clause = example("spec/README.md", "clause") as { profiles: Record<string, unknown> };
    clause.profiles = { "linux-6.8..linux-6.18": { errno: ["EINVAL"] }, "linux-7.2+": { errno: ["EPERM"] } };
    const suite = workedSuite();
    suite.cases[0]!.steps[0]!.expect = { byProfile: { "linux-6.8..linux-6.18": { errno: "EINVAL" }, "linux-7.2+": { errno: "EPERM" } } };
    const good = scratch(suite, clause);
    const wrong = workedSuite();
    wrong.cases[0]!.steps[0]!.expect = { errno: "EINVAL" };
    const bad = scratch(wrong, clause);
    try {
      expect(await problemsOf(good)).to.deep.equal([]);
      const problems = await problemsOf(bad);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/at \/cases\/0\/steps\/0\/expect\/errno: .*\(linux-7\.2: GMEM-FILE-014 EPERM; cca-v14: GMEM-FILE-014 EPERM; conv-v7: GMEM-FILE-014 EPERM; conv-v8: GMEM-FILE-014 EPERM\)/);
    } finally {
      rmSync(good.dir, { recursive: true, force: true });
      rmSync(bad.dir, { recursive: true, force: true });
    }
  });

  it("refuses a control whose labels differ in more than the argument under test, with the file and pointer", async () => {
    const suite = workedSuite();
    // Both cases now run over two labels, and the control pins both: the error case's
    // mfd=none;name=b is two labels away from it.
    const params = { mfd: { allow_sealing: "MFD_ALLOW_SEALING", none: 0 }, name: ["a", "b"] };
    suite.cases[0]!.params = params;
    suite.cases[1]!.params = params;
    suite.cases[0]!.control = "=gmem:seals:memfd_seals:mfd=allow_sealing;name=a";
    const s = scratch(suite);
    try {
      const problems = await problemsOf(s);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(/gmem\/seals\.json: at \/cases\/0\/control: expected a control one argument apart .*differ in mfd, name/);
      // One label apart is what a control is.
      suite.cases[0]!.control = "gmem:seals:memfd_seals:mfd=allow_sealing;*";
      const ok = scratch(suite);
      try {
        expect(await problemsOf(ok)).to.deep.equal([]);
      } finally {
        rmSync(ok.dir, { recursive: true, force: true });
      }
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  it("the CLI refuses such a suite before running anything: exit 2, file and pointer", () => {
    // Under a clause of the committed spec (GMEM-FILE-001: EINVAL), so the CLI's own spec knows it.
    const suite = workedSuite();
    for (const c of suite.cases) c.clauses = ["GMEM-FILE-001"];
    suite.cases[0]!.steps[0]!.expect = { errno: "EPERM" };
    const s = scratch(suite);
    try {
      const r = spawnSync(process.execPath, [CLI, "run", "--suites", s.suites, "--out", join(s.dir, "out")], { encoding: "utf8", cwd: PROJECT_ROOT });
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.match(/gmem\/seals\.json: at \/cases\/0\/steps\/0\/expect\/errno: expected an errno that the case's clauses allow \(linux-6\.8: GMEM-FILE-001 EINVAL/);
      expect(r.stdout).to.equal("");
    } finally {
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe("authoring: a stale dist/ is refused", () => {
  it("names a source newer than its compiled module, and one never compiled; a current build passes", () => {
    const root = mkdtempSync(join(tmpdir(), "pmc-stale-"));
    try {
      mkdirSync(join(root, "spec"));
      mkdirSync(join(root, "dist", "spec"), { recursive: true });
      writeFileSync(join(root, "spec", "a.ts"), "");
      writeFileSync(join(root, "dist", "spec", "a.js"), "");
      utimesSync(join(root, "spec", "a.ts"), 1000, 1000);
      utimesSync(join(root, "dist", "spec", "a.js"), 2000, 2000);
      expect(staleBuildProblems(root)).to.deep.equal([]);
      utimesSync(join(root, "spec", "a.ts"), 3000, 3000);
      writeFileSync(join(root, "spec", "b.ts"), "");
      const [p] = staleBuildProblems(root);
      expect(p?.expected).to.equal("a build newer than its sources (run npm run build): spec/a.ts (newer than dist/spec/a.js), spec/b.ts (not compiled)");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("the project's own dist/ is current after npm run build (npm test builds first)", () => {
    expect(staleBuildProblems()).to.deep.equal([]);
  });
});

describe("authoring: parameter generators", () => {
  const suiteWith = (params: unknown) => ({
    suite: "gen:test",
    title: "generators",
    cases: [{ name: "sweep", clauses: ["GMEM-FILE-001"], params, steps: [{ op: "memfd_create", name: "x", flags: 0 }] }],
  });
  async function load(params: unknown): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), "pmc-gen-"));
    try {
      mkdirSync(join(dir, "gen"), { recursive: true });
      writeFileSync(join(dir, "gen", "test.json"), JSON.stringify(suiteWith(params)));
      return (await loadSuites(loadSpec(), [dir])).cases.map((c) => c.id);
    } catch (err) {
      if (err instanceof InputError) return err.problems.map((p) => `${p.pointer}: ${p.expected}`);
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("bits: each set bit of a constant expression alone, lowest first, as the written-out list would be", async () => {
    const ids = await load({ attributes: [{ bits: { of: "~KVM_MEMORY_ATTRIBUTE_PRIVATE", width: 8 } }, "(1<<64)-1"] });
    expect(ids).to.deep.equal(["1<<0", "1<<1", "1<<2", "1<<4", "1<<5", "1<<6", "1<<7", "(1<<64)-1"].map((v) => `gen:test:sweep:attributes=${v}`));
    expect(await load({ flags: { bits: { of: "(1<<64)-1" } } })).to.have.length(64);
  });

  it("around: a boundary and its neighbours", async () => {
    expect(await load({ len: { around: "PAGE_SIZE" }, offset: { around: "2*PAGE_SIZE" } })).to.include.members(["gen:test:sweep:len=PAGE_SIZE-1;offset=(2*PAGE_SIZE)+1", "gen:test:sweep:len=PAGE_SIZE+1;offset=2*PAGE_SIZE"]);
  });

  it("a generator that cannot expand is refused at its pointer", async () => {
    expect(await load({ flags: [1, { bits: { of: "NO_SUCH_CONSTANT" } }] })).to.deep.equal(['/cases/0/params/flags/1: a generator that expands: "NO_SUCH_CONSTANT" names a constant no profile defines']);
    expect(await load({ flags: { bits: { of: "$x" } } })).to.deep.equal(['/cases/0/params/flags: a generator that expands: no $bindings in a generator ("$x")']);
    expect((await load({ flags: { bits: { of: "0" } } }))[0]).to.match(/has no bit set/);
  });
});

describe("authoring: parameterised fixtures", function () {
  this.timeout(30000);
  const suiteWith = (fixture: string, params?: unknown) => ({
    suite: "fx:test",
    title: "fixture calls",
    cases: [{ name: "c", clauses: ["GMEM-CREATE-001"], fixture, ...(params ? { params } : {}), requires: ["vm-type:default"], steps: [{ op: "fstat", fd: "$gmem", expect: { out: { size: "2*PAGE_SIZE" } } }] }],
  });
  async function run(suite: unknown): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), "pmc-fx-"));
    try {
      cpSync(join(SUITES_DIR, "kvm.fixtures.json"), join(dir, "kvm.fixtures.json"));
      mkdirSync(join(dir, "fx"), { recursive: true });
      writeFileSync(join(dir, "fx", "test.json"), JSON.stringify(suite));
      const spec = loadSpec();
      const { cases } = await loadSuites(spec, [dir]);
      const driver = await driverChoice("reference", { profile: "linux-7.2", host: "full" }).open();
      try {
        const out: string[] = [];
        for (const c of cases) {
          const v = await runCase(spec, c, driver);
          await driver.reset();
          out.push(`${c.id} ${v.outcome}${v.message ? `: ${v.message}` : ""}`);
        }
        return out;
      } finally {
        await driver.close();
      }
    } catch (err) {
      if (err instanceof InputError) return err.problems.map((p) => `${p.pointer}: ${p.expected}`);
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it("vm_gmem_of(type, size, flags): the arguments replace the fixture's names; a name no argument gives is the case's parameter", async () => {
    expect(await run(suiteWith("vm_gmem_of(type=KVM_X86_DEFAULT_VM, size=2*PAGE_SIZE, flags=0)"))).to.deep.equal(["fx:test:c PASS"]);
    const outcomes = await run(suiteWith("vm_gmem_of(type=KVM_X86_DEFAULT_VM, flags=0)", { size: ["2*PAGE_SIZE", "PAGE_SIZE"] }));
    expect(outcomes[0]).to.equal("fx:test:c:size=2*PAGE_SIZE PASS");
    expect(outcomes[1]).to.match(/^fx:test:c:size=PAGE_SIZE FAIL: .*expected out\.size 8192, got 4096/);
  });

  it("refuses a malformed call, an argument the fixture does not use, and a name neither an argument nor a parameter gives", async () => {
    expect((await run(suiteWith("vm_gmem_of(type)")))[0]).to.equal('/cases/0/fixture: arguments of the form param=expression (not "type" in "vm_gmem_of(type)")');
    expect((await run(suiteWith("vm_gmem_of(type=0, size=PAGE_SIZE, flags=0, color=1)")))[0]).to.equal("/cases/0/fixture: arguments the fixture's steps use (vm_gmem_of has no color)");
    expect((await run(suiteWith("vm_gmem_of(type=0, flags=0)"))).join("\n")).to.match(/a parameter, PAGE_SIZE or a constant from spec\/constants\.json \(size is none\)/);
  });
});

describe("authoring: TypeScript helpers and JSON fixtures in TypeScript suites", function () {
  this.timeout(30000);
  it("a suite written with vmCreate, checkCap, vmCreateGuestMemfd and jsonFixture(vm_gmem_of(...)) passes on the reference", async () => {
    const spec = loadSpec();
    const { cases } = await loadSuites(spec, [join(PROJECT_ROOT, "test", "harness", "fixtures", "authoring-scenarios")]);
    expect(cases.map((c) => `${c.id} ${c.requires.join(",")}`)).to.deep.equal([
      "authoring:helpers:json_fixture:size=one kvm,guest-memfd,vm-type:default",
      "authoring:helpers:json_fixture:size=two kvm,guest-memfd,vm-type:default",
      "authoring:helpers:helpers kvm,vm-type:default,guest-memfd",
    ]);
    const driver = await driverChoice("reference", { profile: "linux-7.2", host: "full" }).open();
    try {
      for (const c of cases) {
        const v = await runCase(spec, c, driver);
        await driver.reset();
        expect(v.outcome, `${c.id}: ${v.message ?? ""}`).to.equal("PASS");
      }
    } finally {
      await driver.close();
    }
  });
});
