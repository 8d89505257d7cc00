// Case ids are queries. An id is `<suite>:<name>` and, for a parameterised case,
// `:<k>=<v>;<k>=<v>` with its parameter labels in declaration order, e.g.
// `gmem:fallocate:unaligned_offset:mode=punch;offset=1`: `<suite>` is the suite file's
// place under suites/ (its folders and its name before any dot: suites/gmem/fallocate.json
// is `gmem:fallocate`; harness/case/load.ts suiteIdFor), and `<name>` the case's "name". The same matcher selects cases (--filter), keys
// expectations and keys results. Grammar of a query:
//   id        that id and every id below it (`gmem:fallocate` selects the whole suite)
//   =id       exactly that id (ids may contain `*`, as in size=2*PAGE_SIZE)
//   pattern   `*` matches any run of characters and `?` one character
//   q1,q2     (compileFilters) any of several queries
export function compileQuery(query: string): (id: string) => boolean {
  const q = query.trim();
  if (q.startsWith("=")) {
    const exact = q.slice(1);
    return (id) => id === exact;
  }
  if (q === "" || q === "*") return () => true;
  if (!/[*?]/.test(q)) return (id) => id === q || id.startsWith(q + ":");
  const re = new RegExp("^" + q.split("").map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&"))).join("") + "$");
  return (id) => re.test(id);
}

/** Several queries separated by commas or given separately: a case is selected if any matches. */
export function compileFilters(filters: string[]): (id: string) => boolean {
  const parts = filters.flatMap((f) => f.split(",")).map((f) => f.trim()).filter((f) => f !== "");
  if (parts.length === 0) return () => true;
  const ms = parts.map(compileQuery);
  return (id) => ms.some((m) => m(id));
}

/** Characters a parameter label may not hold: the id's own separators, and what KTAP and --filter lists would split on. */
export const LABEL_FORBIDDEN = /[;,:#=\s]/;

export function caseId(suite: string, name: string, labels: [string, string][]): string {
  const base = `${suite}:${name}`;
  return labels.length === 0 ? base : `${base}:${labels.map(([k, v]) => `${k}=${v}`).join(";")}`;
}

/**
 * The positions of the ids a query matches, in order, looked up instead of scanned for the
 * queries that need no pattern (an exact `=id`, or an id and the ids below it); a pattern is
 * matched with compileQuery against the ids that start with its text before the first wildcard.
 * Same answers as filtering with compileQuery.
 */
export function queryIndex(ids: readonly string[]): (query: string) => number[] {
  const sorted = ids.map((id, i) => ({ id, i })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.i - b.i));
  /** the first place in `sorted` whose id is >= key */
  const lowerBound = (key: string) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.id < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const run = (key: string, keep: (id: string) => boolean, out: number[]) => {
    for (let k = lowerBound(key); k < sorted.length && keep(sorted[k]!.id); k++) out.push(sorted[k]!.i);
  };
  return (query) => {
    const q = query.trim();
    const found: number[] = [];
    if (q.startsWith("=")) run(q.slice(1), (id) => id === q.slice(1), found);
    else if (q === "" || q === "*" || /[*?]/.test(q)) {
      // A pattern matches only ids that start with its text before the first wildcard.
      const m = compileQuery(q);
      const literal = q.slice(0, q.search(/[*?]|$/));
      run(literal, (id) => id.startsWith(literal), found);
      return found.filter((i) => m(ids[i]!)).sort((a, b) => a - b);
    } else {
      run(q, (id) => id === q, found);
      run(q + ":", (id) => id.startsWith(q + ":"), found);
    }
    return found.sort((a, b) => a - b);
  };
}
