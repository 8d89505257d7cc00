// The memo of texts that validated cleanly (spec/validate.ts checkText): a spec loaded with it
// is the spec loaded without it, and a text with a problem is never remembered.
import { expect } from "chai";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec, type Spec } from "../../spec/index.js";
import { PROFILE_ORDER } from "../../spec/profiles.js";
import { InputError } from "../../spec/errors.js";
import { SPEC_DIR } from "../../spec/paths.js";
import { loadValidated, VALIDATED_MEMO_FILE, validatedKey } from "../../spec/validate.js";

/** Everything a spec holds but its look-up functions, and their answers for every profile. */
function specData(s: Spec): unknown {
  const { profiles, areas, clauses, features, structs, groups } = s;
  return { profiles, areas, clauses, features, structs, groups, constants: PROFILE_ORDER.map((p) => [...s.constantsFor(p)]), ioctls: s.ioctlNames().map((n) => s.ioctlRevisions(n)) };
}

function withoutCache<T>(f: () => T): T {
  process.env.PRIVMEM_CTS_NO_CACHE = "1";
  try {
    return f();
  } finally {
    delete process.env.PRIVMEM_CTS_NO_CACHE;
  }
}

describe("validated-texts memo", () => {
  it("a spec built with the memo equals one built with every file validated", () => {
    loadSpec(); // fills the memo
    // another spelling of the spec folder: built again, not the process's loaded spec
    const memoised = loadSpec(SPEC_DIR + "/");
    const fresh = withoutCache(() => loadSpec(SPEC_DIR + "/"));
    expect(specData(memoised)).to.deep.equal(specData(fresh));
  });

  it("remembers a text that validated and never one with a problem", () => {
    const dir = mkdtempSync(join(tmpdir(), "pmc-memo-"));
    try {
      const good = join(dir, "good.json");
      const text = JSON.stringify({ features: [{ name: `memo-test-${process.pid}`, description: "d", probe: "p" }] });
      writeFileSync(good, text);
      loadValidated("features.schema.json", good);
      expect(existsSync(VALIDATED_MEMO_FILE)).to.equal(true);
      expect((JSON.parse(readFileSync(VALIDATED_MEMO_FILE, "utf8")) as { keys: string[] }).keys).to.include(validatedKey("features.schema.json", text));
      // the same text against another schema is validated again, and fails there
      expect(() => loadValidated("profiles.schema.json", good)).to.throw(InputError);

      const bad = join(dir, "bad.json");
      const badText = JSON.stringify({ features: [{ name: 3 }] });
      writeFileSync(bad, badText);
      for (let i = 0; i < 2; i++) expect(() => loadValidated("features.schema.json", bad)).to.throw(InputError);
      expect((JSON.parse(readFileSync(VALIDATED_MEMO_FILE, "utf8")) as { keys: string[] }).keys).not.to.include(validatedKey("features.schema.json", badText));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
