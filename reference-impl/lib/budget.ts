// The model does some work one page at a time (pre-faulting, populating, poisoning). An
// operation that would do that for more pages than this is refused as not modelled, the
// way the linux driver refuses to populate more than its limit: a 1 TiB request would
// otherwise build 2^28 objects and never finish.
import { DriverFailure } from "../../spec/driver/contract.js";

/** Pages one operation may handle one by one. */
export const PAGE_BUDGET = 2 ** 18;

/** Refuse an operation that would handle `pages` pages one by one. */
export function checkPageBudget(pages: number, what: string): void {
  if (pages > PAGE_BUDGET)
    throw new DriverFailure("unsupported", `${what}: ${pages} pages one by one; the reference model handles at most ${PAGE_BUDGET} per operation`);
}
