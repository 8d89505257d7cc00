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
