// Reference model at scale, through the driver contract: a 2^62-byte guest_memfd
// with 10^5 scattered 4 KiB allocations and punches, and attribute updates that
// span 2^40 pages. Targets (issue 4): median op <= 20 us, RSS <= 200 MB.
import { loadSpec, type Spec } from "../spec/index.js";
import { ReferenceKernel } from "../reference-impl/index.js";
import type { Op, OpResult } from "../spec/driver/contract.js";
import { line, rng, rssMb, summarize, timeNs } from "./stats.js";

const PAGE = 4096n;

/**
 * A fresh model (linux-7.2 on full) holding a SW_PROTECTED VM and a 2^62-byte guest_memfd,
 * with a call() that throws on any errno, and page offsets scattered over the whole file.
 */
function hugeGmem(spec: Spec, seed: number) {
  const k = new ReferenceKernel(spec, { profile: "linux-7.2", host: "full" });
  const c = (n: string) => spec.constant(n, "linux-7.2")!;
  const call = (op: Op): OpResult => {
    const r = k.call(op);
    if (r.errno) throw new Error(`${op.op} failed: ${r.errno}`);
    return r;
  };
  const kvm = call({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") }).ret;
  const vm = call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: c("KVM_X86_SW_PROTECTED_VM") }).ret;
  const gmem = call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 1n << 62n } }).ret;
  const next = rng(seed);
  // A page index spread over all 2^50 pages of the file: two 25-bit halves.
  const offset = () => ((BigInt(Math.floor(next() * 2 ** 25)) << 25n) | BigInt(Math.floor(next() * 2 ** 25))) * PAGE;
  return { c, call, vm, gmem, next, offset };
}

export function benchModel(ops = 100_000): void {
  const { c, call, vm, gmem, next, offset } = hugeGmem(loadSpec(), 42);
  const page = PAGE;
  const rss0 = rssMb();

  const alloc: number[] = [];
  const offsets: bigint[] = [];
  for (let i = 0; i < ops; i++) {
    const off = offset();
    offsets.push(off);
    alloc.push(timeNs(() => call({ op: "fallocate", fd: gmem, mode: c("FALLOC_FL_KEEP_SIZE"), offset: off, len: page })));
  }
  line("gmem 2^62: 1e5 scattered 4 KiB allocations", { ...summarize(alloc), distinctPages: new Set(offsets).size, rssMB: rssMb() });

  const punch: number[] = [];
  for (let i = 0; i < ops; i += 2) punch.push(timeNs(() => call({ op: "fallocate", fd: gmem, mode: c("FALLOC_FL_KEEP_SIZE") | c("FALLOC_FL_PUNCH_HOLE"), offset: offsets[i]!, len: page })));
  line("gmem 2^62: 5e4 punches among them", { ...summarize(punch), rssMB: rssMb() });

  const attrs: number[] = [];
  const span = (1n << 40n) * page;
  for (let i = 0; i < ops / 10; i++) {
    const base = BigInt(Math.floor(next() * 2 ** 20)) * page;
    const set = i % 2 === 0 ? c("KVM_MEMORY_ATTRIBUTE_PRIVATE") : 0n;
    attrs.push(timeNs(() => call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: base, size: span, attributes: set } })));
  }
  line("attributes: 1e4 updates spanning 2^40 pages", { ...summarize(attrs), rssMB: rssMb() });
  line("model memory", { rssBeforeMB: rss0, rssAfterMB: rssMb(), heapMB: Math.round(process.memoryUsage().heapUsed / 1048576) });
}

/**
 * The model's range store as it grows: per-op cost with 10^3 … 10^6 distinct
 * ranges already present (scattered 4 KiB allocations in a 2^62-byte
 * guest_memfd; alternating private/shared single pages of memory attributes).
 * Each row is a fresh model; `ops` timed operations per kind at that size.
 */
export function benchScaling(sizes = [1_000, 10_000, 100_000, 1_000_000], ops = 2000): void {
  const spec = loadSpec();
  const page = PAGE;
  const rows: { ranges: number; alloc: ReturnType<typeof summarize>; punch: ReturnType<typeof summarize>; attr: ReturnType<typeof summarize>; rssMB: number }[] = [];
  for (const n of sizes) {
    const { c, call, vm, gmem, next, offset } = hugeGmem(spec, 7);
    const KEEP = c("FALLOC_FL_KEEP_SIZE");
    const PRIVATE = c("KVM_MEMORY_ATTRIBUTE_PRIVATE");
    const offsets: bigint[] = [];
    // grow: n scattered allocations (n ranges), n private pages with a shared page between each (n attribute ranges)
    for (let i = 0; i < n; i++) {
      const off = offset();
      offsets.push(off);
      call({ op: "fallocate", fd: gmem, mode: KEEP, offset: off, len: page });
      call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: BigInt(2 * i) * page, size: page, attributes: PRIVATE } });
    }
    const alloc: number[] = [];
    const punch: number[] = [];
    const attr: number[] = [];
    for (let i = 0; i < ops; i++) {
      const off = offset();
      alloc.push(timeNs(() => call({ op: "fallocate", fd: gmem, mode: KEEP, offset: off, len: page })));
      const victim = offsets[Math.floor(next() * offsets.length)]!;
      punch.push(timeNs(() => call({ op: "fallocate", fd: gmem, mode: KEEP | c("FALLOC_FL_PUNCH_HOLE"), offset: victim, len: page })));
      const gfn = BigInt(Math.floor(next() * 2 * n));
      attr.push(timeNs(() => call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: gfn * page, size: page, attributes: i % 2 === 0 ? PRIVATE : 0n } })));
    }
    rows.push({ ranges: n, alloc: summarize(alloc), punch: summarize(punch), attr: summarize(attr), rssMB: rssMb() });
  }
  console.log(`model scaling: per-op cost (µs, median / p99 over ${ops} ops) with N ranges present`);
  console.log(["N ranges", "alloc", "punch", "attributes", "RSS MB"].map((h, i) => (i === 0 ? h.padEnd(10) : h.padStart(16))).join(""));
  const cell = (s: ReturnType<typeof summarize>) => `${s.medianUs.toFixed(1)} / ${s.p99Us.toFixed(1)}`.padStart(16);
  for (const r of rows) console.log(`${String(r.ranges).padEnd(10)}${cell(r.alloc)}${cell(r.punch)}${cell(r.attr)}${String(r.rssMB).padStart(16)}`);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  line(`model scaling: 10^${Math.log10(first.ranges)} -> 10^${Math.log10(last.ranges)} ranges, median ratio`, {
    alloc: `${(last.alloc.medianUs / first.alloc.medianUs).toFixed(1)}x`,
    punch: `${(last.punch.medianUs / first.punch.medianUs).toFixed(1)}x`,
    attributes: `${(last.attr.medianUs / first.attr.medianUs).toFixed(1)}x`,
  });
}
