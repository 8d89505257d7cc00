// Two drivers compared case by case and, for step cases, step by step: what each
// step observed (success, errno, signal, exit, data; not fd numbers or addresses).
import { loadSpec } from "../../spec/index.js";
import { handleKind } from "../../spec/driver/returns.js";
import type { TraceEntry } from "../case/execute.js";
import type { Expectations } from "./expectations.js";
import type { CaseResult } from "./runner.js";

/** What a step observed that two implementations must agree on. */
export function observation(t: TraceEntry): string {
  const op = t.op as Record<string, unknown>;
  const r = t.result as { ret: unknown; errno?: string; signal?: string; out?: Record<string, unknown>; exit?: Record<string, unknown> };
  const name = op.op === "ioctl" ? `ioctl ${String(op.request)}` : String(op.op);
  if (r.signal) return `${name}: signal ${r.signal}`;
  if (r.errno) return `${name}: errno ${r.errno}${r.exit ? ` exit ${JSON.stringify(r.exit)}` : ""}`;
  const handle = handleKind(loadSpec(), { ...op, op: String(op.op) }) !== undefined;
  const parts = [`${name}: ok`];
  if (!handle && !isAddressPosition(op, r.ret)) parts.push(`ret ${String(r.ret)}`);
  if (typeof r.out?.data === "string") parts.push(`data ${r.out.data}`);
  if (r.exit) parts.push(`exit ${JSON.stringify(r.exit)}`);
  return parts.join(" ");
}

/** A position of /proc/PID/mem is an address of the process, which differs between drivers;
 *  no other file a case seeks comes near 4 GiB, so a position that large is taken as one. */
function isAddressPosition(op: Record<string, unknown>, ret: unknown): boolean {
  return op.op === "lseek" && (typeof ret === "number" || typeof ret === "bigint" || typeof ret === "string") && BigInt(ret) >= 1n << 32n;
}

export interface CaseAgreement {
  id: string;
  a: string;
  b: string;
  /** agree: same outcome and, for step cases, the same observations; differ; or not comparable (skipped on one side) */
  verdict: "agree" | "differ" | "not-comparable";
  firstDifference?: { step: number; a: string; b: string };
  messages?: { a?: string; b?: string };
  explainedBy?: string;
}

export function compareRuns(a: CaseResult[], b: CaseResult[], explain: Expectations): CaseAgreement[] {
  const byId = new Map(b.map((r) => [r.id, r]));
  const out: CaseAgreement[] = [];
  for (const ra of a) {
    const rb = byId.get(ra.id);
    if (!rb) continue;
    const messages = { ...(ra.message ? { a: ra.message } : {}), ...(rb.message ? { b: rb.message } : {}) };
    if ((ra.outcome === "SKIP") !== (rb.outcome === "SKIP")) {
      out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "not-comparable", messages });
      continue;
    }
    // A scenario may loop on what it observes (a clock, a retry), so its steps are not compared one by one.
    let diff: CaseAgreement["firstDifference"];
    if (ra.kind === "steps") {
      const ta = (ra.trace ?? []).map(observation);
      const tb = (rb.trace ?? []).map(observation);
      for (let i = 0; i < Math.max(ta.length, tb.length); i++)
        if (ta[i] !== tb[i]) {
          diff = { step: i + 1, a: ta[i] ?? "(no step)", b: tb[i] ?? "(no step)" };
          break;
        }
    }
    if (ra.outcome === rb.outcome && diff === undefined) {
      out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "agree" });
      continue;
    }
    const entry = explain.lookup(ra.id);
    out.push({ id: ra.id, a: ra.outcome, b: rb.outcome, verdict: "differ", ...(diff ? { firstDifference: diff } : {}), messages, ...(entry ? { explainedBy: `${entry.query}: ${entry.reason}` } : {}) });
  }
  return out;
}
