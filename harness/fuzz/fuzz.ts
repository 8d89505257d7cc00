// Model-based differential fuzzing: fast-check generates sequences of abstract steps
// (harness/fuzz/vocab.ts), both drivers run each step, and their outcomes are compared
// step by step. A sequence ends at its first divergence. Where the two sides run different
// profiles, a divergence on a step whose subject has a clause that `profiles diff` lists
// between them is expected: it is counted under those clauses and the sequence ends. Any
// other divergence fails the property; fast-check shrinks the sequence and the shrunk
// counterexample is returned with each side's outcomes. The same seed replays exactly.
import fc from "fast-check";
import type { Driver } from "../../spec/driver/contract.js";
import type { ProfileName, Spec } from "../../spec/index.js";
import { diffProfiles } from "../cli/profiles.js";
import { describeOutcome, Executor, isSync, sameOutcome, type Outcome, type StepResult, type SyncDriver } from "./exec.js";
import { SUBJECTS, sequenceArbitrary, usableKinds, type Step, type StepKind } from "./vocab.js";

export interface FuzzOptions {
  ops: number;
  seed: number;
  /** steps per sequence at most (sequences are 1 to maxLength steps after the first VM) */
  maxLength: number;
}

export interface Divergence {
  steps: Step[];
  /** each side's outcome per step; null where the step named nothing and was skipped */
  a: (Outcome | null)[];
  b: (Outcome | null)[];
  at: number;
  why: string;
}

export interface FuzzReport {
  seed: number;
  sequences: number;
  ops: number;
  seconds: number;
  /** CPU time of this process (user + system) over the run: on a shared machine, wall time measures the other jobs too */
  cpuSeconds: number;
  kinds: StepKind[];
  /** divergences explained by a clause that differs between the two profiles: clause id -> count */
  explained: Record<string, number>;
  /** sequences cut short because one driver could not run a step (DriverFailure unsupported) */
  unsupported: number;
  counterexample?: Divergence & { path: string };
}

type SeqResult = { divergence?: Divergence; explainedBy?: string[]; unsupported?: boolean; ops: number };

/**
 * The clauses among `candidates` that say which errno each side gives: both variants name
 * errnos and each side's errno is one of its variant's. When none does, every candidate.
 */
function narrowByErrno(spec: Spec, candidates: string[], pa: ProfileName, pb: ProfileName, a: Outcome, b: Outcome): string[] {
  const byErrno = candidates.filter((id) => {
    const c = spec.clauses.find((x) => x.id === id)!;
    const va = spec.clauseVariant(c, pa)?.errno;
    const vb = spec.clauseVariant(c, pb)?.errno;
    return va !== undefined && vb !== undefined && a.errno !== undefined && b.errno !== undefined && va.includes(a.errno) && vb.includes(b.errno);
  });
  return byErrno.length > 0 ? byErrno : candidates;
}

/** Clause ids, by subject, that `profiles diff` lists between the two profiles. */
function changedBySubject(spec: Spec, pa: string, pb: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  if (pa === pb) return m;
  const d = diffProfiles(pa, pb);
  const subjectOf = new Map(spec.clauses.map((c) => [c.id, c.subject]));
  for (const c of [...d.added, ...d.removed, ...d.changed]) {
    const s = subjectOf.get(c.id)!;
    m.set(s, [...(m.get(s) ?? []), c.id]);
  }
  return m;
}

