// `privmem-cts captures`: what each committed host capture recorded, and whether the
// reference configured as that host agrees with it. The README's table of real-kernel
// figures is this command's --markdown output (a test keeps them equal).
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR, PROJECT_ROOT } from "../../spec/paths.js";
import { relative } from "node:path";
import { loadSuites } from "../case/load.js";
import { readCapture } from "../capture/capture.js";
import { committedCaptures } from "../drivers/index.js";
import { Expectations } from "../runner/expectations.js";
import { agreeWithCapture } from "./agree.js";
import { out, parse } from "./common.js";

export const CAPTURES_HELP = `privmem-cts captures [--markdown]

For each committed capture (captures/*.jsonl): the kernel build, when and with
which suites it was recorded, the host's verdicts, and the agreement of the
reference configured as that host (explained differences are host quirks in
expectations/<driver>.json that name the build). --markdown prints the table the
README shows. Exit 1 when a capture has an unexplained difference.`;

export interface CaptureRow {
  file: string;
  kernel: string;
  capturedAt: string;
  profile: string;
  outcomes: Record<string, number>;
  agree: number;
  differ: number;
  unexplained: number;
}

export async function captureRows(): Promise<CaptureRow[]> {
  const spec = loadSpec();
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  const rows: CaptureRow[] = [];
  for (const file of committedCaptures()) {
    const capture = readCapture(file);
    const hs = capture.header.handshake;
    const report = await agreeWithCapture(spec, cases, files, capture, Expectations.forDriver(EXPECTATIONS_DIR, hs.name));
    const outcomes: Record<string, number> = {};
    for (const c of capture.cases) outcomes[c.outcome] = (outcomes[c.outcome] ?? 0) + 1;
    const s = report.summary;
    rows.push({ file: relative(PROJECT_ROOT, file), kernel: hs.host.kernel, capturedAt: capture.header.capturedAt.slice(0, 10), profile: hs.profile, outcomes, agree: s.agree, differ: s.differ, unexplained: s.differ - s.explained });
  }
  return rows;
}

export function capturesMarkdown(rows: CaptureRow[]): string {
  const n = (x: number | undefined) => (x ?? 0).toLocaleString("en-US");
  return [
    "| capture | kernel build | recorded | profile | cases | pass | fail | skip | reference agrees | differ (unexplained) |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) => {
      const total = Object.values(r.outcomes).reduce((a, b) => a + b, 0);
      return `| \`${r.file}\` | ${r.kernel} | ${r.capturedAt} | ${r.profile} | ${n(total)} | ${n(r.outcomes.PASS)} | ${n(r.outcomes.FAIL)} | ${n(r.outcomes.SKIP)} | ${n(r.agree)} | ${n(r.differ)} (${n(r.unexplained)}) |`;
    }),
  ].join("\n");
}

export async function cmdCaptures(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { markdown: { type: "boolean", default: false } });
  const rows = await captureRows();
  if (o.markdown) out(capturesMarkdown(rows));
  else for (const r of rows) out(`${r.file}: ${r.kernel}, recorded ${r.capturedAt} at ${r.profile}; ${Object.entries(r.outcomes).map(([k, v]) => `${v} ${k}`).join(", ")}; reference agrees on ${r.agree}, differs on ${r.differ} (${r.unexplained} unexplained)`);
  return rows.some((r) => r.unexplained > 0) ? 1 : 0;
}
