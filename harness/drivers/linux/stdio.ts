// The child's end of the protocol without libuv streams: blocking reads of stdin and
// writes to stdout. The child serves one runner and has nothing else to do while it
// waits, so a message costs one read(2) and one write(2) instead of an epoll wait, a
// read, a write and Node's stream machinery (about a third of the child's CPU per
// message on the PVM host, where every system call and wake-up is dear).
import { readFileSync, readSync, writeSync } from "node:fs";
import { O_NONBLOCK } from "./uapi.js";

/** Whether fd is open without O_NONBLOCK (its flags in /proc/self/fdinfo are octal). */
export function isBlocking(fd: number): boolean {
  try {
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
    return flags !== null && (BigInt(`0o${flags[1]!}`) & O_NONBLOCK) === 0n;
  } catch {
    return false;
  }
}

/** stdin and stdout when both are blocking (as spawn() leaves a child's pipes), else undefined: the caller keeps Node's streams. */
export function blockingStdio(): BlockingStdio | undefined {
  return isBlocking(0) && isBlocking(1) ? new BlockingStdio(0, 1) : undefined;
}

/** An error that asks for the call again: a signal (EINTR), or a descriptor someone made non-blocking after all (EAGAIN: after a millisecond). */
function retry(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EAGAIN") Atomics.wait(PAUSE, 0, 0, 1);
  return code === "EINTR" || code === "EAGAIN";
}
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class BlockingStdio implements AsyncIterable<Buffer> {
  private done = false;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);

  constructor(
    private readonly input: number,
    private readonly output: number,
  ) {}

  /** What arrives on the input, chunk by chunk, until end of file (or destroy). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    while (!this.done) {
      let n: number;
      try {
        n = readSync(this.input, this.buf, 0, this.buf.length, null);
      } catch (err) {
        if (retry(err)) continue;
        throw err;
      }
      if (n === 0) return;
      // a copy: the line splitter may keep the tail of a chunk while the next read fills buf
      yield Buffer.from(this.buf.subarray(0, n));
    }
  }

  /** Stop reading (the peer broke the protocol). */
  destroy(): void {
    this.done = true;
  }

  /** The whole text, before returning (write(2) on a stream socket may take part of it). */
  write(text: string): boolean {
    const bytes = Buffer.from(text);
    for (let off = 0; off < bytes.length; ) {
      try {
        off += writeSync(this.output, bytes, off);
      } catch (err) {
        if (!retry(err)) throw err;
      }
    }
    return true;
  }
}
