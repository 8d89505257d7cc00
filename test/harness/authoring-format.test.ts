// The compact style of suite files: checked for every file under suites/ (npm run format:suites writes it).
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { compact, formatProblem, formatSuite, MAX_SUITE_LINES, suiteFiles } from "../../harness/tools/format-suites.js";

describe("suite files: the compact style", () => {
  it(`every JSON file under suites/ is formatted (npm run format:suites) and at most ${MAX_SUITE_LINES} lines`, () => {
    const problems = suiteFiles([SUITES_DIR]).flatMap((f) => {
      const p = formatProblem(f);
      return p === undefined ? [] : [`${relative(PROJECT_ROOT, f)}: ${p}`];
    });
    expect(problems).to.deep.equal([]);
  });

  it("changes only whitespace: the parsed file, key order included, is the same, and formatting twice changes nothing", () => {
    for (const f of suiteFiles([SUITES_DIR])) {
      const data = JSON.parse(readFileSync(f, "utf8"));
      const once = formatSuite(data);
      expect(JSON.stringify(JSON.parse(once)), f).to.equal(JSON.stringify(data));
      expect(formatSuite(JSON.parse(once)), f).to.equal(once);
    }
  });

  it("one line per case key and per step; a pretty-printed or an overlong file is reported", () => {
    const suite = { suite: "x:y", title: "t", cases: [{ name: "a", clauses: ["GMEM-FILE-001"], steps: [{ op: "open", path: "/dev/kvm", flags: "O_RDWR", as: "kvm" }, { op: "close", fd: "$kvm" }] }] };
    expect(formatSuite(suite)).to.equal(
      '{\n  "suite": "x:y",\n  "title": "t",\n  "cases": [\n    {\n      "name": "a",\n      "clauses": ["GMEM-FILE-001"],\n      "steps": [\n' +
        '        {"op": "open", "path": "/dev/kvm", "flags": "O_RDWR", "as": "kvm"},\n        {"op": "close", "fd": "$kvm"}\n      ]\n    }\n  ]\n}\n',
    );
    expect(compact({ a: [1, "b"], c: {} })).to.equal('{"a": [1, "b"], "c": {}}');
    const dir = mkdtempSync(join(tmpdir(), "pmc-format-"));
    try {
      writeFileSync(join(dir, "pretty.json"), JSON.stringify(suite, null, 2) + "\n");
      expect(formatProblem(join(dir, "pretty.json"))).to.match(/not formatted/);
      const long = { ...suite, cases: Array.from({ length: MAX_SUITE_LINES / 6 }, (_, i) => ({ ...suite.cases[0]!, name: `c${i}` })) };
      writeFileSync(join(dir, "long.json"), formatSuite(long));
      expect(formatProblem(join(dir, "long.json"))).to.match(/lines: split it/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
