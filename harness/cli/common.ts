// Shared CLI plumbing: option parsing that reports usage errors, and stdout/stderr helpers.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../drivers/index.js";

export { UsageError };

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
