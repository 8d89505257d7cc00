// The model's constants come from spec/constants.json by name: no second table to keep in step.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { resolveConstants } from "../../reference-impl/system/uapi.js";

describe("the model's constants are the spec's", () => {
  const spec = loadSpec();

  it("every constant of a group, by its short name, with the profile's value", () => {
    for (const profile of ["linux-6.8", "linux-6.18", "linux-7.2"] as const) {
      const K = resolveConstants(spec, profile);
      const v = (name: string) => spec.constant(name, profile);
      for (const name of spec.groups.get("fallocate-mode")!) expect(K.falloc[name.replace("FALLOC_FL_", "")], `${profile} ${name}`).to.equal(v(name) === undefined ? (name === "FALLOC_FL_WRITE_ZEROES" ? 0 : undefined) : Number(v(name)));
      for (const name of spec.groups.get("cap")!) expect(K.cap[name.replace("KVM_CAP_", "")], `${profile} ${name}`).to.equal(v(name) === undefined ? undefined : Number(v(name)));
      for (const name of spec.groups.get("vm-type")!) expect(K.vmType[name.replace(/^KVM_X86_(.*)_VM$/, "$1")], `${profile} ${name}`).to.equal(v(name));
      expect(K.f.FD_CLOEXEC).to.equal(Number(v("FD_CLOEXEC")));
      expect(K.o.ACCMODE).to.equal(3);
    }
  });

  it("a name the spec defines only in other profiles reads as undefined; one it never defines throws", () => {
    const K = resolveConstants(spec, "linux-6.8");
    expect(spec.constant("KVM_CAP_PRE_FAULT_MEMORY", "linux-6.8")).to.equal(undefined);
    expect(K.cap.PRE_FAULT_MEMORY).to.equal(undefined);
    expect(K.gmemFlag.MMAP).to.equal(0n);
    expect(() => K.cap.PRE_FAULT_MEMROY).to.throw(/K\.cap\.PRE_FAULT_MEMROY names no constant of group cap/);
    expect(() => K.madv.DONTNEEED).to.throw(/K\.madv\.DONTNEEED/);
  });
});
