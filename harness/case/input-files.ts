// Reading input files safely: a suite, spec or expectations file must be a regular file within
// bounds (never a FIFO or device that could block), and folders are walked with links followed
// once, so a link loop is reported instead of followed for ever.
import { closeSync, fstatSync, lstatSync, openSync, readSync, readdirSync, realpathSync, statSync, constants } from "node:fs";
import { join } from "node:path";
import { InputError, type InputProblem } from "../../spec/errors.js";
import { displayPath } from "../../spec/validate.js";
import { jsonDepth } from "../protocol/wire.js";

/** Bounds on input files: size and JSON nesting. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;
export const MAX_INPUT_DEPTH = 128;

/**
 * An input file's bytes, or why it cannot be read as one: it must be a regular file (not a
 * FIFO, a device or a socket, which could block or never end) within maxBytes. `contents`
 * false: only open and check it.
 */
export function readInputFile(file: string, maxBytes = MAX_INPUT_BYTES, contents = true): { bytes: Buffer } | { problem: string } {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return { problem: `a readable file (${(err as Error).message})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { problem: `a regular file (this is a ${st.isFIFO() ? "FIFO" : st.isCharacterDevice() || st.isBlockDevice() ? "device" : st.isSocket() ? "socket" : st.isDirectory() ? "directory" : "special file"})` };
    if (st.size > maxBytes) return { problem: `a file of at most ${maxBytes} bytes (it has ${st.size})` };
    if (!contents) return { bytes: Buffer.alloc(0) };
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return { bytes: buf.subarray(0, got) };
  } catch (err) {
    return { problem: `a readable file (${(err as Error).message})` };
  } finally {
    closeSync(fd);
  }
}

/**
 * Why an input file cannot be read as one, or undefined when it can: readInputFile's checks,
 * and for JSON, nested no deeper than MAX_INPUT_DEPTH.
 */
export function inputFileProblem(file: string, maxBytes = MAX_INPUT_BYTES): InputProblem | undefined {
  const at = (expected: string): InputProblem => ({ file: displayPath(file), pointer: "", expected });
  const read = readInputFile(file, maxBytes, file.endsWith(".json"));
  if ("problem" in read) return at(read.problem);
  if (file.endsWith(".json") && jsonDepth(read.bytes.toString("utf8"), MAX_INPUT_DEPTH) > MAX_INPUT_DEPTH) return at(`JSON nested at most ${MAX_INPUT_DEPTH} levels deep`);
  return undefined;
}

/** Every file below dir, in name order. Links are followed once; loops and dangling links are problems. */
export function walkFiles(dir: string, problems?: InputProblem[], seen: Set<string> = new Set()): string[] {
  const out: string[] = [];
  const problem = (file: string, expected: string) => {
    if (problems) problems.push({ file: displayPath(file), pointer: "", expected });
    else throw new InputError([{ file: displayPath(file), pointer: "", expected }]);
  };
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    problem(dir, `a directory that can be read (${(err as Error).message})`);
    return out;
  }
  if (seen.has(real)) {
    problem(dir, `no directory reached twice (a symlink loop leads back to ${displayPath(real)})`);
    return out;
  }
  seen.add(real);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    problem(dir, `a directory that can be read (${(err as Error).message})`);
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    let st;
    try {
      st = lstatSync(p).isSymbolicLink() ? statSync(p) : lstatSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problem(p, code === "ELOOP" ? "a link that resolves (this one loops)" : code === "ENOENT" ? "a link to something that exists (this one dangles)" : `a readable entry (${(err as Error).message})`);
      continue;
    }
    if (st.isDirectory()) for (const f of walkFiles(p, problems, seen)) out.push(f);
    else out.push(p);
  }
  return out;
}

