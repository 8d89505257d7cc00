// Vm.checkInvariants on a broken model: each check of a stage-2 mapping fires, with its message,
// when the model is broken the way it guards against (the mutation runner runs this file so a
// mutant that makes a check too lax is killed; mutation/README.md, vm.ts).
import { expect } from "chai";
import sinon from "sinon";
import type { Vm } from "../../reference-impl/vm/vm.js";
import type { Kernel } from "../../reference-impl/kernel.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { Folio, type FolioOwner } from "../../reference-impl/mm/folio.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { TDX_TD_ATTR_SEPT_VE_DISABLE } from "../../reference-impl/arch/x86/tdx/abi.js";
import { checkTdxInvariants, septGuestAccess, septRemovePrivateSpte } from "../../reference-impl/arch/x86/tdx/mirror.js";
import { SecureEpt } from "../../reference-impl/arch/x86/tdx/sept.js";
import type { X86VmType } from "../../reference-impl/arch/x86/vm-types.js";
import { TdxState } from "../../reference-impl/arch/x86/tdx.js";
import { arm64GmemVm, GPA as ARM64_GPA } from "./arm64-gmem-vm.js";
import { PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const GFN = Number(GPA / PAGE);
const PRIVATE = 8n;

/** One VM whose guest wrote the page at GPA + PAGE of a two-page slot, and that mapping. */
function mapped(kind: "anon" | "private" | "shared-in-protected") {
  const s = new Session("linux-7.2", "full");
  const fd = s.vm(kind === "anon" ? "KVM_X86_DEFAULT_VM" : "KVM_X86_SW_PROTECTED_VM");
  if (kind === "private") {
    // guest_memfd offset of one page, so the bound index (2) differs from both gfn offsets.
    const g = s.gmem(fd, 3n * PAGE);
    s.ok("ioctl", { fd, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: 2n * PAGE, userspace_addr: s.anon(2n), guest_memfd: g, guest_memfd_offset: PAGE } });
    s.ok("ioctl", { fd, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: 2n * PAGE, attributes: PRIVATE } });
  } else {
    s.ok("ioctl", { fd, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: 2n * PAGE, userspace_addr: s.anon(2n) } });
  }
  expect(s.write(s.vcpu(fd), GPA + PAGE, 7, kind === "private" ? { private: true } : {}).errno).to.equal(undefined);
  const vm = [...s.k.machine.vms][0]! as Vm;
  const [m, ...rest] = vm.mmu.mappings();
  expect(rest).to.deep.equal([]);
  expect(m!.gfn).to.equal(GFN + 1);
  expect(() => vm.checkInvariants()).to.not.throw();
  return { vm, spte: m!.spte as { -readonly [K in keyof typeof m.spte]: (typeof m.spte)[K] } };
}

const where = (vm: Vm) => `VM ${vm.id} gfn ${GFN + 1}: `;
const fires = (vm: Vm, what: string) => expect(() => vm.checkInvariants()).to.throw(where(vm) + what);

