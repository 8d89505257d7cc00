// One ajv instance holding every schema in spec/schema/. Validation errors become
// InputProblems: file, JSON pointer, and what the schema expected there.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { InputError, type InputProblem } from "./errors.js";
import { PROJECT_ROOT, SCHEMA_DIR } from "./paths.js";

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();

function instance(): Ajv2020 {
  if (ajv) return ajv;
  ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, discriminator: true, allowUnionTypes: true });
  for (const name of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith(".schema.json")).sort()) {
    ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, name), "utf8")));
  }
  return ajv;
}

export function validator(schemaId: string): ValidateFunction {
  let v = compiled.get(schemaId);
  if (!v) {
    const found = instance().getSchema(schemaId);
    if (!found) throw new Error(`no schema with $id ${schemaId}`);
    v = found;
    compiled.set(schemaId, v);
  }
  return v;
}

export function displayPath(file: string): string {
  const rel = relative(PROJECT_ROOT, file);
  return rel.startsWith("..") ? file : rel;
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required": return `missing required property "${String(p.missingProperty)}"`;
    case "additionalProperties": return `unknown property "${String(p.additionalProperty)}"`;
    case "enum": return `one of ${JSON.stringify(p.allowedValues)}`;
    case "const": return `the value ${JSON.stringify(p.allowedValue)}`;
    case "type": return `a value of type ${String(p.type)}`;
    case "pattern": return `a string matching ${String(p.pattern)}`;
    case "propertyNames": return `property names that are valid (${e.message ?? "see schema"})`;
    default: return e.message ?? e.keyword;
  }
}

/** Keep the most specific errors: drop oneOf/anyOf summaries when a branch error exists below them. */
function simplify(errors: ErrorObject[]): ErrorObject[] {
  const specific = errors.filter((e) => e.keyword !== "oneOf" && e.keyword !== "anyOf" && e.keyword !== "if");
  const chosen = specific.length > 0 ? specific : errors;
  const seen = new Set<string>();
  return chosen.filter((e) => {
    const key = `${e.instancePath}|${describe(e)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function schemaProblems(schemaId: string, data: unknown, file: string): InputProblem[] {
  const v = validator(schemaId);
  if (v(data)) return [];
  return simplify(v.errors ?? []).map((e) => ({
    file: displayPath(file),
    pointer:
      e.propertyName !== undefined
        ? `${e.instancePath}/${e.propertyName}`
        : e.keyword === "additionalProperties"
          ? `${e.instancePath}/${String((e.params as { additionalProperty: string }).additionalProperty)}`
          : e.instancePath,
    expected: describe(e),
  }));
}

export function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError([{ file: displayPath(file), pointer: "", expected: `a readable file (${(err as Error).message})` }]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError([{ file: displayPath(file), pointer: "", expected: `valid JSON (${(err as Error).message})` }]);
  }
}

/** Read and validate; throws InputError listing every problem. */
export function loadValidated<T>(schemaId: string, file: string): T {
  const data = readJson(file);
  const problems = schemaProblems(schemaId, data, file);
  if (problems.length > 0) throw new InputError(problems);
  return data as T;
}
