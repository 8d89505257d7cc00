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
/** A command's module, imported only when that command runs: a run does not load fuzzing, docs or captures code. */
interface CommandModule {
  run: (argv: string[]) => Promise<number>;
  help: string;
}
const COMMANDS: Record<string, { load: () => Promise<CommandModule>; summary: string }> = {
  run: { load: async () => import("./run.js").then((m) => ({ run: m.cmdRun, help: m.RUN_HELP })), summary: "run the suites against a driver, write reports" },
  list: { load: async () => import("./list.js").then((m) => ({ run: m.cmdList, help: m.LIST_HELP })), summary: "list clauses or cases" },
  drivers: { load: async () => import("./drivers.js").then((m) => ({ run: m.cmdDrivers, help: m.DRIVERS_HELP })), summary: "show each driver's handshake" },
  serve: { load: async () => import("./serve.js").then((m) => ({ run: m.cmdServe, help: m.SERVE_HELP })), summary: "serve the reference implementation over the driver protocol" },
  docs: { load: async () => import("./docs.js").then((m) => ({ run: m.cmdDocs, help: m.DOCS_HELP })), summary: "write reports/docs/: one page per ioctl or object" },
  coverage: { load: async () => import("./coverage.js").then((m) => ({ run: m.cmdCoverage, help: m.COVERAGE_HELP })), summary: "clause coverage per area" },
  profiles: { load: async () => import("./profiles.js").then((m) => ({ run: m.cmdProfiles, help: m.PROFILES_HELP })), summary: "list profiles, diff two of them" },
  agree: { load: async () => import("./agree.js").then((m) => ({ run: m.cmdAgree, help: m.AGREE_HELP })), summary: "compare two drivers, or the reference and a host capture, case by case" },
  captures: { load: async () => import("./captures.js").then((m) => ({ run: m.cmdCaptures, help: m.CAPTURES_HELP })), summary: "what each committed host capture recorded, and the reference's agreement with it" },
  fuzz: { load: async () => import("./fuzz.js").then((m) => ({ run: m.cmdFuzz, help: m.FUZZ_HELP })), summary: "differential fuzzing of two drivers with random operation sequences (fast-check)" },
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
  const entry = COMMANDS[name];
  if (!entry) {
    err(`privmem-cts: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  const cmd = await entry.load();
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
