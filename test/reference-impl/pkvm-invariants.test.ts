// pKVM page ownership (arch/arm64/kvm/hyp/nvhe/mem_protect.c) on a broken model: each
// transition refuses a page in the wrong state with the error its caller sees, and
// PkvmHyp.checkInvariants fires, with its message, on each ownership state that
// hw-models.md 3.7 (1) rules out. The mutation runner runs this file (mutation/README.md).
import { expect } from "chai";
import { PageState, PkvmHyp } from "../../reference-impl/arch/arm64/pkvm/hyp.js";
import type { GmemInode } from "../../reference-impl/guest_memfd/inode.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { Folio, type FolioOwner } from "../../reference-impl/mm/folio.js";
import type { Vm } from "../../reference-impl/vm/vm.js";

// The hypervisor keys its tables by object identity and prints only these ids.
const vmA = { id: 1 } as Vm;
const vmB = { id: 2 } as Vm;
const inode = { ino: 30 } as GmemInode;
const other = { ino: 31 } as GmemInode;
const { OWNED, SHARED_OWNED, SHARED_BORROWED, NOPAGE } = PageState;

/** The private setters, to put the tables in a state no transition reaches. */
interface Raw {
  setHost(inode: GmemInode, index: number, value: { state: PageState; vm: Vm; gfnDelta: number } | null): void;
  setGuest(vm: Vm, gfn: number, value: { state: PageState; inode: GmemInode; indexDelta: number } | null): void;
}
const raw = (h: PkvmHyp) => h as unknown as Raw;
const where = (vm: Vm, gfn: number, ino: number, index: number) => `pKVM: VM ${vm.id} gfn ${gfn} (inode ${ino} page ${index})`;

