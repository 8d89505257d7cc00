// Host memory as the driver sees it: the mappings a session created (tracked from
// the results of its mmap/munmap/mprotect, so load and store never read
// /proc/self/maps), the process's VMAs (/proc/self/maps, only off the hot path),
// and load/store that report a signal instead of taking it.
import { readFileSync } from "node:fs";
import * as libc from "./libc.js";
import { EFAULT, EHWPOISON, ENOMEM, MADV_POPULATE_READ, MADV_POPULATE_WRITE, PROT_EXEC, PROT_READ, PROT_WRITE, SIGBUS, SIGSEGV } from "./uapi.js";

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

/**
 * The mappings a session created, with their permissions as the kernel's VMAs
 * have them (prot of mmap, changed by mprotect), kept sorted and disjoint. Ranges
 * split as the kernel would split VMAs; neighbours are not merged (it does not
 * matter for permissions).
 */
export class MappingTable {
  private entries: Vma[] = [];

  get list(): readonly Vma[] {
    return this.entries;
  }

  /** [start, end) is now one mapping with these permissions (replacing whatever the table had there). */
  add(start: bigint, end: bigint, perms: { read: boolean; write: boolean; exec: boolean; shared: boolean }, path = ""): void {
    if (end <= start) return;
    this.remove(start, end);
    const entry: Vma = { start, end, read: perms.read, write: perms.write, exec: perms.exec, shared: perms.shared, path };
    const at = this.entries.findIndex((e) => e.start > start);
    if (at < 0) this.entries.push(entry);
    else this.entries.splice(at, 0, entry);
  }

  /** Remove [start, end), splitting mappings that straddle it. */
  remove(start: bigint, end: bigint): void {
    if (end <= start) return;
    const next: Vma[] = [];
    for (const e of this.entries) {
      if (e.end <= start || e.start >= end) next.push(e);
      else {
        if (e.start < start) next.push({ ...e, end: start });
        if (e.end > end) next.push({ ...e, start: end });
      }
    }
    this.entries = next;
  }

  /** New permissions for the parts of [start, end) the table covers (a successful mprotect). */
  protect(start: bigint, end: bigint, perms: { read: boolean; write: boolean; exec: boolean }): void {
    const next: Vma[] = [];
    for (const e of this.entries) {
      if (e.end <= start || e.start >= end) {
        next.push(e);
        continue;
      }
      const lo = e.start > start ? e.start : start;
      const hi = e.end < end ? e.end : end;
      if (e.start < lo) next.push({ ...e, end: lo });
      next.push({ ...e, start: lo, end: hi, read: perms.read, write: perms.write, exec: perms.exec });
      if (e.end > hi) next.push({ ...e, start: hi });
    }
    this.entries = next;
  }

  /** The table's mappings clipped to [start, end), in address order. */
  within(start: bigint, end: bigint): Vma[] {
    const out: Vma[] = [];
    for (const e of this.entries) {
      if (e.end <= start) continue;
      if (e.start >= end) break;
      out.push({ ...e, start: e.start > start ? e.start : start, end: e.end < end ? e.end : end });
    }
    return out;
  }

  /** The parts of [start, end) no mapping of the table covers. */
  uncovered(start: bigint, end: bigint): { start: bigint; end: bigint }[] {
    const gaps: { start: bigint; end: bigint }[] = [];
    let at = start;
    for (const e of this.entries) {
      if (e.end <= at) continue;
      if (e.start >= end) break;
      if (e.start > at) gaps.push({ start: at, end: e.start });
      at = e.end;
      if (at >= end) break;
    }
    if (at < end) gaps.push({ start: at, end });
    return gaps;
  }

  /**
   * Bring the table in line with the kernel after a call that failed part-way
   * (mprotect stops at a hole after changing the VMAs before it; a failed
   * MAP_FIXED mmap may have unmapped the old range): keep only the parts the
   * kernel still maps, with the kernel's permissions.
   */
  resync(vmas: Vma[] = currentVmas()): void {
    const next: Vma[] = [];
    for (const e of this.entries)
      for (const v of vmas) {
        if (v.end <= e.start || v.start >= e.end) continue;
        next.push({ ...e, start: v.start > e.start ? v.start : e.start, end: v.end < e.end ? v.end : e.end, read: v.read, write: v.write, exec: v.exec });
      }
    this.entries = next;
  }

  clear(): void {
    this.entries = [];
  }
}

/** The permissions a VMA gets from mmap/mprotect's prot bits. */
export function permsOf(prot: bigint): { read: boolean; write: boolean; exec: boolean } {
  return { read: (prot & PROT_READ) !== 0n, write: (prot & PROT_WRITE) !== 0n, exec: (prot & PROT_EXEC) !== 0n };
}

