// A map from disjoint half-open integer ranges [start, end) to values, kept in a
// treap (a randomised balanced search tree) ordered by start. Every operation
// costs O(log n + k) for n stored ranges and k ranges touched, so a 2^50-page
// range costs the same as a one-page range.
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

class Node<V> implements Interval<V> {
  left: Node<V> | null = null;
  right: Node<V> | null = null;
  count = 1;
  constructor(
    public start: number,
    public end: number,
    public value: V,
    readonly priority: number,
  ) {}
}

function count<V>(n: Node<V> | null): number {
  return n === null ? 0 : n.count;
}

function update<V>(n: Node<V>): Node<V> {
  n.count = 1 + count(n.left) + count(n.right);
  return n;
}

/** Split into (starts < key, starts >= key). */
function split<V>(n: Node<V> | null, key: number): [Node<V> | null, Node<V> | null] {
  if (n === null) return [null, null];
  if (n.start < key) {
    const [l, r] = split(n.right, key);
    n.right = l;
    return [update(n), r];
  }
  const [l, r] = split(n.left, key);
  n.left = r;
  return [l, update(n)];
}

/** Join two trees where every start in a precedes every start in b. */
function merge<V>(a: Node<V> | null, b: Node<V> | null): Node<V> | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.priority > b.priority) {
    a.right = merge(a.right, b);
    return update(a);
  }
  b.left = merge(a, b.left);
  return update(b);
}

function leftmost<V>(n: Node<V> | null): Node<V> | null {
  if (n === null) return null;
  while (n.left !== null) n = n.left;
  return n;
}

function rightmost<V>(n: Node<V> | null): Node<V> | null {
  if (n === null) return null;
  while (n.right !== null) n = n.right;
  return n;
}

function inOrder<V>(n: Node<V> | null, out: Node<V>[]): void {
  const stack: Node<V>[] = [];
  while (n !== null || stack.length > 0) {
    while (n !== null) {
      stack.push(n);
      n = n.left;
    }
    const top = stack.pop()!;
    out.push(top);
    n = top.right;
  }
}

export class IntervalMap<V> {
  private root: Node<V> | null = null;
  // Deterministic priorities keep runs reproducible.
  private seed = 0x2545f491;
  private readonly same: (a: V, b: V) => boolean;
  private readonly slice: (value: V, start: number, end: number, whole: Interval<V>) => V;

  constructor(options: IntervalMapOptions<V> = {}) {
    this.same = options.same ?? (() => false);
    this.slice = options.slice ?? ((v) => v);
  }

  /** Number of stored ranges. */
  get size(): number {
    return count(this.root);
  }

  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed;
  }

  /** The range containing point, if any. */
  get(point: number): Interval<V> | undefined {
    let n = this.root;
    let best: Node<V> | null = null;
    while (n !== null) {
      if (n.start <= point) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best !== null && best.end > point ? best : undefined;
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
    const stack: Node<V>[] = [];
    let n = this.root;
    while (n !== null || stack.length > 0) {
      while (n !== null) {
        // Ends are sorted like starts, so a left subtree ending before start can be skipped.
        stack.push(n);
        n = n.end > start ? n.left : null;
      }
      const top = stack.pop()!;
      if (top.start >= end) break;
      if (top.end > start) out.push(top);
      n = top.right;
    }
    return out;
  }

  /** True if any stored range intersects [start, end). */
  intersects(start: number, end: number): boolean {
    let n = this.root;
    while (n !== null) {
      if (n.end <= start) n = n.right;
      else if (n.start >= end) n = n.left;
      else return true;
    }
    return false;
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
    const out: Node<V>[] = [];
    inOrder(this.root, out);
    return out;
  }

  clear(): void {
    this.root = null;
  }

  private replace(start: number, end: number, insert: { value: V } | undefined): Interval<V>[] {
    if (!(start < end)) throw new RangeError(`empty or inverted range [${start}, ${end})`);
    const removed: Interval<V>[] = [];
    let [left, rest] = split(this.root, start);
    let tail: Node<V> | null = null;

    // A range starting before `start` may reach into [start, end).
    const before = rightmost(left);
    if (before !== null && before.end > start) {
      const whole: Interval<V> = { start: before.start, end: before.end, value: before.value };
      removed.push({ start, end: Math.min(whole.end, end), value: this.slice(whole.value, start, Math.min(whole.end, end), whole) });
      if (whole.end > end) tail = new Node(end, whole.end, this.slice(whole.value, end, whole.end, whole), this.random());
      before.end = start;
      before.value = this.slice(whole.value, whole.start, start, whole);
    }

    const [middle, right0] = split(rest, end);
    let right = right0;
    if (middle !== null) {
      const inside: Node<V>[] = [];
      inOrder(middle, inside);
      for (const n of inside) {
        const whole: Interval<V> = { start: n.start, end: n.end, value: n.value };
        const cut = Math.min(n.end, end);
        removed.push({ start: n.start, end: cut, value: cut === n.end ? n.value : this.slice(n.value, n.start, cut, whole) });
        if (n.end > end) tail = new Node(end, n.end, this.slice(n.value, end, n.end, whole), this.random());
      }
    }
    if (tail !== null) right = merge(tail, right);

    if (insert !== undefined) {
      let target: Node<V> | null = null;
      if (before !== null && before.end === start && this.same(before.value, insert.value)) {
        before.end = end;
        target = before;
      }
      const after = leftmost(right);
      if (after !== null && after.start === end && this.same(insert.value, after.value)) {
        const [first, others] = split(right, end + 1);
        right = others;
        if (target !== null) target.end = first!.end;
        else {
          first!.start = start;
          first!.value = insert.value;
          target = first;
          left = merge(left, first);
        }
      }
      if (target === null) left = merge(left, new Node(start, end, insert.value, this.random()));
    }
    this.root = merge(left, right);
    return removed;
  }

  /** Throws if the tree is not a valid treap of disjoint, ordered, non-empty ranges. */
  checkInvariants(): void {
    const check = (n: Node<V> | null): void => {
      if (n === null) return;
      if (!(n.start < n.end)) throw new Error(`interval map: empty range [${n.start}, ${n.end})`);
      for (const c of [n.left, n.right])
        if (c !== null && c.priority > n.priority) throw new Error("interval map: heap order broken");
      if (n.count !== 1 + count(n.left) + count(n.right)) throw new Error("interval map: stale subtree count");
      check(n.left);
      check(n.right);
    };
    check(this.root);
    const nodes = this.all();
    for (let i = 1; i < nodes.length; i++) {
      const a = nodes[i - 1]!;
      const b = nodes[i]!;
      if (a.end > b.start) throw new Error(`interval map: [${a.start}, ${a.end}) overlaps [${b.start}, ${b.end})`);
      if (a.end === b.start && this.same(a.value, b.value)) throw new Error(`interval map: adjacent equal ranges at ${a.end} not merged`);
    }
  }
}
