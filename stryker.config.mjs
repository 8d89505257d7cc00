// npm run mutation (mutation/run.mjs): StrykerJS on reference-impl/ with the command test
// runner. The mocha runner's peer range (mocha < 12) excludes this project's mocha 12, and
// the suites are not mocha tests anyway: each mutant is one run of every suite against the
// reference on the configurations of test/mutants/suite-run.ts, stopping at the first
// failing case. Stryker instruments every mutant into the TypeScript sources of a sandbox
// (mutation switching), buildCommand compiles them once, and the active mutant is chosen per
// run through an environment variable. See mutation/README.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: "npm",
  testRunner: "command",
  // The suites run with the model's invariants checked (a mutant that makes one too strict fails
  // them); the broken-model unit tests kill a mutant that makes one too lax.
  commandRunner: {
    command:
      "npx mocha --no-config --timeout 60000 dist/test/reference-impl/vm-invariants.test.js dist/test/reference-impl/invariants.test.js dist/test/reference-impl/gmem-invariants.test.js && node dist/test/mutants/run-suites.js --check-invariants --first-failure --exit-code",
  },
  buildCommand: "npm run -s build",
  mutate: ["reference-impl/**/*.ts"],
  disableTypeChecks: "reference-impl/**/*.ts",
  coverageAnalysis: "off",
  ignorePatterns: ["/dist", "/coverage", "/reports", "/.stryker-tmp"],
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/index.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  concurrency: 2,
  timeoutMS: 60000,
  timeoutFactor: 3,
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
