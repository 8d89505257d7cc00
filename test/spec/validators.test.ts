// The build's precompiled validators (dist/spec/validators.cjs) must say exactly
// what run-time compiled ones say, and be used only while the schemas are unchanged.
import { expect } from "chai";
import { createRequire } from "node:module";
import { newAjv, PRECOMPILED_FILE, PRECOMPILED_FRAGMENTS, schemaFiles, schemaHash, usingPrecompiled, validator } from "../../spec/validate.js";

const require = createRequire(import.meta.url);

describe("precompiled schema validators", () => {
  const mod = require(PRECOMPILED_FILE) as Record<string, unknown> & { __hash: string; __ids: Record<string, string> };
  const runtime = newAjv();

  it("cover every schema file and fragment, built from the current schemas, and are in use", () => {
    const ids = Object.values(mod.__ids);
    for (const f of schemaFiles()) expect(ids, f.name).to.include((JSON.parse(f.text) as { $id: string }).$id);
    for (const id of PRECOMPILED_FRAGMENTS) expect(ids).to.include(id);
    expect(mod.__hash).to.equal(schemaHash());
    expect(usingPrecompiled()).to.equal(true);
    expect(validator("suite.schema.json")).to.equal(mod[Object.keys(mod.__ids).find((k) => mod.__ids[k] === "suite.schema.json")!]);
  });

  it("a changed schema file changes the hash (the precompiled code is then not used)", () => {
    const files = schemaFiles();
    const changed = files.map((f, i) => (i === 0 ? { ...f, text: f.text + " " } : f));
    expect(schemaHash(changed)).not.to.equal(schemaHash(files));
  });

  const samples: [string, unknown][] = [
    ["suite.schema.json", { cases: [{ id: 1 }] }],
    ["suite.schema.json", { area: "GMEM", cases: [{ id: "x", clauses: [], steps: [{ op: "nope" }], extra: true }] }],
    ["expectations.schema.json", { driver: "linux", entries: [{ query: "a", expected: "SOMETIMES" }] }],
    ["protocol.schema.json#/$defs/response", { id: "1", result: { ret: "x" } }],
    ["protocol.schema.json#/$defs/response", { id: 1, result: { ret: "0" } }],
    ["features.schema.json", { features: [{ name: 3 }] }],
  ];
  for (const [id, data] of samples)
    it(`report what run-time compiled ajv reports: ${id} ${JSON.stringify(data).slice(0, 60)}`, () => {
      const pre = validator(id);
      const rt = runtime.getSchema(id)!;
      expect(pre(data)).to.equal(rt(data));
      expect(pre.errors ?? null).to.deep.equal(rt.errors ?? null);
    });
});

describe("suite.schema.json describes what the loader accepts before it writes generators out", () => {
  const suite = (params: unknown, fixture: unknown = "vm_gmem_of(type=KVM_X86_DEFAULT_VM, size=4*PAGE_SIZE, flags=0)") => ({
    suite: "lint:t",
    title: "t",
    cases: [{ name: "c", clauses: ["GMEM-CREATE-001"], fixture, params, steps: [{ op: "close", fd: "$gmem" }] }],
  });
  const valid = (data: unknown) => validator("suite.schema.json")(data);

  it("accepts generators as a whole value list or as items of one, and fixture calls", () => {
    expect(valid(suite({ flags: { bits: { of: "~0", width: 8 } } }))).to.equal(true);
    expect(valid(suite({ size: [0, { around: "PAGE_SIZE" }, "2*PAGE_SIZE"] }))).to.equal(true);
    expect(valid(suite({ size: { around: "PAGE_SIZE" } }))).to.equal(true);
    expect(valid(suite({ size: [1] }, ["vm", "vm_gmem_of(size=PAGE_SIZE)"]))).to.equal(true);
  });

  it("refuses malformed generators and fixture names", () => {
    expect(valid(suite({ flags: [{ bits: { width: 8 } }] }))).to.equal(false);
    expect(valid(suite({ flags: [{ bits: { of: "~0", width: 65 } }] }))).to.equal(false);
    expect(valid(suite({ size: [{ around: "PAGE_SIZE", by: 2 }] }))).to.equal(false);
    expect(valid(suite({ size: [1] }, "Vm Gmem"))).to.equal(false);
  });
});
