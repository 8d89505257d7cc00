// One ajv instance holding every schema in spec/schema/. Validation errors become
// InputProblems: file, JSON pointer, and what the schema expected there.
//
// Compiling the schemas costs about half a second of CPU, in every process that
// loads the spec (the CLI, each linux driver child, each mutant run). `npm run
// build` therefore compiles them once into standalone code
// (dist/spec/validators.cjs, by compile-validators.ts), keyed by a hash of the
// schema files; a process uses it when the hash still matches the files and
// compiles at run time otherwise (a schema edited since the build), so what is
// validated never depends on whether the build is current.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { Ajv2020, ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { InputError, type InputProblem } from "./errors.js";
import { PROJECT_ROOT, SCHEMA_DIR } from "./paths.js";

/** Where the build puts the precompiled validators (next to this module in dist/spec/). */
export const PRECOMPILED_FILE = join(dirname(fileURLToPath(import.meta.url)), "validators.cjs");
/** Schema ids with a fragment that the code validates against, precompiled besides every whole schema. */
export const PRECOMPILED_FRAGMENTS: readonly string[] = ["protocol.schema.json#/$defs/response"];

let ajv: Ajv2020 | undefined;
const compiled = new Map<string, ValidateFunction>();
let standalone: Map<string, ValidateFunction> | null | undefined;

/** The schema files, sorted by name, with their text. */
export function schemaFiles(): { name: string; text: string }[] {
  return readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith(".schema.json"))
    .sort()
    .map((name) => ({ name, text: readFileSync(join(SCHEMA_DIR, name), "utf8") }));
}

/** What the precompiled validators were built from: every schema file's name and text (and ajv's version). */
export function schemaHash(files = schemaFiles()): string {
  const h = createHash("sha256");
  h.update(`ajv ${AJV_VERSION}\n`);
  for (const f of files) h.update(`${f.name}\n${f.text}\n`);
  return h.digest("hex");
}

const require = createRequire(import.meta.url);
const AJV_VERSION = (require("ajv/package.json") as { version: string }).version;

/** A fresh ajv with every schema added (`source`: keep the generated code, for standalone output). */
export function newAjv(source = false): Ajv2020 {
  // Required here, not imported: a process that validates with the precompiled code never loads ajv's compiler.
  const { Ajv2020: Compiler } = require("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js");
  const a = new Compiler({ allErrors: true, strict: true, strictRequired: false, discriminator: true, allowUnionTypes: true, ...(source ? { code: { source: true } } : {}) });
  for (const f of schemaFiles()) a.addSchema(JSON.parse(f.text));
  return a;
}

function instance(): Ajv2020 {
  ajv ??= newAjv();
  return ajv;
}

/** The precompiled validators by schema id, or null when there are none or they were built from other schemas. */
function precompiled(): Map<string, ValidateFunction> | null {
  if (standalone !== undefined) return standalone;
  standalone = null;
  if (process.env.PRIVMEM_CTS_NO_PRECOMPILED !== undefined || !existsSync(PRECOMPILED_FILE)) return standalone;
  try {
    const mod = require(PRECOMPILED_FILE) as Record<string, unknown> & { __hash: string; __ids: Record<string, string> };
    if (mod.__hash !== schemaHash()) return standalone;
    standalone = new Map(Object.entries(mod.__ids).map(([name, id]) => [id, mod[name] as ValidateFunction]));
  } catch {
    standalone = null;
  }
  return standalone;
}

/** Whether this process validates with the build's precompiled validators (false: compiled at run time). */
export function usingPrecompiled(): boolean {
  return precompiled() !== null;
}

export function validator(schemaId: string): ValidateFunction {
  let v = compiled.get(schemaId);
  if (!v) {
    const found = precompiled()?.get(schemaId) ?? instance().getSchema(schemaId);
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
  return parseJson(readText(file), file);
}

/** Read and validate; throws InputError listing every problem. */
export function loadValidated<T>(schemaId: string, file: string): T {
  const text = readText(file);
  const data = parseJson(text, file);
  checkText(schemaId, text, data, file);
  return data as T;
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new InputError([{ file: displayPath(file), pointer: "", expected: `a readable file (${(err as Error).message})` }]);
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InputError([{ file: displayPath(file), pointer: "", expected: `valid JSON (${(err as Error).message})` }]);
  }
}

// Texts that validated cleanly before, by a hash of schema id and text, kept in dist/.cache/
// for the schemas as they are (schemaHash: every schema file and ajv's version). A process
// that meets only such texts (the spec files, expectations, capture headers) neither loads the
// validators nor runs them: validation is a function of schema and text alone.
export const VALIDATED_MEMO_FILE = join(PROJECT_ROOT, "dist", ".cache", "validated.json");
/** More keys than this and the memo starts again (inputs tests make up must not grow it without end). */
const MEMO_MAX = 4096;
let memo: { schemas: string; keys: Set<string> } | null | undefined;

function validatedMemo(): { schemas: string; keys: Set<string> } | null {
  if (process.env.PRIVMEM_CTS_NO_CACHE !== undefined) return null;
  if (memo !== undefined) return memo;
  memo = null;
  if (!existsSync(join(PROJECT_ROOT, "dist"))) return memo;
  const schemas = schemaHash();
  memo = { schemas, keys: new Set() };
  try {
    const kept = JSON.parse(readFileSync(VALIDATED_MEMO_FILE, "utf8")) as { schemas: string; keys: string[] };
    if (kept.schemas === schemas && Array.isArray(kept.keys)) memo.keys = new Set(kept.keys);
  } catch {
    // no memo yet, or an unreadable one: start a new one
  }
  return memo;
}

/** A text's key in the memo. */
export function validatedKey(schemaId: string, text: string): string {
  return createHash("sha256").update(`${schemaId}\n`).update(text).digest("base64");
}

function remember(m: { schemas: string; keys: Set<string> }, key: string): void {
  if (m.keys.size >= MEMO_MAX) m.keys.clear();
  m.keys.add(key);
  const tmp = `${VALIDATED_MEMO_FILE}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(VALIDATED_MEMO_FILE), { recursive: true });
    writeFileSync(tmp, JSON.stringify({ schemas: m.schemas, keys: [...m.keys] }));
    renameSync(tmp, VALIDATED_MEMO_FILE);
  } catch {
    rmSync(tmp, { force: true });
  }
}

/**
 * Validate data parsed from text; throws InputError listing every problem. A text that
 * validated cleanly against the same schemas before is not validated again.
 */
export function checkText(schemaId: string, text: string, data: unknown, file: string): void {
  const m = validatedMemo();
  const key = m === null ? "" : validatedKey(schemaId, text);
  if (m !== null && m.keys.has(key)) return;
  const problems = schemaProblems(schemaId, data, file);
  if (problems.length > 0) throw new InputError(problems);
  if (m !== null) remember(m, key);
}
