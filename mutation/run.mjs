// npm run mutation [-- STRYKER OPTIONS]: run StrykerJS (stryker.config.mjs), then print the
// per-file score with the equivalent mutants of mutation/equivalent-mutants.json taken out,
// and write that table into mutation/README.md. Extra options go to Stryker, e.g.
//   npm run mutation -- --mutate reference-impl/guest_memfd/inode.ts --concurrency 1
// `npm run mutation -- --score-only` re-scores the last report without running Stryker.
import { spawnSync } from "node:child_process";
import { scoreReport } from "./score.mjs";

const args = process.argv.slice(2);
if (!args.includes("--score-only")) {
  const r = spawnSync("npx", ["stryker", "run", ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
process.exit(scoreReport({ writeReadme: true }) ? 0 : 1);
