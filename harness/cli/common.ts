// Shared CLI plumbing: option parsing that reports usage errors, and stdout/stderr helpers.
import { isAbsolute, relative, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError, UsageError } from "../../spec/errors.js";
import { displayPath } from "../../spec/validate.js";
import type { Spec } from "../../spec/index.js";
import { loadSuites, type LoadedSuites } from "../case/load.js";

export { UsageError };

export const DEFAULT_TIMEOUT_MS = 10000;
/** The longest delay a Node.js timer can wait (2^31-1 ms); a longer one fires at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Where reports go by default: reports/ in the current directory (not the installed package). */
export function defaultReportsDir(): string {
  return resolve("reports");
}

export function parseTimeout(text: string): number {
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) throw new UsageError(`--timeout must be a positive integer of milliseconds (got ${text})`);
  if (ms > MAX_TIMEOUT_MS) throw new UsageError(`--timeout must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days; got ${text})`);
  return ms;
}

/** A path relative to the working directory when it is below it, else absolute. */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

export function parse<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function out(line = ""): void {
  process.stdout.write(line + "\n");
}

export function err(line: string): void {
  process.stderr.write(line + "\n");
}

export function json(value: unknown): void {
  out(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2));
}

/**
 * loadSuites() for the paths given with --suites: a path that holds no suite file
 * (an empty folder, /dev/null, a README) is bad input, not a run of 0 cases that passes.
 */
export async function loadSuiteArgs(spec: Spec, paths: string[]): Promise<LoadedSuites> {
  const loaded = await loadSuites(spec, paths);
  const holdsSuites = (p: string) => {
    const base = displayPath(p);
    return loaded.files.some((f) => base === "" || f === base || f.startsWith(`${base}/`));
  };
  const problems = paths.filter((p) => !holdsSuites(p)).map((p) => ({ file: displayPath(p), pointer: "", expected: "a folder holding suite files, or a suite file (*.json; *.ts in the project; *.suite.js or *.suite.mjs elsewhere)" }));
  if (problems.length > 0) throw new InputError(problems);
  return loaded;
}
