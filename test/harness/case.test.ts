import { expect } from "chai";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { InputError } from "../../spec/errors.js";
import { SCHEMA_DIR } from "../../spec/paths.js";
import { evaluate, parse, ExprError } from "../../harness/case/expr.js";
import { compileQuery, compileFilters } from "../../harness/case/query.js";
import { expandParams, loadSuites } from "../../harness/case/load.js";
import { fixturesSchema, protocolSchema, suiteSchema } from "../../harness/protocol/schemas.js";

const scope = (names: Record<string, bigint>, refs: Record<string, bigint> = {}) => ({
  name: (n: string) => names[n],
  ref: (p: string[]) => refs[p.join(".")],
});

describe("case expressions", () => {
  const ev = (s: string, names: Record<string, bigint> = {}, refs: Record<string, bigint> = {}) => evaluate(parse(s), scope(names, refs), s);

  it("follow C precedence over unbounded integers", () => {
    expect(ev("1<<63")).to.equal(1n << 63n);
    expect(ev("(1<<64)-1")).to.equal(0xffffffffffffffffn);
    expect(ev("PAGE_SIZE-1", { PAGE_SIZE: 4096n })).to.equal(4095n);
    expect(ev("1|2&3")).to.equal(3n);
    expect(ev("2+3*4")).to.equal(14n);
    expect(ev("-PAGE_SIZE", { PAGE_SIZE: 4096n })).to.equal(-4096n);
    expect(ev("~0 & 0xff")).to.equal(0xffn);
    expect(ev("1 << 2 + 1")).to.equal(8n);
    expect(ev("0x10 == 16 && 3 > 2")).to.equal(1n);
    expect(ev("!0 || 0")).to.equal(1n);
  });

  it("read bindings and their fields", () => {
    expect(ev("$map + 2*PAGE_SIZE", { PAGE_SIZE: 4096n }, { map: 0x7000n })).to.equal(0x9000n);
    expect(ev("$pf.size", {}, { "pf.size": 4096n })).to.equal(4096n);
  });

  it("report unknown names, unbound refs and syntax errors", () => {
    expect(() => ev("NOPE + 1")).to.throw(ExprError, /unknown name NOPE/);
    expect(() => ev("$x")).to.throw(ExprError, /not bound/);
    expect(() => parse("1 +")).to.throw(ExprError);
    expect(() => parse("(1")).to.throw(ExprError, /missing/);
    expect(() => parse("1 2")).to.throw(ExprError);
    expect(() => ev("1/0")).to.throw(ExprError, /division by zero/);
  });
});

describe("queries and parameters", () => {
  it("match an id, everything below a prefix, and globs", () => {
    const q = compileQuery("gmem:fallocate");
    expect(q("gmem:fallocate")).to.equal(true);
    expect(q("gmem:fallocate:punch:len=1")).to.equal(true);
    expect(q("gmem:fallocate2:x")).to.equal(false);
    expect(compileQuery("gmem:*:punch*")("gmem:fallocate:punch_hole:len=1")).to.equal(true);
    expect(compileQuery("gmem:?:x")("gmem:a:x")).to.equal(true);
    expect(compileFilters(["a:b,c:d"])("c:d:e")).to.equal(true);
    expect(compileFilters([])("anything")).to.equal(true);
  });

  it("expand parameters as a cartesian product in declaration order, with labels", () => {
    const combos = expandParams({ mode: { punch: "3", alloc: 1 }, len: [1, "PAGE_SIZE"] });
    expect(combos.map((c) => c.labels.map(([k, v]) => `${k}=${v}`).join(";"))).to.deep.equal(["mode=punch;len=1", "mode=punch;len=PAGE_SIZE", "mode=alloc;len=1", "mode=alloc;len=PAGE_SIZE"]);
    expect(combos[0]!.values).to.deep.equal({ mode: "3", len: 1 });
    expect(expandParams([{ a: 1 }, { a: 2, b: true }]).map((c) => c.values)).to.deep.equal([{ a: 1 }, { a: 2, b: true }]);
  });
});

describe("suite loading checks what a schema cannot", () => {
  const spec = loadSpec();
  const write = (suite: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), "pmc-lint-"));
    writeFileSync(join(dir, "s.json"), JSON.stringify(suite));
    return dir;
  };
  const base = (cases: unknown[]) => ({ suite: "lint:t", title: "t", cases });
  const problems = async (dir: string) => {
    try {
      await loadSuites(spec, [dir]);
      return [];
    } catch (err) {
      if (err instanceof InputError) return err.problems.map((p) => `${p.pointer}: ${p.expected}`);
      throw err;
    }
  };

  it("rejects duplicate case ids", async () => {
    const c = { name: "a", clauses: ["GMEM-CREATE-001"], steps: [{ op: "close", fd: 3 }] };
    expect((await problems(write(base([c, c])))).join("\n")).to.match(/\/cases\/1\/name: a unique case id \(lint:t:a is also defined/);
  });

  it("rejects unknown clauses, unknown features, unknown names, unbound refs and unknown requests", async () => {
    const p = await problems(
      write(
        base([
          {
            name: "a",
            clauses: ["NOPE-001"],
            requires: ["no-such-feature"],
            steps: [
              { op: "close", fd: "$vm" },
              { op: "ioctl", fd: 3, request: "KVM_NOPE", arg: "UNDEFINED_THING" },
            ],
          },
        ]),
      ),
    );
    const text = p.join("\n");
    expect(text).to.match(/clauses\/0: a clause id defined in spec\/clauses \(NOPE-001 is not\)/);
    expect(text).to.match(/requires\/0: a feature from spec\/features.json/);
    expect(text).to.match(/steps\/0\/fd: a binding made by an earlier step's "as" \(\$vm is not bound\)/);
    expect(text).to.match(/steps\/1\/request: an ioctl named in spec\/constants.json/);
    expect(text).to.match(/steps\/1\/arg: a parameter, PAGE_SIZE or a constant/);
  });

  it("requires a control case beside every error case, and that it exists", async () => {
    const err = { name: "bad", clauses: ["GMEM-CREATE-001"], steps: [{ op: "close", fd: -1, expect: { errno: "EBADF" } }] };
    expect((await problems(write(base([err])))).join("\n")).to.match(/a "control" naming the case\(s\) that succeed/);
    expect((await problems(write(base([{ ...err, control: "lint:t:nothing" }])))).join("\n")).to.match(/control: a query that matches at least one case/);
    expect(await problems(write(base([{ ...err, control: "lint:t:good" }, { name: "good", clauses: ["GMEM-CREATE-001"], steps: [{ op: "close", fd: 3 }] }])))).to.deep.equal([]);
  });

  it("reports a missing directory as bad input", async () => {
    expect((await problems("/nonexistent/suites")).join()).to.match(/a directory of suites/);
  });
});

describe("generated schemas", () => {
  it("are in sync with the op table (run npm run gen:schemas after changing spec/driver/ops.ts)", () => {
    for (const [file, schema] of [["suite.schema.json", suiteSchema()], ["fixtures.schema.json", fixturesSchema()], ["protocol.schema.json", protocolSchema()]] as const)
      expect(JSON.parse(readFileSync(join(SCHEMA_DIR, file), "utf8")), file).to.deep.equal(JSON.parse(JSON.stringify(schema)));
  });
});
