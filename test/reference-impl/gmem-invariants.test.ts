// GmemFile.checkInvariants on a broken model: each check of a guest_memfd binding fires, with
// its message, when the model is broken the way it guards against (the mutation runner runs this
// file so a mutant that makes a check too lax is killed; mutation/README.md, file.ts).
import { expect } from "chai";
import sinon from "sinon";
import { SAFE_REFS } from "../../reference-impl/arch/arm64/pkvm/gmem-library.js";
import type { Kernel } from "../../reference-impl/kernel.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { PageCache } from "../../reference-impl/mm/page-cache.js";
import type { GmemFile } from "../../reference-impl/guest_memfd/file.js";
import type { Memslot } from "../../reference-impl/vm/memslots.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { arm64GmemVm, GPA as ARM_GPA } from "./arm64-gmem-vm.js";
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

// Pkvm.checkInvariants (arch/arm64/pkvm/pkvm.ts): a protected guest's page is either shared with
// the host and accessible in the guest_memfd library, or owned by the guest alone and then
// inaccessible, unmapped, unpinned and out of the direct map. Each check fires, with its message.
describe("Pkvm.checkInvariants on a broken model (arm64-pkvm)", () => {
  const kernelOf = (s: Session): Kernel => (s.k as unknown as { kernel: Kernel }).kernel;

  /** A protected VM whose guest wrote its first page (donated: OWNED); `shared`: then shared it back. */
  function guestPage(shared: boolean) {
    const s = new Session("linux-7.2", "arm64-pkvm");
    const { vcpu, gmap } = arm64GmemVm(s, s.c("KVM_VM_TYPE_ARM_PROTECTED"));
    s.ok("guest", { vcpu, access: "write", gpa: ARM_GPA, len: 1n, data: new Uint8Array([0xab]) });
    if (shared) expect(s.ok("guest_arch", { vcpu, action: "pkvm:share", gpa: ARM_GPA }).out).to.deep.equal({ status: 0n });
    const kernel = kernelOf(s);
    const pkvm = kernel.pkvm!;
    const vm = [...kernel.vms][0]!;
    const inode = [...vm.gmemFiles][0]!.inode;
    const folio = inode.cachedPage(0)!;
    expect(() => pkvm.checkInvariants(new Map())).to.not.throw();
    const where = `pKVM: VM ${vm.id} gfn ${Number(ARM_GPA / PAGE)} (inode ${inode.ino} page 0)`;
    return { s, vcpu, gmap, pkvm, inode, folio, where };
  }

  it("fires on a guest page that guest_memfd no longer caches", () => {
    const { pkvm, inode, where } = guestPage(false);
    sinon.stub(inode, "cachedPage").returns(undefined);
    expect(() => pkvm.checkInvariants(new Map())).to.throw(`${where}: the guest holds a page guest_memfd no longer has`);
  });

  it("fires on a shared page that guest_memfd keeps inaccessible", () => {
    const { pkvm, where } = guestPage(true);
    sinon.stub(pkvm.lib, "accessibleCount").returns(0);
    expect(() => pkvm.checkInvariants(new Map())).to.throw(`${where}: shared with the host, but guest_memfd keeps it inaccessible`);
  });

  it("fires on a guest-owned page that guest_memfd lets the host map", () => {
    const { pkvm, where } = guestPage(false);
    sinon.stub(pkvm.lib, "accessibleCount").returns(1);
    expect(() => pkvm.checkInvariants(new Map())).to.throw(`${where}: owned by the guest alone, but guest_memfd lets the host map it`);
  });

  it("fires on a guest-owned page that a host page table maps", () => {
    const { pkvm, folio, where } = guestPage(false);
    expect(() => pkvm.checkInvariants(new Map([[folio, 42n]]))).to.throw(`${where}: owned by the guest, but process 42 maps it (the host stage-2 must not)`);
  });

  it("fires on a guest-owned page that a GUP pin holds", () => {
    const { s, vcpu, gmap, pkvm, where } = guestPage(true);
    s.ok("load", { addr: gmap, len: 1n });
    s.ok("pin_user_pages", { addr: gmap, len: PAGE });
    // The broken library: it does not see the pin's reference, so MEM_UNSHARE goes through.
    sinon.stub(pkvm.lib, "refCount").returns(SAFE_REFS);
    expect(() => s.call("guest_arch", { vcpu, action: "pkvm:unshare", gpa: ARM_GPA })).to.throw(InvariantViolation, `${where}: owned by the guest, but a GUP pin holds it (references beyond ${SAFE_REFS})`);
  });

  it("fires on a guest-owned page back in the direct map", () => {
    const { pkvm, folio, where } = guestPage(false);
    expect(pkvm.lib.inDirectMap(folio)).to.equal(false);
    pkvm.lib.forget(folio);
    expect(pkvm.lib.inDirectMap(folio)).to.equal(true);
    expect(() => pkvm.checkInvariants(new Map())).to.throw(`${where}: owned by the guest, but still in the kernel's direct map`);
  });

  afterEach(() => sinon.restore());
});

// PageCache.checkInvariants (mm/page-cache.ts): st_blocks reads the allocated count, kept apart
// from the ranges; the check fires when the two disagree and checks the interval map itself.
describe("PageCache.checkInvariants on a broken model", () => {
  function cache(): PageCache {
    const c = new PageCache({ kind: "shmem", ino: 77 }, 4096);
    c.fill(0, 4);
    c.findOrCreate(6);
    expect(c.allocatedPages).to.equal(5);
    expect(() => c.checkInvariants()).to.not.throw();
    return c;
  }

  it("fires on an allocated count that disagrees with the ranges", () => {
    const c = cache();
    (c as unknown as { allocated: number }).allocated = 4;
    expect(() => c.checkInvariants()).to.throw(InvariantViolation, "page cache 77: allocated count 4 != 5");
  });

  it("checks its interval map too", () => {
    const c = cache();
    (c as unknown as { pages: { chunks: { ends: number[] }[] } }).pages.chunks[0]!.ends[0] = 0;
    expect(() => c.checkInvariants()).to.throw(/interval map: empty range/);
  });
});
