// Report files under --out: results.jsonl (streamed, survives a killed run),
// results.json and JUnit XML (written at the end).
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { CaseResult, Reporter, RunInfo } from "../runner/run.js";
import type { OutcomeName } from "../runner/outcomes.js";

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

const xml = (s: string) => s.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!).replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, "");

export function junitXml(info: RunInfo, results: CaseResult[]): string {
  const byArea = new Map<string, CaseResult[]>();
  for (const r of results) byArea.set(r.area, [...(byArea.get(r.area) ?? []), r]);
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const count = (rs: CaseResult[], os: OutcomeName[]) => rs.filter((r) => os.includes(r.outcome)).length;
  lines.push(`<testsuites name="privmem-cts ${xml(info.driver)} ${xml(info.profile)}" tests="${results.length}" failures="${count(results, ["FAIL", "XPASS"])}" errors="${count(results, ["ERROR", "CRASH", "TIMEOUT"])}" skipped="${count(results, ["SKIP", "XFAIL"])}">`);
  for (const [area, rs] of byArea) {
    const time = rs.reduce((t, r) => t + r.durationMs, 0) / 1000;
    lines.push(`  <testsuite name="${xml(area)}" tests="${rs.length}" failures="${count(rs, ["FAIL", "XPASS"])}" errors="${count(rs, ["ERROR", "CRASH", "TIMEOUT"])}" skipped="${count(rs, ["SKIP", "XFAIL"])}" time="${time.toFixed(3)}">`);
    for (const r of rs) {
      const open = `    <testcase classname="${xml(area)}" name="${xml(r.id)}" time="${(r.durationMs / 1000).toFixed(4)}"`;
      const msg = xml(r.message ?? "");
      const body =
        r.outcome === "FAIL" || r.outcome === "XPASS"
          ? `<failure type="${r.outcome}" message="${msg}">${xml(r.repro)}</failure>`
          : r.outcome === "ERROR" || r.outcome === "CRASH" || r.outcome === "TIMEOUT"
            ? `<error type="${r.outcome}" message="${msg}">${xml(r.repro)}</error>`
            : r.outcome === "SKIP" || r.outcome === "XFAIL"
              ? `<skipped message="${r.outcome === "XFAIL" ? "XFAIL: " : ""}${msg}"/>`
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
