// Host memory as the driver sees it: the process's VMAs (/proc/self/maps), the
// ranges a session mapped, and load/store that report a signal instead of taking it.
import { readFileSync } from "node:fs";
import * as libc from "./libc.js";
import { EFAULT, EHWPOISON, ENOMEM, MADV_POPULATE_READ, MADV_POPULATE_WRITE, SIGBUS, SIGSEGV } from "./uapi.js";

export interface Vma {
  start: bigint;
  end: bigint;
  read: boolean;
  write: boolean;
  exec: boolean;
  shared: boolean;
  path: string;
}

export function parseMaps(text: string): Vma[] {
  const vmas: Vma[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([sp]) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (!m) continue;
    vmas.push({ start: BigInt("0x" + m[1]), end: BigInt("0x" + m[2]), read: m[3] === "r", write: m[4] === "w", exec: m[5] === "x", shared: m[6] === "s", path: m[7] ?? "" });
  }
  return vmas;
}

export function currentVmas(): Vma[] {
  return parseMaps(readFileSync("/proc/self/maps", "utf8"));
}

/** Half-open address ranges [start, end), kept sorted and disjoint. */
export class RangeSet {
  private ranges: { start: bigint; end: bigint }[] = [];

  get list(): readonly { start: bigint; end: bigint }[] {
    return this.ranges;
  }

  add(start: bigint, end: bigint): void {
    if (end <= start) return;
    this.remove(start, end);
    this.ranges.push({ start, end });
    this.ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  /** Remove [start, end), splitting ranges that straddle it. */
  remove(start: bigint, end: bigint): void {
    const next: { start: bigint; end: bigint }[] = [];
    for (const r of this.ranges) {
      if (r.end <= start || r.start >= end) next.push(r);
      else {
        if (r.start < start) next.push({ start: r.start, end: start });
        if (r.end > end) next.push({ start: end, end: r.end });
      }
    }
    this.ranges = next;
  }

  /** The parts of [start, end) that no range covers. */
  uncovered(start: bigint, end: bigint): { start: bigint; end: bigint }[] {
    const gaps: { start: bigint; end: bigint }[] = [];
    let at = start;
    for (const r of this.ranges) {
      if (r.end <= at || r.start >= end) continue;
      if (r.start > at) gaps.push({ start: at, end: r.start });
      at = r.end > at ? r.end : at;
      if (at >= end) break;
    }
    if (at < end) gaps.push({ start: at, end });
    return gaps;
  }

  clear(): void {
    this.ranges = [];
  }
}

/** VMAs that overlap [start, end) in parts the session does not own: touching them could break the driver itself. */
export function foreignOverlap(owned: RangeSet, start: bigint, end: bigint, vmas: Vma[] = currentVmas()): Vma | undefined {
  if (end <= start) return undefined;
  for (const vma of vmas) {
    if (vma.end <= start || vma.start >= end) continue;
    const lo = vma.start > start ? vma.start : start;
    const hi = vma.end < end ? vma.end : end;
    if (owned.uncovered(lo, hi).length > 0) return vma;
  }
  return undefined;
}

export { SIGBUS, SIGSEGV };
export type AccessOutcome = { ok: true } | { ok: false; signal: number } | { ok: false; refuse: string };


/**
 * Would touching [addr, addr+len) raise a signal? First the VMA permissions (as
 * the x86 fault handler checks them: a write needs VM_WRITE, a read any of
 * read/write/exec), then MADV_POPULATE_{READ,WRITE}, which fails with EFAULT
 * where the fault would raise SIGBUS and with EHWPOISON on a poisoned page.
 */
export function checkAccess(addr: bigint, len: number, write: boolean, pageSize: number, vmas: Vma[] = currentVmas()): AccessOutcome {
  if (len === 0) return { ok: true };
  const end = addr + BigInt(len);
  if (addr < 0n || end > 1n << 64n) return { ok: false, signal: SIGSEGV };
  let at = addr;
  for (const vma of vmas) {
    if (vma.end <= at) continue;
    if (vma.start > at) return { ok: false, signal: SIGSEGV };
    const allowed = write ? vma.write : vma.read || vma.write || vma.exec;
    if (!allowed) return { ok: false, signal: SIGSEGV };
    at = vma.end;
    if (at >= end) break;
  }
  if (at < end) return { ok: false, signal: SIGSEGV };
  const page = BigInt(pageSize);
  const first = addr - (addr % page);
  const last = end + ((page - (end % page)) % page);
  const r = libc.madvise(first, last - first, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
  if (r.ret === 0n) return { ok: true };
  if (r.errno === EFAULT || r.errno === EHWPOISON) return { ok: false, signal: SIGBUS };
  if (r.errno === ENOMEM) return { ok: false, signal: SIGSEGV };
  return { ok: false, refuse: `cannot tell safely whether touching 0x${addr.toString(16)}+${len} would fault (MADV_POPULATE failed with errno ${r.errno})` };
}

/** The lowest page at or above `from` that no VMA covers: a pointer to unmapped memory. */
export function unmappedAddress(pageSize: number, from = 0x10000n, vmas: Vma[] = currentVmas()): bigint {
  let candidate = from;
  for (const vma of vmas) {
    if (vma.end <= candidate) continue;
    if (vma.start >= candidate + BigInt(pageSize)) break;
    candidate = vma.end;
  }
  return candidate;
}
