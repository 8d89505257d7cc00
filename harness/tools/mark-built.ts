// Build step after `tsc -b` (npm run build): tsc builds incrementally and leaves a module as it is
// when its source's text has not changed, even if the source file is newer (touched, checked out
// again). The stale-build check (harness/case/stale.ts) compares times, so it would refuse such a
// build; after a successful tsc -b every compiled module is current, so this marks the ones whose
// source is newer as built now.
//   node dist/harness/tools/mark-built.js
import { utimesSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";
import { staleSources } from "../case/stale.js";

const now = new Date();
for (const s of staleSources()) {
  // A source that was never compiled is left for the stale check to name.
  if (!s.missing) utimesSync(join(PROJECT_ROOT, s.built), now, now);
}
