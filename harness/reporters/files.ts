// Report files under --out: results.jsonl (streamed, survives a killed run),
// results.json and JUnit XML (written at the end).
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { CaseResult, Reporter, RunInfo } from "../runner/run.js";
import { junitKind, type OutcomeName } from "../runner/outcomes.js";
import { escapeMarkup as xml } from "./text.js";

export const RESULTS_JSON = "results.json";
export const RESULTS_JSONL = "results.jsonl";
export const JUNIT_XML = "junit.xml";

export interface ResultsFile {
  runInfo: RunInfo & { finishedAt: string };
  summary: Record<OutcomeName, number>;
  cases: CaseResult[];
}

const publicCase = ({ trace: _t, ...rest }: CaseResult) => rest;

/** Appends one line per finished case with write(2), so a killed runner keeps what it finished. */
export class JsonlReporter implements Reporter {
  private fd: number | undefined;
  /** withTrace: keep each case's operations and results (for agreement reports and debugging) */
  constructor(
    private readonly dir: string,
    private readonly withTrace = false,
  ) {}

  begin(info: RunInfo): void {
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(join(this.dir, RESULTS_JSONL), "w");
    writeSync(this.fd, JSON.stringify({ type: "run", ...info }) + "\n");
  }

  caseDone(r: CaseResult): void {
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify({ type: "case", ...(this.withTrace ? r : publicCase(r)) }) + "\n");
  }

  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class JsonReporter implements Reporter {
  constructor(private readonly dir: string) {}

  end(info: RunInfo, results: CaseResult[], summary: Record<OutcomeName, number>): void {
    mkdirSync(this.dir, { recursive: true });
    const file: ResultsFile = { runInfo: { ...info, finishedAt: new Date().toISOString() }, summary, cases: results.map(publicCase) };
    writeFileSync(join(this.dir, RESULTS_JSON), JSON.stringify(file, null, 2) + "\n");
  }
}


export function junitXml(info: RunInfo, results: CaseResult[]): string {
  const byArea = new Map<string, CaseResult[]>();
  for (const r of results) {
    const list = byArea.get(r.area);
    if (list) list.push(r);
    else byArea.set(r.area, [r]);
  }
  const counts = (rs: CaseResult[]) => {
    const n = { failure: 0, error: 0, skipped: 0 };
    for (const r of rs) {
      const k = junitKind(r.outcome);
      if (k) n[k]++;
    }
    return `tests="${rs.length}" failures="${n.failure}" errors="${n.error}" skipped="${n.skipped}"`;
  };
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="privmem-cts ${xml(info.driver)} ${xml(info.profile)}" ${counts(results)}>`];
  for (const [area, rs] of byArea) {
    const time = rs.reduce((t, r) => t + r.durationMs, 0) / 1000;
    lines.push(`  <testsuite name="${xml(area)}" ${counts(rs)} time="${time.toFixed(3)}">`);
    for (const r of rs) {
      const open = `    <testcase classname="${xml(area)}" name="${xml(r.id)}" time="${(r.durationMs / 1000).toFixed(4)}"`;
      const msg = xml(r.message ?? "");
      const kind = junitKind(r.outcome);
      const body =
        kind === "skipped"
          ? `<skipped message="${r.outcome === "XFAIL" ? "XFAIL: " : ""}${msg}"/>`
          : kind !== undefined
            ? `<${kind} type="${r.outcome}" message="${msg}">${xml(r.repro)}</${kind}>`
            : "";
      lines.push(body ? `${open}>${body}</testcase>` : `${open}/>`);
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>");
  return lines.join("\n") + "\n";
}

export class JunitReporter implements Reporter {
  constructor(private readonly dir: string) {}
  end(info: RunInfo, results: CaseResult[]): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, JUNIT_XML), junitXml(info, results));
  }
}
