// Shared CLI plumbing: option parsing that reports usage errors, and stdout/stderr helpers.
import { isAbsolute, relative } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../../spec/errors.js";

export { UsageError };

export const DEFAULT_TIMEOUT_MS = 10000;

export function parseTimeout(text: string): number {
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms <= 0) throw new UsageError(`--timeout must be a positive integer of milliseconds (got ${text})`);
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
