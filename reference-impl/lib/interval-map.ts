// A map from disjoint half-open integer ranges [start, end) to values, kept sorted by start
// in chunks: arrays of at most CHUNK_MAX ranges (starts and ends as unboxed doubles, values
// beside them), with an array of each chunk's first start above them. A look-up is two binary
// searches over contiguous memory, a few cache misses even among 10^6 ranges where a tree of
// nodes would miss on every level; an update splices one chunk. Every operation costs
// O(log n + k + CHUNK_MAX) for n stored ranges and k ranges touched, so a 2^50-page range
// costs the same as a one-page range.
//
// Keys are page numbers (gfns, file indices, virtual page numbers): all below
// 2^53, so plain numbers are exact and much faster than bigint.

export interface Interval<V> {
  readonly start: number;
  readonly end: number;
  readonly value: V;
}

export interface IntervalMapOptions<V> {
  /** Adjacent ranges whose values are the same are merged into one. */
  same?: (a: V, b: V) => boolean;
  /** The value of the piece [start, end) cut out of a stored range (default: the same value). */
  slice?: (value: V, start: number, end: number, whole: Interval<V>) => V;
}

/** A chunk splits in two halves when it grows beyond this many ranges. */
const CHUNK_MAX = 128;

class Chunk<V> {
  constructor(
    readonly starts: number[],
    readonly ends: number[],
    readonly values: V[],
  ) {}
}

/** A place in the map: range i of chunk c (i may equal the chunk's length: just after it). */
interface Cursor {
  c: number;
  i: number;
}

type Piece<V> = { start: number; end: number; value: V };

