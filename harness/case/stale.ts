// The CLI runs dist/, compiled from the TypeScript sources. A source edited after the
// last build would silently run the old code, so loading refuses when any source is
// newer than its compiled form (or was never compiled), naming the files.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { InputProblem } from "../../spec/errors.js";
import { PROJECT_ROOT } from "../../spec/paths.js";

/** The source folders the CLI's code and the TypeScript suites are compiled from. */
export const BUILT_FOLDERS = ["spec", "harness", "reference-impl", "suites"] as const;
const SHOWN = 5;

function tsFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Sources newer than their compiled module in dist/, or not compiled at all (relative paths). */
export function staleSources(root: string = PROJECT_ROOT): { source: string; built: string; missing: boolean }[] {
  const stale: { source: string; built: string; missing: boolean }[] = [];
  for (const folder of BUILT_FOLDERS)
    for (const src of tsFiles(join(root, folder))) {
      const rel = relative(root, src);
      const built = join(root, "dist", rel.replace(/\.ts$/, ".js"));
      const b = statSync(built, { throwIfNoEntry: false });
      if (!b) stale.push({ source: rel, built: relative(root, built), missing: true });
      else if (statSync(src).mtimeMs > b.mtimeMs) stale.push({ source: rel, built: relative(root, built), missing: false });
    }
  return stale;
}

/** One problem naming the stale sources, or none when dist/ is current (or absent: nothing was built to compare with). */
export function staleBuildProblems(root: string = PROJECT_ROOT): InputProblem[] {
  if (!existsSync(join(root, "dist"))) return [];
  const stale = staleSources(root);
  if (stale.length === 0) return [];
  const shown = stale.slice(0, SHOWN).map((s) => (s.missing ? `${s.source} (not compiled)` : `${s.source} (newer than ${s.built})`));
  const more = stale.length > SHOWN ? ` and ${stale.length - SHOWN} more` : "";
  return [{ file: "dist/", pointer: "", expected: `a build newer than its sources (run npm run build): ${shown.join(", ")}${more}` }];
}