export async function fuzz(spec: Spec, a: Driver, b: Driver, o: FuzzOptions, progress?: (r: FuzzReport) => void): Promise<FuzzReport> {
  const ea = new Executor(a, spec);
  const eb = new Executor(b, spec);
  const fa = new Set(a.handshake.features);
  const features = new Set(b.handshake.features.filter((f) => fa.has(f)));
  const kinds = usableKinds(features);
  const changed = changedBySubject(spec, a.handshake.profile, b.handshake.profile);
  const report: FuzzReport = { seed: o.seed, sequences: 0, ops: 0, seconds: 0, kinds, explained: {}, unsupported: 0, cpuSeconds: 0 };
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();

  /** Compares step i's two results; a SeqResult ends the sequence, undefined goes on. */
  function compare(steps: Step[], i: number, ra: StepResult, rb: StepResult, oa: (Outcome | null)[], ob: (Outcome | null)[]): SeqResult | undefined {
    if (ra.kind === "unsupported" || rb.kind === "unsupported") return { unsupported: true, ops: i + 1 };
    if ((ra.op === null) !== (rb.op === null)) throw new Error(`fuzz: the two sides resolved step ${i} differently (a bug of the fuzzer)`);
    oa.push(ra.op === null ? null : ra.outcome);
    ob.push(rb.op === null ? null : rb.outcome);
    if (ra.op === null || sameOutcome(ra.outcome, rb.outcome)) return undefined;
    const s = steps[i]!;
    const candidates = SUBJECTS[s.k].flatMap((subj) => changed.get(subj) ?? []);
    const explainedBy = narrowByErrno(spec, candidates, a.handshake.profile, b.handshake.profile, ra.outcome, rb.outcome);
    if (explainedBy.length > 0) return { explainedBy, ops: i + 1 };
    const why = `step ${i} ${s.k}: A ${describeOutcome(ra.outcome)}; B ${describeOutcome(rb.outcome)}`;
    return { divergence: { steps: steps.slice(0, i + 1), a: oa, b: ob, at: i, why }, ops: i + 1 };
  }

  async function runSequence(steps: Step[]): Promise<SeqResult> {
    await ea.restart();
    await eb.restart();
    const oa: (Outcome | null)[] = [];
    const ob: (Outcome | null)[] = [];
    for (let i = 0; i < steps.length; i++) {
      const r = compare(steps, i, await ea.run(steps[i]!), await eb.run(steps[i]!), oa, ob);
      if (r) return r;
    }
    return { ops: steps.length };
  }

  /** runSequence for two drivers that answer synchronously: no promise per step. */
  function runSequenceSync(sa: SyncDriver, sb: SyncDriver, steps: Step[]): SeqResult {
    ea.restartSync(sa);
    eb.restartSync(sb);
    const oa: (Outcome | null)[] = [];
    const ob: (Outcome | null)[] = [];
    for (let i = 0; i < steps.length; i++) {
      const r = compare(steps, i, ea.runSync(sa, steps[i]!), eb.runSync(sb, steps[i]!), oa, ob);
      if (r) return r;
    }
    return { ops: steps.length };
  }

  const arb = sequenceArbitrary(kinds, features, o.maxLength);
  let shrinking = false;
  let last: Divergence | undefined;
  let lastProgress = Date.now();
  function record(r: SeqResult): boolean {
    if (!shrinking) {
      report.sequences++;
      report.ops += r.ops;
      if (r.unsupported) report.unsupported++;
      for (const id of r.explainedBy ?? []) report.explained[id] = (report.explained[id] ?? 0) + 1;
      if (progress && report.sequences % 500 === 0) {
        // at most one progress line a second: writing to a pipe costs more than a step
        const now = Date.now();
        if (now - lastProgress >= 1000) {
          lastProgress = now;
          progress(report);
        }
      }
    }
    if (r.divergence) {
      shrinking = true;
      last = r.divergence;
      return false;
    }
    return true;
  }
  const numRuns = Math.max(1, Math.ceil(o.ops / Math.max(1, (o.maxLength + 2) / 2)));
  const params = { seed: o.seed, numRuns, endOnFailure: false, markInterruptAsFailure: false };
  const result =
    isSync(a) && isSync(b)
      ? fc.check(fc.property(arb, (steps) => record(runSequenceSync(a, b, steps))), params)
      : await fc.check(fc.asyncProperty(arb, async (steps) => record(await runSequence(steps))), params);
  report.seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStarted);
  report.cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (result.failed && last) report.counterexample = { ...last, path: result.counterexample ? (result.counterexamplePath ?? "") : "" };
  else if (result.failed) throw new Error(`fuzz: the property failed without a divergence: ${String(result.errorInstance)}`);
  return report;
}
