#!/usr/bin/env node
// privmem-cts: conformance suite for the Linux KVM guest private memory uAPI.
import { formatProblem, InputError } from "../../spec/errors.js";
import { DriverStartError } from "../runner/run.js";
import { packageVersion } from "../../spec/paths.js";
import { EXIT_FAILED, EXIT_USAGE } from "../runner/outcomes.js";
import { err, out, UsageError } from "./common.js";
import { cmdRun, RUN_HELP } from "./run.js";
import { cmdList, LIST_HELP } from "./list.js";
import { cmdServe, SERVE_HELP } from "./serve.js";
import { cmdDrivers, DRIVERS_HELP } from "./drivers.js";
import { cmdProfiles, PROFILES_HELP } from "./profiles.js";
import { cmdCoverage, COVERAGE_HELP } from "./coverage.js";
import { cmdDocs, DOCS_HELP } from "./docs.js";
import { cmdAgree, AGREE_HELP } from "./agree.js";
import { cmdCaptures, CAPTURES_HELP } from "./captures.js";

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string; summary: string }> = {
  run: { run: cmdRun, help: RUN_HELP, summary: "run the suites against a driver, write reports" },
  list: { run: cmdList, help: LIST_HELP, summary: "list clauses or cases" },
  drivers: { run: cmdDrivers, help: DRIVERS_HELP, summary: "show each driver's handshake" },
  serve: { run: cmdServe, help: SERVE_HELP, summary: "serve the reference implementation over the driver protocol" },
  docs: { run: cmdDocs, help: DOCS_HELP, summary: "write reports/docs/: one page per ioctl or object" },
  coverage: { run: cmdCoverage, help: COVERAGE_HELP, summary: "clause coverage per area" },
  profiles: { run: cmdProfiles, help: PROFILES_HELP, summary: "list profiles, diff two of them" },
  agree: { run: cmdAgree, help: AGREE_HELP, summary: "compare two drivers, or the reference and a host capture, case by case" },
  captures: { run: cmdCaptures, help: CAPTURES_HELP, summary: "what each committed host capture recorded, and the reference's agreement with it" },
};

function usage(): string {
  const lines = ["privmem-cts <command> [options]", "", "Conformance suite for the Linux KVM guest private memory uAPI.", "", "Commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(9)} ${c.summary}`);
  lines.push("", "privmem-cts <command> --help for a command's options.", "Exit status: 0 nothing failed, 1 failures, 2 bad input or usage.");
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    err(usage());
    return EXIT_USAGE;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    out(usage());
    return 0;
  }
  if (name === "--version") {
    out(packageVersion());
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    err(`privmem-cts: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    out(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof InputError) {
      err(`privmem-cts: bad input, nothing was run:\n${e.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
      return EXIT_USAGE;
    }
    if (e instanceof DriverStartError) {
      out(`Bail out! ${e.message}`);
      err(`privmem-cts: ${e.message}`);
      return EXIT_FAILED;
    }
    if (e instanceof UsageError) {
      err(`privmem-cts ${name}: ${e.message}\n\n${cmd.help}`);
      return EXIT_USAGE;
    }
    err(`privmem-cts: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
