// The model copies the mutant worker loads one after another (copy.ts ModelCopies): each copy has
// its own folder, carries its own patch and no earlier one, so no mutant is killed by another's patch.
import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { MODEL_ADAPTER, ModelCopies } from "./copy.js";

const model = (dir: string, file: string) => readFileSync(join(dir, "dist", "reference-impl", file), "utf8");

describe("model copies for mutants (copy.ts ModelCopies)", () => {
  it("each copy is a new folder with its own patch applied and the previous copy's undone", () => {
    const copies = new ModelCopies();
    try {
      const [a, b] = ["vcpu/pre-fault.js", "vcpu/run.js"];
      // the project's files before any copy is made: a patch must never reach them (the copies are hard links)
      const before = new Map([a, b].map((f) => [f, model(PROJECT_ROOT, f)]));
      const project = (file: string) => before.get(file)!;
      const first = copies.next(a, "call.writeStruct({ ...range, gpa, size });", "void 0;");
      expect(model(first, a)).to.equal(project(a).replace("call.writeStruct({ ...range, gpa, size });", "void 0;"));
      expect(model(first, a)).to.not.equal(project(a));
      const second = copies.next(b, "isPrivate ? kernel.K.EXIT_FLAG_PRIVATE : 0n", "0n");
      expect(second).to.not.equal(first);
      expect(existsSync(first), "the previous copy's folder").to.equal(false);
      expect(model(second, a), "the previous patch undone").to.equal(project(a));
      expect(model(second, b)).to.equal(project(b).replace("isPrivate ? kernel.K.EXIT_FLAG_PRIVATE : 0n", "0n"));
      expect([model(PROJECT_ROOT, a), model(PROJECT_ROOT, b)], "the project's files untouched").to.deep.equal([project(a), project(b)]);
      expect(existsSync(join(second, MODEL_ADAPTER))).to.equal(true);
      // a search text that is not there exactly once is refused; the next copy is clean
      expect(() => copies.next(a, "no such text in the model", "x")).to.throw(/must occur exactly once in vcpu\/pre-fault\.js/);
      const fourth = copies.next(a, "call.writeStruct({ ...range, gpa, size });", "call.writeStruct({ ...range, gpa, size });");
      expect([model(fourth, a), model(fourth, b)]).to.deep.equal([project(a), project(b)]);
    } finally {
      copies.close();
    }
  });
});