describe("pKVM page ownership on a broken model", () => {
  it("donates a page the host owns once: the same gfn again is 0, another page there or the page elsewhere is EPERM", () => {
    const h = new PkvmHyp();
    expect(h.donateToGuest(vmA, 100, inode, 4)).to.equal(0);
    expect([h.hostState(inode, 4), h.guestState(vmA, 100)]).to.deep.equal([NOPAGE, OWNED]);
    expect(h.guestPage(vmA, 100)).to.deep.equal({ inode, index: 4 });
    expect(h.hostStage2Maps(inode, 4)).to.equal(false);
    expect(h.donateToGuest(vmA, 100, inode, 4)).to.equal(0);
    expect(h.donateToGuest(vmA, 100, inode, 5)).to.equal("EPERM");
    expect(h.donateToGuest(vmA, 100, other, 4)).to.equal("EPERM");
    expect(h.donateToGuest(vmA, 101, inode, 4)).to.equal("EPERM");
    expect(h.donateToGuest(vmB, 100, inode, 4)).to.equal("EPERM");
    // Nothing refused changed a table; the host still owns and maps its other pages.
    expect([h.guestState(vmA, 101), h.guestState(vmB, 100), h.hostState(inode, 5)]).to.deep.equal([NOPAGE, NOPAGE, OWNED]);
    expect(h.hostStage2Maps(inode, 5)).to.equal(true);
    expect([...h.guestPages()]).to.deep.equal([{ vm: vmA, gfn: 100, inode, index: 4, state: OWNED }]);
    h.checkInvariants();
  });

  it("shares and unshares in place: EFAULT without a page, EPERM from the wrong state, the host stage-2 maps a borrowed page", () => {
    const h = new PkvmHyp();
    expect(h.guestShareHost(vmA, 100)).to.equal("EFAULT");
    expect(h.guestUnshareHost(vmA, 100)).to.equal("EFAULT");
    h.donateToGuest(vmA, 100, inode, 4);
    expect(h.guestUnshareHost(vmA, 100)).to.equal("EPERM");
    expect(h.guestShareHost(vmA, 100)).to.equal(0);
    expect([h.hostState(inode, 4), h.guestState(vmA, 100), h.hostStage2Maps(inode, 4)]).to.deep.equal([SHARED_BORROWED, SHARED_OWNED, true]);
    h.checkInvariants();
    expect(h.guestShareHost(vmA, 100)).to.equal("EPERM");
    expect(h.guestUnshareHost(vmA, 100)).to.equal(0);
    expect([h.hostState(inode, 4), h.guestState(vmA, 100), h.hostStage2Maps(inode, 4)]).to.deep.equal([NOPAGE, OWNED, false]);
    h.checkInvariants();
  });

  it("a transition checks the host's side too: a guest OWNED page the host does not show NOPAGE is EPERM", () => {
    const h = new PkvmHyp();
    h.donateToGuest(vmA, 100, inode, 4);
    raw(h).setHost(inode, 4, { state: SHARED_BORROWED, vm: vmA, gfnDelta: 96 });
    expect(h.guestShareHost(vmA, 100)).to.equal("EPERM");
    expect(h.guestState(vmA, 100)).to.equal(OWNED);
  });

  it("reclaims a dead guest's pages: the host owns them again, exclusive ones scrubbed, shared ones kept", () => {
    const h = new PkvmHyp();
    const folios = [0, 1, 2].map((i) => new Folio({ kind: "guest_memfd", ino: 30 } as FolioOwner, i, 4096));
    folios.forEach((f, i) => {
      f.write(0, new Uint8Array([0xa0 + i]));
      h.donateToGuest(vmA, 100 + i, inode, i);
    });
    h.guestShareHost(vmA, 101);
    h.donateToGuest(vmB, 200, other, 0);
    h.reclaimGuest(vmA, (ino, index) => (ino === inode ? folios[index] : undefined));
    expect(folios.map((f) => f.read(0, 1)[0])).to.deep.equal([0, 0xa1, 0]);
    expect([0, 1, 2].map((i) => h.hostState(inode, i))).to.deep.equal([OWNED, OWNED, OWNED]);
    expect([...h.guestPages()].map((p) => p.vm)).to.deep.equal([vmB]);
    expect(h.guestState(vmA, 100)).to.equal(NOPAGE);
    h.checkInvariants();
    h.reclaimGuest(vmA, () => undefined);
  });

  it("reclaims an OWNED page whose folio the file no longer has without touching anything else", () => {
    const h = new PkvmHyp();
    h.donateToGuest(vmA, 100, inode, 4);
    h.reclaimGuest(vmA, () => undefined);
    expect(h.hostState(inode, 4)).to.equal(OWNED);
  });

  it("keeps neighbouring pages apart when they differ in state, owner, gfn or file", () => {
    // Host pages 4 and 5 of one file, guest gfns 100 and 101: each pair differs in one field only.
    const layouts: [string, (h: PkvmHyp) => void][] = [
      ["state", (h) => (h.donateToGuest(vmA, 100, inode, 4), h.donateToGuest(vmA, 101, inode, 5), h.guestShareHost(vmA, 100))],
      ["owner", (h) => (h.donateToGuest(vmA, 100, inode, 4), h.donateToGuest(vmB, 101, inode, 5))],
      ["host gfn", (h) => (h.donateToGuest(vmA, 100, inode, 4), h.donateToGuest(vmA, 200, inode, 5))],
      ["guest index", (h) => (h.donateToGuest(vmA, 100, inode, 4), h.donateToGuest(vmA, 101, inode, 9))],
      ["guest file", (h) => (h.donateToGuest(vmA, 100, inode, 4), h.donateToGuest(vmA, 101, other, 5))],
    ];
    for (const [what, build] of layouts) {
      const h = new PkvmHyp();
      build(h);
      expect(() => h.checkInvariants(), what).to.not.throw();
      const pages = [...h.guestPages()].map((p) => [p.vm.id, p.gfn, p.inode.ino, p.index, p.state]);
      expect(pages, what).to.have.length(2);
      for (const [vm, gfn, ino, index, state] of pages) {
        const v = vm === 1 ? vmA : vmB;
        expect(h.guestPage(v, gfn!), what).to.deep.equal({ inode: ino === 30 ? inode : other, index });
        expect(h.guestState(v, gfn!), what).to.equal(state);
        expect(h.hostState(ino === 30 ? inode : other, index!), what).to.equal(state === OWNED ? NOPAGE : SHARED_BORROWED);
      }
    }
  });

  it("checkInvariants fires on a guest entry in a state a guest never holds a page in", () => {
    const h = new PkvmHyp();
    h.donateToGuest(vmA, 100, inode, 4);
    raw(h).setGuest(vmA, 100, { state: SHARED_BORROWED, inode, indexDelta: -96 });
    expect(() => h.checkInvariants()).to.throw(InvariantViolation, `${where(vmA, 100, 30, 4)}: a guest holds a page only as OWNED or SHARED_OWNED, not 2`);
  });

  it("checkInvariants fires on a guest page whose host state does not match (OWNED needs NOPAGE, SHARED_OWNED needs SHARED_BORROWED)", () => {
    const h = new PkvmHyp();
    h.donateToGuest(vmA, 100, inode, 4);
    raw(h).setHost(inode, 4, null);
    expect(() => h.checkInvariants()).to.throw(InvariantViolation, `${where(vmA, 100, 30, 4)}: guest state 0 needs host state 3, the host has 0`);
    // A page of a file the host has no entry for at all.
    const f = new PkvmHyp();
    raw(f).setGuest(vmA, 100, { state: OWNED, inode: other, indexDelta: -96 });
    expect(() => f.checkInvariants()).to.throw(InvariantViolation, `${where(vmA, 100, 31, 4)}: guest state 0 needs host state 3, the host has 0`);
    const g = new PkvmHyp();
    g.donateToGuest(vmA, 100, inode, 4);
    g.guestShareHost(vmA, 100);
    raw(g).setHost(inode, 4, { state: NOPAGE, vm: vmA, gfnDelta: 96 });
    expect(() => g.checkInvariants()).to.throw(InvariantViolation, `${where(vmA, 100, 30, 4)}: guest state 1 needs host state 2, the host has 3`);
  });

  it("checkInvariants fires on a host entry that names another guest or another gfn", () => {
    for (const host of [{ vm: vmB, gfnDelta: 96 }, { vm: vmA, gfnDelta: 97 }]) {
      const h = new PkvmHyp();
      h.donateToGuest(vmA, 100, inode, 4);
      h.donateToGuest(vmB, 100, other, 4);
      raw(h).setHost(inode, 4, { state: NOPAGE, ...host });
      expect(() => h.checkInvariants()).to.throw(InvariantViolation, `${where(vmA, 100, 30, 4)}: the host's entry names another owner`);
    }
  });

  it("checkInvariants fires on a host entry whose guest does not hold the page", () => {
    const h = new PkvmHyp();
    h.donateToGuest(vmA, 100, inode, 4);
    raw(h).setHost(other, 9, { state: NOPAGE, vm: vmA, gfnDelta: 91 });
    expect(() => h.checkInvariants()).to.throw(InvariantViolation, "pKVM: inode 31 page 9: host state 3 names VM 1, which does not hold it");
    // A page two runs long: each of its pages is checked, at its own index.
    const g = new PkvmHyp();
    g.donateToGuest(vmA, 100, inode, 4);
    raw(g).setHost(inode, 5, { state: NOPAGE, vm: vmA, gfnDelta: 96 });
    expect(() => g.checkInvariants()).to.throw(InvariantViolation, "pKVM: inode 30 page 5: host state 3 names VM 1, which does not hold it");
  });
});
