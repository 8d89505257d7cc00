import { expect } from "chai";
import { byte, exitOf, memoryFault, PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const PRIVATE = 8n;

/** A VM of the given type, launched where it must be, with one slot of `pages` pages: guest_memfd (no flags) plus anonymous shared backing. */
function setup(s: Session, type: string, pages = 4n) {
  const vm = s.vm(type);
  s.initConfidential(vm, type);
  const g = s.gmem(vm, pages * PAGE);
  const shared = s.anon(pages);
  s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: pages * PAGE, userspace_addr: shared, guest_memfd: g } });
  const vcpu = s.vcpu(vm);
  s.launchConfidential(vm, type, [vcpu]);
  return { vm, g, shared, vcpu };
}

const setPrivate = (s: Session, vm: bigint, gpa: bigint, on: boolean) =>
  s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: gpa, size: PAGE, attributes: on ? PRIVATE : 0n } });

describe("reference-impl vcpu: guest accesses and exits", () => {
  it("completes shared accesses through userspace_addr and exits to MMIO outside memslots", () => {
    const s = new Session("linux-7.2", "pvm");
    const vm = s.vm();
    const mem = s.anon(2n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: 2n * PAGE, userspace_addr: mem } });
    const vcpu = s.vcpu(vm);
    s.ok("store", { addr: mem + PAGE - 2n, data: new Uint8Array([1, 2, 3, 4]) });
    const r = s.call("guest", { vcpu, access: "read", gpa: GPA + PAGE - 2n, len: 4n });
    expect(r.out?.data).to.deep.equal(new Uint8Array([1, 2, 3, 4]));
    expect(exitOf(r).reason).to.equal("KVM_EXIT_HLT");
    expect(s.write(vcpu, GPA, 9).exit?.reason).to.equal("KVM_EXIT_HLT");
    expect(byte(s.load(mem))).to.equal(9);
    expect(s.call("guest", { vcpu, access: "fetch", gpa: GPA }).exit?.reason).to.equal("KVM_EXIT_HLT");
    const mmio = s.call("guest", { vcpu, access: "write", gpa: 0x5000n, len: 2n, data: new Uint8Array([7, 8]) });
    expect(mmio.ret).to.equal(0n);
    expect(exitOf(mmio).mmio).to.deep.equal({ phys_addr: 0x5000n, len: 2n, is_write: 1n, data: new Uint8Array([7, 8]) });
    expect(exitOf(s.call("guest", { vcpu, access: "fetch", gpa: 0x5000n })).reason).to.equal("KVM_EXIT_INTERNAL_ERROR");
    expect(() => s.call("guest", { vcpu, access: "read", gpa: GPA + 2n * PAGE - 1n, len: 2n })).to.throw(/crossing/);
  });

  it("fails KVM_RUN with EFAULT and no memory-fault exit when the slot has no usable host page", () => {
    for (const profile of ["linux-6.8", "linux-6.18", "linux-7.2"] as const) {
      const s = new Session(profile, "full");
      const vm = s.vm();
      const vcpu = s.vcpu(vm);
      const none = s.anon(1n, 0n);
      // No VMA, a PROT_NONE mapping, and (6.18+) a guest_memfd mapping the host may not fault in.
      s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: 0x10000000n } });
      s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 1n, guest_phys_addr: 2n * GPA, memory_size: PAGE, userspace_addr: none } });
      const gpas = [GPA, 2n * GPA];
      if (profile !== "linux-6.8") {
        const g = s.gmem(vm, PAGE, s.c("GUEST_MEMFD_FLAG_MMAP"));
        const m = s.mapShared(g, 1n).ret;
        s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 2n, guest_phys_addr: 3n * GPA, memory_size: PAGE, userspace_addr: m } });
        gpas.push(3n * GPA);
      }
      for (const gpa of gpas)
        for (const r of [s.read(vcpu, gpa), s.write(vcpu, gpa, 1)]) {
          expect(r).to.include({ ret: -1n, errno: "EFAULT" });
          expect(r.exit, `${profile} gpa 0x${gpa.toString(16)}`).to.equal(undefined);
        }
    }
  });

  it("turns writes to a read-only memslot into MMIO exits", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const mem = s.anon(1n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, flags: 2n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: mem } });
    const vcpu = s.vcpu(vm);
    expect(s.read(vcpu, GPA).exit?.reason).to.equal("KVM_EXIT_HLT");
    expect(exitOf(s.write(vcpu, GPA, 1)).reason).to.equal("KVM_EXIT_MMIO");
  });

  it("lets a private access without a guest_memfd fail with a private memory fault", () => {
    const s = new Session("linux-6.8", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const mem = s.anon(1n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: mem } });
    setPrivate(s, vm, GPA, true);
    expect(memoryFault(s.read(s.vcpu(vm), GPA))).to.deep.equal({ flags: PRIVATE, gpa: GPA, size: PAGE });
  });

  it("takes the guest's intent on SNP and reports mismatches", () => {
    const s = new Session("linux-6.18", "full");
    const { vm, vcpu, shared, g } = setup(s, "KVM_X86_SNP_VM");
    s.ok("store", { addr: shared, data: new Uint8Array([0x33]) });
    expect(byte(s.read(vcpu, GPA, { private: false }))).to.equal(0x33);
    const r = s.read(vcpu, GPA, { private: true });
    expect(r.errno).to.equal("EFAULT");
    expect(memoryFault(r)).to.deep.equal({ flags: PRIVATE, gpa: GPA, size: PAGE });
    setPrivate(s, vm, GPA, true);
    // The page KVM prepares is assigned but not validated: the guest takes #VC until it validates it.
    expect(s.write(vcpu, GPA, 0x44, { private: true }).out?.exception).to.equal(29n);
    expect(s.call("guest_arch", { vcpu, action: "snp:pvalidate", gpa: GPA, args: [1n] }).out).to.deep.equal({ status: 0n, carry: 0n });
    expect(s.write(vcpu, GPA, 0x44, { private: true }).out).to.equal(undefined);
    expect(memoryFault(s.read(vcpu, GPA, { private: false })).flags).to.equal(0n);
    expect(byte(s.read(vcpu, GPA, { private: true }))).to.equal(0x44);
    expect(s.k.machine.rmp.table.size).to.equal(1);
    s.ok("fallocate", { fd: g, mode: 3n, offset: 0n, len: PAGE });
    expect(s.k.machine.rmp.table.size).to.equal(0);
  });

  it("loses private contents on TDX when the private mapping is removed", () => {
    const s = new Session("linux-7.2", "full");
    const { vm, vcpu } = setup(s, "KVM_X86_TDX_VM");
    const accept = () => expect(s.call("guest_arch", { vcpu, action: "tdx:accept", gpa: GPA }).out?.status).to.equal(0n);
    setPrivate(s, vm, GPA, true);
    accept();
    expect(s.write(vcpu, GPA, 0x55, { private: true }).errno).to.equal(undefined);
    setPrivate(s, vm, GPA, false);
    setPrivate(s, vm, GPA, true);
    accept();
    expect(byte(s.read(vcpu, GPA, { private: true }))).to.equal(0);
  });

  it("serves every access of a default VM from a gmem-only slot", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, PAGE, 1n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: g } });
    const vcpu = s.vcpu(vm);
    expect(s.write(vcpu, GPA, 0x66, { private: true }).errno).to.equal(undefined);
    expect(byte(s.read(vcpu, GPA))).to.equal(0x66);
  });

  it("stops KVM_RUN for a pending signal and for a poisoned host page", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, PAGE, 3n);
    const m = s.mapShared(g, 1n).ret;
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: m } });
    const vcpu = s.vcpu(vm);
    s.ok("inject", { fault: "signal" });
    const r = s.read(vcpu, GPA);
    expect(r.errno).to.equal("EINTR");
    expect(exitOf(r).reason).to.equal("KVM_EXIT_INTR");
    expect(s.read(vcpu, GPA).errno).to.equal(undefined);
    s.ok("madvise", { addr: m, len: PAGE, advice: s.c("MADV_HWPOISON") });
    const p = s.read(vcpu, GPA);
    expect(p).to.include({ errno: "EINTR", signal: "SIGBUS" });
  });

  it("refuses vCPU ioctls from another process", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const vcpu = s.vcpu(vm);
    const child = s.ok("fork", {}).ret;
    expect(s.call("guest", { vcpu, access: "read", gpa: 0n, process: child }).errno).to.equal("EIO");
    expect(s.call("ioctl", { fd: vm, request: "KVM_CHECK_EXTENSION", arg: 1n, process: child }).errno).to.equal("EIO");
  });
});

