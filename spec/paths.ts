// Where the project's data lives, found from this module's own location so the
// compiled code (dist/) and the sources resolve the same JSON files.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "spec", "profiles.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`privmem-cts: cannot find the project root above ${start}`);
    dir = parent;
  }
}

export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
export const SPEC_DIR = join(PROJECT_ROOT, "spec");
export const SCHEMA_DIR = join(SPEC_DIR, "schema");
export const SUITES_DIR = join(PROJECT_ROOT, "suites");
export const EXPECTATIONS_DIR = join(PROJECT_ROOT, "expectations");
export const REPORTS_DIR = join(PROJECT_ROOT, "reports");

export const CAPTURES_DIR = join(PROJECT_ROOT, "captures");

let version: string | undefined;
/** The project's version, from its package.json. */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
  return version;
}
