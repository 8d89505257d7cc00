// npm run mutation (mutation/run.mjs): StrykerJS on reference-impl/ with this project's test-runner
// plugin (test/mutants/stryker-runner.ts). A test is one case of the suites on one configuration of
// test/mutants/suite-run.ts, or one unit test of the model's invariant checks; all run in the worker
// process, with per-test coverage, so a mutant runs only the cases that reach it. Stryker instruments
// every mutant into the TypeScript sources of a sandbox (mutation switching) and buildCommand compiles
// them once. See mutation/README.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "privmem-suites",
  appendPlugins: ["./dist/test/mutants/stryker-runner.js"],
  // Mutated files are instrumented without type checks, and a mutant can change an exported type a
  // checked file relies on: the sandbox compiles without checking (the project's build checks).
  buildCommand: "npm run -s build:mutation-sandbox",
  mutate: ["reference-impl/**/*.ts"],
  disableTypeChecks: "reference-impl/**/*.ts",
  coverageAnalysis: "perTest",
  ignorePatterns: ["/dist", "/coverage", "/reports", "/.stryker-tmp"],
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportTests: false, reportMutants: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  concurrency: 2,
  timeoutMS: 20000,
  timeoutFactor: 3,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
