// Parameterised fixtures, as kselftest's FIXTURE_VARIANT and kvm_util's vm_create(type):
// a case names a fixture with arguments, `"fixture": "vm_of(type=KVM_X86_SW_PROTECTED_VM)"`.
// A fixture's parameters are the lower-case names its steps use; each argument replaces its
// name in every expression of the fixture's steps. A name no argument gives is the case's
// own parameter of that name (so `"fixture": "vm_of"` in a case with a `type` parameter
// creates a VM of each type), and the loader refuses one that is neither.
export interface FixtureCall {
  name: string;
  args: Map<string, string>;
}

const CALL = /^([a-z][a-z0-9_-]*)(?:\((.*)\))?$/s;

/** Split at top-level commas (expressions may hold parentheses). */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim()).filter((s) => s !== "");
}

/** `name` or `name(k=expr, k=expr)`; a string describing what is wrong otherwise. */
export function parseFixtureCall(ref: string): FixtureCall | string {
  const m = CALL.exec(ref.trim());
  if (!m) return `a fixture name, or a call name(param=expression, ...) (not ${JSON.stringify(ref)})`;
  const args = new Map<string, string>();
  for (const part of m[2] === undefined ? [] : splitArgs(m[2])) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? "" : part.slice(0, eq).trim();
    const value = eq < 0 ? "" : part.slice(eq + 1).trim();
    if (!/^[a-z_][a-z0-9_]*$/.test(key) || value === "") return `arguments of the form param=expression (not ${JSON.stringify(part)} in ${JSON.stringify(ref)})`;
    if (args.has(key)) return `each argument once (${key} is given twice in ${JSON.stringify(ref)})`;
    args.set(key, value);
  }
  return { name: m[1]!, args };
}

/** Step keys whose strings are never expressions. */
const NOT_EXPRESSIONS = new Set(["op", "as", "note", "path", "name", "request"]);

function substitute(text: string, args: Map<string, string>): string {
  return text.replace(/(?<![A-Za-z0-9_$.])([a-z_][a-z0-9_]*)(?![A-Za-z0-9_])/g, (m, name: string) => {
    const value = args.get(name);
    if (value === undefined) return m;
    return /^[A-Za-z0-9_$.]+$/.test(value) ? value : `(${value})`;
  });
}

function substituteValue(v: unknown, args: Map<string, string>): unknown {
  if (typeof v === "string") return substitute(v, args);
  if (Array.isArray(v)) return v.map((x) => substituteValue(x, args));
  if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substituteValue(x, args)]));
  return v;
}

/** A fixture step with the call's arguments in place of their names. */
export function applyArguments(step: Record<string, unknown>, args: Map<string, string>): Record<string, unknown> {
  if (args.size === 0) return step;
  return Object.fromEntries(Object.entries(step).map(([k, v]) => [k, NOT_EXPRESSIONS.has(k) ? v : substituteValue(v, args)]));
}
