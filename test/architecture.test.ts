// The folders depend one way: reference-impl/ never reaches into harness/ (the driver
// contract it implements lives in spec/driver/), so the model can be read, reused and
// mutated on its own.
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { PROJECT_ROOT } from "../spec/paths.js";

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

describe("architecture", () => {
  for (const [folder, forbidden] of [["reference-impl", "harness"], ["spec", "harness"], ["spec", "reference-impl"]] as const) {
    it(`${folder}/ imports nothing from ${forbidden}/`, () => {
      const offenders = tsFiles(join(PROJECT_ROOT, folder)).filter((f) =>
        [...readFileSync(f, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].some((m) => m[1]!.startsWith(".") && relative(PROJECT_ROOT, join(f, "..", m[1]!)).startsWith(forbidden + "/")),
      );
      expect(offenders.map((f) => relative(PROJECT_ROOT, f))).to.deep.equal([]);
    });
  }
});
