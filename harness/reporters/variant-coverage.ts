// Clause coverage per profile: `coverage` counts a clause as covered when one passing case
// exercises it anywhere, so a rule that changes between revisions (a `profiles` variant)
// can be covered in one revision and never run in another. This lists, for every clause
// and every profile where it exists and some run was made, whether a case that exercises
// it passed in that profile (on any host of the runs).
import { expandProfileSet, type ProfileName } from "../../spec/profiles.js";
import type { Spec } from "../../spec/index.js";
import { exercises, machineOf, type RunResults } from "./coverage.js";

export interface VariantGap {
  clause: string;
  /** the key of clause.profiles that holds the profile */
  variant: string;
  profile: ProfileName;
  /** the hosts (handshake kernels) of the runs made in that profile */
  hosts: string[];
}

export interface VariantCoverage {
  /** (clause, profile) pairs that some run could have covered */
  checked: number;
  covered: number;
  /** the pairs with no passing case that exercises the clause */
  gaps: VariantGap[];
}

/**
 * Every (clause, profile) pair where the clause exists, a run was made in that profile on a
 * machine the clause is written for, and no passing case of those runs exercises the clause.
 * allCases gives each case's requires (a case that does not require the clause's features
 * does not exercise it: a control).
 */
export function variantCoverage(spec: Spec, runs: RunResults[], allCases: { id: string; clauses: string[]; requires?: string[] }[], areas?: readonly string[]): VariantCoverage {
  const requiresOf = new Map(allCases.map((c) => [c.id, c.requires ?? []]));
  // profile -> clause -> passed exercising; profile -> machines and hosts of its runs
  const passed = new Map<string, Set<string>>();
  const machines = new Map<string, Set<string>>();
  const hosts = new Map<string, Set<string>>();
  for (const r of runs) {
    const p = r.runInfo.profile;
    if (!machines.has(p)) {
      machines.set(p, new Set());
      hosts.set(p, new Set());
      passed.set(p, new Set());
    }
    machines.get(p)!.add(r.runInfo.host.arch);
    hosts.get(p)!.add(String(r.runInfo.host.kernel));
    for (const c of r.cases) {
      if (c.outcome !== "PASS") continue;
      for (const id of c.clauses) {
        const clause = spec.clauseById.get(id);
        if (clause && exercises(requiresOf.get(c.id) ?? [], clause)) passed.get(p)!.add(id);
      }
    }
  }
  const result: VariantCoverage = { checked: 0, covered: 0, gaps: [] };
  for (const clause of spec.clauses) {
    if (areas && !areas.includes(clause.area)) continue;
    for (const variant of Object.keys(clause.profiles))
      for (const profile of expandProfileSet(variant)) {
        const ran = machines.get(profile);
        if (!ran) continue;
        if (clause.arch && !clause.arch.some((a) => ran.has(machineOf(a)))) continue;
        result.checked++;
        if (passed.get(profile)!.has(clause.id)) result.covered++;
        else result.gaps.push({ clause: clause.id, variant, profile, hosts: [...hosts.get(profile)!].sort() });
      }
  }
  return result;
}

export function formatVariantGaps(v: VariantCoverage): string {
  const lines = [`clause variants: ${v.covered}/${v.checked} (clause, profile) pairs have a passing case that exercises the clause`];
  for (const g of v.gaps) lines.push(`  ${g.clause} [${g.variant}] in ${g.profile}: no passing case (runs on ${g.hosts.join(", ")})`);
  return lines.join("\n");
}
