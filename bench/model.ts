// Reference model at scale, through the driver contract: a 2^62-byte guest_memfd
// with 10^5 scattered 4 KiB allocations and punches, and attribute updates that
// span 2^40 pages. Targets (issue 4): median op <= 20 us, RSS <= 200 MB.
import { loadSpec } from "../spec/index.js";
import { ReferenceKernel } from "../reference-impl/index.js";
import type { Op, OpResult } from "../harness/driver/contract.js";
import { line, rng, rssMb, summarize, timeNs } from "./stats.js";

export function benchModel(ops = 100_000): void {
  const spec = loadSpec();
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
  const page = 4096n;
  const next = rng(42);
  // A page index spread over all 2^50 pages of the file: two 25-bit halves.
  const offset = () => ((BigInt(Math.floor(next() * 2 ** 25)) << 25n) | BigInt(Math.floor(next() * 2 ** 25))) * page;
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
