import { expect } from "chai";
import { IntervalMap } from "../../reference-impl/lib/interval-map.js";

/** The obvious model: one entry per page. */
class PageArray {
  readonly pages = new Map<number, string>();
  set(s: number, e: number, v: string): void {
    for (let i = s; i < e; i++) this.pages.set(i, v);
  }
  delete(s: number, e: number): void {
    for (let i = s; i < e; i++) this.pages.delete(i);
  }
}

function expand(m: IntervalMap<string>, limit: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const iv of m.all()) for (let i = iv.start; i < Math.min(iv.end, limit); i++) out.set(i, iv.value);
  return out;
}

function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

describe("reference-impl lib: interval map", () => {
  it("stores, splits, merges equal neighbours and reports what it replaced", () => {
    const m = new IntervalMap<string>({ same: (a, b) => a === b });
    m.set(0, 100, "a");
    expect(m.size).to.equal(1);
    const removed = m.set(40, 60, "b");
    expect(removed).to.deep.equal([{ start: 40, end: 60, value: "a" }]);
    expect(m.all().map((i) => [i.start, i.end, i.value])).to.deep.equal([
      [0, 40, "a"],
      [40, 60, "b"],
      [60, 100, "a"],
    ]);
    m.set(40, 60, "a");
    expect(m.size).to.equal(1);
    expect(m.get(99)?.value).to.equal("a");
    expect(m.get(100)).to.equal(undefined);
    expect(m.delete(10, 20).map((i) => [i.start, i.end])).to.deep.equal([[10, 20]]);
    expect(m.gaps(0, 120)).to.deep.equal([
      [10, 20],
      [100, 120],
    ]);
    expect(m.intersects(10, 20)).to.equal(false);
    expect(m.intersects(19, 21)).to.equal(true);
    expect(m.overlapping(15, 25).map((i) => i.start)).to.deep.equal([20]);
    m.checkInvariants();
  });

  it("hands cut pieces to the slice function", () => {
    const m = new IntervalMap<{ base: number }>({ slice: (v, start, _end, whole) => ({ base: v.base + (start - whole.start) }) });
    m.set(10, 20, { base: 1000 });
    m.delete(12, 14);
    expect(m.all().map((i) => [i.start, i.value.base])).to.deep.equal([
      [10, 1000],
      [14, 1004],
    ]);
  });

  it("refuses empty ranges and handles ranges near 2^52", () => {
    const m = new IntervalMap<number>();
    expect(() => m.set(5, 5, 1)).to.throw(RangeError);
    m.set(2 ** 52 - 10, 2 ** 52, 7);
    expect(m.get(2 ** 52 - 1)?.value).to.equal(7);
  });

  it("agrees with a per-page model under random operations", () => {
    const next = rng(7);
    const m = new IntervalMap<string>({ same: (a, b) => a === b });
    const naive = new PageArray();
    const limit = 300;
    for (let step = 0; step < 3000; step++) {
      const s = Math.floor(next() * limit);
      const e = s + 1 + Math.floor(next() * 40);
      const v = "abc"[Math.floor(next() * 3)]!;
      if (next() < 0.3) {
        const removed = m.delete(s, e);
        const expected = [...naive.pages.keys()].filter((i) => i >= s && i < e).length;
        expect(removed.reduce((n, r) => n + r.end - r.start, 0)).to.equal(expected);
        naive.delete(s, e);
      } else {
        m.set(s, e, v);
        naive.set(s, e, v);
      }
      if (step % 100 === 0) m.checkInvariants();
      const probe = Math.floor(next() * (limit + 40));
      expect(m.get(probe)?.value).to.equal(naive.pages.get(probe));
    }
    m.checkInvariants();
    expect(expand(m, limit + 50)).to.deep.equal(naive.pages);
  });

  it("stays a balanced tree on 10^5 scattered ranges, so operations are logarithmic", () => {
    const m = new IntervalMap<number>();
    for (let i = 0; i < 100_000; i++) m.set(i * 1000, i * 1000 + 1, i);
    // The treap's priorities are seeded, so its shape (and this height) is deterministic.
    type N = { left: N | null; right: N | null } | null;
    const height = (n: N): number => (n === null ? 0 : 1 + Math.max(height(n.left), height(n.right)));
    expect(height(m["root"] as unknown as N)).to.be.at.most(4 * Math.ceil(Math.log2(100_000)));
    m.checkInvariants();
  });
});
