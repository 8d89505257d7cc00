// Integer helpers for uAPI values: u64/s64 views of bigints and page arithmetic.

export const U64_MAX = (1n << 64n) - 1n;
export const S64_MAX = (1n << 63n) - 1n;

export const asU64 = (v: bigint): bigint => BigInt.asUintN(64, v);
export const asS64 = (v: bigint): bigint => BigInt.asIntN(64, v);

/** Page geometry of a host (x86: 4 KiB). */
export class PageGeometry {
  readonly size: bigint;
  readonly mask: bigint;
  readonly shift: bigint;

  constructor(readonly bytes: number) {
    this.size = BigInt(bytes);
    this.mask = this.size - 1n;
    this.shift = BigInt(Math.log2(bytes));
  }

  aligned(v: bigint): boolean {
    return (v & this.mask) === 0n;
  }

  /** The page number of a byte address as an exact JS number (addresses are below 2^64, pages below 2^53). */
  page(v: bigint): number {
    return Number(v >> this.shift);
  }

  /** Byte address of a page number. */
  address(page: number): bigint {
    return BigInt(page) << this.shift;
  }

  /** PAGE_ALIGN(len) as the kernel computes it, in 64 bits: a length within a page of 2^64 wraps to 0. */
  align64(len: bigint): bigint {
    return BigInt.asUintN(64, BigInt.asUintN(64, len) + this.mask) & ~this.mask;
  }

  /** Number of pages covering len bytes (rounded up). */
  pagesUp(len: bigint): bigint {
    return (len + this.mask) >> this.shift;
  }
}
