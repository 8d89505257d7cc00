// Run before `tsc --incremental` (npm run build). tsc trusts its build info (dist/.tsbuildinfo)
// and never re-emits a compiled file that was deleted while its source did not change; so when
// any source has no compiled module in dist/, the build info is removed and tsc builds everything.
// Plain JavaScript: it runs before anything is compiled.
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const info = join(root, "dist", ".tsbuildinfo");
const FOLDERS = ["spec", "harness", "reference-impl", "suites", "test", "bench"];

function missingOutput(dir) {
  if (!existsSync(dir)) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() ? missingOutput(p) : e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") && !existsSync(join(root, "dist", relative(root, p)).replace(/\.ts$/, ".js"))) return true;
  }
  return false;
}

if (existsSync(info) && FOLDERS.some((f) => missingOutput(join(root, f)))) rmSync(info);
