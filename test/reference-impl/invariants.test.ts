import { expect } from "chai";
import sinon from "sinon";
import { PAGES_PER_2M, ReverseMapTable, type RmpEntry } from "../../reference-impl/arch/x86/snp/rmp.js";
import { X86VmType } from "../../reference-impl/arch/x86/vm-types.js";
import { GmemFile } from "../../reference-impl/guest_memfd/file.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { Folio } from "../../reference-impl/mm/folio.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { byte, PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const PRIVATE = 8n;

describe("reference-impl invariants that span objects", () => {
  it("catches a page that is both host-mapped and mapped private", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    // Without INIT_SHARED the host may map the file but never fault a page in.
    const g = s.gmem(vm, PAGE, s.c("GUEST_MEMFD_FLAG_MMAP"));
    const m = s.mapShared(g, 1n).ret;
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: g } });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    const vcpu = s.vcpu(vm);
    expect(s.write(vcpu, GPA, 0x42).errno).to.equal(undefined);
    expect(s.load(m).signal).to.equal("SIGBUS");
    s.k.machine.checkInvariants();
    // A fault path that ignored INIT_SHARED would have installed this PTE.
    const spte = [...s.k.machine.vms][0]!.mmu.lookup(0, Number(GPA / PAGE), true)!;
    s.k.machine.processes.get(0n)!.mm.ptes.set(Number(m / PAGE), Number(m / PAGE) + 1, { folio: spte.folio, writable: true });
    expect(() => s.k.machine.checkInvariants()).to.throw(/also mapped by process 0's page tables/);
  });

  it("catches a page mapped private by two VMs that view one guest_memfd", () => {
    const s = new Session("linux-7.2", "full");
    const [a, b] = [s.vm("KVM_X86_SW_PROTECTED_VM"), s.vm("KVM_X86_SW_PROTECTED_VM")];
    const g = s.gmem(a, PAGE);
    const [vmA, vmB] = [...s.k.machine.vms] as [Vm, Vm];
    // A second view of the same inode for VM b, as linking a guest_memfd into another VM would make.
    const process = s.k.machine.processes.get(0n)!;
    const inode = (process.files.get(g) as GmemFile).inode;
    const gb = BigInt(process.files.install(new GmemFile(inode, vmB), false));
    for (const [vm, fd] of [[a, g], [b, gb]] as const) {
      s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: fd } });
      s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    }
    expect(s.write(s.vcpu(a), GPA, 1).errno).to.equal(undefined);
    s.k.machine.checkInvariants();
    expect(vmA.mmu.mappings().length).to.equal(1);
    expect(() => s.write(s.vcpu(b), GPA, 2)).to.throw(/also mapped private by VM/);
  });

  it("records the guest each SNP page is assigned to, and catches a mapping by another", () => {
    const s = new Session("linux-7.2", "full");
    s.vm();
    const vm = s.vm("KVM_X86_SNP_VM");
    s.initConfidential(vm, "KVM_X86_SNP_VM");
    const g = s.gmem(vm, PAGE);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: s.anon(1n), guest_memfd: g } });
    const vcpu = s.vcpu(vm);
    s.launchConfidential(vm, "KVM_X86_SNP_VM", [vcpu]);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    expect(s.write(vcpu, GPA, 1, { private: true }).errno).to.equal(undefined);
    const rmp = s.k.machine.rmp;
    const [entry] = rmp.table.all();
    expect(entry!.value.asid).to.be.greaterThan(0);
    // The same frame assigned to an ASID no guest has.
    rmp.table.set(entry!.start, entry!.end, { ...entry!.value, asid: 999 });
    expect(() => s.k.machine.checkInvariants()).to.throw(/is assigned to ASID 999/);
  });

  it("uses host PTEs until something zaps them, and catches one that outlived its page", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, 2n * PAGE, s.c("GUEST_MEMFD_FLAG_MMAP") | s.c("GUEST_MEMFD_FLAG_INIT_SHARED"));
    const m = s.mapShared(g, 2n).ret;
    s.ok("store", { addr: m, data: new Uint8Array([9]) });
    const mm = s.k.machine.processes.get(0n)!.mm;
    expect(mm.ptes.get(Number(m / PAGE))?.value.writable).to.equal(true);
    // A punch zaps the PTE: the next access faults in a new, zeroed page.
    s.ok("fallocate", { fd: g, mode: 3n, offset: 0n, len: PAGE });
    expect(mm.ptes.get(Number(m / PAGE))).to.equal(undefined);
    expect(byte(s.load(m))).to.equal(0);
    // Freeing the page without the zap leaves a PTE on a freed page.
    const inode = [...s.k.machine.vms][0]!.gmemFiles.values().next().value!.inode;
    inode.cache.remove(0, 1);
    expect(() => s.k.machine.checkInvariants()).to.throw(/PTE at page \d+ maps a freed page/);
  });

  it("retries a guest fault that an invalidation overtook (mmu_invalidate_seq)", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const fd = s.ok("memfd_create", { name: "m", flags: 0n }).ret;
    s.ok("ftruncate", { fd, length: PAGE });
    s.ok("pwrite", { fd, data: new Uint8Array([1]), offset: 0n });
    const priv = s.ok("mmap", { addr: 0n, len: PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE"), fd, offset: 0n }).ret;
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: priv } });
    const vcpu = s.vcpu(vm);
    const mmu = [...s.k.machine.vms][0]!.mmu;
    const before = mmu.invalidateSeq;
    // The write fault copies the file page (copy on write), whose MMU notifier bumps the sequence:
    // the first attempt must not install the file page, the retry installs the copy.
    expect(s.write(vcpu, GPA, 2).errno).to.equal(undefined);
    expect(mmu.invalidateSeq).to.equal(before + 1);
    expect(byte(s.load(priv))).to.equal(2);
    expect(byte(s.ok("pread", { fd, len: 1n, offset: 0n }))).to.equal(1);
    expect(() => mmu.map(0, 9, mmu.lookup(0, Number(GPA / PAGE), false)!, before)).to.throw(/an invalidation ran since the fault began/);
  });
});

