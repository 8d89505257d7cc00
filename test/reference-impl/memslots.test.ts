import { expect } from "chai";
import { PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const GMEM = 4n;

describe("reference-impl vm: memslots", () => {
  it("validates flags per ioctl, profile and VM type", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const v1 = (flags: bigint) => s.ioctl(vm, "KVM_SET_USER_MEMORY_REGION", { slot: 0n, flags, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: 0n }).errno;
    expect(v1(GMEM)).to.equal("EINVAL");
    expect(v1(8n)).to.equal("EINVAL");
    expect(v1(2n)).to.equal(undefined);
    const g = s.gmem(vm, 16n * PAGE);
    const v2 = (slot: bigint, flags: bigint) => s.slot(vm, { slot, flags, guest_phys_addr: GPA * (slot + 2n), memory_size: PAGE, guest_memfd: g, guest_memfd_offset: slot * PAGE }).errno;
    expect(v2(1n, GMEM | 1n)).to.equal("EINVAL");
    expect(v2(1n, GMEM | 2n)).to.equal("EINVAL");
    expect(v2(1n, 1n << 31n)).to.equal("EINVAL");
    expect(v2(1n, GMEM)).to.equal(undefined);

    const es = s.vm("KVM_X86_SEV_ES_VM");
    expect(s.slot(es, { slot: 0n, flags: 2n, guest_phys_addr: GPA, memory_size: PAGE }).errno).to.equal("EINVAL");

    const old = new Session("linux-6.8", "full");
    const dvm = old.vm();
    const dg = old.gmem(dvm, PAGE);
    expect(old.slot(dvm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: dg }).errno).to.equal("EINVAL");
    const svm = old.vm("KVM_X86_SW_PROTECTED_VM");
    const sg = old.gmem(svm, PAGE);
    expect(old.slot(svm, { slot: 0n, flags: GMEM | 2n, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: sg }).errno).to.equal("EINVAL");
    expect(old.slot(svm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: sg }).errno).to.equal(undefined);
  });

  it("checks the fields, then overlap, then the guest_memfd binding, then the MMU's width, then allocates", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const top = 1n << 52n;
    const r = (fields: Record<string, bigint>) => s.slot(vm, { slot: 1n, guest_phys_addr: GPA, memory_size: PAGE, ...fields }).errno;
    expect(s.slot(vm, { slot: 0n, guest_phys_addr: GPA, memory_size: 2n * PAGE }).errno).to.equal(undefined);
    expect(s.slot(vm, { slot: 2n, guest_phys_addr: top - 2n * PAGE, memory_size: PAGE }).errno).to.equal(undefined);
    // Field checks (EINVAL) before the overlap check (EEXIST).
    expect(r({ memory_size: PAGE + 1n })).to.equal("EINVAL");
    expect(r({ userspace_addr: 1n })).to.equal("EINVAL");
    expect(r({})).to.equal("EEXIST");
    // Overlap (EEXIST) before the guest_memfd binding (EBADF).
    expect(r({ flags: GMEM, guest_memfd: 99n })).to.equal("EEXIST");
    // Overlap (EEXIST) and the binding (EBADF) before the MMU's address width (EINVAL).
    expect(r({ guest_phys_addr: top - 2n * PAGE, memory_size: 3n * PAGE })).to.equal("EEXIST");
    expect(r({ guest_phys_addr: top - PAGE, memory_size: 2n * PAGE, flags: GMEM, guest_memfd: 99n })).to.equal("EBADF");
    expect(r({ guest_phys_addr: top - PAGE, memory_size: 2n * PAGE })).to.equal("EINVAL");
    // Nothing is allocated before all of that: an armed ENOMEM is met only by a request that gets through.
    s.ok("inject", { fault: "enomem" });
    expect(r({})).to.equal("EEXIST");
    expect(r({ guest_phys_addr: 4n * GPA })).to.equal("ENOMEM");
    expect(r({ guest_phys_addr: 4n * GPA })).to.equal(undefined);
  });

  it("refuses each malformed size, alignment, wrap, address space and slot id with EINVAL", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const sw = s.vm("KVM_X86_SW_PROTECTED_VM");
    const r = (fields: Record<string, bigint>, on = vm) => s.slot(on, { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, ...fields }).errno;
    expect(r({ memory_size: PAGE + 1n })).to.equal("EINVAL");
    expect(r({ guest_phys_addr: GPA + 1n })).to.equal("EINVAL");
    expect(r({ userspace_addr: 1n })).to.equal("EINVAL");
    expect(r({ userspace_addr: 0x7ffffffff000n, memory_size: 2n * PAGE })).to.equal("EINVAL");
    expect(r({ guest_phys_addr: (1n << 64n) - PAGE, memory_size: 2n * PAGE })).to.equal("EINVAL");
    expect(r({ memory_size: 1n << 43n })).to.equal("EINVAL");
    expect(r({ slot: 32764n })).to.equal("EINVAL");
    expect(r({ slot: 1n << 16n })).to.equal(undefined);
    expect(r({ slot: 1n << 16n }, sw)).to.equal("EINVAL");
    expect(r({ slot: 2n << 16n })).to.equal("EINVAL");
    expect(r({ guest_phys_addr: 1n << 52n })).to.equal("EINVAL");
    expect(r({ memory_size: 0n, slot: 5n })).to.equal("EINVAL");
  });

  it("applies the release's access_ok() limit to the userspace_addr range", () => {
    const TASK_SIZE_MAX = 0x7ffffffff000n;
    const S63 = 1n << 63n;
    for (const [profile, aboveTaskSize] of [
      ["linux-6.8", undefined],
      ["linux-6.18", "EINVAL"],
      ["linux-7.2", "EINVAL"],
    ] as const) {
      const s = new Session(profile, "full");
      const vm = s.vm();
      const r = (userspace_addr: bigint) => {
        const errno = s.slot(vm, { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr }).errno;
        if (errno === undefined) expect(s.slot(vm, { slot: 0n, memory_size: 0n }).errno).to.equal(undefined);
        return errno;
      };
      expect(r(TASK_SIZE_MAX - PAGE), `${profile}: ends at TASK_SIZE_MAX`).to.equal(undefined);
      expect(r(TASK_SIZE_MAX), `${profile}: starts at TASK_SIZE_MAX`).to.equal(aboveTaskSize);
      expect(r(S63 - 2n * PAGE), `${profile}: ends one page below 2^63`).to.equal(aboveTaskSize);
      expect(r(S63 - PAGE), `${profile}: ends at 2^63`).to.equal("EINVAL");
      expect(r((1n << 64n) - PAGE), `${profile}: wraps`).to.equal("EINVAL");
    }
  });

  it("refuses overlapping GPA ranges, modifies and moves ordinary slots, deletes them", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const base = { flags: 0n, userspace_addr: 0n };
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: GPA, memory_size: 4n * PAGE }).errno).to.equal(undefined);
    expect(s.slot(vm, { ...base, slot: 1n, guest_phys_addr: GPA + PAGE, memory_size: PAGE }).errno).to.equal("EEXIST");
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: GPA, memory_size: 4n * PAGE }).errno).to.equal(undefined);
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: GPA, memory_size: 2n * PAGE }).errno).to.equal("EINVAL");
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: GPA, memory_size: 4n * PAGE, flags: 1n }).errno).to.equal(undefined);
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: GPA, memory_size: 4n * PAGE, flags: 2n }).errno).to.equal("EINVAL");
    expect(s.slot(vm, { ...base, slot: 0n, guest_phys_addr: 2n * GPA, memory_size: 4n * PAGE, flags: 1n }).errno).to.equal(undefined);
    expect(s.slot(vm, { ...base, slot: 1n, guest_phys_addr: GPA, memory_size: PAGE }).errno).to.equal(undefined);
    expect(s.slot(vm, { slot: 0n, memory_size: 0n }).errno).to.equal(undefined);
    expect(s.slot(vm, { slot: 0n, memory_size: 0n }).errno).to.equal("EINVAL");
    expect(s.k.machine.vms.values().next().value!.memslots[0]!.byId.size).to.equal(1);
  });

  it("makes guest_memfd slots immutable and checks the binding", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const other = s.vm();
    const g = s.gmem(vm, 8n * PAGE);
    const foreign = s.gmem(other, PAGE);
    const memfd = s.ok("memfd_create", { name: "plain", flags: 0n }).ret;
    const bind = (fields: Record<string, bigint>) => s.slot(vm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: 4n * PAGE, guest_memfd: g, ...fields }).errno;
    expect(bind({ guest_memfd: 99n })).to.equal("EBADF");
    expect(bind({ guest_memfd: -1n })).to.equal("EBADF");
    expect(bind({ guest_memfd: memfd })).to.equal("EINVAL");
    expect(bind({ guest_memfd: vm })).to.equal("EINVAL");
    expect(bind({ guest_memfd: foreign })).to.equal("EINVAL");
    expect(bind({ guest_memfd_offset: 1n })).to.equal("EINVAL");
    expect(bind({ guest_memfd_offset: 8n * PAGE })).to.equal("EINVAL");
    expect(bind({ guest_memfd_offset: 5n * PAGE })).to.equal("EINVAL");
    expect(bind({ guest_memfd_offset: (1n << 64n) - PAGE })).to.equal("EINVAL");
    expect(bind({ pad1: 7n, pad2: [1n, 2n] as unknown as bigint })).to.equal(undefined);
    expect(bind({})).to.equal("EINVAL");
    expect(bind({ flags: 0n })).to.equal("EINVAL");
    // The range is bound: a second slot on it fails, the rest of the file is free.
    expect(s.slot(vm, { slot: 1n, flags: GMEM, guest_phys_addr: 2n * GPA, memory_size: PAGE, guest_memfd: g, guest_memfd_offset: 3n * PAGE }).errno).to.equal("EEXIST");
    expect(s.slot(vm, { slot: 1n, flags: GMEM, guest_phys_addr: 2n * GPA, memory_size: PAGE, guest_memfd: g, guest_memfd_offset: 4n * PAGE }).errno).to.equal(undefined);
    expect(s.slot(vm, { slot: 0n, memory_size: 0n, flags: GMEM, guest_memfd_offset: 1n }).errno).to.equal("EINVAL");
    expect(s.slot(vm, { slot: 0n, memory_size: 0n }).errno).to.equal(undefined);
    expect(s.slot(vm, { slot: 2n, flags: GMEM, guest_phys_addr: 3n * GPA, memory_size: PAGE, guest_memfd: g, guest_memfd_offset: 3n * PAGE }).errno).to.equal(undefined);
  });

  it("reports overlapping bindings with the errno of the profile", () => {
    for (const [profile, errno] of [
      ["linux-6.18", "EINVAL"],
      ["linux-7.2", "EEXIST"],
    ] as const) {
      const s = new Session(profile, "full");
      const vm = s.vm();
      const g = s.gmem(vm, 4n * PAGE);
      expect(s.slot(vm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: 2n * PAGE, guest_memfd: g }).errno).to.equal(undefined);
      expect(s.slot(vm, { slot: 1n, flags: GMEM, guest_phys_addr: 2n * GPA, memory_size: 2n * PAGE, guest_memfd: g, guest_memfd_offset: PAGE }).errno).to.equal(errno);
    }
  });

  it("lets a signed offset overflow slip past the size check before 7.2", () => {
    const huge = (1n << 63n) - PAGE;
    for (const [profile, errno] of [
      ["linux-6.18", undefined],
      ["linux-7.2", "EINVAL"],
    ] as const) {
      const s = new Session(profile, "full");
      const vm = s.vm();
      const g = s.gmem(vm, PAGE);
      expect(s.slot(vm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: 2n * PAGE, guest_memfd: g, guest_memfd_offset: huge }).errno).to.equal(errno);
      expect(s.slot(vm, { slot: 1n, flags: GMEM, guest_phys_addr: 2n * GPA, memory_size: PAGE, guest_memfd: g, guest_memfd_offset: 1n << 63n }).errno).to.equal("EINVAL");
    }
  });

  it("undoes the binding when the slot cannot be installed", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, PAGE);
    s.ok("inject", { fault: "enomem", after: 1n });
    expect(s.slot(vm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: g }).errno).to.equal("ENOMEM");
    expect(s.slot(vm, { slot: 0n, flags: GMEM, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: g }).errno).to.equal(undefined);
  });
});
