// Loaded by mocha (.mocharc.json "require") in its main process and in each of its workers.
// Under c8 (npm test) NODE_V8_COVERAGE is set, and node passes it on to every child process: each
// CLI, fake, hostile or linux driver, npx or serve process a test starts would write its own coverage
// file for c8 to merge (~130 of them, ~0.1 s of CPU each). The model's coverage is measured where
// the conformance run and the model's tests run: in the mocha workers. So a worker, whose own
// coverage has started, clears the variable for its children (an empty value turns coverage off).
import { sep } from "node:path";

const worker = process.argv[1]?.endsWith(["mocha", "lib", "nodejs", "worker.cjs"].join(sep)) ?? false;
if (worker && process.env.NODE_V8_COVERAGE !== undefined) process.env.NODE_V8_COVERAGE = "";
