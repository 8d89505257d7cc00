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

  it("reports removed pieces clipped, sliced only where a stored range was cut, under random operations", () => {
    const next = rng(11);
    type V = { id: number; from: number };
    // a value names the page its range starts at: a cut piece's value moves with its start
    const m = new IntervalMap<V>({ same: (a, b) => a.id === b.id && a.from === b.from, slice: (v, start, _end, whole) => ({ id: v.id, from: v.from + (start - whole.start) }) });
    for (let step = 0; step < 3000; step++) {
      const s = Math.floor(next() * 500);
      const e = s + 1 + Math.floor(next() * 60);
      const expected = m.overlapping(s, e).map((iv) => {
        const start = Math.max(iv.start, s);
        const end = Math.min(iv.end, e);
        return { start, end, value: start === iv.start && end === iv.end ? iv.value : { id: iv.value.id, from: iv.value.from + (start - iv.start) } };
      });
      const removed = next() < 0.4 ? m.delete(s, e) : m.set(s, e, { id: step % 4, from: s });
      expect(removed).to.deep.equal(expected);
      if (step % 50 === 0) m.checkInvariants();
    }
    m.checkInvariants();
  });

  it("keeps 10^5 scattered ranges in bounded chunks, in order, with an exact count", () => {
    const m = new IntervalMap<number>();
    for (let i = 0; i < 100_000; i++) m.set(((i * 7919) % 100_000) * 1000, ((i * 7919) % 100_000) * 1000 + 1, i);
    expect(m.size).to.equal(100_000);
    m.checkInvariants();
    for (let i = 0; i < 100_000; i += 2) m.delete(i * 1000, i * 1000 + 1);
    expect(m.size).to.equal(50_000);
    expect(m.get(1000)?.start).to.equal(1000);
    expect(m.get(2000)).to.equal(undefined);
    m.checkInvariants();
    m.delete(0, 2 ** 52);
    expect(m.size).to.equal(0);
    m.checkInvariants();
  });
});
