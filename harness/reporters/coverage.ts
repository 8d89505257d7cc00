// Clause coverage: a clause is covered when at least one case that names it and
// exercises it passed: the case itself requires the features the clause needs
// (Clause.requires), so a memfd control case never covers a guest_memfd rule.
// Computed from results, so several runs (hosts, profiles, drivers) merge.
// Kept apart from code coverage of reference-impl/ (c8), which measures the model.
import { writeReportFile } from "./files.js";
import type { Spec } from "../../spec/index.js";
import type { CaseResult, Reporter, RunInfo } from "../runner/runner.js";

export interface AreaCoverage {
  total: number;
  covered: number;
  uncovered: string[];
  /** why each uncovered clause is uncovered */
  why: Record<string, string>;
}

export interface CoverageReport {
  /** what the figures were computed from */
  runs: { driver: string; profile: string; host: string }[];
  clauses: { total: number; covered: number };
  areas: Record<string, AreaCoverage>;
  /** clause id -> ids of the passing cases that cover it */
  coveredBy: Record<string, string[]>;
  /** clauses that no case names at all (no case written yet) */
  withoutCases: string[];
}

export interface RunResults {
  runInfo: Pick<RunInfo, "driver" | "profile" | "host">;
  cases: Pick<CaseResult, "id" | "outcome" | "clauses">[];
}

/** Kernel architecture (as clauses name it) to the machine a handshake reports (uname -m). */
const MACHINE: Record<string, string> = { x86_64: "x86_64", arm64: "aarch64", s390: "s390x", riscv: "riscv64" };

/** The machine (uname -m) a clause's arch names. */
export function machineOf(arch: string): string {
  return MACHINE[arch] ?? arch;
}

/** Whether a case that requires these features exercises the clause (see Clause.requires). */
export function exercises(caseRequires: readonly string[], clause: Pick<Spec["clauses"][number], "requires">): boolean {
  return clause.requires.every((f) => caseRequires.includes(f));
}

export function clauseCoverage(spec: Spec, runs: RunResults[], allCases?: { id: string; clauses: string[]; requires?: string[] }[]): CoverageReport {
  const requiresOf = new Map((allCases ?? []).map((c) => [c.id, c.requires]));
  const counts = (caseId: string, clauseId: string): boolean => {
    const clause = spec.clauseById.get(clauseId);
    const req = requiresOf.get(caseId);
    return clause === undefined || req === undefined || exercises(req, clause);
  };
  const passedOnlyAsControl = new Map<string, string[]>();
  const coveredBy = new Map<string, Set<string>>();
  const named = new Set<string>();
  const tried = new Map<string, string[]>();
  for (const r of runs)
    for (const c of r.cases) {
      for (const id of c.clauses) {
        named.add(id);
        if (c.outcome !== "SKIP") {
          const list = tried.get(id);
          if (list) list.push(`${c.outcome} ${c.id}`);
          else tried.set(id, [`${c.outcome} ${c.id}`]);
        }
      }
      if (c.outcome !== "PASS") continue;
      for (const id of c.clauses) {
        if (!counts(c.id, id)) {
          passedOnlyAsControl.set(id, [...(passedOnlyAsControl.get(id) ?? []), c.id]);
          continue;
        }
        if (!coveredBy.has(id)) coveredBy.set(id, new Set());
        coveredBy.get(id)!.add(c.id);
      }
    }
  for (const c of allCases ?? []) for (const id of c.clauses) named.add(id);
  const runProfiles = new Set(runs.map((r) => r.runInfo.profile));
  const runMachines = new Set(runs.map((r) => r.runInfo.host.arch));
  const why = (clause: Spec["clauses"][number]): string => {
    if (clause.arch && !clause.arch.some((a) => runMachines.has(MACHINE[a])))
      return `${clause.arch.join("/")} only: no run was on that architecture (runs: ${[...runMachines].join(", ")})`;
    const inRun = spec.profiles.some((p) => runProfiles.has(p.name) && spec.clauseVariant(clause, p.name) !== undefined);
    if (!inRun) return `exists only in ${Object.keys(clause.profiles).join(", ")}; no run covered those profiles`;
    if (!named.has(clause.id)) return "no case names it yet";
    const notExercising = passedOnlyAsControl.get(clause.id);
    if (notExercising) return `only cases that do not exercise it passed (they do not require ${clause.requires.join(", ")}): ${notExercising.slice(0, 3).join("; ")}`;
    const t = tried.get(clause.id);
    return t ? `its cases did not pass: ${t.slice(0, 3).join("; ")}` : "every case naming it was skipped (missing features)";
  };
  const areas: Record<string, AreaCoverage> = {};
  for (const a of spec.areas) areas[a.area] = { total: 0, covered: 0, uncovered: [], why: {} };
  for (const clause of spec.clauses) {
    const a = areas[clause.area]!;
    a.total++;
    if (coveredBy.has(clause.id)) a.covered++;
    else {
      a.uncovered.push(clause.id);
      a.why[clause.id] = why(clause);
    }
  }
  const total = spec.clauses.length;
  return {
    runs: runs.map((r) => ({ driver: r.runInfo.driver, profile: r.runInfo.profile, host: String(r.runInfo.host.kernel) })),
    clauses: { total, covered: coveredBy.size },
    areas,
    coveredBy: Object.fromEntries([...coveredBy].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()])),
    withoutCases: spec.clauses.filter((c) => !named.has(c.id)).map((c) => c.id),
  };
}

export function formatCoverage(c: CoverageReport): string {
  const lines = [`clause coverage: ${c.clauses.covered}/${c.clauses.total} clauses have a passing case`];
  for (const [area, a] of Object.entries(c.areas)) {
    const pct = a.total === 0 ? 100 : Math.round((100 * a.covered) / a.total);
    lines.push(`  ${area.padEnd(12)} ${String(a.covered).padStart(3)}/${String(a.total).padEnd(3)} ${String(pct).padStart(3)}%`);
    // Group the uncovered clauses of an area by their reason.
    const byWhy = new Map<string, string[]>();
    for (const id of a.uncovered) {
      const list = byWhy.get(a.why[id]!);
      if (list) list.push(id);
      else byWhy.set(a.why[id]!, [id]);
    }
    for (const [reason, ids] of byWhy) lines.push(`      uncovered ${ids.join(" ")}: ${reason}`);
  }
  return lines.join("\n");
}

export const COVERAGE_JSON = "coverage.json";

/** Writes coverage.json for the run it is attached to. */
export class CoverageReporter implements Reporter {
  /** allCases: every loaded case, so a filtered run still knows which clauses have cases */
  constructor(
    private readonly spec: Spec,
    private readonly dir: string,
    private readonly allCases: { id: string; clauses: string[]; requires?: string[] }[],
  ) {}

  end(info: RunInfo, results: CaseResult[]): void {
    writeReportFile(this.dir, COVERAGE_JSON, JSON.stringify(clauseCoverage(this.spec, [{ runInfo: info, cases: results }], this.allCases), null, 2) + "\n");
  }
}
