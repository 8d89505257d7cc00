// Copies of the compiled project with one patch applied to the reference model, for the
// tests that show a broken model is caught (test/mutants.test.ts, test/captures.test.ts, ...).
import { cpSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";

/** The copy's folder; `file` is relative to dist/reference-impl/, `search` must occur there exactly once. */
export function mutatedCopy(file: string, search: string, replace: string, extraParts: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "pmc-mutant-"));
  for (const part of ["package.json", "spec", "suites", ...extraParts]) cpSync(join(PROJECT_ROOT, part), join(dir, part), { recursive: true, preserveTimestamps: true });
  // without the source maps: half the files to link and remove, and no test reads them
  linkTree(join(PROJECT_ROOT, "dist"), join(dir, "dist"), (name) => !name.endsWith(".map"));
  symlinkSync(join(PROJECT_ROOT, "node_modules"), join(dir, "node_modules"));
  try {
    patch(dir, file, search, replace);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return dir;
}

/** Where a model copy's in-process adapter is (import it for its openReference). */
export const MODEL_ADAPTER = join("dist", "harness", "drivers", "reference.js");

/**
 * Copies of the model alone, one after another, for loading broken models into a process that already
 * has the spec and the suites: dist/reference-impl/'s modules and the in-process adapter (MODEL_ADAPTER)
 * hard-linked into a new folder, so importing the adapter from there loads new module instances of
 * every model file; dist/spec is a symbolic link, and ESM resolves links to the real path, so the copy
 * shares the project's spec modules (reference-impl imports nothing else); the project's package.json
 * says, as in the project, that the .js files are ES modules. The patch is applied as in mutatedCopy.
 * Each copy after the first is the previous one renamed (new module paths, so new module instances;
 * the model imports nothing lazily) with the previous patch undone: a few file operations per copy
 * instead of linking and removing every file.
 */
export class ModelCopies {
  private readonly base = mkdtempSync(join(tmpdir(), "pmc-model-"));
  private dir: string | undefined;
  private patched: string | undefined;
  private made = 0;

  /** The next copy's folder, patched; the previous copy's folder is gone. */
  next(file: string, search: string, replace: string): string {
    const dir = join(this.base, String(this.made++));
    if (this.dir === undefined) {
      linkTree(join(PROJECT_ROOT, "dist", "reference-impl"), join(dir, "dist", "reference-impl"), (name) => name.endsWith(".js"));
      mkdirSync(dirname(join(dir, MODEL_ADAPTER)), { recursive: true });
      linkSync(join(PROJECT_ROOT, MODEL_ADAPTER), join(dir, MODEL_ADAPTER));
      symlinkSync(join(PROJECT_ROOT, "dist", "spec"), join(dir, "dist", "spec"));
      linkSync(join(PROJECT_ROOT, "package.json"), join(dir, "package.json"));
    } else {
      renameSync(this.dir, dir);
      if (this.patched !== undefined) {
        const path = join(dir, "dist", "reference-impl", this.patched);
        rmSync(path);
        linkSync(join(PROJECT_ROOT, "dist", "reference-impl", this.patched), path);
      }
    }
    this.dir = dir;
    this.patched = undefined;
    patch(dir, file, search, replace);
    this.patched = file;
    return dir;
  }

  /** Removes the copies' folder. */
  close(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}

function patch(dir: string, file: string, search: string, replace: string): void {
  const path = join(dir, "dist", "reference-impl", file);
  const text = readFileSync(path, "utf8");
  const at = text.indexOf(search);
  if (at < 0 || text.indexOf(search, at + 1) >= 0) throw new Error(`the mutant's search text must occur exactly once in ${file}; the model has changed: update the mutant`);
  rmSync(path); // a hard link to the project's file: the patch goes to a new file
  writeFileSync(path, text.slice(0, at) + replace + text.slice(at + search.length));
}

/**
 * dist/ of the copy: its files hard-linked to the project's (the copy's module paths are its own,
 * which symlinks would not give), copied where links cannot be made. Nothing writes into these
 * files in place: the suites cache replaces its file by renaming, and the patch removes the link first.
 */
function linkTree(from: string, to: string, keep: (name: string) => boolean = () => true): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    const [src, dst] = [join(from, e.name), join(to, e.name)];
    if (e.isDirectory()) linkTree(src, dst, keep);
    else if (keep(e.name))
      try {
        linkSync(src, dst);
      } catch {
        cpSync(src, dst);
      }
  }
}
