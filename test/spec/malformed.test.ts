// A malformed spec is refused before anything runs, with the file, the JSON
// pointer and what was expected: one test per kind of error.
import { expect } from "chai";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { InputError, type InputProblem } from "../../spec/errors.js";
import { SPEC_DIR } from "../../spec/paths.js";

// Spec files are edited freely here to break them.
type Json = Record<string, any>;

/** Copy the spec, let `edit` break one file, and return the problems the loader reports. */
function problems(file: string, edit: (data: Json) => void): InputProblem[] {
  const dir = mkdtempSync(join(tmpdir(), "pmc-spec-"));
  cpSync(SPEC_DIR, dir, { recursive: true, filter: (src) => !src.endsWith(".ts") });
  const path = join(dir, file);
  const data = JSON.parse(readFileSync(path, "utf8")) as Json;
  edit(data);
  writeFileSync(path, JSON.stringify(data));
  try {
    loadSpec(dir);
  } catch (err) {
    if (err instanceof InputError) return err.problems;
    throw err;
  }
  return [];
}

const one = (ps: InputProblem[]) => {
  expect(ps, JSON.stringify(ps)).to.have.length.greaterThan(0);
  return ps.map((p) => `${p.file.split("/").slice(-2).join("/")} ${p.pointer}: ${p.expected}`).join("\n");
};
const clause = (d: Json, id: string) => (d.clauses as Json[]).find((c) => c.id === id)!;

describe("spec: malformed files are refused with file, pointer and what was expected", () => {
  it("accepts the spec as it is", () => {
    expect(problems("profiles.json", () => {})).to.deep.equal([]);
  });

  it("a missing required property", () => {
    expect(one(problems("clauses/gmem-create.json", (d) => delete clause(d, "GMEM-CREATE-002").statement))).to.match(/clauses\/gmem-create\.json \/clauses\/1: missing required property "statement"/);
  });

  it("an unknown property", () => {
    expect(one(problems("clauses/gmem-create.json", (d) => (clause(d, "GMEM-CREATE-002").errno = "EINVAL")))).to.match(/\/clauses\/1\/errno: unknown property "errno"/);
  });

  it("a value of the wrong type", () => {
    expect(one(problems("layouts.json", (d) => (d.structs.kvm_enc_region.size = "16")))).to.match(/layouts\.json \/structs\/kvm_enc_region\/size: a value of type integer/);
  });

  it("a value outside an enumeration", () => {
    expect(one(problems("clauses/attr.json", (d) => (clause(d, "ATTR-001").sources[0].kind = "blog")))).to.match(/\/clauses\/0\/sources\/0\/kind: one of \["api\.rst","source","selftest","lore","observed","spec"\]/);
  });

  it("a string that does not match its pattern (an unknown profile)", () => {
    expect(one(problems("constants.json", (d) => (d.constants.cap.KVM_CAP_GUEST_MEMFD_FLAGS.profiles = "linux-6.99+")))).to.match(/constants\.json \/constants\/cap\/KVM_CAP_GUEST_MEMFD_FLAGS\/profiles: a string matching/);
  });

  it("a clause without a source", () => {
    expect(one(problems("clauses/exit.json", (d) => (clause(d, "EXIT-001").sources = [])))).to.match(/\/clauses\/0\/sources: must NOT have fewer than 1 items/);
  });

  it("a clause id used twice", () => {
    expect(one(problems("clauses/gmem-file.json", (d) => (d.clauses[1].id = d.clauses[0].id)))).to.match(/\/clauses\/1\/id: a unique clause id \(GMEM-FILE-001 is also defined in/);
  });

  it("a clause id outside its area", () => {
    expect(one(problems("clauses/gmem-file.json", (d) => (d.clauses[0].id = "GMEM-FALLOC-999")))).to.match(/\/clauses\/0\/id: an id of the form GMEM-FILE-NNN/);
  });

  it("profile sets of a clause that overlap", () => {
    expect(one(problems("clauses/slot2.json", (d) => (clause(d, "SLOT2-012").profiles["linux-6.18+"] = { errno: ["EINVAL"] })))).to.match(/profile sets that do not overlap \(linux-6\.18 is named twice\)/);
  });

  it("a subject the area does not list", () => {
    expect(one(problems("clauses/vmtype.json", (d) => (d.clauses[0].subject = "KVM_NOPE")))).to.match(/\/clauses\/0\/subject: one of the area's subjects/);
  });

  it("an ioctl number that disagrees with the _IOC computation", () => {
    expect(one(problems("constants.json", (d) => (d.ioctls.KVM_CREATE_GUEST_MEMFD[0].number = "0xC040AED5")))).to.match(/\/ioctls\/KVM_CREATE_GUEST_MEMFD\/0\/number: the _IOC value 0xC040AED4 computed from dir, nr and the kvm_create_guest_memfd size/);
  });

  it("an ioctl whose struct does not exist", () => {
    expect(one(problems("constants.json", (d) => (d.ioctls.KVM_CREATE_GUEST_MEMFD[0].arg = "kvm_no_such_struct")))).to.match(/\/arg: a struct defined in layouts\.json/);
  });

  it("a struct layout whose fields overlap or overrun", () => {
    const text = one(
      problems("layouts.json", (d) => {
        d.structs.kvm_enc_region.fields[1].offset = 4;
        d.structs.kvm_create_guest_memfd.fields[2].count = 7;
      }),
    );
    expect(text).to.match(/\/structs\/kvm_enc_region\/fields\/1: a consistent layout: overlaps field addr/);
    expect(text).to.match(/\/structs\/kvm_create_guest_memfd\/fields\/2: a consistent layout: ends at byte 72, past the struct size 64/);
  });

  it("a pointer marker that names a missing field or struct", () => {
    const text = one(
      problems("layouts.json", (d) => {
        const f = (d.structs.kvm_sev_cmd.fields as Json[]).find((x) => x.pointer !== undefined)!;
        f.pointer.by = "no_such_field";
      }),
    );
    expect(text).to.match(/\/structs\/kvm_sev_cmd\/fields\/\d+\/pointer: a field of kvm_sev_cmd \(no_such_field is not one\)/);
  });

  it("a constant name defined twice", () => {
    expect(one(problems("constants.json", (d) => (d.constants.misc.EINVAL = 22)))).to.match(/a constant name used once \(EINVAL is also in group/);
  });

  it("a file that is not JSON", () => {
    const dir = mkdtempSync(join(tmpdir(), "pmc-spec-"));
    cpSync(SPEC_DIR, dir, { recursive: true, filter: (src) => !src.endsWith(".ts") });
    writeFileSync(join(dir, "features.json"), "{ not json");
    expect(() => loadSpec(dir)).to.throw(InputError, /features\.json: at \/: expected valid JSON/);
  });
});