describe("reference-impl vcpu: hypercalls", () => {
  it("forwards KVM_HC_MAP_GPA_RANGE only when enabled, after validating it", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const vcpu = s.vcpu(vm);
    const hc = (args: bigint[], nr = 12n) => s.ok("hypercall", { vcpu, nr, args });
    expect(hc([GPA, 1n, 16n]).out?.hypercall_ret).to.equal(BigInt.asUintN(64, -1000n));
    s.ok("ioctl", { fd: vm, request: "KVM_ENABLE_CAP", arg: { cap: s.c("KVM_CAP_EXIT_HYPERCALL"), args: [1n << 12n] } });
    expect(exitOf(hc([GPA, 2n, 16n]))).to.deep.equal({ reason: "KVM_EXIT_HYPERCALL", hypercall: { nr: 12n, args: [GPA, 2n, 16n, 0n, 0n, 0n], flags: 1n } });
    expect(hc([GPA + 1n, 1n, 0n]).out?.hypercall_ret).to.equal(BigInt.asUintN(64, -22n));
    expect(hc([GPA, 0n, 0n]).out?.hypercall_ret).to.equal(BigInt.asUintN(64, -22n));
    expect(hc([GPA, (1n << 64n) - 1n, 0n]).out?.hypercall_ret).to.equal(BigInt.asUintN(64, -22n));
    expect(hc([], 1n).out?.hypercall_ret).to.equal(0n);
    expect(hc([], 99n).out?.hypercall_ret).to.equal(BigInt.asUintN(64, -1000n));
  });

  it("refuses the hypercalls whose answer depends on what it does not model", () => {
    const s = new Session("linux-7.2", "full");
    const vcpu = s.vcpu(s.vm());
    for (const nr of [5n, 9n, 10n, 11n]) expect(() => s.call("hypercall", { vcpu, nr })).to.throw(/does not model hypercall/);
    const snp = s.vm("KVM_X86_SNP_VM");
    s.initConfidential(snp, "KVM_X86_SNP_VM");
    const snpVcpu = s.vcpu(snp);
    s.launchConfidential(snp, "KVM_X86_SNP_VM", [snpVcpu]);
    expect(() => s.call("hypercall", { vcpu: snpVcpu, nr: 1n })).to.throw(/GHCB or TDVMCALL/);
  });
});

