// `npm run bench`: performance figures, printed, never asserted. Sections can be
// chosen: npm run bench -- model scaling runner linux
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { PROJECT_ROOT } from "../spec/paths.js";
import { benchModel, benchScaling } from "./model.js";
import { benchRunner } from "./runner.js";

const wanted = new Set(process.argv.slice(2));
const on = (name: string) => wanted.size === 0 || wanted.has(name);

console.log(`privmem-cts bench — node ${process.version}, ${process.platform}/${process.arch}`);
if (on("model")) benchModel();
if (on("scaling")) benchScaling();
if (on("runner")) await benchRunner();
if (on("linux")) {
  const mod = join(PROJECT_ROOT, "dist", "bench", "linux.js");
  if (!existsSync(mod)) console.log("linux bridge: not built");
  else {
    const linux = (await import(pathToFileURL(mod).href)) as { benchLinux: () => Promise<void>; benchLinuxRun: () => Promise<void> };
    await linux.benchLinux();
    await linux.benchLinuxRun();
  }
}
