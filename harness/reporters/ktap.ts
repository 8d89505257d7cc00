// KTAP v1 (Documentation/dev-tools/ktap.rst): one nested suite per area, results
// streamed as cases finish, diagnostics before the result they explain.
import type { Writable } from "node:stream";
import type { CaseResult, Reporter, RunInfo } from "../runner/runner.js";
import { isBad, type OutcomeName } from "../runner/outcomes.js";

/** One line of text from anywhere (a driver, a case id): no line breaks, no control or escape characters. */
export function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return String(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ").replace(/\s+/g, " ").trim();
}

const clean = (s: string) => oneLine(s.replace(/#/g, "%23"));

export function ktapLine(n: number, result: Pick<CaseResult, "id" | "outcome" | "message">): string {
  const r = { ...result, id: clean(result.id) };
  const msg = r.message ? clean(r.message) : "";
  switch (r.outcome) {
    case "PASS": return `ok ${n} ${r.id}`;
    case "SKIP": return `ok ${n} ${r.id} # SKIP ${msg}`.trimEnd();
    case "XFAIL": return `ok ${n} ${r.id} # XFAIL ${msg}`.trimEnd();
    case "TIMEOUT": return `not ok ${n} ${r.id} # TIMEOUT ${msg}`.trimEnd();
    case "ERROR": return `not ok ${n} ${r.id} # ERROR ${msg}`.trimEnd();
    case "CRASH": return `not ok ${n} ${r.id} # ERROR CRASH ${msg}`.trimEnd();
    case "XPASS": return `not ok ${n} ${r.id} # XPASS ${msg}`.trimEnd();
    case "FAIL": return `not ok ${n} ${r.id}`;
  }
}

/** At most this long between a line and its write: a run streams, without one write per line. */
const FLUSH_MS = 100;

export class KtapReporter implements Reporter {
  private areas: { area: string; count: number }[] = [];
  private areaIndex = -1;
  private inArea = 0;
  private areaBad = false;
  private areaAllSkipped = true;
  /** whether the document ended early with "Bail out!" (an interrupted run) */
  bailedOut = false;
  /** lines not written yet: a fast driver's lines go out together, a slow driver's as they come */
  private pending: string[] = [];
  private flushedAt = performance.now();
  /** writes what is pending when no further line comes soon (a slow case next) */
  private timer: NodeJS.Timeout | undefined;

  /** prefix indents the whole document, to nest it under a parent (several runs in one KTAP stream) */
  constructor(
    private readonly out: Writable,
    private readonly prefix = "",
  ) {}

  private w(line: string): void {
    this.pending.push(this.prefix + line + "\n");
    if (performance.now() - this.flushedAt >= FLUSH_MS) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  private flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length > 0) this.out.write(this.pending.join(""));
    this.pending = [];
    this.flushedAt = performance.now();
  }

  begin(info: RunInfo, plan: { id: string; area: string }[]): void {
    for (const p of plan) {
      const last = this.areas[this.areas.length - 1];
      if (last && last.area === p.area) last.count++;
      else this.areas.push({ area: p.area, count: 1 });
    }
    this.w("KTAP version 1");
    if (info.skippedRun !== undefined) {
      this.w(`1..0 # SKIP ${clean(info.skippedRun)}`);
      this.flush();
      return;
    }
    this.w(`1..${this.areas.length}`);
    this.w(oneLine(`# privmem-cts: driver ${info.driver} (${info.driverName} ${info.driverVersion}), profile ${info.profile}, kernel ${info.host.kernel}, ${plan.length} cases`));
  }

  private closeArea(): void {
    if (this.areaIndex < 0) return;
    const a = this.areas[this.areaIndex]!;
    const n = this.areaIndex + 1;
    if (this.areaBad) this.w(`not ok ${n} ${clean(a.area)}`);
    else if (this.areaAllSkipped) this.w(`ok ${n} ${clean(a.area)} # SKIP`);
    else this.w(`ok ${n} ${clean(a.area)}`);
  }

  caseDone(r: CaseResult): void {
    const current = this.areas[this.areaIndex];
    if (!current || this.inArea === current.count) {
      this.closeArea();
      this.areaIndex++;
      this.inArea = 0;
      this.areaBad = false;
      this.areaAllSkipped = true;
      const a = this.areas[this.areaIndex]!;
      this.w("  KTAP version 1");
      this.w(`  1..${a.count}`);
    }
    this.inArea++;
    if (r.outcome !== "SKIP") this.areaAllSkipped = false;
    if (isBad(r.outcome)) {
      this.areaBad = true;
      if (r.message) for (const line of r.message.split("\n").slice(0, 8)) this.w(`  # ${oneLine(`${r.id}: ${line}`)}`);
      this.w(`  # repro: ${oneLine(r.repro)}`);
    }
    this.w("  " + ktapLine(this.inArea, r));
  }

  end(_info: RunInfo, _results: CaseResult[], s: Record<OutcomeName, number>): void {
    const planned = this.areas.reduce((n, a) => n + a.count, 0);
    const current = this.areas[this.areaIndex];
    // An interrupted run ends its plans early: the open area gets no result of its own, and
    // "Bail out!" says the rest was not run (as kselftest does), so no plan is silently short.
    if (!_info.interrupted || (current !== undefined && this.inArea === current.count)) this.closeArea();
    if (_info.circuitBroken !== undefined) this.w(`# ${oneLine(_info.circuitBroken)}`);
    if (_info.interrupted) {
      const done = this.areas.slice(0, Math.max(this.areaIndex, 0)).reduce((n, a) => n + a.count, 0) + (current ? this.inArea : 0);
      if (done < planned) {
        this.flush();
        this.out.write(`Bail out! the run was interrupted: ${done} of ${planned} cases finished, the rest were not run\n`);
        this.bailedOut = true;
      }
      else this.w("# the run was interrupted after its last case");
    }
    this.w(`# Totals: pass:${s.PASS} fail:${s.FAIL} xfail:${s.XFAIL} xpass:${s.XPASS} skip:${s.SKIP} error:${s.ERROR} timeout:${s.TIMEOUT} crash:${s.CRASH}`);
    this.flush();
  }
}
