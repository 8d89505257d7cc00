// The linux driver's contract-1.4 NUMA operations against the real kernel: what the
// status array says, the sentinel left where the kernel wrote nothing, and the refusal
// to move pages that are not the case's. Placement on a second node runs in
// suites/mm/numa.json and suites/gmem/numa.json where the host has one.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { readFileSync } from "node:fs";
import type { Op, OpResult } from "../../spec/driver/contract.js";
import { parseMaps } from "../../harness/drivers/linux/memory.js";
import { useLinuxDriver } from "./linux-hooks.js";
import { rejection } from "./refusal.js";

const named = (name: string): bigint => loadSpec().constant(name, "linux-6.18")!;
const [PAGE, PROT_RW, MAP_ANON_PRIVATE, MOVE] = [4096n, named("PROT_READ") | named("PROT_WRITE"), named("MAP_PRIVATE") | named("MAP_ANONYMOUS"), named("MPOL_MF_MOVE")];

describe("linux driver: move_pages and get_mempolicy_node", function () {
  this.timeout(30000);
  const driver = useLinuxDriver();
  const ok = async (op: Op): Promise<OpResult> => {
    const r = await driver().call(op);
    expect(r.errno, op.op).to.equal(undefined);
    return r;
  };

  it("a query reports the node of a written page (the one get_mempolicy_node gives) and -EFAULT (-14) for an unmapped address", async () => {
    const map = (await ok({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: PROT_RW, flags: MAP_ANON_PRIVATE, fd: -1n, offset: 0n })).ret;
    await ok({ op: "store", addr: map, data: new Uint8Array([1]) });
    await ok({ op: "munmap", addr: map + PAGE, len: PAGE });
    const r = await ok({ op: "move_pages", pages: [map, map + PAGE], flags: 0n });
    expect(r.ret).to.equal(0n);
    expect(r.out!.status1).to.equal(-14n);
    const node = (await ok({ op: "get_mempolicy_node", addr: map })).out!.node;
    expect(r.out!.status0).to.equal(node);
  });

  it("a call that fails before writing any status reports none (the sentinel is left out)", async () => {
    const map = (await ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_ANON_PRIVATE, fd: -1n, offset: 0n })).ret;
    await ok({ op: "store", addr: map, data: new Uint8Array([1]) });
    const r = await driver().call({ op: "move_pages", pages: [map], nodes: [-1n], flags: MOVE });
    expect(r.errno).to.equal("ENODEV");
    expect(r.out ?? {}).to.deep.equal({});
  });

  it("refuses to move a page of the driver's own memory, and still answers a query about it", async () => {
    // the driver runs in this process: its heap, or else a writable mapping of node itself
    const m = parseMaps(readFileSync("/proc/self/maps", "utf8"));
    const own = (m.find((v) => v.path === "[heap]" && v.write) ?? m.find((v) => v.write && v.path.includes("node"))!).start;
    expect((await rejection(driver().call({ op: "move_pages", pages: [own], nodes: [0n], flags: MOVE }))).message).to.match(/overlaps memory the driver itself uses/);
    const q = await ok({ op: "move_pages", pages: [own], flags: 0n });
    expect(q.ret).to.equal(0n);
  });
});
