// queryIndex looks ids up instead of scanning them; it must answer exactly as compileQuery does.
import { expect } from "chai";
import fc from "fast-check";
import { compileQuery, queryIndex } from "../../harness/case/query.js";

describe("queryIndex", () => {
  const part = fc.constantFrom("gmem", "gmem-x", "gmem0", "a", "a:b", "fallocate", "x=1", "x=1;y=2", "*", "?", "");
  const id = fc.array(part, { minLength: 1, maxLength: 4 }).map((p) => p.join(":"));

  it("matches the same ids, in the same order, as filtering with compileQuery", () => {
    fc.assert(
      fc.property(fc.array(id, { maxLength: 30 }), id, fc.constantFrom("", "=", " "), (ids, q, prefix) => {
        const query = prefix + q;
        const m = compileQuery(query);
        const want = ids.flatMap((x, i) => (m(x) ? [i] : []));
        expect(queryIndex(ids)(query)).to.deep.equal(want);
      }),
      { numRuns: 500 },
    );
  });

  it("finds an id, the ids below it and no id that only starts like it", () => {
    const ids = ["gmem:fallocate:a", "gmem:fallocate", "gmem:fallocate-x", "gmem:fallocate:b", "gmem:fallocated"];
    expect(queryIndex(ids)("gmem:fallocate")).to.deep.equal([0, 1, 3]);
    expect(queryIndex(ids)("=gmem:fallocate")).to.deep.equal([1]);
    expect(queryIndex(ids)("gmem:fallocate*")).to.deep.equal([0, 1, 2, 3, 4]);
  });
});
