// JSON lines with a bound: both ends of the protocol split their input into lines
// themselves, so a peer that never writes a newline cannot make them buffer without end.

/** The longest line either end accepts (a 64 KiB memory read, hex-encoded, fits many times over). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

export class LineTooLong extends Error {
  constructor(readonly max: number) {
    super(`a line longer than ${max} bytes`);
    this.name = "LineTooLong";
  }
}

/** Splits a byte stream into lines (LF, an optional CR before it dropped), refusing one longer than max before it is buffered whole. */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(private readonly max = MAX_LINE_BYTES) {}

  /** The lines chunk completes; throws LineTooLong once a line passes the bound. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      const line = this.partialBytes === 0 ? piece : Buffer.concat([...this.partial, piece]);
      this.partial = [];
      this.partialBytes = 0;
      start = nl + 1;
      if (line.length > this.max) throw new LineTooLong(this.max);
      lines.push(line.toString("utf8").replace(/\r$/, ""));
    }
    if (start < chunk.length) {
      this.partial.push(chunk.subarray(start));
      this.partialBytes += chunk.length - start;
      if (this.partialBytes > this.max) throw new LineTooLong(this.max);
    }
    return lines;
  }

  /** What is left after the stream ended without a final newline. */
  rest(): string | undefined {
    return this.partialBytes === 0 ? undefined : Buffer.concat(this.partial).toString("utf8");
  }
}

/** The lines of a readable stream, bounded (LineTooLong ends the iteration with an error). */
export async function* boundedLines(input: AsyncIterable<Buffer | string>, max = MAX_LINE_BYTES): AsyncGenerator<string, void> {
  const splitter = new LineSplitter(max);
  for await (const chunk of input) yield* splitter.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  const rest = splitter.rest();
  if (rest !== undefined) yield rest;
}
