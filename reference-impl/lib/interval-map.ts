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

/** Replace n ranges of a chunk from index at on with items, moving the rest in place. */
function spliceChunk<V>(k: Chunk<V>, at: number, n: number, items: Piece<V>[]): void {
  const { starts, ends, values } = k;
  const len = starts.length;
  const d = items.length - n;
  if (d > 0) {
    for (let j = 0; j < d; j++) {
      starts.push(0);
      ends.push(0);
      values.push(items[0]!.value);
    }
    for (let j = len - 1; j >= at + n; j--) {
      starts[j + d] = starts[j]!;
      ends[j + d] = ends[j]!;
      values[j + d] = values[j]!;
    }
  } else if (d < 0) {
    for (let j = at + n; j < len; j++) {
      starts[j + d] = starts[j]!;
      ends[j + d] = ends[j]!;
      values[j + d] = values[j]!;
    }
    starts.length = ends.length = values.length = len + d;
  }
  for (let j = 0; j < items.length; j++) {
    starts[at + j] = items[j]!.start;
    ends[at + j] = items[j]!.end;
    values[at + j] = items[j]!.value;
  }
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

  // The cursor: range `at` of chunk `chunk` (at may equal the chunk's length: just after it).
  // Kept here, not in an object per step: the model looks ranges up on nearly every operation.
  private chunk = 0;
  private at = 0;

  /** Put the cursor on the first range whose start is >= key (strict: > key), possibly just past the last range. */
  private seek(key: number, strict: boolean): void {
    // the last chunk whose first start is below key (at or below, strict) holds the answer, or its end does
    const c = Math.max(0, bound(this.firsts, key, strict) - 1);
    const k = this.chunks[c];
    this.chunk = c;
    this.at = k === undefined ? 0 : bound(k.starts, key, strict);
  }

  /** Move the cursor one range back; false (cursor unmoved) at the first range. */
  private back(): boolean {
    if (this.at > 0) {
      this.at--;
      return true;
    }
    for (let c = this.chunk - 1; c >= 0; c--) {
      const n = this.chunks[c]!.starts.length;
      if (n > 0) {
        this.chunk = c;
        this.at = n - 1;
        return true;
      }
    }
    return false;
  }

  /** Move the cursor onto a range (the one it names, else the next); false past the end. */
  private settle(): boolean {
    for (; this.chunk < this.chunks.length; this.chunk++, this.at = 0) if (this.at < this.chunks[this.chunk]!.starts.length) return true;
    return false;
  }

  private piece(): Piece<V> {
    const k = this.chunks[this.chunk]!;
    return { start: k.starts[this.at]!, end: k.ends[this.at]!, value: k.values[this.at]! };
  }

  /** Put the cursor on the first range that ends after point (the only one that can hold point, or the first after it). */
  private firstEndingAfter(point: number): void {
    this.seek(point, false);
    const c = this.chunk;
    const i = this.at;
    if (this.back() && this.chunks[this.chunk]!.ends[this.at]! > point) return;
    this.chunk = c;
    this.at = i;
  }

  /** The range containing point, if any. */
  get(point: number): Interval<V> | undefined {
    this.seek(point, true);
    if (!this.back()) return undefined;
    return this.chunks[this.chunk]!.ends[this.at]! > point ? this.piece() : undefined;
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
    for (this.firstEndingAfter(start); this.settle() && this.chunks[this.chunk]!.starts[this.at]! < end; this.at++) out.push(this.piece());
    return out;
  }

  /** True if any stored range intersects [start, end). */
  intersects(start: number, end: number): boolean {
    if (start >= end) return false;
    this.firstEndingAfter(start);
    return this.settle() && this.chunks[this.chunk]!.starts[this.at]! < end;
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
   * Replace the `remove` ranges from range `at` of chunk `c` on with `items` (in order,
   * disjoint, between their neighbours), then keep every chunk non-empty and at most CHUNK_MAX long.
   */
  private splice(c: number, at: number, remove: number, items: Piece<V>[]): void {
    this.count += items.length - remove;
    if (this.count === 0) return this.clear();
    if (this.chunks.length === 0) {
      this.chunks.push(new Chunk([], [], []));
      this.firsts.push(0);
    }
    const here = Math.min(remove, this.chunks[c]!.starts.length - at);
    spliceChunk(this.chunks[c]!, at, here, items);
    // ranges removed past the first chunk come out of the chunks after it
    let last = c;
    for (let rest = remove - here; rest > 0; ) {
      const next = this.chunks[++last]!;
      const n = Math.min(rest, next.starts.length);
      spliceChunk(next, 0, n, []);
      rest -= n;
    }
    // back to front, so that removing or halving a chunk leaves the indices still to visit alone
    for (let i = last; i >= c; i--) {
      const chunk = this.chunks[i]!;
      if (chunk.starts.length === 0) {
        this.chunks.splice(i, 1);
        this.firsts.splice(i, 1);
        continue;
      }
      if (chunk.starts.length > CHUNK_MAX) {
        const half = chunk.starts.length >>> 1;
        const upper = new Chunk(chunk.starts.splice(half), chunk.ends.splice(half), chunk.values.splice(half));
        this.chunks.splice(i + 1, 0, upper);
        this.firsts.splice(i + 1, 0, upper.starts[0]!);
      }
      this.firsts[i] = chunk.starts[0]!;
    }
  }

  private replace(start: number, end: number, insert: { value: V } | undefined): Interval<V>[] {
    if (!(start < end)) throw new RangeError(`empty or inverted range [${start}, ${end})`);
    const removed: Interval<V>[] = [];
    // The ranges that intersect [start, end), from the first one's place on, and the range after them.
    this.firstEndingAfter(start);
    let fromChunk = this.chunk;
    let fromAt = this.at;
    const run: Piece<V>[] = [];
    let next: Piece<V> | undefined;
    for (; this.settle(); this.at++) {
      const p = this.piece();
      if (p.start >= end) {
        next = p;
        break;
      }
      run.push(p);
    }

    // `before`: the range before start as it will be (the neighbour, or what a range reaching into [start, end) keeps)
    let before: Piece<V> | undefined;
    let withNeighbour = false;
    let tail: Piece<V> | undefined;
    let first = 0;
    if (run.length > 0 && run[0]!.start < start) {
      const whole = run[0]!;
      removed.push({ start, end: Math.min(whole.end, end), value: this.slice(whole.value, start, Math.min(whole.end, end), whole) });
      if (whole.end > end) tail = { start: end, end: whole.end, value: this.slice(whole.value, end, whole.end, whole) };
      before = { start: whole.start, end: start, value: this.slice(whole.value, whole.start, start, whole) };
      first = 1;
    } else {
      this.chunk = fromChunk;
      this.at = fromAt;
      if (this.back()) {
        before = this.piece();
        fromChunk = this.chunk;
        fromAt = this.at;
        withNeighbour = true;
      }
    }
    for (let j = first; j < run.length; j++) {
      const n = run[j]!;
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
    if (before !== undefined) items.push(before);
    if (made !== undefined) items.push(made);
    if (tail !== undefined) items.push(tail);
    if (keepNext) items.push(next!);
    this.splice(fromChunk, fromAt, (withNeighbour ? 1 : 0) + run.length + (next !== undefined ? 1 : 0), items);
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
        const p = { start: k.starts[i]!, end: k.ends[i]!, value: k.values[i]! };
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
