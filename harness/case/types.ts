// The loaded form of a case, whether it came from a JSON suite or a TypeScript
// scenario suite. The runner only sees this.
import type { Op } from "../../spec/driver/contract.js";

export type ParamValue = number | string | boolean;

export type ByteSpec = { fill: number | string; len: number | string } | { hex: string };
export type MatchSpec = number | string | { [cmp: string]: number | string | (number | string)[] };
export type DataMatch = { fill: number | string } | { hex: string };
export type TextMatch = { text: string };

export interface Outcome {
  ret?: MatchSpec;
  errno?: string | string[];
  signal?: string;
  out?: Record<string, MatchSpec | DataMatch | TextMatch>;
  data?: DataMatch;
  exit?: { reason: string } & Record<string, unknown>;
}

export type Expect = Outcome | { byProfile: Record<string, Outcome> } | { if: string; then: Expect; else: Expect };

export interface StepDef {
  op: Op["op"];
  as?: string;
  expect?: Expect;
  note?: string;
  /** where the step is written, for messages */
  origin: string;
  /** parameters as written: expressions, strings, byte specs, field maps */
  args: Record<string, unknown>;
}


export interface CaseDef {
  id: string;
  suite: string;
  name: string;
  title?: string;
  /** display path of the file that defines the case, and the JSON pointer within it */
  file: string;
  pointer: string;
  clauses: string[];
  /** the machine (uname -m) the case is written for: its guest code, alignments and ioctls */
  arch: string;
  requires: string[];
  profiles?: string;
  params: Record<string, ParamValue>;
  control?: string;
  timeoutMs?: number;
  kind: "steps" | "scenario";
  steps?: StepDef[];
  scenario?: import("../scenario/index.js").ScenarioBody;
  fixtures?: string[];
}