/** First index in a sorted array whose element is >= key (strict: > key). */
function bound(a: number[], key: number, strict: boolean, lo = 0, hi = a.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < key || (strict && a[mid] === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class IntervalMap<V> {
  private chunks: Chunk<V>[] = [];
  /** each chunk's first start */
  private firsts: number[] = [];
  private count = 0;
  private readonly same: (a: V, b: V) => boolean;
  private readonly slice: (value: V, start: number, end: number, whole: Interval<V>) => V;

  constructor(options: IntervalMapOptions<V> = {}) {
    this.same = options.same ?? (() => false);
    this.slice = options.slice ?? ((v) => v);
  }

  /** Number of stored ranges. */
  get size(): number {
    return this.count;
  }

  /** The first range whose start is >= key (strict: > key), possibly just past the last range. */
  private seek(key: number, strict: boolean): Cursor {
    // the last chunk whose first start is below key (at or below, strict) holds the answer, or its end does
    const c = Math.max(0, bound(this.firsts, key, strict) - 1);
    const chunk = this.chunks[c];
    return { c, i: chunk === undefined ? 0 : bound(chunk.starts, key, strict) };
  }

  /** The cursor one range back, or undefined at the first range. */
  private previous(at: Cursor): Cursor | undefined {
    if (at.i > 0) return { c: at.c, i: at.i - 1 };
    for (let c = at.c - 1; c >= 0; c--) if (this.chunks[c]!.starts.length > 0) return { c, i: this.chunks[c]!.starts.length - 1 };
    return undefined;
  }

  /** The cursor itself if it names a range, else the next range's; undefined past the end. */
  private normal(at: Cursor): Cursor | undefined {
    for (let { c, i } = at; c < this.chunks.length; c++, i = 0) if (i < this.chunks[c]!.starts.length) return { c, i };
    return undefined;
  }

  private piece(at: Cursor): Piece<V> {
    const k = this.chunks[at.c]!;
    return { start: k.starts[at.i]!, end: k.ends[at.i]!, value: k.values[at.i]! };
  }

  /** The first range that ends after point (the only one that can hold point or start after it first). */
  private firstEndingAfter(point: number): Cursor {
    const at = this.seek(point, false);
    const before = this.previous(at);
    return before !== undefined && this.chunks[before.c]!.ends[before.i]! > point ? before : at;
  }

  /** The range containing point, if any. */
  get(point: number): Interval<V> | undefined {
    const before = this.previous(this.seek(point, true));
    if (before === undefined) return undefined;
    const k = this.chunks[before.c]!;
    return k.ends[before.i]! > point ? this.piece(before) : undefined;
  }

  /** Store value on [start, end), replacing what was there; returns the replaced pieces, clipped. */
  set(start: number, end: number, value: V): Interval<V>[] {
    return this.replace(start, end, { value });
  }

  /** Remove [start, end); returns the removed pieces, clipped. */
  delete(start: number, end: number): Interval<V>[] {
    return this.replace(start, end, undefined);
  }

  /** Stored ranges that intersect [start, end), in order, unclipped. */
  overlapping(start: number, end: number): Interval<V>[] {
    const out: Interval<V>[] = [];
    if (start >= end) return out;
    for (let at = this.normal(this.firstEndingAfter(start)); at !== undefined; at = this.normal({ c: at.c, i: at.i + 1 })) {
      const p = this.piece(at);
      if (p.start >= end) break;
      out.push(p);
    }
    return out;
  }

  /** True if any stored range intersects [start, end). */
  intersects(start: number, end: number): boolean {
    if (start >= end) return false;
    const at = this.normal(this.firstEndingAfter(start));
    return at !== undefined && this.chunks[at.c]!.starts[at.i]! < end;
  }

  /** The holes of [start, end) not covered by any range, in order. */
  gaps(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    let at = start;
    for (const iv of this.overlapping(start, end)) {
      if (iv.start > at) out.push([at, iv.start]);
      at = Math.max(at, iv.end);
    }
    if (at < end) out.push([at, end]);
    return out;
  }

  /** Every stored range, in order. */
  all(): Interval<V>[] {
    const out: Interval<V>[] = [];
    for (const k of this.chunks) for (let i = 0; i < k.starts.length; i++) out.push({ start: k.starts[i]!, end: k.ends[i]!, value: k.values[i]! });
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.firsts = [];
    this.count = 0;
  }

  /**
   * Replace the `remove` ranges from `from` on with `items` (in order, disjoint, between their
   * neighbours), then keep every chunk non-empty and at most CHUNK_MAX long.
   */
  private splice(from: Cursor, remove: number, items: Piece<V>[]): void {
    this.count += items.length - remove;
    if (this.count === 0) return this.clear();
    if (this.chunks.length === 0) {
      this.chunks.push(new Chunk([], [], []));
      this.firsts.push(0);
    }
    const k = this.chunks[from.c]!;
    const here = Math.min(remove, k.starts.length - from.i);
    k.starts.splice(from.i, here, ...items.map((p) => p.start));
    k.ends.splice(from.i, here, ...items.map((p) => p.end));
    k.values.splice(from.i, here, ...items.map((p) => p.value));
    // ranges removed past the first chunk come out of the chunks after it
    let last = from.c;
    for (let rest = remove - here; rest > 0; ) {
      const next = this.chunks[++last]!;
      const n = Math.min(rest, next.starts.length);
      next.starts.splice(0, n);
      next.ends.splice(0, n);
      next.values.splice(0, n);
      rest -= n;
    }
    // back to front, so that removing or halving a chunk leaves the indices still to visit alone
    for (let c = last; c >= from.c; c--) {
      const chunk = this.chunks[c]!;
      if (chunk.starts.length === 0) {
        this.chunks.splice(c, 1);
        this.firsts.splice(c, 1);
        continue;
      }
      if (chunk.starts.length > CHUNK_MAX) {
        const half = chunk.starts.length >>> 1;
        const upper = new Chunk(chunk.starts.splice(half), chunk.ends.splice(half), chunk.values.splice(half));
        this.chunks.splice(c + 1, 0, upper);
        this.firsts.splice(c + 1, 0, upper.starts[0]!);
      }
      this.firsts[c] = chunk.starts[0]!;
    }
  }

  private replace(start: number, end: number, insert: { value: V } | undefined): Interval<V>[] {
    if (!(start < end)) throw new RangeError(`empty or inverted range [${start}, ${end})`);
    const removed: Interval<V>[] = [];
    // The ranges that intersect [start, end), from `first` on, and the range after them.
    const first = this.firstEndingAfter(start);
    const run: Piece<V>[] = [];
    let at = this.normal(first);
    for (; at !== undefined; at = this.normal({ c: at.c, i: at.i + 1 })) {
      const p = this.piece(at);
      if (p.start >= end) break;
      run.push(p);
    }
    const next = at === undefined ? undefined : this.piece(at);

    // `before`: the range before start as it will be (the neighbour, or what a range reaching into [start, end) keeps)
    let before: Piece<V> | undefined;
    let from = first;
    let withNeighbour = false;
    let tail: Piece<V> | undefined;
    let inside = run;
    if (run.length > 0 && run[0]!.start < start) {
      const whole = run[0]!;
      removed.push({ start, end: Math.min(whole.end, end), value: this.slice(whole.value, start, Math.min(whole.end, end), whole) });
      if (whole.end > end) tail = { start: end, end: whole.end, value: this.slice(whole.value, end, whole.end, whole) };
      before = { start: whole.start, end: start, value: this.slice(whole.value, whole.start, start, whole) };
      inside = run.slice(1);
    } else {
      const prev = this.previous(first);
      if (prev !== undefined) {
        before = this.piece(prev);
        from = prev;
        withNeighbour = true;
      }
    }
    for (const n of inside) {
      const cut = Math.min(n.end, end);
      removed.push({ start: n.start, end: cut, value: cut === n.end ? n.value : this.slice(n.value, n.start, cut, n) });
      if (n.end > end) tail = { start: end, end: n.end, value: this.slice(n.value, end, n.end, n) };
    }

    // A new range merges with an equal neighbour on either side.
    let made: Piece<V> | undefined;
    let keepNext = next !== undefined;
    if (insert !== undefined) {
      let target: Piece<V> | undefined;
      if (before !== undefined && before.end === start && this.same(before.value, insert.value)) {
        before.end = end;
        target = before;
      }
      const after = tail ?? next;
      if (after !== undefined && after.start === end && this.same(insert.value, after.value)) {
        if (target !== undefined) {
          target.end = after.end;
          if (after === tail) tail = undefined;
          else keepNext = false;
        } else {
          after.start = start;
          after.value = insert.value;
          target = after;
        }
      }
      if (target === undefined) made = { start, end, value: insert.value };
    }
    const items: Piece<V>[] = [];
    for (const p of [before, made, tail, keepNext ? next : undefined]) if (p !== undefined) items.push(p);
    this.splice(from, (withNeighbour ? 1 : 0) + run.length + (next !== undefined ? 1 : 0), items);
    return removed;
  }

  /** Throws if the chunks are not ordered, disjoint, non-empty ranges with their first starts kept. */
  checkInvariants(): void {
    let n = 0;
    let prev: Piece<V> | undefined;
    this.chunks.forEach((k, c) => {
      if (k.starts.length === 0 || k.starts.length > CHUNK_MAX) throw new Error(`interval map: chunk ${c} holds ${k.starts.length} ranges`);
      if (k.ends.length !== k.starts.length || k.values.length !== k.starts.length) throw new Error(`interval map: chunk ${c}'s arrays differ in length`);
      if (this.firsts[c] !== k.starts[0]) throw new Error(`interval map: chunk ${c}'s first start is stale`);
      for (let i = 0; i < k.starts.length; i++) {
        const p = this.piece({ c, i });
        if (!(p.start < p.end)) throw new Error(`interval map: empty range [${p.start}, ${p.end})`);
        if (prev !== undefined && prev.end > p.start) throw new Error(`interval map: [${prev.start}, ${prev.end}) overlaps [${p.start}, ${p.end})`);
        if (prev !== undefined && prev.end === p.start && this.same(prev.value, p.value)) throw new Error(`interval map: adjacent equal ranges at ${p.start} not merged`);
        prev = p;
        n++;
      }
    });
    if (this.firsts.length !== this.chunks.length || n !== this.count) throw new Error(`interval map: ${n} ranges stored but ${this.count} counted`);
  }
}
