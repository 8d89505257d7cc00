// The C anchor (bench/anchor.c): built with this machine's gcc at bench time and
// run in the same bench run as what it anchors, so figures are ratios measured
// side by side. Without gcc the anchor (and every ratio against it) is skipped.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Spec } from "../spec/index.js";
import { PROJECT_ROOT } from "../spec/paths.js";

export interface Anchor {
  /** seconds per case (a forked child making the calls) over `cases` cases */
  perCase(cases: number): number;
  dispose(): void;
}

/** bench/NAME.c built with this machine's gcc -O2 into a fresh temporary directory, or why it could not be. */
export function buildC(name: string): { dir: string; exe: string } | string {
  const gcc = spawnSync("gcc", ["--version"], { encoding: "utf8" });
  if (gcc.error || gcc.status !== 0) return "gcc is not available on this machine";
  const dir = mkdtempSync(join(tmpdir(), `pmc-${name}-`));
  const exe = join(dir, name);
  const built = spawnSync("gcc", ["-O2", "-o", exe, join(PROJECT_ROOT, "bench", `${name}.c`)], { encoding: "utf8" });
  if (built.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return `gcc could not build bench/${name}.c: ${built.stderr.trim()}`;
  }
  return { dir, exe };
}

/** Build the anchor, or say why it cannot be built. */
export function buildAnchor(spec: Spec, profile: string): Anchor | string {
  const built = buildC("anchor");
  if (typeof built === "string") return built;
  const { dir, exe } = built;
  const p = profile as Parameters<Spec["ioctl"]>[1];
  const req = (name: string) => String(spec.ioctl(name, p)!.request);
  const caps = ["KVM_CAP_USER_MEMORY", "KVM_CAP_USER_MEMORY2", "KVM_CAP_GUEST_MEMFD", "KVM_CAP_MEMORY_ATTRIBUTES"].map((n) => String(spec.constant(n, p) ?? 0n));
  return {
    perCase(cases: number): number {
      const out = execFileSync(exe, [String(cases), req("KVM_CHECK_EXTENSION"), req("KVM_CREATE_VM"), req("KVM_SET_USER_MEMORY_REGION"), ...caps], { encoding: "utf8" });
      const r = JSON.parse(out) as { cases: number; seconds: number };
      return r.seconds / r.cases;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