/** VMAs that overlap [start, end) in parts the session does not own: touching them could break the driver itself. */
export function foreignOverlap(owned: { uncovered(start: bigint, end: bigint): { start: bigint; end: bigint }[] }, start: bigint, end: bigint, vmas: Vma[] = currentVmas()): Vma | undefined {
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

/** How the driver finds out whether touching pages would fault (replaceable in tests). */
export interface Populator {
  madvise(addr: bigint, len: bigint, advice: bigint): libc.Sys;
  /** bytes of [addr, addr+len) readable as the CPU would read them (FOLL_FORCE: also without VM_READ) */
  forceRead(addr: bigint, len: number): number;
  /** the VMA's protection key, where the kernel uses them (/proc/self/smaps "ProtectionKey") */
  protectionKey(vma: Vma): number;
}

export const KERNEL_POPULATOR: Populator = {
  madvise: libc.madvise,
  forceRead: (addr, len) => libc.readProcessMemory(addr, len).length,
  protectionKey: (vma) => protectionKeyOf(vma.start),
};

/** The ProtectionKey of the VMA that contains `addr` (0 where the kernel has no protection keys). */
export function protectionKeyOf(addr: bigint, smaps?: string): number {
  let text = smaps;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/smaps", "utf8");
    } catch {
      return 0;
    }
  }
  const header = /^([0-9a-f]+)-([0-9a-f]+) .*$/gm;
  for (let m = header.exec(text); m; m = header.exec(text)) {
    if (BigInt("0x" + m[1]) > addr || BigInt("0x" + m[2]) <= addr) continue;
    const body = text.slice(m.index + m[0].length + 1);
    const next = body.search(/^[0-9a-f]+-[0-9a-f]+ /m);
    return Number(/^ProtectionKey:\s*(\d+)/m.exec(next < 0 ? body : body.slice(0, next))?.[1] ?? 0);
  }
  return 0;
}

/**
 * Would touching [addr, addr+len) raise a signal? VMA by VMA, in address order
 * (the first byte that faults decides the signal), as the x86 fault handler sees
 * it: a write needs VM_WRITE, a read any of read/write/exec (x86 page tables
 * cannot deny reads; only a protection key can, as for PROT_EXEC-only memory where
 * the kernel uses them). Then the kernel is asked to fault the pages in:
 * MADV_POPULATE_WRITE for writes and for reads of VMAs that are writable but not
 * readable, MADV_POPULATE_READ for readable ones (EFAULT or EHWPOISON where the
 * fault would raise SIGBUS), and a read through /proc/self/mem for PROT_EXEC-only
 * ones (madvise refuses VMAs without VM_READ).
 */
export function checkAccess(addr: bigint, len: number, write: boolean, pageSize: number, vmas: Vma[] = currentVmas(), populator: Populator = KERNEL_POPULATOR): AccessOutcome {
  if (len === 0) return { ok: true };
  const end = addr + BigInt(len);
  if (addr < 0n || end > 1n << 64n) return { ok: false, signal: SIGSEGV };
  const page = BigInt(pageSize);
  const first = addr - (addr % page);
  const last = end + ((page - (end % page)) % page);
  let at = first;
  for (const vma of vmas) {
    if (vma.end <= at) continue;
    if (vma.start > at) return { ok: false, signal: SIGSEGV };
    const allowed = write ? vma.write : vma.read || vma.write || vma.exec;
    if (!allowed) return { ok: false, signal: SIGSEGV };
    const hi = vma.end < last ? vma.end : last;
    const outcome = populate(vma, at, hi, write, populator);
    if (outcome !== undefined) return outcome;
    at = hi;
    if (at >= last) return { ok: true };
  }
  return { ok: false, signal: SIGSEGV };
}

function populate(vma: Vma, lo: bigint, hi: bigint, write: boolean, populator: Populator): AccessOutcome | undefined {
  if (!write && !vma.read && !vma.write) {
    // PROT_EXEC only: readable by the CPU unless a protection key denies it
    if (populator.protectionKey(vma) !== 0) return { ok: false, signal: SIGSEGV };
    return populator.forceRead(lo, Number(hi - lo)) === Number(hi - lo) ? undefined : { ok: false, signal: SIGBUS };
  }
  const advice = write || !vma.read ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
  const r = populator.madvise(lo, hi - lo, advice);
  if (r.ret === 0n) return undefined;
  if (r.errno === EFAULT || r.errno === EHWPOISON) return { ok: false, signal: SIGBUS };
  if (r.errno === ENOMEM) return { ok: false, signal: SIGSEGV };
  return { ok: false, refuse: `cannot tell safely whether touching [0x${lo.toString(16)}, 0x${hi.toString(16)}) would fault (MADV_POPULATE failed with errno ${r.errno})` };
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
