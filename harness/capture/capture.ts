// Host captures: what one real host did, case by case and step by step, kept in the
// repository so that the reference can be held to that host on any machine, after the
// host itself is gone (captures/README.md). One JSON line each: a header with the
// driver's whole handshake, then one line per case, written as cases finish.
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { inputFileProblem } from "../case/load.js";
import { dirname } from "node:path";
import { InputError, type InputProblem } from "../../spec/errors.js";
import { checkText, displayPath, schemaProblems } from "../../spec/validate.js";
import type { Handshake } from "../../spec/driver/contract.js";
import type { TraceEntry } from "../case/execute.js";
import type { CaseResult, Reporter, RunInfo } from "../runner/runner.js";
import type { OutcomeName } from "../runner/outcomes.js";

export const CAPTURE_FORMAT = 1;

export interface CaptureHeader {
  type: "capture";
  format: typeof CAPTURE_FORMAT;
  capturedAt: string;
  tool: { version: string; suiteRevision: string; command?: string };
  driver: string;
  filters?: string[];
  handshake: Handshake;
}

export interface CapturedCase {
  type: "case";
  id: string;
  kind: CaseResult["kind"];
  /** the host's verdict before any expectations file was applied */
  outcome: OutcomeName;
  message?: string;
  trace?: TraceEntry[];
}

export interface Capture {
  file: string;
  header: CaptureHeader;
  cases: CapturedCase[];
}

/** The handshake a run began with, whole. */
export function handshakeOf(info: RunInfo): Handshake {
  return { contractVersion: info.contractVersion, name: info.driverName, version: info.driverVersion, profile: info.profile as Handshake["profile"], features: info.features, host: info.host };
}

/** Writes a capture as the run goes; a killed run keeps every case it finished. */
export class CaptureReporter implements Reporter {
  private fd: number | undefined;
  written = 0;

  constructor(
    private readonly file: string,
    private readonly toolVersion: string,
    private readonly command: string,
  ) {}

  begin(info: RunInfo): void {
    if (info.skippedRun !== undefined) return;
    mkdirSync(dirname(this.file), { recursive: true });
    this.fd = openSync(this.file, "w");
    const header: CaptureHeader = {
      type: "capture",
      format: CAPTURE_FORMAT,
      capturedAt: info.startedAt,
      tool: { version: this.toolVersion, suiteRevision: info.suiteRevision, command: this.command },
      driver: info.driver,
      ...(info.filters.length > 0 ? { filters: info.filters } : {}),
      handshake: handshakeOf(info),
    };
    writeSync(this.fd, JSON.stringify(header) + "\n");
  }

  caseDone(r: CaseResult): void {
    if (this.fd === undefined) return;
    const raw = r.actual ?? { outcome: r.outcome, ...(r.message !== undefined ? { message: r.message } : {}) };
    const line: CapturedCase = { type: "case", id: r.id, kind: r.kind, ...raw, ...(r.trace ? { trace: r.trace } : {}) };
    writeSync(this.fd, JSON.stringify(line) + "\n");
    this.written++;
  }

  end(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A capture records a whole run's traces: larger than other inputs, still bounded. */
export const MAX_CAPTURE_BYTES = 256 * 1024 * 1024;

function captureText(file: string): string {
  const problem = inputFileProblem(file, MAX_CAPTURE_BYTES);
  if (problem) throw new InputError([problem]);
  return readFileSync(file, "utf8");
}

/** Only the header line, validated: what configures a reference as the captured host. */
export function readCaptureHeader(file: string): CaptureHeader {
  const problem = inputFileProblem(file, MAX_CAPTURE_BYTES);
  if (problem) throw new InputError([problem]);
  const line = firstLine(file);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = undefined;
  }
  // A header that validated before is not validated again (spec/validate.ts checkText); a bad one is reported by parseLines.
  if ((value as CaptureHeader | undefined)?.type === "capture")
    try {
      checkText("capture.schema.json", line, value, file);
      return value as CaptureHeader;
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
    }
  return parseLines(file, [line]).header;
}

/** A file's first line, read up to its first newline only (a capture's cases can be megabytes). */
function firstLine(file: string): string {
  const fd = openSync(file, "r");
  try {
    const chunks: Buffer[] = [];
    for (let at = 0; ; ) {
      const buf = Buffer.alloc(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, at);
      const nl = buf.subarray(0, n).indexOf(10);
      chunks.push(buf.subarray(0, nl < 0 ? n : nl));
      if (n === 0 || nl >= 0) return Buffer.concat(chunks).toString("utf8");
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Read and validate a capture: every line against spec/schema/capture.schema.json. */
export function readCapture(file: string): Capture {
  return parseLines(file, captureText(file).split("\n"));
}

function parseLines(file: string, all: string[]): Capture {
  const shown = displayPath(file);
  const problems: InputProblem[] = [];
  const lines = all.filter((l) => l.trim() !== "");
  const parsed = lines.map((l, i) => {
    try {
      const value = JSON.parse(l) as unknown;
      for (const p of schemaProblems("capture.schema.json", value, file)) problems.push({ ...p, pointer: `line ${i + 1}${p.pointer}` });
      return value as CaptureHeader | CapturedCase;
    } catch (err) {
      problems.push({ file: shown, pointer: `line ${i + 1}`, expected: `one JSON value (${(err as Error).message})` });
      return undefined;
    }
  });
  const [header, ...rest] = parsed;
  if (header?.type !== "capture") problems.push({ file: shown, pointer: "line 1", expected: 'the capture header ({"type": "capture", ...})' });
  const seen = new Set<string>();
  rest.forEach((c, i) => {
    if (c === undefined) return;
    if (c.type !== "case") problems.push({ file: shown, pointer: `line ${i + 2}`, expected: "a case line (only the first line is a header)" });
    else if (seen.has(c.id)) problems.push({ file: shown, pointer: `line ${i + 2}/id`, expected: `a case id not captured before (${c.id} is)` });
    else seen.add(c.id);
  });
  if (problems.length > 0) throw new InputError(problems);
  return { file, header: header as CaptureHeader, cases: rest as CapturedCase[] };
}

/** Captured cases in the runner's result form, for comparing with a live run. */
export function capturedResults(capture: Capture): CaseResult[] {
  return capture.cases.map((c) => ({
    id: c.id,
    kind: c.kind,
    outcome: c.outcome,
    expected: "PASS",
    area: "",
    clauses: [],
    durationMs: 0,
    ...(c.message !== undefined ? { message: c.message } : {}),
    repro: "",
    ...(c.trace ? { trace: c.trace } : {}),
  }));
}
