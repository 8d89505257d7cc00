// npm run mutation [-- STRYKER OPTIONS]: run StrykerJS (stryker.config.mjs), then print the
// per-file score with the equivalent mutants of mutation/equivalent-mutants.json taken out,
// and write that table into mutation/README.md.
//   npm run mutation                          every folder of reference-impl/, one Stryker run each
//   npm run mutation -- --mutate reference-impl/guest_memfd/inode.ts    one file (options go to Stryker)
//   npm run mutation -- --score-only          re-score the last report without running Stryker
//   npm run mutation -- --folders reference-impl/mm,reference-impl/lib    only these folders
// A run instruments only the files it mutates, and instrumented code runs several times slower, so
// the whole model is measured folder by folder; each folder's report is kept as
// reports/mutation/<folder>.json (folder path with "-" for "/").
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { scoreReport } from "./score.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const MODEL = join(ROOT, "reference-impl");
const REPORT = join(ROOT, "reports", "mutation", "mutation.json");

/** Every folder of reference-impl/ that holds .ts files, relative to the project. */
function folders(dir = MODEL) {
  const entries = readdirSync(dir, { withFileTypes: true });
  const own = entries.some((e) => e.isFile() && e.name.endsWith(".ts")) ? [relative(ROOT, dir)] : [];
  return [...own, ...entries.filter((e) => e.isDirectory()).flatMap((e) => folders(join(dir, e.name)))];
}

function stryker(args) {
  const r = spawnSync("npx", ["stryker", "run", ...args], { stdio: "inherit", cwd: ROOT });
  return r.status === 0;
}

const argv = process.argv.slice(2);
const at = argv.indexOf("--folders");
const only = at < 0 ? undefined : argv[at + 1].split(",").map((f) => f.replace(/\/$/, ""));
const args = at < 0 ? argv : [...argv.slice(0, at), ...argv.slice(at + 2)];
let ok = true;
if (args.includes("--score-only")) ok = scoreReport({ writeReadme: true });
else if (args.includes("--mutate") || args.some((a) => a.startsWith("--mutate="))) ok = stryker(args) && scoreReport({ writeReadme: true });
else {
  for (const folder of only ?? folders()) {
    console.log(`\n== ${folder}`);
    if (!stryker([...args, "--mutate", `${folder}/*.ts`])) {
      ok = false;
      continue;
    }
    copyFileSync(REPORT, join(ROOT, "reports", "mutation", `${folder.replaceAll("/", "-")}.json`));
    ok = scoreReport({ writeReadme: true }) && ok;
  }
}
process.exit(ok ? 0 : 1);
