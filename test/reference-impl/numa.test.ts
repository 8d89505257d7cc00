// The model's NUMA placement beyond what the suites state: move_pages batching and the
// pages it cannot move (guest_memfd), placement of pages fallocate leaves unmaterialized,
// and interleaving onto a node of the mask.
import { expect } from "chai";
import fc from "fast-check";
import { DriverFailure } from "../../spec/driver/contract.js";
import { PAGE, Session } from "./session.js";

describe("reference-impl mm: NUMA placement and move_pages", () => {
  const anon = (s: Session, pages: bigint) => s.ok("mmap", { addr: 0n, len: pages * PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
  const gmemMap = (s: Session) => {
    const kvm = s.ok("open", { path: "/dev/kvm", flags: s.c("O_RDWR") }).ret;
    const vm = s.ok("ioctl", { fd: kvm, request: "KVM_CREATE_VM", arg: 0n }).ret;
    const gmem = s.ok("ioctl", { fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 4n * PAGE, flags: s.c("GUEST_MEMFD_FLAG_MMAP") | s.c("GUEST_MEMFD_FLAG_INIT_SHARED") } }).ret;
    const map = s.ok("mmap", { addr: 0n, len: 4n * PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_SHARED"), fd: gmem, offset: 0n }).ret;
    return { gmem, map };
  };

  it("moves runs of pages bound for one node together; a page already there flushes the run and keeps its node", () => {
    const s = new Session("linux-7.2", "full");
    const map = anon(s, 4n);
    for (let i = 0n; i < 4n; i++) s.ok("store", { addr: map + i * PAGE, data: new Uint8Array([Number(i) + 1]) });
    const pages = [0n, 1n, 2n, 3n].map((i) => map + i * PAGE);
    const r = s.ok("move_pages", { pages, nodes: [1n, 1n, 0n, 1n], flags: s.c("MPOL_MF_MOVE") });
    expect(r.ret).to.equal(0n);
    expect(r.out).to.deep.equal({ status0: 1n, status1: 1n, status2: 0n, status3: 1n });
    expect(s.ok("move_pages", { pages, flags: 0n }).out).to.deep.equal({ status0: 1n, status1: 1n, status2: 0n, status3: 1n });
    for (let i = 0n; i < 4n; i++) expect(s.ok("load", { addr: map + i * PAGE, len: 1n }).out!.data).to.deep.equal(new Uint8Array([Number(i) + 1]));
  });

  it("a guest_memfd page cannot be moved: the call counts it and the pages not tried, writes no status for them, and the page stays", () => {
    const s = new Session("linux-7.2", "full");
    const { map } = gmemMap(s);
    s.ok("store", { addr: map, data: new Uint8Array([7]) });
    s.ok("store", { addr: map + PAGE, data: new Uint8Array([8]) });
    // page 0 is queued for node 1; page 1, bound for node 0, flushes the queue: the failure counts page 0 and the two not tried
    const r = s.ok("move_pages", { pages: [map, map + PAGE, map + 2n * PAGE], nodes: [1n, 0n, 0n], flags: s.c("MPOL_MF_MOVE") });
    expect(r.ret).to.equal(3n);
    expect(r.out).to.deep.equal({});
    // page 3 was never touched: its -ENOENT is stored, and the flush after it counts page 0 and the one page left
    const r2 = s.ok("move_pages", { pages: [map, map + 3n * PAGE, map + PAGE], nodes: [1n, 1n, 1n], flags: s.c("MPOL_MF_MOVE") });
    expect(r2.ret).to.equal(2n);
    expect(r2.out).to.deep.equal({ status1: -2n });
    expect(s.ok("move_pages", { pages: [map], flags: 0n }).out).to.deep.equal({ status0: 0n });
  });

  it("an invalid node ends the call with ENODEV after moving what was queued before it", () => {
    const s = new Session("linux-7.2", "full");
    const map = anon(s, 2n);
    s.ok("store", { addr: map, data: new Uint8Array([1]) });
    s.ok("store", { addr: map + PAGE, data: new Uint8Array([2]) });
    expect(s.call("move_pages", { pages: [map, map + PAGE], nodes: [1n, 2n], flags: s.c("MPOL_MF_MOVE") }).errno).to.equal("ENODEV");
    expect(s.ok("move_pages", { pages: [map, map + PAGE], flags: 0n }).out).to.deep.equal({ status0: 1n, status1: 0n });
  });

  it("refuses a node list of another length and page counts outside 1..64 as protocol errors", () => {
    const s = new Session("linux-7.2", "full");
    const map = anon(s, 1n);
    expect(() => s.call("move_pages", { pages: [map], nodes: [0n, 0n], flags: 0n })).to.throw(DriverFailure, /one entry per page/);
    expect(() => s.call("move_pages", { pages: [], flags: 0n })).to.throw(DriverFailure, /1 to 64/);
  });

  it("fallocate places each range of a guest_memfd by the inode's policy for it (6.19), and the task's node before (6.18)", () => {
    for (const [profile, want] of [["linux-7.2", [1n, 1n, 0n, 0n]], ["linux-6.18", [0n, 0n, 0n, 0n]]] as const) {
      const s = new Session(profile, "full");
      const { gmem, map } = gmemMap(s);
      s.ok("mbind", { addr: map, len: 2n * PAGE, mode: s.c("MPOL_BIND"), nodemask: 2n, flags: 0n });
      s.ok("fallocate", { fd: gmem, mode: s.c("FALLOC_FL_KEEP_SIZE"), offset: 0n, len: 4n * PAGE });
      const pages = [0n, 1n, 2n, 3n].map((i) => map + i * PAGE);
      for (const p of pages) s.ok("load", { addr: p, len: 1n });
      expect(Object.values(s.ok("move_pages", { pages, flags: 0n }).out!), profile).to.deep.equal(want);
    }
  });

  it("property: a page lands on a node of its MPOL_BIND, MPOL_PREFERRED or MPOL_INTERLEAVE mask, on node 0 when the mask has it and the mode is BIND", () => {
    fc.assert(
      fc.property(fc.constantFrom("MPOL_BIND", "MPOL_PREFERRED", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY"), fc.integer({ min: 1, max: 3 }), (mode, mask) => {
        const s = new Session("linux-7.2", "full");
        const map = anon(s, 1n);
        s.ok("mbind", { addr: map, len: PAGE, mode: s.c(mode), nodemask: BigInt(mask), flags: 0n });
        s.ok("store", { addr: map, data: new Uint8Array([1]) });
        const node = s.ok("get_mempolicy_node", { addr: map }).out!.node as bigint;
        expect((BigInt(mask) >> node) & 1n).to.equal(1n);
        if (mode === "MPOL_BIND" && mask & 1) expect(node).to.equal(0n);
      }),
      { numRuns: 24 },
    );
  });
});
