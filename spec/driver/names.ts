// The names a driver may write on the wire, each from one vocabulary: errno and
// signal names from spec/constants.json, feature names from spec/features.json,
// operation names from ops.ts. An alias (ENOTSUP, EDEADLOCK, SIGIOT) is refused
// with the spelling the contract uses, never mapped silently: a driver that maps
// its platform's names does so on purpose.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SPEC_DIR } from "../paths.js";
import { OPS } from "./ops.js";

interface Vocabulary {
  errno: readonly string[];
  signal: readonly string[];
  features: readonly string[];
}

let vocabulary: Vocabulary | undefined;
/** The names of spec/constants.json's errno and signal groups and of spec/features.json, in file order. */
export function wireVocabulary(): Vocabulary {
  if (vocabulary) return vocabulary;
  const constants = JSON.parse(readFileSync(join(SPEC_DIR, "constants.json"), "utf8")) as { constants: Record<string, Record<string, unknown>> };
  const features = JSON.parse(readFileSync(join(SPEC_DIR, "features.json"), "utf8")) as { features: { name: string }[] };
  vocabulary = {
    errno: Object.keys(constants.constants.errno ?? {}),
    signal: Object.keys(constants.constants.signal ?? {}),
    features: features.features.map((f) => f.name),
  };
  return vocabulary;
}

/** Other spellings of the same numbers on Linux (glibc, Python's errno and signal modules), and the name the contract uses. */
export const NAME_ALIASES: Readonly<Record<string, string>> = {
  ENOTSUP: "EOPNOTSUPP",
  EDEADLOCK: "EDEADLK",
  EWOULDBLOCK: "EAGAIN",
  SIGIOT: "SIGABRT",
  SIGPOLL: "SIGIO",
  SIGCLD: "SIGCHLD",
};

/** A number the spec has no name for is written E#<n> or SIG#<n> (as the drivers' errnoName does). */
export const UNNAMED_ERRNO = "^E#[0-9]+$";
export const UNNAMED_SIGNAL = "^SIG#[0-9]+$";

function nameProblem(kind: "errno" | "signal", name: unknown, where: string): string | undefined {
  const known = kind === "errno" ? wireVocabulary().errno : wireVocabulary().signal;
  if (typeof name !== "string") return `${where}: expected ${kind === "errno" ? "an errno" : "a signal"} name, got ${JSON.stringify(name)}`;
  if (known.includes(name) || new RegExp(kind === "errno" ? UNNAMED_ERRNO : UNNAMED_SIGNAL).test(name)) return undefined;
  const alias = NAME_ALIASES[name];
  if (alias !== undefined) return `${where}: ${name} is an alias; the contract spells it ${alias} (names come from spec/constants.json)`;
  return `${where}: ${name} is not ${kind === "errno" ? "an errno" : "a signal"} name of spec/constants.json (a number without a name is written ${kind === "errno" ? "E#<n>" : "SIG#<n>"})`;
}

export const errnoProblem = (name: unknown, where = "result.errno"): string | undefined => nameProblem("errno", name, where);
export const signalProblem = (name: unknown, where = "result.signal"): string | undefined => nameProblem("signal", name, where);

/**
 * What is wrong with a handshake's feature and operation names (empty when nothing is). A driver
 * of a later minor version may offer operations this runner does not know: those are ignored.
 */
export function handshakeNameProblems(hs: { contractVersion?: unknown; features?: unknown; operations?: unknown }, runnerVersion: string): string[] {
  const problems: string[] = [];
  const features = new Set(wireVocabulary().features);
  if (Array.isArray(hs.features))
    for (const f of hs.features) if (typeof f !== "string" || !features.has(f)) problems.push(`handshake.features: ${JSON.stringify(f)} is not a feature of spec/features.json`);
  const minor = (v: unknown) => Number(String(v).split(".")[1] ?? "0");
  if (Array.isArray(hs.operations) && minor(hs.contractVersion) <= minor(runnerVersion))
    for (const o of hs.operations)
      if (typeof o !== "string" || !Object.prototype.hasOwnProperty.call(OPS, o)) problems.push(`handshake.operations: ${JSON.stringify(o)} is not an operation of the contract (spec/driver/ops.ts)`);
  return problems;
}