describe("Vm.checkInvariants on a broken model", () => {
  afterEach(() => sinon.restore());

  it("fires on a mapping outside every memslot", () => {
    const { vm } = mapped("anon");
    sinon.stub(vm.memslots[0]!, "at").returns(undefined);
    fires(vm, "mapped outside every memslot");
  });

  for (const [flag, value, what] of [
    ["freed", true, "maps a freed page"],
    ["hwpoison", true, "maps a poisoned page"],
    ["uptodate", false, "maps a page that was never cleared for use"],
  ] as const) {
    it(`fires on a mapped folio with ${flag} = ${value}`, () => {
      const { vm, spte } = mapped("anon");
      spte.folio[flag] = value;
      fires(vm, what);
    });
  }

  it("fires on a private mapping in a VM without private memory", () => {
    const { vm, spte } = mapped("anon");
    spte.isPrivate = true;
    fires(vm, "private mapping in a VM without private memory");
  });

  it("fires on a private mapping whose gfn is shared, and a shared one whose gfn is private", () => {
    const priv = mapped("private");
    sinon.stub(priv.vm, "isPrivate").returns(false);
    fires(priv.vm, "mapped private against its attribute");
    const shared = mapped("shared-in-protected");
    sinon.stub(shared.vm, "isPrivate").returns(true);
    fires(shared.vm, "mapped shared against its attribute");
  });

  it("fires on a private mapping that is not the guest_memfd page bound at its index", () => {
    const { vm } = mapped("private");
    const file = vm.memslots[0]!.at(GFN)!.gmem!.file!;
    // The bound index is guest_memfd_offset / PAGE + (gfn - base gfn) = 1 + 1.
    sinon.stub(file.inode, "cachedPage").callsFake(() => undefined);
    fires(vm, "not the guest_memfd page bound at index 2");
  });

  it("fires, with its own message, on a private mapping whose binding lost its file", () => {
    const { vm } = mapped("private");
    (vm.memslots[0]!.at(GFN)!.gmem as { file: unknown }).file = null;
    fires(vm, "not the guest_memfd page bound at index 2");
  });

  it("looks the private page up at the bound index", () => {
    const { vm } = mapped("private");
    const inode = vm.memslots[0]!.at(GFN)!.gmem!.file!.inode;
    const lookup = sinon.spy(inode, "cachedPage");
    vm.checkInvariants();
    expect(lookup.calledWith(2)).to.equal(true);
  });

  it("fires on a shared mapping that is not the page the host maps", () => {
    const { vm } = mapped("anon");
    sinon.stub(vm.owner.mm, "currentPage").returns(undefined);
    fires(vm, "not the page the host maps at its userspace address");
  });

  it("fires on a private page of a restricted file (UPM v9) that the file does not back at its index", () => {
    const s = new Session("upm-v9", "full");
    const fd = s.vm();
    const vcpu = s.vcpu(fd);
    const rfd = s.ok("memfd_restricted", { flags: 0n }).ret;
    s.ok("ftruncate", { fd: rfd, length: 4n * PAGE });
    s.ok("ioctl", { fd, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 1n, flags: s.c("KVM_MEM_PRIVATE"), guest_phys_addr: GPA, memory_size: 4n * PAGE, userspace_addr: s.anon(4n), restricted_offset: 0n, restricted_fd: rfd } });
    // A v9 private slot starts private: the write maps the restricted file's page 1.
    expect(s.write(vcpu, GPA + PAGE, 7).errno).to.equal(undefined);
    const vm = [...s.k.machine.vms][0]! as Vm;
    const [m] = vm.mmu.mappings();
    expect(m!.spte.isPrivate).to.equal(true);
    expect(() => vm.checkInvariants()).to.not.throw();
    sinon.stub(vm.memslots[0]!.at(GFN)!.restricted!, "backs").returns(false);
    fires(vm, "not the restricted file's page at index 1");
  });

  it("fires on a VM memory attribute the VM does not support, naming the per-gfn store", () => {
    const { vm } = mapped("shared-in-protected");
    // Written past the ioctl's checks: bit 0 is not a supported attribute (only PRIVATE, bit 3).
    vm.attributes!.assign(GFN, GFN + 1, 1n);
    expect(() => vm.checkInvariants()).to.throw(`VM memory attributes (by gfn): value 1 stored at ${GFN} is not a supported non-zero value`);
  });

  describe("Memslots.checkInvariants (one address space's index by id and by gfn)", () => {
    const slotOf = (vm: Vm) => vm.memslots[0]!.at(GFN)!;

    it("fires when the ids and the ranges differ in number", () => {
      const { vm } = mapped("anon");
      vm.memslots[0]!.byId.set(99, slotOf(vm));
      expect(() => vm.checkInvariants()).to.throw("memslots: 2 ids but 1 ranges");
    });

    it("fires on a range whose slot is not the one its id names", () => {
      const { vm } = mapped("anon");
      const slot = slotOf(vm);
      vm.memslots[0]!.byId.set(slot.id, Object.create(slot) as typeof slot);
      expect(() => vm.checkInvariants()).to.throw(`memslot ${slot.id} indexed at [${GFN}, ${GFN + 2})`);
    });

    it("fires on a slot indexed at a start that is not its base gfn (its end still matching)", () => {
      const { vm } = mapped("anon");
      const slot = slotOf(vm);
      sinon.stub(slot, "endGfn").get(() => GFN + 2);
      slot.baseGfn = GFN + 1;
      expect(() => vm.memslots[0]!.checkInvariants()).to.throw(`memslot ${slot.id} indexed at [${GFN}, ${GFN + 2})`);
    });

    it("fires on a slot indexed at an end that is not its own", () => {
      const { vm } = mapped("anon");
      const slot = slotOf(vm);
      sinon.stub(slot, "endGfn").get(() => GFN + 3);
      expect(() => vm.memslots[0]!.checkInvariants()).to.throw(`memslot ${slot.id} indexed at [${GFN}, ${GFN + 2})`);
    });
  });
});

