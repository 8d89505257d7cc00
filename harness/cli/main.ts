#!/usr/bin/env node
// privmem-cts: conformance suite for the Linux KVM guest private memory uAPI.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { formatProblem, InputError, type InputProblem } from "../../spec/errors.js";
import { SPEC_DIR } from "../../spec/paths.js";
import { displayPath } from "../../spec/validate.js";
import { inputFileProblem, walkFiles } from "../case/load.js";
import { oneLine } from "../reporters/ktap.js";
import { DriverStartError } from "../runner/runner.js";
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
import { cmdFuzz, FUZZ_HELP } from "./fuzz.js";

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
  fuzz: { run: cmdFuzz, help: FUZZ_HELP, summary: "differential fuzzing of two drivers with random operation sequences (fast-check)" },
};

function usage(): string {
  const lines = ["privmem-cts <command> [options]", "", "Conformance suite for the Linux KVM guest private memory uAPI.", "", "Commands:"];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(9)} ${c.summary}`);
  lines.push("", "privmem-cts <command> --help for a command's options.", "Exit status: 0 nothing failed, 1 failures, 2 bad input or usage.");
  return lines.join("\n");
}

/**
 * The project's own spec files are input too: each must be a regular JSON file within bounds,
 * and the schemas must parse, or the command stops with exit 2 naming the file (a schema that
 * parses but does not compile is reported when it is first used: see main()).
 */
function checkSpecFiles(): void {
  const problems: InputProblem[] = [];
  for (const f of walkFiles(SPEC_DIR, problems)) if (f.endsWith(".json")) {
    const bad = inputFileProblem(f);
    if (bad) problems.push(bad);
    else if (f.endsWith(".schema.json")) {
      try {
        JSON.parse(readFileSync(f, "utf8"));
      } catch (e) {
        problems.push({ file: displayPath(f), pointer: "", expected: `valid JSON (${(e as Error).message})` });
      }
    }
  }
  if (problems.length > 0) throw new InputError(problems);
}

/** A reader that went away (privmem-cts ... | head): stop writing quietly. */
function quietOnEpipe(name: string): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    // A run goes on to write its reports; any other command has nothing left to do.
    if (name !== "run") process.exit(process.exitCode ?? 0);
  });
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  quietOnEpipe(name ?? "");
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
    checkSpecFiles();
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof InputError) {
      err(`privmem-cts: bad input, nothing was run:\n${e.problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
      return EXIT_USAGE;
    }
    if (e instanceof DriverStartError) {
      // A KTAP document even when nothing ran: the version line, then the bail-out.
      out(`KTAP version 1\nBail out! ${oneLine(e.message)}`);
      err(`privmem-cts: ${e.message}`);
      return EXIT_FAILED;
    }
    if (e instanceof UsageError) {
      err(`privmem-cts ${name}: ${e.message}\n\n${cmd.help}`);
      return EXIT_USAGE;
    }
    // ajv refusing one of spec/schema/*.json: bad input, not a bug of the runner.
    if (e instanceof Error && /node_modules\/ajv\//.test(e.stack ?? "")) {
      err(`privmem-cts: bad input, nothing was run:\n  ${displayPath(join(SPEC_DIR, "schema"))}: at /: expected schemas that compile (${e.message})`);
      return EXIT_USAGE;
    }
    err(`privmem-cts: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT_FAILED;
  }
}

process.exitCode = await main(process.argv.slice(2));
