// The iovec lengths of readv, writev, preadv2 and pwritev2, checked the same way in
// every driver: none negative, together at most MAX_VECTOR_BYTES (the contract's
// transfer limit), else the call is a protocol error, not an errno.
import { DriverFailure } from "./contract.js";

export const MAX_VECTOR_BYTES = 65536;

/** The total of `lens` as a number, or a protocol error naming `op`. */
export function iovecTotal(op: string, lens: readonly bigint[]): number {
  let total = 0n;
  for (const len of lens) {
    if (len < 0n) throw new DriverFailure("protocol", `${op}: iovec length ${len} is negative`);
    total += len;
  }
  if (total > BigInt(MAX_VECTOR_BYTES)) throw new DriverFailure("protocol", `${op}: ${total} bytes (at most ${MAX_VECTOR_BYTES})`);
  return Number(total);
}