describe("reference-impl vcpu: KVM_PRE_FAULT_MEMORY", () => {
  const prefault = (s: Session, vcpu: bigint, gpa: bigint, size: bigint, extra: Record<string, bigint> = {}) =>
    s.call("ioctl", { fd: vcpu, request: "KVM_PRE_FAULT_MEMORY", arg: { gpa, size, ...extra } });

  it("validates, then maps page by page with the partial-progress contract", () => {
    const s = new Session("linux-7.2", "full");
    const { vm, vcpu } = setup(s, "KVM_X86_SW_PROTECTED_VM", 2n);
    expect(prefault(s, vcpu, GPA, PAGE, { flags: 1n }).errno).to.equal("EINVAL");
    expect(prefault(s, vcpu, GPA + 1n, PAGE).errno).to.equal("EINVAL");
    expect(prefault(s, vcpu, GPA, 0n).errno).to.equal("EINVAL");
    expect(prefault(s, vcpu, (1n << 64n) - PAGE, 2n * PAGE).errno).to.equal("EINVAL");
    expect(prefault(s, vcpu, GPA, PAGE, { padding: [1n] as unknown as bigint }).errno).to.equal(undefined);
    setPrivate(s, vm, GPA + PAGE, true);
    const r = prefault(s, vcpu, GPA, 4n * PAGE);
    expect(r.ret).to.equal(0n);
    expect(r.out).to.include({ gpa: GPA + 2n * PAGE, size: 2n * PAGE });
    const e = prefault(s, vcpu, GPA + 2n * PAGE, 2n * PAGE);
    expect(e.errno).to.equal("ENOENT");
    expect(e.out).to.include({ gpa: GPA + 2n * PAGE, size: 2n * PAGE });
    expect(s.call("ioctl", { fd: vcpu, request: "KVM_PRE_FAULT_MEMORY", pointer: "invalid" }).errno).to.equal("EFAULT");
    s.ok("inject", { fault: "signal", after: 1n });
    expect(prefault(s, vcpu, GPA, 2n * PAGE).out).to.include({ size: PAGE });
    s.ok("inject", { fault: "signal" });
    expect(prefault(s, vcpu, GPA, 2n * PAGE).errno).to.equal("EINTR");
  });

  it("is refused without TDP and before SNP launch, after argument checks", () => {
    const pvm = new Session("linux-6.18", "pvm");
    const pvmVm = pvm.vm();
    const vcpu = pvm.vcpu(pvmVm);
    // Shadow paging has no MMU page budget until a memslot is created.
    expect(prefault(pvm, vcpu, GPA, PAGE).errno).to.equal("ENOSPC");
    pvm.ok("ioctl", { fd: pvmVm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: pvm.anon(1n) } });
    expect(prefault(pvm, vcpu, GPA, PAGE).errno).to.equal("EOPNOTSUPP");
    expect(prefault(pvm, vcpu, GPA + 1n, PAGE).errno).to.equal("EINVAL");
    const full = new Session("linux-6.18", "full");
    const snp = full.vcpu(full.vm("KVM_X86_SNP_VM"));
    expect(prefault(full, snp, GPA, PAGE).errno).to.equal("EOPNOTSUPP");
    const old = new Session("linux-6.8", "full");
    expect(() => prefault(old, old.vcpu(old.vm()), GPA, PAGE)).to.throw(/not a request/);
  });

  it("refuses to map more pages one by one than its per-operation budget", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const size = (1n << 18n) * PAGE + 2n * PAGE;
    const g = s.gmem(vm, size);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: size, guest_memfd: g } });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size, attributes: PRIVATE } });
    const vcpu = s.vcpu(vm);
    // A range that stops early (no memslot past the slot) is not held to the budget.
    expect(prefault(s, vcpu, GPA + size - PAGE, 1n << 40n).errno).to.equal(undefined);
    expect(() => prefault(s, vcpu, GPA, size)).to.throw(/at most 262144 per operation/);
  });

  it("fails a private gfn whose slot has no guest_memfd with EFAULT", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: s.anon(1n) } });
    setPrivate(s, vm, GPA, true);
    expect(prefault(s, s.vcpu(vm), GPA, PAGE).errno).to.equal("EFAULT");
  });
});