// GunyahRm.checkInvariants (arch/arm64/gunyah/rm.ts) on a broken model: page 1 of the binding
// is lent, so the message's gfn (GPA / PAGE + 1) tells gfn = index + gfnDelta from index - gfnDelta.
describe("GunyahRm.checkInvariants on a broken model", () => {
  afterEach(() => sinon.restore());

  function lent() {
    const s = new Session("linux-7.2", "arm64-gunyah");
    const { vm: vmFd, vcpu, gmap } = arm64GmemVm(s, 0n);
    const kernel = (s.k as unknown as { kernel: Kernel }).kernel;
    const rm = kernel.gunyah!;
    const vm = [...kernel.vms][0]!;
    const inode = [...vm.gmemFiles][0]!.inode;
    expect(s.ok("guest", { vcpu, access: "write", gpa: ARM64_GPA + PAGE, len: 1n, data: new Uint8Array([9]) }).exit?.reason).to.equal("KVM_EXIT_SYSTEM_EVENT");
    expect(rm.lentTo(inode, 1)).to.not.equal(undefined);
    expect(() => rm.checkInvariants(new Map())).to.not.throw();
    const where = `Gunyah: inode ${inode.ino} page 1 lent to VM ${vm.id} at gfn ${Number(ARM64_GPA / PAGE) + 1}: `;
    const fires = (what: string, hostMapped = new Map<Folio, bigint>()) => expect(() => rm.checkInvariants(hostMapped)).to.throw(InvariantViolation, where + what);
    return { s, vmFd, vcpu, gmap, rm, vm, inode, folio: inode.cachedPage(1)!, fires };
  }

  it("fires on a lent page guest_memfd no longer has", () => {
    const { inode, fires } = lent();
    sinon.stub(inode, "cachedPage").returns(undefined);
    fires("guest_memfd no longer has the page");
  });

  it("fires on a lent page a process maps", () => {
    const { folio, fires } = lent();
    fires("process 42 maps it", new Map([[folio, 42n]]));
  });

  it("fires on a lent page a GUP pin holds", () => {
    const { s, gmap, rm, fires } = lent();
    // Broken: the pin's host fault does not reclaim the page.
    sinon.stub(rm, "hostFault").returns("ok");
    expect(() => s.call("pin_user_pages", { addr: gmap + PAGE, len: PAGE })).to.throw(InvariantViolation);
    fires("a GUP pin holds it");
  });

  it("fires on a lent page still in the direct map", () => {
    const { rm, fires } = lent();
    sinon.stub(rm.lib, "inDirectMap").returns(true);
    fires("still in the kernel's direct map");
  });

  it("fires on a lent page the library holds accessible", () => {
    const { rm, fires } = lent();
    sinon.stub(rm.lib, "accessibleCount").returns(1);
    fires("the library lets the host map it");
  });

  it("fires on a page lent to a VM that has no file of the inode, and not while one of its files is there", () => {
    const { rm, inode, fires } = lent();
    const files = [...inode.files];
    // Another VM's file beside the lending VM's one: the lending VM still has a file.
    inode.files.add({ vm: {} } as (typeof files)[0]);
    expect(() => rm.checkInvariants(new Map())).to.not.throw();
    inode.files.clear();
    fires("the VM has no file of the inode");
    inode.files.add({ vm: {} } as (typeof files)[0]);
    fires("the VM has no file of the inode");
    inode.files.clear();
    for (const f of files) inode.files.add(f);
  });

  it("fires on a guest_memfd page the guest maps that is not lent to its VM at that gfn", () => {
    const { rm, vm, inode } = lent();
    const gfn = Number(ARM64_GPA / PAGE) + 1;
    const real = rm.lentTo(inode, 1)!;
    const says = (l: typeof real | undefined) => {
      sinon.restore();
      sinon.stub(rm, "lentTo").returns(l);
      expect(() => rm.checkInvariants(new Map())).to.throw(InvariantViolation, `Gunyah: VM ${vm.id} maps gfn ${gfn}, page 1 of inode ${inode.ino}, which is not lent to it there`);
    };
    says(undefined);
    says({ ...real, vm: {} as Vm });
    says({ ...real, gfnDelta: real.gfnDelta + 1 });
  });

  it("looks at guest_memfd pages only: the guest's mapping of an anonymous memslot is nobody's lend", () => {
    const { s, vmFd, vcpu, rm } = lent();
    expect(s.slot(vmFd, { slot: 2n, guest_phys_addr: 0x20000000n, memory_size: PAGE, userspace_addr: s.anon(1n) }).errno).to.equal(undefined);
    expect(s.ok("guest", { vcpu, access: "write", gpa: 0x20000000n, len: 1n, data: new Uint8Array([3]) }).exit?.reason).to.equal("KVM_EXIT_SYSTEM_EVENT");
    expect(() => rm.checkInvariants(new Map())).to.not.throw();
  });
});

