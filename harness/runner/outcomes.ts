// Outcomes and how they count. kselftest convention for the process exit code:
// 0 when nothing failed (PASS, SKIP, XFAIL), 1 otherwise, 2 for bad input.
export const OUTCOMES = ["PASS", "FAIL", "SKIP", "ERROR", "TIMEOUT", "CRASH", "XFAIL", "XPASS"] as const;
export type OutcomeName = (typeof OUTCOMES)[number];

/** Outcomes an expectations entry may announce. */
export const FAILING: readonly OutcomeName[] = ["FAIL", "ERROR", "TIMEOUT", "CRASH"];

export function isBad(o: OutcomeName): boolean {
  return o === "FAIL" || o === "ERROR" || o === "TIMEOUT" || o === "CRASH" || o === "XPASS";
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function emptySummary(): Record<OutcomeName, number> {
  return Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<OutcomeName, number>;
}
