// The compact style of JSON suites and fixture files: one line per key of the file, of a
// case and of a fixture, and one line per step. Only whitespace changes: keys keep their
// order (parameter order makes ids), values their text.
//
//   node dist/harness/tools/format-suites.js [--check] [DIR|FILE ...]    (npm run format:suites)
//
// --check writes nothing, lists the files that are not formatted or longer than
// MAX_SUITE_LINES, and exits 1 if there is any.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { walkFiles } from "../case/load.js";

export const MAX_SUITE_LINES = 2000;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One line: `{"a": 1, "b": [2, 3]}`. */
export function compact(value: unknown): string {
  const v = value as Json;
  if (Array.isArray(v)) return `[${v.map(compact).join(", ")}]`;
  if (v !== null && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${compact(x)}`).join(", ")}}`;
  return JSON.stringify(v);
}

const isObject = (v: Json | undefined): v is { [k: string]: Json } => v !== null && typeof v === "object" && !Array.isArray(v);

/** `"key": [` one item per line `]`, at `indent`. */
function lines(key: string, items: Json[], indent: string, item: (v: Json, indent: string) => string): string {
  if (items.length === 0) return `${indent}${JSON.stringify(key)}: []`;
  return `${indent}${JSON.stringify(key)}: [\n${items.map((x) => item(x, indent + "  ")).join(",\n")}\n${indent}]`;
}

/** An object with one line per key; `steps` one step per line. */
function block(v: Json, indent: string): string {
  if (!isObject(v)) return indent + compact(v);
  const inner = indent + "  ";
  const body = Object.entries(v).map(([k, x]) => (k === "steps" && Array.isArray(x) ? lines(k, x, inner, (s, i) => i + compact(s)) : `${inner}${JSON.stringify(k)}: ${compact(x)}`));
  return body.length === 0 ? `${indent}{}` : `${indent}{\n${body.join(",\n")}\n${indent}}`;
}

/** The formatted text of a suite or fixtures file (its parsed value). */
export function formatSuite(value: unknown): string {
  const data = value as Json;
  if (!isObject(data)) return compact(data) + "\n";
  const out: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === "cases" && Array.isArray(v)) out.push(lines(k, v, "  ", block));
    else if (k === "fixtures" && isObject(v)) {
      const entries = Object.entries(v);
      out.push(entries.length === 0 ? `  "fixtures": {}` : `  "fixtures": {\n${entries.map(([name, f]) => `${block(f, "    ").replace(/^ {4}/, `    ${JSON.stringify(name)}: `)}`).join(",\n")}\n  }`);
    } else out.push(`  ${JSON.stringify(k)}: ${compact(v)}`);
  }
  return `{\n${out.join(",\n")}\n}\n`;
}

/** The JSON files below the folders and files given. */
export function suiteFiles(paths: string[]): string[] {
  return paths.flatMap((p) => (statSync(p).isDirectory() ? walkFiles(p).filter((f) => f.endsWith(".json")) : [p]));
}

/** Why a file is not in the compact style, or undefined when it is. */
export function formatProblem(file: string): string | undefined {
  const text = readFileSync(file, "utf8");
  const formatted = formatSuite(JSON.parse(text) as unknown);
  if (formatted !== text) return "not formatted (npm run format:suites)";
  const n = formatted.split("\n").length - 1;
  if (n > MAX_SUITE_LINES) return `${n} lines: split it (at most ${MAX_SUITE_LINES})`;
  return undefined;
}

function main(argv: string[]): number {
  const check = argv.includes("--check");
  const paths = argv.filter((a) => a !== "--check");
  const files = suiteFiles(paths.length > 0 ? paths : [SUITES_DIR]);
  let bad = 0;
  for (const f of files) {
    const shown = relative(PROJECT_ROOT, f);
    if (check) {
      const problem = formatProblem(f);
      if (problem) {
        bad++;
        process.stderr.write(`${shown}: ${problem}\n`);
      }
      continue;
    }
    const text = readFileSync(f, "utf8");
    const formatted = formatSuite(JSON.parse(text) as unknown);
    if (formatted !== text) {
      writeFileSync(f, formatted);
      process.stdout.write(`formatted ${shown}\n`);
    }
    const n = formatted.split("\n").length - 1;
    if (n > MAX_SUITE_LINES) {
      bad++;
      process.stderr.write(`${shown}: ${n} lines: split it (at most ${MAX_SUITE_LINES})\n`);
    }
  }
  return bad > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) process.exitCode = main(process.argv.slice(2));
