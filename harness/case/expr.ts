// Expressions in case steps: integers over constants, parameters and bindings,
// with C operators and precedence, evaluated as unbounded bigints (the codec
// wraps to the field width when it encodes). Examples:
//   "PAGE_SIZE-1"   "1<<63"   "GUEST_MEMFD_FLAG_MMAP|GUEST_MEMFD_FLAG_INIT_SHARED"
//   "$map + 2*PAGE_SIZE"   "$pf.size"   "($types >> vm_type) & 1"
export type Node =
  | { k: "num"; v: bigint }
  | { k: "name"; name: string }
  | { k: "ref"; path: string[] }
  | { k: "un"; op: string; a: Node }
  | { k: "bin"; op: string; a: Node; b: Node };

export class ExprError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExprError";
  }
}

const BINARY: string[][] = [["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<", "<=", ">", ">="], ["<<", ">>"], ["+", "-"], ["*", "/", "%"]];
const TOKEN = /\s*(0x[0-9a-fA-F]+|0b[01]+|0o[0-7]+|\d+|\$[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*|[A-Za-z_][A-Za-z0-9_]*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!()<>])/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) throw new ExprError(`unexpected "${src.slice(pos).trim()[0]}" at ${pos} in "${src}"`);
    out.push(m[1]!);
    pos = TOKEN.lastIndex;
  }
  return out;
}

/** Bounds: an expression's length and nesting, and the size of any value it computes. */
export const MAX_EXPR_CHARS = 4096;
export const MAX_EXPR_DEPTH = 64;
/** Values are kept within 4096 bits: enough for any uAPI field (the widest is 64), far from a runaway `1<<100000000`. */
export const MAX_VALUE_BITS = 4096;

const cache = new Map<string, Node>();

function bits(v: bigint): number {
  return (v < 0n ? -v : v).toString(16).length * 4;
}

const TWO_64 = 1n << 64n;
const MINUS_TWO_64 = -TWO_64;
const TWO_32 = 1n << 32n;
const MINUS_TWO_32 = -TWO_32;

function bounded(v: bigint, src: string): bigint {
  if (v >= MINUS_TWO_64 && v < TWO_64) return v;
  if (bits(v) > MAX_VALUE_BITS) throw new ExprError(`a value wider than ${MAX_VALUE_BITS} bits in "${src.slice(0, 200)}"`);
  return v;
}

export function parse(src: string): Node {
  const hit = cache.get(src);
  if (hit) return hit;
  if (src.length > MAX_EXPR_CHARS) throw new ExprError(`an expression of at most ${MAX_EXPR_CHARS} characters (this one has ${src.length})`);
  const toks = tokenize(src);
  let depth = 0;
  let i = 0;
  const peek = () => toks[i];
  const level = (n: number): Node => {
    if (n === BINARY.length) return unary();
    if (n === 0 && ++depth > MAX_EXPR_DEPTH) throw new ExprError(`an expression nested at most ${MAX_EXPR_DEPTH} levels deep in "${src.slice(0, 200)}"`);
    let a = level(n + 1);
    while (peek() !== undefined && BINARY[n]!.includes(peek()!)) {
      const op = toks[i++]!;
      a = { k: "bin", op, a, b: level(n + 1) };
    }
    return a;
  };
  const unary = (): Node => {
    const t = peek();
    if (t === "-" || t === "~" || t === "!") {
      i++;
      if (++depth > MAX_EXPR_DEPTH) throw new ExprError(`an expression nested at most ${MAX_EXPR_DEPTH} levels deep in "${src.slice(0, 200)}"`);
      const a = unary();
      depth--;
      return { k: "un", op: t, a };
    }
    return primary();
  };
  const primary = (): Node => {
    const t = toks[i++];
    if (t === undefined) throw new ExprError(`"${src}" ends too early`);
    if (t === "(") {
      const e = level(0);
      depth--;
      if (toks[i++] !== ")") throw new ExprError(`missing ")" in "${src}"`);
      return e;
    }
    if (/^0\d/.test(t)) throw new ExprError(`"${t}" in "${src}": a leading 0 is not octal here; write 0o${t.slice(1)} or ${t.replace(/^0+/, "")}`);
    if (/^(0x|0b|0o|\d)/.test(t)) return { k: "num", v: BigInt(t) };
    if (t.startsWith("$")) return { k: "ref", path: t.slice(1).split(".") };
    if (/^[A-Za-z_]/.test(t)) return { k: "name", name: t };
    throw new ExprError(`unexpected "${t}" in "${src}"`);
  };
  const node = level(0);
  if (i !== toks.length) throw new ExprError(`unexpected "${toks[i]}" in "${src}"`);
  cache.set(src, node);
  return node;
}

