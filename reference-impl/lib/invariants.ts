// Model invariants. With checkInvariants on, every object checks its own after
// each operation; a violation is a bug in the model (or a kernel rule the model
// got wrong), never a verdict on the implementation under test.

export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantViolation";
  }
}

export function invariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new InvariantViolation(message());
}
