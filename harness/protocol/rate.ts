// How much a driver may say outside its replies. On stdout the protocol allows
// exactly one reply per request, so any extra message (an unknown id, a second
// reply, a blank line) is a protocol error at once (child.ts). Its stderr is free
// text that the runner forwards: bounded here per driver process, so a driver that
// writes megabytes a second cannot fill the user's log or terminal.

/** The most stderr bytes forwarded from one driver process. */
export const MAX_STDERR_BYTES = 1 << 20;

/**
 * A stderr handler that forwards up to max bytes, then one note, then nothing. The
 * stream is still read to its end (the caller keeps listening), so the driver never
 * blocks on a full pipe.
 */
export function boundedStderr(forward: ((chunk: string) => void) | undefined, max = MAX_STDERR_BYTES): (chunk: string) => void {
  let left = max;
  return (chunk) => {
    if (forward === undefined || left < 0) return;
    const bytes = Buffer.from(chunk, "utf8");
    if (bytes.length <= left) {
      left -= bytes.length;
      return forward(chunk);
    }
    forward(bytes.subarray(0, left).toString("utf8"));
    left = -1;
    forward(`\n[privmem-cts] driver stderr: more than ${max} bytes; the rest is dropped\n`);
  };
}
