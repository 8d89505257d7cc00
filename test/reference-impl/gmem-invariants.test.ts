// GmemFile.checkInvariants on a broken model: each check of a guest_memfd binding fires, with
// its message, when the model is broken the way it guards against (the mutation runner runs this
// file so a mutant that makes a check too lax is killed; mutation/README.md, file.ts).
import { expect } from "chai";
import type { GmemFile } from "../../reference-impl/guest_memfd/file.js";
import type { Memslot } from "../../reference-impl/vm/memslots.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { PAGE, Session } from "./session.js";

const GPA = 0x100000n;

/** A guest_memfd of four pages with one two-page memslot bound at file page 1. */
function bound() {
  const s = new Session("linux-7.2", "full");
  const fd = s.vm("KVM_X86_SW_PROTECTED_VM");
  const g = s.gmem(fd, 4n * PAGE);
  s.ok("ioctl", { fd, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 3n, flags: 4n, guest_phys_addr: GPA, memory_size: 2n * PAGE, userspace_addr: s.anon(2n), guest_memfd: g, guest_memfd_offset: PAGE } });
  const vm = [...s.k.machine.vms][0]! as Vm;
  const file = [...vm.gmemFiles][0]! as GmemFile;
  const slot = vm.memslots[0]!.byId.get(3)!;
  expect(file.bindings.all().map(({ start, end }) => [start, end])).to.deep.equal([[1, 3]]);
  expect(() => file.checkInvariants()).to.not.throw();
  return { file, slot: slot as { -readonly [K in keyof Memslot]: Memslot[K] }, vm };
}

const disagrees = (f: GmemFile, range: string) => `guest_memfd ${f.inode.ino}: binding ${range} disagrees with memslot 3`;

describe("GmemFile.checkInvariants on a broken model", () => {
  it("fires on a binding whose memslot no longer names the file", () => {
    const { file, slot } = bound();
    slot.gmem!.file = null;
    expect(() => file.checkInvariants()).to.throw(disagrees(file, "[1, 3)"));
  });

  it("fires on a binding whose memslot lost its guest_memfd binding altogether", () => {
    const { file, slot } = bound();
    slot.gmem = null;
    expect(() => file.checkInvariants()).to.throw(disagrees(file, "[1, 3)"));
  });

  it("fires on a binding at another offset than the memslot's guest_memfd_offset", () => {
    const { file, slot } = bound();
    slot.gmem!.pgoff = 0;
    expect(() => file.checkInvariants()).to.throw(disagrees(file, "[1, 3)"));
  });

  it("fires on a binding longer than the memslot", () => {
    const { file, slot } = bound();
    file.bindings.set(1, 4, slot);
    expect(() => file.checkInvariants()).to.throw(disagrees(file, "[1, 4)"));
  });

  it("fires on a binding to a memslot that is not installed", () => {
    const { file, vm } = bound();
    vm.memslots[0]!.byId.delete(3);
    expect(() => file.checkInvariants()).to.throw(`guest_memfd ${file.inode.ino}: bound to memslot 3, which is not installed`);
  });

  it("checks its interval map too", () => {
    const { file } = bound();
    // An empty range cannot be set through the map's own methods: break its storage by hand
    // (all() returns copies; the ranges live in per-chunk arrays, reference-impl/lib/interval-map.ts).
    (file.bindings as unknown as { chunks: { ends: number[] }[] }).chunks[0]!.ends[0] = 1;
    expect(() => file.checkInvariants()).to.throw(/interval map: empty range/);
  });
});

// GmemInode.checkInvariants and GmemAttributes.checkInvariants (in-place conversion, conv-v7 on
// the full-inplace host): no host page table maps a page that is private now, and the per-page
// attributes store no zero (inode.ts, attributes.ts).
describe("GmemInode.checkInvariants on a broken model (in-place conversion)", () => {
  const SHARED_MMAP = 3n; // GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED

  /** A SW_PROTECTED VM's guest_memfd of two pages, all shared, mapped and written by the host at page 1. */
  function mapped() {
    const s = new Session("conv-v7", "full-inplace");
    const fd = s.vm("KVM_X86_SW_PROTECTED_VM");
    const g = s.gmem(fd, 2n * PAGE, SHARED_MMAP);
    const map = s.mapShared(g, 2n).ret;
    s.ok("store", { addr: map + PAGE, data: new Uint8Array([0x5a]) });
    const vm = [...s.k.machine.vms][0]! as Vm;
    const inode = [...vm.gmemFiles][0]!.inode;
    expect(inode.attributes, "conv-v7 on full-inplace keeps attributes in guest_memfd").to.not.equal(null);
    expect(() => inode.checkInvariants()).to.not.throw();
    return { s, fd, inode, map, pid: [...s.k.machine.processes.keys()][0] };
  }

  it("fires on a private page that a host page table still maps", () => {
    const { inode, map, pid } = mapped();
    // The broken conversion: page 1 made private without unmapping it from the host.
    inode.attributes!.assign(1, 2, 8n);
    expect(() => inode.checkInvariants()).to.throw(`guest_memfd ${inode.ino}: private page 1 is mapped by process ${pid} at page ${map / PAGE + 1n}`);
  });

  it("does not fire for another file's page mapped at an index that is private here", () => {
    const { s, fd, inode } = mapped();
    // A second guest_memfd, all shared, mapped and written at its page 0; page 0 of the first is private.
    const other = s.gmem(fd, 1n * PAGE, SHARED_MMAP);
    const map2 = s.mapShared(other, 1n).ret;
    s.ok("store", { addr: map2, data: new Uint8Array([0x6b]) });
    inode.attributes!.assign(0, 1, 8n);
    expect(() => inode.checkInvariants()).to.not.throw();
  });

  it("checks its attribute ranges: a zero stored is an error", () => {
    const { inode } = mapped();
    (inode.attributes as unknown as { store: { set(s: number, e: number, v: bigint): void } }).store.set(0, 1, 0n);
    expect(() => inode.checkInvariants()).to.throw(/^guest_memfd attributes \(by page\): value 0 stored at 0/);
  });
});
