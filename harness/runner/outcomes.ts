// Outcomes and how they count. kselftest convention for the process exit code:
// 0 when nothing failed (PASS, SKIP, XFAIL), 1 otherwise, 2 for bad input.
export const OUTCOMES = ["PASS", "FAIL", "SKIP", "ERROR", "TIMEOUT", "CRASH", "XFAIL", "XPASS"] as const;
export type OutcomeName = (typeof OUTCOMES)[number];


/** The outcomes that fail a run: the implementation broke a rule, or the run could not tell. */
export function isBad(o: OutcomeName): boolean {
  return o === "FAIL" || o === "ERROR" || o === "TIMEOUT" || o === "CRASH" || o === "XPASS";
}

/** JUnit's three kinds of non-pass: a wrong answer, a broken run, a case not run. */
export function junitKind(o: OutcomeName): "failure" | "error" | "skipped" | undefined {
  if (o === "FAIL" || o === "XPASS") return "failure";
  if (o === "ERROR" || o === "CRASH" || o === "TIMEOUT") return "error";
  if (o === "SKIP" || o === "XFAIL") return "skipped";
  return undefined;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function emptySummary(): Record<OutcomeName, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<OutcomeName, number>;
}
