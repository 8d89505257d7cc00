// Report files under --out: results.jsonl (streamed, survives a killed run),
// results.json and JUnit XML (written at the end).
import { closeSync, constants, existsSync, readdirSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { UsageError } from "../../spec/errors.js";
import type { CaseResult, Reporter, RunInfo } from "../runner/runner.js";
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

/** Directories the user named as --out: the only symlinks a report is written through. */
const claimed = new Set<string>();

/** Create a report directory (and its parents) without following a symlink planted inside --out. */
export function ensureDir(dir: string): void {
  try {
    const st = lstatSync(dir);
    if (st.isDirectory()) return;
    if (st.isSymbolicLink() && claimed.has(dir) && statSync(dir).isDirectory()) return;
    if (st.isSymbolicLink()) throw new UsageError(`${dir} is a symlink: reports are not written through symlinks inside --out`);
    throw new UsageError(`${dir} is not a directory`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err instanceof UsageError ? err : new UsageError(`cannot use ${dir}: ${(err as Error).message}`);
  }
  const parent = dirname(dir);
  if (parent !== dir) ensureDir(parent);
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw new UsageError(`cannot create ${dir}: ${(err as Error).message}`);
  }
}

/**
 * Write a report file atomically: a new temporary file beside it (O_EXCL, so never through a
 * symlink), then rename over the old one (which replaces a symlink rather than following it).
 */
export function writeReportFile(dir: string, name: string, text: string): void {
  ensureDir(dir);
  const target = join(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
}

/** Open a fresh file for streaming, never through a symlink. */
function openFresh(dir: string, name: string): number {
  ensureDir(dir);
  const target = join(dir, name);
  rmSync(target, { force: true });
  return openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
}

export const LOCK_FILE = ".privmem-cts.lock";
const REPORT_FILES = [RESULTS_JSONL, RESULTS_JSON, JUNIT_XML, "coverage.json", "matrix.html"];

/**
 * Take --out for this run: refuse what is not a usable directory (a file, /proc, /sys, unwritable),
 * refuse a directory another live run holds, and remove the previous run's reports so that
 * nothing stale is left beside this run's. The lock goes when the process exits.
 */
export function claimOutDir(dir: string): void {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  let real: string;
  try {
    real = realpathSync(existing);
  } catch (err) {
    throw new UsageError(`--out ${dir}: ${(err as Error).message}`);
  }
  if (/^\/(proc|sys|dev)(\/|$)/.test(real)) throw new UsageError(`--out ${dir}: reports cannot be written under /${real.split("/")[1]}`);
  if (!statSync(real).isDirectory()) throw new UsageError(`--out ${dir}: ${existing} is not a directory`);
  claimed.add(dir);
  ensureDir(dir);
  const lock = join(dir, LOCK_FILE);
  let fd: number;
  try {
    fd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EEXIST") throw new UsageError(`--out ${dir} is not writable: ${(err as Error).message}`);
    const holder = Number(readFileSync(lock, "utf8").trim());
    let alive = false;
    try {
      alive = Number.isInteger(holder) && holder > 0 && (process.kill(holder, 0), true);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === "EPERM";
    }
    if (alive && holder !== process.pid) throw new UsageError(`--out ${dir} is in use by another run (pid ${holder}); wait for it or choose another --out`);
    unlinkSync(lock); // left by a run that died
    return claimOutDir(dir);
  }
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  process.on("exit", () => rmSync(lock, { force: true }));
  removeReports(dir);
}

/** Remove the report files of an earlier run (in dir and in its per-configuration subfolders). */
function removeReports(dir: string): void {
  for (const f of REPORT_FILES) rmSync(join(dir, f), { force: true });
  for (const sub of readdirSafe(dir)) {
    const p = join(dir, sub);
    if (/^[a-z0-9.-]+@[a-z0-9-]+$/.test(sub) && lstatSync(p).isDirectory()) for (const f of REPORT_FILES) rmSync(join(p, f), { force: true });
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Appends one line per finished case with write(2), so a killed runner keeps what it finished. */
export class JsonlReporter implements Reporter {
  private fd: number | undefined;
  /** withTrace: keep each case's operations and results (for agreement reports and debugging) */
  constructor(
    private readonly dir: string,
    private readonly withTrace = false,
  ) {}

  begin(info: RunInfo): void {
    this.fd = openFresh(this.dir, RESULTS_JSONL);
    writeSync(this.fd, JSON.stringify({ type: "run", ...info }) + "\n");
  }

  caseDone(r: CaseResult): void {
    if (this.fd !== undefined) writeSync(this.fd, JSON.stringify({ type: "case", ...(this.withTrace || r.trace === undefined ? r : publicCase(r)) }) + "\n");
  }

  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class JsonReporter implements Reporter {
  constructor(private readonly dir: string) {}

  end(info: RunInfo, results: CaseResult[], summary: Record<OutcomeName, number>): void {
    const file: ResultsFile = { runInfo: { ...info, finishedAt: new Date().toISOString() }, summary, cases: results.map(publicCase) };
    writeReportFile(this.dir, RESULTS_JSON, JSON.stringify(file, null, 2) + "\n");
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
    writeReportFile(this.dir, JUNIT_XML, junitXml(info, results));
  }
}
