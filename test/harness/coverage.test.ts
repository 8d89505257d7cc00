// Clause coverage counts a clause only through cases that exercise it.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { clauseCoverage } from "../../harness/reporters/coverage.js";

describe("clause coverage", () => {
  const spec = loadSpec();
  const runInfo = { driver: "linux", profile: "linux-6.18", host: { kernel: "k", arch: "x86_64", pageSize: 4096 } };
  const memfdControl = { id: "gmem:file:memfd_read_write:len=1", clauses: ["GMEM-FILE-001"], requires: [] as string[] };
  const gmemCase = { id: "gmem:file:read_refused:len=1", clauses: ["GMEM-FILE-001"], requires: ["kvm", "vm-type:default", "guest-memfd"] };

  it("a passing control case that does not require the clause's features does not cover it, and says so", () => {
    const report = clauseCoverage(spec, [{ runInfo, cases: [{ ...memfdControl, outcome: "PASS" }, { ...gmemCase, outcome: "SKIP" }] }], [memfdControl, gmemCase]);
    expect(report.coveredBy["GMEM-FILE-001"]).to.equal(undefined);
    expect(report.areas["GMEM-FILE"]!.why["GMEM-FILE-001"]).to.match(/do not exercise it .*guest-memfd.*memfd_read_write/);
  });

  it("a passing case that requires them does", () => {
    const report = clauseCoverage(spec, [{ runInfo, cases: [{ ...memfdControl, outcome: "PASS" }, { ...gmemCase, outcome: "PASS" }] }], [memfdControl, gmemCase]);
    expect(report.coveredBy["GMEM-FILE-001"]).to.deep.equal([gmemCase.id]);
  });

  it("a clause about a missing feature is exercised only by cases that require its absence", () => {
    const absent = { id: "gmem:absent:caps_zero", clauses: ["GMEM-CREATE-018"], requires: ["kvm", "vm-type:default", "!guest-memfd"] };
    const other = { id: "x:y", clauses: ["GMEM-CREATE-018"], requires: ["kvm"] };
    const report = clauseCoverage(spec, [{ runInfo, cases: [{ ...absent, outcome: "PASS" }, { ...other, outcome: "PASS" }] }], [absent, other]);
    expect(report.coveredBy["GMEM-CREATE-018"]).to.deep.equal([absent.id]);
  });
});

describe("expectations and host builds", () => {
  it("an XFAIL by an entry that does not name the running build says so; one that names it does not", async () => {
    const { Expectations } = await import("../../harness/runner/expectations.js");
    const e = new Expectations(undefined, [{ query: "a:b:c", expected: "FAIL", reason: "a quirk of this host", hosts: ["6.18.44-fc-v595"] }]);
    expect(e.classify("a:b:c", "FAIL", "6.18.44-fc-v595")).to.deep.equal({ outcome: "XFAIL", expected: "FAIL", note: "a quirk of this host" });
    expect(e.classify("a:b:c", "FAIL", "6.18.44-fc-v1300").note).to.equal("a quirk of this host [recorded on 6.18.44-fc-v595, not yet on 6.18.44-fc-v1300]");
    expect(e.forHost("6.18.44-fc-v1300").lookup("a:b:c"), "agreement with a capture of another build").to.equal(undefined);
  });
});
