// Paths of the harness tests' fixtures.
import { join } from "node:path";
import { PROJECT_ROOT } from "../../spec/paths.js";

export const FIXTURES = join(PROJECT_ROOT, "test", "harness", "fixtures");
/** The deliberately misbehaving driver, reached through the remote transport. */
export const FAKE_DRIVER = `remote:${process.execPath} ${join(FIXTURES, "fake-driver.mjs")}`;
