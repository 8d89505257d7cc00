// Recorded real-kernel behaviour holds the model on any machine: the reference,
// configured as each captured host, must agree with every committed capture
// (captures/README.md), and a model that contradicts a capture makes this fail.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { InputError } from "../spec/errors.js";
import { join, relative } from "node:path";
import { loadSpec } from "../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../spec/paths.js";
import { loadSuites } from "../harness/case/load.js";
import { exercises } from "../harness/reporters/coverage.js";
import { captureRows, capturesMarkdown } from "../harness/cli/captures.js";
import { mutatedCopy } from "./mutants/copy.js";
import { readCapture } from "../harness/capture/capture.js";
import { committedCaptures } from "../harness/drivers/index.js";
import { unexplainedByCapture } from "./captures/agree.js";

describe("host captures", function () {
  this.timeout(120000);

  it("there is at least one committed capture, each naming its kernel build and driver", () => {
    const files = committedCaptures();
    expect(files.length).to.be.greaterThan(0);
    for (const file of files) {
      const { header, cases } = readCapture(file);
      expect(file, "named by host and build").to.contain(header.handshake.host.kernel);
      expect(header.handshake.host.build, "uname -v").to.be.a("string");
      expect(cases.length).to.be.greaterThan(0);
    }
  });

  it("refuses a capture that is not one, with the file and line, without blocking on a FIFO", () => {
    const dir = mkdtempSync(join(tmpdir(), "pmc-capture-"));
    try {
      const fifo = join(dir, "fifo.jsonl");
      execFileSync("mkfifo", [fifo]);
      expect(() => readCapture(fifo)).to.throw(InputError, /a regular file \(this is a FIFO\)/);
      const bad = join(dir, "bad.jsonl");
      const header = readFileSync(committedCaptures()[0]!, "utf8").split("\n")[0]!;
      writeFileSync(bad, `${header}\n{"type": "case", "id": "x", "kind": "steps", "outcome": "MAYBE"}\n${header}\n`);
      expect(() => readCapture(bad)).to.throw(InputError, /line 2\/outcome: expected one of[\s\S]*line 3: expected a case line/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the reference configured as each captured host agrees with it, or an expectations entry naming that build explains the difference", async () => {
    const unexplained = await unexplainedByCapture();
    for (const [file, ids] of Object.entries(unexplained)) expect(ids, file).to.deep.equal([]);
  });

  it("an observed clause names its kernel build, and a capture it cites records a passing case that exercises it", async () => {
    const spec = loadSpec();
    const { cases } = await loadSuites(spec, [SUITES_DIR]);
    const requires = new Map(cases.map((c) => [c.id, c.requires]));
    // the suites' cases by id (a lookup instead of a scan of every case for each captured one)
    const byId = new Map<string, typeof cases>();
    for (const c of cases) byId.set(c.id, [...(byId.get(c.id) ?? []), c]);
    const captures = new Map(committedCaptures().map((f) => [relative(PROJECT_ROOT, f), readCapture(f)]));
    let cited = 0;
    for (const clause of spec.clauses)
      for (const source of clause.sources.filter((s) => s.kind === "observed")) {
        expect(source.build, `${clause.id}: the build it was seen on`).to.be.a("string");
        if (source.capture === undefined) continue;
        cited++;
        const capture = captures.get(source.capture);
        expect(capture, `${clause.id} cites ${source.capture}`).to.not.equal(undefined);
        expect(capture!.header.handshake.host.kernel, `${clause.id}: the build of ${source.capture}`).to.equal(source.build);
        const passing = capture!.cases.filter((c) => c.outcome === "PASS" && (byId.get(c.id) ?? []).some((d) => d.clauses.includes(clause.id)) && exercises(requires.get(c.id)!, clause));
        expect(passing.length, `${clause.id}: a passing case in ${source.capture} that exercises it`).to.be.greaterThan(0);
      }
    expect(cited).to.be.greaterThan(0);
  });

  it("the README's table of captures is what `privmem-cts captures --markdown` prints", async () => {
    const readme = readFileSync(join(PROJECT_ROOT, "README.md"), "utf8");
    const shown = /<!-- captures:begin -->\n([\s\S]*?)\n<!-- captures:end -->/.exec(readme)?.[1];
    expect(shown, "the marked table in README.md").to.equal(capturesMarkdown(await captureRows()));
  });

  it("a model answering KVM_CHECK_EXTENSION(KVM_CAP_MEMORY_FAULT_INFO) with 0 contradicts the capture", () => {
    // A patched copy of the compiled project: only the capture check runs there.
    const dir = mutatedCopy("system/capabilities.js", "case C.MEMORY_FAULT_INFO:\n        case C.SPLIT_IRQCHIP:\n            return 1n;", "case C.MEMORY_FAULT_INFO:\n            return 0n;\n        case C.SPLIT_IRQCHIP:\n            return 1n;", ["captures", "expectations"]);
    try {
      const out = execFileSync(process.execPath, [join(dir, "dist", "test", "captures", "agree.js")], { encoding: "utf8", maxBuffer: 64 << 20 });
      const unexplained = Object.values(JSON.parse(out.trim().split("\n").pop()!) as Record<string, string[]>).flat();
      expect(unexplained.some((d) => d.includes("KVM_CHECK_EXTENSION") && d.includes("ret 1") && d.includes("ret 0")), unexplained.join("\n")).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