describe("FdTable.checkInvariants on a broken model", () => {
  it("fires on a descriptor whose file was released, or holds no reference", () => {
    const s = new Session("linux-7.2", "full");
    const fd = s.ok("memfd_create", { name: "fds", flags: 0n }).ret;
    const files = s.k.machine.processes.get(0n)!.files;
    const file = files.get(fd);
    expect(() => files.checkInvariants()).to.not.throw();
    file.released = true;
    expect(() => files.checkInvariants()).to.throw(`fd ${fd} refers to a released file`);
    file.released = false;
    const refs = file.refs;
    file.refs = 0;
    expect(() => files.checkInvariants()).to.throw(`fd ${fd} refers to a released file`);
    file.refs = refs;
    expect(() => s.k.machine.checkInvariants()).to.not.throw();
  });
});

describe("SEV-SNP invariants on a broken model (the mutation runner runs this file)", () => {
  afterEach(() => sinon.restore());
  /** A 2M-aligned frame number, and a table whose frames BASE.. hold guest_memfd pages. */
  const BASE = 0x200000;
  const entry = (e: Partial<RmpEntry> = {}): RmpEntry => ({ asid: 3, delta: 0x10000 - BASE, validated: false, huge: false, immutable: false, ...e });
  function table(): ReverseMapTable {
    const rmp = new ReverseMapTable();
    for (let i = 0; i < 2 * PAGES_PER_2M; i++) rmp.frames.set(BASE + i, new Folio({ kind: "guest_memfd", ino: 1 }, i, 4096));
    return rmp;
  }
  const fires = (rmp: ReverseMapTable, what: string) => expect(() => rmp.checkInvariants()).to.throw(InvariantViolation, what);

  it("RMP: passes a validated 4K entry and an aligned 2M entry at an aligned GPA", () => {
    const rmp = table();
    rmp.table.set(BASE, BASE + PAGES_PER_2M, entry({ huge: true }));
    rmp.table.set(BASE + PAGES_PER_2M, BASE + PAGES_PER_2M + 1, entry({ validated: true }));
    expect(() => rmp.checkInvariants()).to.not.throw();
  });

  it("RMP: fires on an entry without an ASID, and on one validated and still immutable", () => {
    const noAsid = table();
    noAsid.table.set(BASE + 1, BASE + 2, entry({ asid: 0 }));
    fires(noAsid, `RMP frames [${BASE + 1}, ${BASE + 2}) (ASID 0): assigned without an ASID`);
    const both = table();
    both.table.set(BASE, BASE + 1, entry({ validated: true, immutable: true }));
    fires(both, `RMP frames [${BASE}, ${BASE + 1}) (ASID 3): validated and still immutable`);
  });

  it("RMP: fires on a 2M entry that is unaligned, of another length, or at an unaligned GPA", () => {
    const unaligned = table();
    unaligned.table.set(BASE + 1, BASE + 1 + PAGES_PER_2M, entry({ huge: true }));
    fires(unaligned, "a 2M entry that is not one aligned 2M frame range");
    const short = table();
    short.table.set(BASE, BASE + PAGES_PER_2M / 2, entry({ huge: true }));
    fires(short, "a 2M entry that is not one aligned 2M frame range");
    const gpa = table();
    gpa.table.set(BASE, BASE + PAGES_PER_2M, entry({ huge: true, delta: 0x10001 - BASE }));
    fires(gpa, `RMP frames [${BASE}, ${BASE + PAGES_PER_2M}) (ASID 3): a 2M entry at an unaligned GPA`);
  });

  it("RMP: fires on an assigned frame that holds no page, or whose page was freed", () => {
    const empty = table();
    empty.frames.delete(BASE + 5);
    empty.table.set(BASE + 4, BASE + 6, entry());
    fires(empty, `RMP frames [${BASE + 4}, ${BASE + 6}) (ASID 3): frame ${BASE + 5} is assigned but holds no page`);
    const freed = table();
    const folio = freed.frames.get(BASE + 7)!;
    folio.freed = true;
    freed.table.set(BASE + 6, BASE + 8, entry());
    fires(freed, `frame ${BASE + 7} is assigned but its page ${folio.id} was freed`);
  });

  /** An SNP guest whose private write assigned one page; its VM, its ASID and the page's frame. */
  function snpWithPage(s = new Session("linux-7.2", "full")) {
    const fd = s.vm("KVM_X86_SNP_VM");
    s.initConfidential(fd, "KVM_X86_SNP_VM");
    const g = s.gmem(fd, PAGE);
    s.ok("ioctl", { fd, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: s.anon(1n), guest_memfd: g } });
    const vcpu = s.vcpu(fd);
    s.launchConfidential(fd, "KVM_X86_SNP_VM", [vcpu]);
    s.ok("ioctl", { fd, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    expect(s.write(vcpu, GPA, 1, { private: true }).errno).to.equal(undefined);
    const vm = [...s.k.machine.vms].at(-1)! as Vm;
    const sev = (vm.type as X86VmType).sev!;
    const spte = vm.mmu.lookup(0, Number(GPA / PAGE), true)!;
    const pfn = s.k.machine.rmp.framedPfn(spte.folio)!;
    return { s, vm, sev, spte, pfn, check: () => s.k.machine.checkInvariants() };
  }

  it("passes two SNP guests with their own ASIDs and pages; fires when they share an ASID", () => {
    const a = snpWithPage();
    const b = snpWithPage(a.s);
    expect(a.sev.asid).to.not.equal(b.sev.asid);
    expect(a.check).to.not.throw();
    b.sev.asid = a.sev.asid;
    expect(a.check).to.throw(InvariantViolation, `ASID ${a.sev.asid} is given to VM ${a.vm.id} and VM ${b.vm.id}`);
  });

  it("gives no ASID to an SNP VM before KVM_SEV_INIT2: two of them side by side pass", () => {
    const s = new Session("linux-7.2", "full");
    s.vm("KVM_X86_SNP_VM");
    s.vm("KVM_X86_SNP_VM");
    expect([...s.k.machine.vms].map((vm) => (vm.type as X86VmType).sev?.asid)).to.deep.equal([0, 0]);
    expect(() => s.k.machine.checkInvariants()).to.not.throw();
  });

  it("fires on a private mapping whose page is not assigned in the RMP", () => {
    const t = snpWithPage();
    t.s.k.machine.rmp.table.delete(t.pfn, t.pfn + 1);
    expect(t.check).to.throw(InvariantViolation, `VM ${t.vm.id} gfn ${Number(GPA / PAGE)}: mapped private, but its page ${t.spte.folio.id} is not assigned in the RMP`);
  });

  it("fires on a frame assigned to an ASID no live guest has, and on one a process maps", () => {
    const t = snpWithPage();
    const rmp = t.s.k.machine.rmp;
    const e = rmp.lookup(t.pfn).entry!;
    // a second frame for a guest that is gone (the mapped page keeps its own ASID)
    const other = new Folio({ kind: "guest_memfd", ino: 99 }, 0, 4096);
    const pfn = rmp.pfnOf(other);
    rmp.table.set(pfn, pfn + 1, { ...e, asid: t.sev.asid + 50 });
    expect(t.check).to.throw(InvariantViolation, `RMP frames [${pfn}, ${pfn + 1}): assigned to ASID ${t.sev.asid + 50}, which no live SNP guest has`);
    // the same frame assigned to the live guest, and mapped by the process (stubs: a real PTE would
    // also need a VMA over it, which the mm's own check looks for)
    rmp.table.set(pfn, pfn + 1, e);
    expect(t.check).to.not.throw();
    const [proc] = t.s.k.machine.processes.values();
    sinon.stub(proc!.mm, "checkInvariants");
    sinon.stub(proc!.mm.ptes, "all").returns([{ start: 0x7000, end: 0x7001, value: { folio: other, writable: true } }]);
    expect(t.check).to.throw(InvariantViolation, `RMP frame ${pfn}: assigned to VM ${t.vm.id} and mapped by process ${proc!.pid}'s page tables`);
  });
});

// AddressSpace.checkInvariants on a broken model: each check fires, with its message, when the
// model is broken the way it guards against (the mutation runner runs this file, so a mutant
// that makes one of these checks too lax is killed; mutation/README.md, address-space.ts).
describe("AddressSpace.checkInvariants on a broken model", () => {
  /** Page 0 of a 2-page private anonymous mapping written (a private page and its PTE), page 1 untouched; a 1-page memfd mapped shared and written. */
  function touched() {
    const s = new Session("linux-7.2", "full");
    const anon = s.anon(2n);
    s.ok("store", { addr: anon, data: new Uint8Array([1]) });
    const fd = s.ok("memfd_create", { name: "m", flags: 0n }).ret;
    s.ok("ftruncate", { fd, length: PAGE });
    const shared = s.mapShared(fd, 1n).ret;
    s.ok("store", { addr: shared, data: new Uint8Array([2]) });
    const mm = s.k.machine.processes.get(0n)!.mm;
    mm.checkInvariants();
    const [a, sh] = [Number(anon / PAGE), Number(shared / PAGE)];
    return { s, mm, a, sh, fires: (what: RegExp) => expect(() => mm.checkInvariants()).to.throw(InvariantViolation, what) };
  }

  for (const side of ["start", "end"] as const) {
    it(`fires on a VMA whose own ${side} differs from where it is stored`, () => {
      const { mm, a, fires } = touched();
      mm.vmas.get(a)!.value[side] += 1;
      fires(new RegExp(`^VMA \\[\\d+, \\d+\\) stored as \\[${a}, ${a + 2}\\)$`));
    });
  }

  it("fires on a VMA whose file was released, and on one whose file has no reference left", () => {
    const released = touched();
    const file = released.mm.vmas.get(released.sh)!.value.file!;
    file.released = true;
    released.fires(new RegExp(`^VMA at page ${released.sh} maps a released file$`));
    const unreferenced = touched();
    unreferenced.mm.vmas.get(unreferenced.sh)!.value.file!.refs = 0;
    unreferenced.fires(new RegExp(`^VMA at page ${unreferenced.sh} maps a released file$`));
  });

  it("fires on a freed private page", () => {
    const { mm, a, fires } = touched();
    mm.privatePages.get(a)!.value.freed = true;
    fires(new RegExp(`^freed private page mapped at page ${a}$`));
  });

  it("fires on a private page outside every VMA, and on one inside a shared mapping", () => {
    const outside = touched();
    const page = outside.mm.privatePages.get(outside.a)!.value;
    outside.mm.privatePages.set(outside.a + 5, outside.a + 6, page);
    outside.fires(new RegExp(`^private page at page ${outside.a + 5} outside a private mapping$`));
    const shared = touched();
    shared.mm.privatePages.set(shared.sh, shared.sh + 1, shared.mm.privatePages.get(shared.a)!.value);
    shared.fires(new RegExp(`^private page at page ${shared.sh} outside a private mapping$`));
  });

  it("fires on a PTE spanning two pages", () => {
    const { mm, a, fires } = touched();
    mm.ptes.set(a, a + 2, mm.ptes.get(a)!.value);
    fires(new RegExp(`^PTE \\[${a}, ${a + 2}\\) spans several pages$`));
  });

  it("fires on a PTE outside every VMA", () => {
    const { mm, a, fires } = touched();
    mm.ptes.set(a + 5, a + 6, mm.ptes.get(a)!.value);
    fires(new RegExp(`^PTE at page ${a + 5} outside every VMA$`));
  });

  it("fires on a PTE that maps a poisoned page, or a page its mapping no longer holds", () => {
    const poisoned = touched();
    poisoned.mm.ptes.get(poisoned.sh)!.value.folio.hwpoison = true;
    poisoned.fires(new RegExp(`^PTE at page ${poisoned.sh} maps a poisoned page$`));
    const stale = touched();
    stale.mm.ptes.set(stale.a, stale.a + 1, { folio: stale.mm.ptes.get(stale.sh)!.value.folio, writable: false });
    stale.fires(new RegExp(`^PTE at page ${stale.a} is not the page its mapping holds now$`));
  });

  it("marks the private pages of an unmapped range freed: a stage-2 mapping that a lost MMU notifier left on one is caught", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const anon = s.anon(1n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: anon } });
    expect(s.write(s.vcpu(vm), GPA, 7).errno).to.equal(undefined);
    const mm = s.k.machine.processes.get(0n)!.mm;
    mm.notifiers.clear();
    s.k.machine.processes.get(0n)!.mm.unmap(Number(anon / PAGE), Number(anon / PAGE) + 1);
    const model = [...s.k.machine.vms][0]!;
    expect(() => model.checkInvariants()).to.throw(InvariantViolation, /: maps a freed page$/);
  });
});