// The TDX Secure EPT's guards (sept.ts) and checkTdxInvariants (tdx/mirror.ts) on a broken model.
describe("TDX Secure EPT guards and checkTdxInvariants on a broken model", () => {
  afterEach(() => sinon.restore());
  const TD_GPA = 0x10000000n;
  const TD_GFN = Number(TD_GPA / PAGE);
  const page = () => new Folio({ kind: "guest_memfd" } as FolioOwner, 0, Number(PAGE));

  it("AUG and ADD refuse a leaf that is not FREE", () => {
    const sept = new SecureEpt();
    sept.aug(5, page());
    expect(() => sept.aug(5, page())).to.throw(InvariantViolation, "TDH.MEM.PAGE.AUG of gfn 5: the leaf is not FREE");
    expect(() => sept.add(5, page(), new Uint8Array(1))).to.throw(InvariantViolation, "TDH.MEM.PAGE.ADD of gfn 5: the leaf is not FREE");
    expect(() => sept.add(6, page(), new Uint8Array(1))).to.not.throw();
  });

  it("BLOCK keeps the accept state (MAPPED -> BLOCKED, PENDING -> PENDING_BLOCKED) and refuses a FREE or blocked leaf", () => {
    const sept = new SecureEpt();
    sept.aug(1, page());
    sept.add(2, page(), new Uint8Array(1));
    sept.track();
    expect(sept.block(1)).to.deep.include({ state: "pending-blocked", blockedEpoch: 1 });
    expect(sept.block(2)).to.deep.include({ state: "blocked", blockedEpoch: 1 });
    for (const [gfn, what] of [[1, "pending-blocked"], [2, "blocked"], [3, "FREE"]] as const)
      expect(() => sept.block(gfn)).to.throw(InvariantViolation, `TDH.MEM.RANGE.BLOCK of gfn ${gfn}: leaf is ${what}`);
    // A blocked leaf cannot be accepted: an EPT violation the host resolves.
    expect([sept.accept(1, 0), sept.accept(2, 0), sept.accept(3, 0)]).to.deep.equal(["violation", "violation", "violation"]);
    expect(() => sept.checkInvariants()).to.throw(InvariantViolation, "S-EPT leaf of gfn 1 left pending-blocked");
  });

  it("ACCEPT at 2M over 4K leaves is a size mismatch, of an empty 2M range a violation", () => {
    const sept = new SecureEpt();
    sept.aug(513, page());
    expect(sept.accept(512, 1)).to.equal("size-mismatch");
    expect(sept.accept(1024, 1)).to.equal("violation");
    expect(sept.accept(513, 0)).to.equal("accepted");
    expect(sept.accept(513, 0)).to.equal("already-accepted");
  });

  it("REMOVE needs a blocked leaf and, once the TD has run, TLB tracking past the BLOCK", () => {
    const sept = new SecureEpt();
    const folio = page();
    sept.add(1, folio, new Uint8Array(1));
    expect(() => sept.remove(1, false)).to.throw(InvariantViolation, "TDH.MEM.PAGE.REMOVE of gfn 1: leaf is mapped, not blocked");
    expect(() => sept.remove(2, false)).to.throw(InvariantViolation, "TDH.MEM.PAGE.REMOVE of gfn 2: leaf is FREE, not blocked");
    sept.block(1);
    expect(() => sept.remove(1, true)).to.throw(InvariantViolation, "TDH.MEM.PAGE.REMOVE of gfn 1: TLB tracking not done since it was blocked");
    // Before finalization no vCPU ran: no tracking needed.
    expect(sept.remove(1, false)).to.equal(folio);
    sept.add(1, folio, new Uint8Array(1));
    sept.block(1);
    sept.track();
    expect(sept.remove(1, true)).to.equal(folio);
    expect(sept.removals).to.equal(2);
    expect(sept.leaf(1)).to.equal(undefined);
  });

  it("checkInvariants fires on a leaf wider than 4K and on a leaf left blocked", () => {
    const wide = new SecureEpt();
    wide.leaves.set(4, 6, { state: "mapped", folio: page() });
    expect(() => wide.checkInvariants()).to.throw(InvariantViolation, "S-EPT leaf [4, 6) is not 4K");
    const blocked = new SecureEpt();
    blocked.add(4, page(), new Uint8Array(1));
    expect(() => blocked.checkInvariants()).to.not.throw();
    blocked.block(4);
    expect(() => blocked.checkInvariants()).to.throw(InvariantViolation, "S-EPT leaf of gfn 4 left blocked");
  });

  it("a zap of a private leaf removes it (tracking only once the TD is runnable) and clears the page; a premapped gfn with no leaf is skipped", () => {
    const td = new TdxState();
    td.state = "initialized";
    expect(() => septRemovePrivateSpte(td, 1), "premapped, never ADDed").to.not.throw();
    const folio = page();
    td.sept.add(1, folio, new Uint8Array([9]));
    septRemovePrivateSpte(td, 1);
    expect([td.sept.leaf(1), td.sept.epoch, td.sept.removals, folio.read(0, 1)[0]]).to.deep.equal([undefined, 0, 1, 0]);
    td.state = "runnable";
    td.sept.aug(2, folio);
    septRemovePrivateSpte(td, 2);
    expect([td.sept.leaf(2), td.sept.epoch, td.sept.removals]).to.deep.equal([undefined, 1, 2]);
    expect(() => septRemovePrivateSpte(td, 3), "a runnable TD has no premapped gfn").to.throw(InvariantViolation, "TDH.MEM.RANGE.BLOCK of gfn 3: leaf is FREE");
  });

  /** A finalized TD (and a default VM beside it) whose guest accepted the private page at TD_GPA. */
  function acceptedTd(s = new Session("linux-7.2", "full")) {
    s.vm();
    const fd = s.vm("KVM_X86_TDX_VM");
    s.initConfidential(fd, "KVM_X86_TDX_VM");
    const vcpu = s.vcpu(fd);
    expect(s.tdxOp(vcpu, "KVM_TDX_INIT_VCPU").errno).to.equal(undefined);
    expect(s.slot(fd, { slot: 0n, flags: 4n, guest_phys_addr: TD_GPA, memory_size: PAGE, userspace_addr: s.anon(1n), guest_memfd: s.gmem(fd, PAGE) }).errno).to.equal(undefined);
    expect(s.tdxOp(fd, "KVM_TDX_FINALIZE_VM").errno).to.equal(undefined);
    s.ok("ioctl", { fd, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: TD_GPA, size: PAGE, attributes: PRIVATE } });
    expect(s.call("guest_arch", { vcpu, action: "tdx:accept", gpa: TD_GPA }).out?.status).to.equal(0n);
    const vm = [...s.k.machine.vms].at(-1)! as Vm;
    const td = (vm.type as X86VmType).tdx!;
    const leaf = td.sept.leaf(TD_GFN)!;
    expect(leaf.state).to.equal("mapped");
    const check = () => checkTdxInvariants(td, vm);
    expect(check).to.not.throw();
    return { s, vm, vcpu, td, leaf, check, fires: (what: string) => expect(check).to.throw(InvariantViolation, `VM ${vm.id} gfn ${TD_GFN}: ${what}`) };
  }

  it("fires on a mirror root and a Secure EPT that disagree", () => {
    const t = acceptedTd();
    const spte = t.vm.mmu.mappings()[0]!.spte;
    sinon.stub(t.vm.mmu, "mappings").returns([{ gfn: TD_GFN, spte }, { gfn: TD_GFN, spte: { ...spte, isPrivate: false } }] as ReturnType<typeof t.vm.mmu.mappings>);
    t.fires("mapped both in the shared root and in the mirror root");
    sinon.restore();
    const other = page();
    t.td.sept.leaves.set(TD_GFN, TD_GFN + 1, { ...t.leaf, folio: other });
    t.fires(`the Secure EPT maps page ${other.id}, the mirror root page ${t.leaf.folio.id}`);
    t.td.sept.leaves.delete(TD_GFN, TD_GFN + 1);
    t.fires("mapped in the mirror root but FREE in the Secure EPT");
  });

  it("fires on a Secure EPT leaf KVM does not mirror, whose gfn is shared, or whose page is freed, foreign or host-mapped", () => {
    const t = acceptedTd();
    const mappings = sinon.stub(t.vm.mmu, "mappings").returns([]);
    t.fires("mapped in the Secure EPT but not in KVM's mirror root (a zap skipped the removal)");
    mappings.restore();
    const isPrivate = sinon.stub(t.vm, "isPrivate").returns(false);
    t.fires("in the Secure EPT while its attribute is shared");
    isPrivate.restore();
    t.leaf.folio.freed = true;
    t.fires("the Secure EPT maps a freed page");
    t.leaf.folio.freed = false;
    sinon.stub(t.leaf.folio, "owner").value({ kind: "shmem" });
    t.fires("the Secure EPT maps a shmem page");
    sinon.restore();
    for (const f of t.vm.gmemFiles) sinon.stub(f.inode, "cachedPage").returns(undefined);
    t.fires("the Secure EPT maps a page of no guest_memfd of this VM");
    sinon.restore();
    const [proc] = t.s.k.machine.processes.values();
    sinon.stub(proc!.mm.ptes, "all").returns([{ start: 0, end: 1, value: { folio: t.leaf.folio } }] as ReturnType<typeof proc.mm.ptes.all>);
    t.fires(`page ${t.leaf.folio.id} is in the Secure EPT and mapped by a process`);
  });

  it("fires on a page in the Secure EPT of two TDs, not on two TDs with their own pages", () => {
    const a = acceptedTd();
    const b = acceptedTd(a.s);
    expect(a.check).to.not.throw();
    expect(b.check).to.not.throw();
    b.td.sept.leaves.set(TD_GFN + 7, TD_GFN + 8, { state: "mapped", folio: a.leaf.folio });
    a.fires(`page ${a.leaf.folio.id} is also in the Secure EPT of VM ${b.vm.id} at gfn ${TD_GFN + 7}`);
  });

  it("a guest access through a private mapping with no Secure EPT leaf is a model bug; a PENDING one under SEPT_VE_DISABLE is unsupported", () => {
    const t = acceptedTd();
    const spte = t.vm.mmu.mappings()[0]!.spte;
    const vcpu = { vm: t.vm } as Parameters<typeof septGuestAccess>[1];
    expect(septGuestAccess(t.td, vcpu, TD_GFN, spte, TD_GPA), "an accepted page").to.equal(undefined);
    t.td.sept.leaves.set(TD_GFN, TD_GFN + 1, { ...t.leaf, state: "pending" });
    expect(septGuestAccess(t.td, vcpu, TD_GFN, spte, TD_GPA)?.out).to.deep.include({ ve_gpa: TD_GPA });
    t.td.attributes = TDX_TD_ATTR_SEPT_VE_DISABLE;
    expect(() => septGuestAccess(t.td, vcpu, TD_GFN, spte, TD_GPA)).to.throw(DriverFailure, "kvm_vm_dead()").with.property("kind", "unsupported");
    t.td.sept.leaves.delete(TD_GFN, TD_GFN + 1);
    expect(() => septGuestAccess(t.td, vcpu, TD_GFN, spte, TD_GPA)).to.throw(InvariantViolation, `VM ${t.vm.id} gfn ${TD_GFN}: mapped private in the mirror root but FREE in the Secure EPT`);
  });
});
