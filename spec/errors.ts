// Input errors: a bad spec, suite, expectations file or argument. The CLI turns
// these into exit code 2 with file, JSON pointer and what was expected.
export interface InputProblem {
  file: string;
  pointer: string;
  expected: string;
}

export class InputError extends Error {
  readonly problems: InputProblem[];
  constructor(problems: InputProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "InputError";
    this.problems = problems;
  }
}

export function formatProblem(p: InputProblem): string {
  return `${p.file}: at ${p.pointer || "/"}: expected ${p.expected}`;
}

/** JSON pointer segment escaping (RFC 6901). */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => "/" + String(s).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/** A command line that cannot be run as given: exit code 2 with the command's help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
