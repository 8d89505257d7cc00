// Parameter generators for JSON suites: a value list of a case's params (or one item of
// it) may be a generator object, expanded by the loader into the values it stands for
// before the suite is validated, so ids and runs are those of the written-out list.
//
//   {"bits": {"of": "~KVM_MEMORY_ATTRIBUTE_PRIVATE", "width": 64}}  -> "1<<0", "1<<1", "1<<2", "1<<4", ... "1<<63"
//       each set bit of `of` below `width` (default 64), lowest first: "each flag bit alone"
//   {"around": "PAGE_SIZE"}                                          -> "PAGE_SIZE-1", "PAGE_SIZE", "PAGE_SIZE+1"
//       a boundary and its neighbours
//
// `of` is an expression over constants (spec/constants.json); it must mean the same in every
// profile that defines its names, so that a case's ids never depend on the profile.
import type { Spec } from "../../spec/index.js";
import { type InputProblem, pointer } from "../../spec/errors.js";
import { PROFILE_ORDER } from "../../spec/profiles.js";
import { evaluate, ExprError, parse, references } from "./expr.js";

type Generator = { bits: { of: string | number; width?: number } } | { around: string | number };

function isGenerator(v: unknown): v is Generator {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === "bits" || keys[0] === "around");
}

/** The value of a constant expression, the same in every profile that defines its names. */
function constantValue(spec: Spec, src: string): bigint {
  const node = parse(src);
  const { names, refs } = references(node);
  if (refs.size > 0) throw new ExprError(`no $bindings in a generator ("${src}")`);
  let value: bigint | undefined;
  for (const profile of PROFILE_ORDER) {
    const constants = spec.constantsFor(profile);
    if ([...names].some((n) => !constants.has(n))) continue;
    const v = evaluate(node, { name: (n) => constants.get(n), ref: () => undefined }, src);
    if (value !== undefined && v !== value) throw new ExprError(`"${src}" differs between profiles (${value} and ${v}): ids must not depend on the profile`);
    value = v;
  }
  if (value === undefined) throw new ExprError(`"${src}" names a constant no profile defines`);
  return value;
}

function expand(spec: Spec, g: Generator): (string | number)[] {
  if ("around" in g) {
    const x = typeof g.around === "number" ? String(g.around) : g.around;
    const wrap = /^[A-Za-z0-9_]+$/.test(x) ? x : `(${x})`;
    return [`${wrap}-1`, x, `${wrap}+1`];
  }
  const width = g.bits.width ?? 64;
  if (!Number.isInteger(width) || width < 1 || width > 64) throw new ExprError(`a width from 1 to 64 (not ${width})`);
  const of = constantValue(spec, String(g.bits.of)) & ((1n << BigInt(width)) - 1n);
  const out: string[] = [];
  for (let bit = 0; bit < width; bit++) if ((of >> BigInt(bit)) & 1n) out.push(`1<<${bit}`);
  if (out.length === 0) throw new ExprError(`"${g.bits.of}" has no bit set below bit ${width}`);
  return out;
}

/**
 * Replace the generators in every case's params by the values they stand for (in place).
 * A malformed generator is a problem at its pointer; the suite is then not validated further.
 */
export function expandGenerators(spec: Spec, data: unknown, file: string, problems: InputProblem[]): void {
  const cases = (data as { cases?: unknown }).cases;
  if (!Array.isArray(cases)) return;
  cases.forEach((c: unknown, i) => {
    const params = (c as { params?: unknown } | null)?.params;
    if (typeof params !== "object" || params === null || Array.isArray(params)) return;
    for (const [name, spec_] of Object.entries(params as Record<string, unknown>)) {
      const at = (...rest: (string | number)[]) => ({ file, pointer: pointer("cases", i, "params", name, ...rest) });
      const items = isGenerator(spec_) ? [spec_] : Array.isArray(spec_) ? spec_ : undefined;
      if (!items || !items.some(isGenerator)) continue;
      const values: unknown[] = [];
      items.forEach((item, k) => {
        if (!isGenerator(item)) {
          values.push(item);
          return;
        }
        try {
          values.push(...expand(spec, item));
        } catch (err) {
          if (!(err instanceof ExprError)) throw err;
          problems.push({ ...at(...(Array.isArray(spec_) ? [k] : [])), expected: `a generator that expands: ${err.message}` });
        }
      });
      (params as Record<string, unknown>)[name] = values;
    }
  });
}