export interface Scope {
  /** parameters (lower-case names) and constants (upper-case names) */
  name(n: string): bigint | undefined;
  /** $binding or $binding.field... */
  ref(path: string[]): bigint | undefined;
}

const b = (x: boolean): bigint => (x ? 1n : 0n);

export function evaluate(node: Node, scope: Scope, src = ""): bigint {
  switch (node.k) {
    case "num": return node.v;
    case "name": {
      const v = scope.name(node.name);
      if (v === undefined) throw new ExprError(`unknown name ${node.name}${src ? ` in "${src}"` : ""}`);
      return v;
    }
    case "ref": {
      const v = scope.ref(node.path);
      if (v === undefined) throw new ExprError(`$${node.path.join(".")} is not bound to an integer${src ? ` in "${src}"` : ""}`);
      return v;
    }
    case "un": {
      const a = evaluate(node.a, scope, src);
      return node.op === "-" ? -a : node.op === "~" ? ~a : b(a === 0n);
    }
    case "bin": {
      if (node.op === "&&") return b(evaluate(node.a, scope, src) !== 0n && evaluate(node.b, scope, src) !== 0n);
      if (node.op === "||") return b(evaluate(node.a, scope, src) !== 0n || evaluate(node.b, scope, src) !== 0n);
      const x = evaluate(node.a, scope, src);
      const y = evaluate(node.b, scope, src);
      switch (node.op) {
        case "|": return x | y;
        case "^": return x ^ y;
        case "&": return x & y;
        case "==": return b(x === y);
        case "!=": return b(x !== y);
        case "<": return b(x < y);
        case "<=": return b(x <= y);
        case ">": return b(x > y);
        case ">=": return b(x >= y);
        case "<<":
          if (y > BigInt(MAX_VALUE_BITS) || (x !== 0n && bits(x) + Number(y) > MAX_VALUE_BITS + 4)) throw new ExprError(`a shift past ${MAX_VALUE_BITS} bits in "${src.slice(0, 200)}"`);
          return x << y;
        case ">>":
          if (y < 0n && (-y > BigInt(MAX_VALUE_BITS) || bits(x) - Number(y) > MAX_VALUE_BITS + 4)) throw new ExprError(`a shift past ${MAX_VALUE_BITS} bits in "${src.slice(0, 200)}"`);
          return x >> y;
        case "+": return bounded(x + y, src);
        case "-": return bounded(x - y, src);
        case "*":
          // two factors within 32 bits cannot make a wide product: their widths are not worked out
          if (!(x < TWO_32 && x > MINUS_TWO_32 && y < TWO_32 && y > MINUS_TWO_32) && bits(x) + bits(y) > MAX_VALUE_BITS + 8) throw new ExprError(`a value wider than ${MAX_VALUE_BITS} bits in "${src.slice(0, 200)}"`);
          return x * y;
        case "/":
        case "%":
          if (y === 0n) throw new ExprError(`division by zero in "${src}"`);
          return node.op === "/" ? x / y : x % y;
      }
    }
  }
  throw new ExprError(`bad expression "${src}"`);
}

/** Names and refs an expression uses, for load-time checks. */
export function references(node: Node, names: Set<string> = new Set(), refs: Set<string> = new Set()): { names: Set<string>; refs: Set<string> } {
  if (node.k === "name") names.add(node.name);
  else if (node.k === "ref") refs.add(node.path[0]!);
  else if (node.k === "un") references(node.a, names, refs);
  else if (node.k === "bin") {
    references(node.a, names, refs);
    references(node.b, names, refs);
  }
  return { names, refs };
}

export function evalValue(v: number | string | boolean, scope: Scope): bigint {
  if (typeof v === "number") return BigInt(v);
  if (typeof v === "boolean") return v ? 1n : 0n;
  return evaluate(parse(v), scope, v);
}
