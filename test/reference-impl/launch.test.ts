import { expect } from "chai";
import type { X86VmType } from "../../reference-impl/arch/x86/vm-types.js";
import { byte, PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const SHARED_47 = 1n << 47n;

/** A one-page slot at GPA holding 0x5a, the VM's vCPU 0 not created yet. */
function slot(s: Session, vm: bigint): bigint {
  const mem = s.anon(1n);
  s.ok("store", { addr: mem, data: new Uint8Array([0x5a]) });
  s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: mem } });
  return mem;
}

const prefault = (s: Session, vcpu: bigint, gpa = GPA) => s.ioctl(vcpu, "KVM_PRE_FAULT_MEMORY", { gpa, size: PAGE });
const policy = (s: Session, value: bigint) => {
  const p = s.anon(1n);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  s.ok("store", { addr: p, data: b });
  return p;
};

describe("reference-impl arch/x86: SEV-SNP launch", () => {
  it("walks INIT2, LAUNCH_START, LAUNCH_FINISH and only then runs vCPUs and pre-faults", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm("KVM_X86_SNP_VM");
    const zero = s.anon(1n);
    expect(s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_START", { data_u64: zero }).errno).to.equal("ENOTTY");
    s.initConfidential(vm, "KVM_X86_SNP_VM");
    slot(s, vm);
    const vcpu = s.vcpu(vm);
    expect(() => s.read(vcpu, GPA)).to.throw(/did not measure/);
    expect(prefault(s, vcpu).errno).to.equal("EOPNOTSUPP");
    expect(s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: zero }).errno).to.equal("EINVAL");
    s.launchConfidential(vm, "KVM_X86_SNP_VM", [vcpu]);
    expect(byte(s.read(vcpu, GPA))).to.equal(0x5a);
    expect(prefault(s, vcpu).errno).to.equal(undefined);
    // A vCPU created after the launch was never measured.
    expect(() => s.read(s.vcpu(vm, 1n), GPA)).to.throw(/did not measure/);
    expect(() => s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: zero })).to.throw(/second LAUNCH_FINISH/);
  });

  it("checks KVM_SEV_INIT2's payload and refuses it after a vCPU, twice, and on SNP once initialized", () => {
    const s = new Session("linux-7.2", "full");
    const init = (vm: bigint, fields: Record<string, bigint>) => {
      const p = s.anon(1n);
      const codec = s.k.spec.codec;
      s.ok("store", { addr: p, data: codec.encode("kvm_sev_init", fields) });
      return s.sevOp(vm, "KVM_SEV_INIT2", { data_u64: p });
    };
    const sev = s.vm("KVM_X86_SEV_VM");
    expect(init(sev, { flags: 1n }).errno).to.equal("EINVAL");
    expect(init(sev, { ghcb_version: 1n }).errno).to.equal("EINVAL");
    expect(init(sev, { vmsa_features: 1n }).errno).to.equal("EINVAL");
    expect(s.sevOp(sev, "KVM_SEV_INIT2", { data_u64: 0x10n }).errno).to.equal("EFAULT");
    expect(init(sev, {}).errno).to.equal(undefined);
    expect(init(sev, {}).errno).to.equal("EINVAL");
    const es = s.vm("KVM_X86_SEV_ES_VM");
    expect(init(es, { ghcb_version: 3n }).errno).to.equal("EINVAL");
    expect(init(es, { ghcb_version: 2n }).errno).to.equal(undefined);
    // SEV-ES guests are not launched by the model.
    expect(() => s.read(s.vcpu(es), GPA)).to.throw(/SEV and SEV-ES launch/);
    const late = s.vm("KVM_X86_SNP_VM");
    const v = s.vcpu(late);
    expect(init(late, {}).errno).to.equal("EINVAL");
    expect(s.read(v, GPA).errno).to.equal("EINVAL");
    // An SNP guest needs GHCB version 2; 0 stands for 2 (6.18+). SEV-ES may ask for 1.
    expect(init(s.vm("KVM_X86_SEV_ES_VM"), { ghcb_version: 1n }).errno).to.equal(undefined);
    expect(init(s.vm("KVM_X86_SNP_VM"), { ghcb_version: 1n }).errno).to.equal("EINVAL");
    expect(init(s.vm("KVM_X86_SNP_VM"), { ghcb_version: 2n }).errno).to.equal(undefined);
    const snp = s.vm("KVM_X86_SNP_VM");
    expect(init(snp, {}).errno).to.equal(undefined);
    const r = init(snp, {});
    expect(r.errno).to.equal("EPERM");
    expect(s.sevOp(snp, "KVM_SEV_INIT2", { data_u64: 0n, error: 5n }).out).to.include({ error: 5n });
  });

  it("checks LAUNCH_START's policy, flags and firmware descriptor, and LAUNCH_UPDATE's arguments", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SNP_VM");
    s.initConfidential(vm, "KVM_X86_SNP_VM");
    const sev = s.ok("open", { path: "/dev/sev", flags: s.c("O_RDWR") }).ret;
    const start = (data: bigint, sev_fd = sev) => s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_START", { data_u64: data, sev_fd }).errno;
    expect(start(policy(s, 0n))).to.equal("EINVAL");
    expect(start(policy(s, 0x30000n | (1n << 18n)))).to.equal("EINVAL");
    // SMT (bit 16) must be set too, and single socket (bit 20) clear (snp_launch_start at 0097f9df996f).
    expect(start(policy(s, 0x20000n))).to.equal("EINVAL");
    expect(start(policy(s, 0x130000n))).to.equal("EINVAL");
    const flagged = policy(s, 0x30000n);
    s.ok("store", { addr: flagged + 24n, data: new Uint8Array([1]) });
    expect(start(flagged)).to.equal("EINVAL");
    expect(start(0n)).to.equal("EFAULT");
    expect(start(policy(s, 0x30000n), 0xffffffffn)).to.equal("ENOTTY");
    expect(start(policy(s, 0x30000n), 0n)).to.equal("ENOTTY");
    const update = (fields: Record<string, bigint>) => {
      const p = s.anon(1n);
      s.ok("store", { addr: p, data: s.k.spec.codec.encode("kvm_sev_snp_launch_update", fields) });
      return s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_UPDATE", { data_u64: p, sev_fd: sev });
    };
    expect(update({ gfn_start: 0x100n, len: PAGE, type: 3n }).errno).to.equal("EINVAL");
    expect(start(policy(s, 0x30000n))).to.equal(undefined);
    expect(update({ gfn_start: 0x100n, len: PAGE, type: 2n }).errno).to.equal("EINVAL");
    expect(update({ gfn_start: 0x100n, len: 1n, type: 3n }).errno).to.equal("EINVAL");
    expect(update({ gfn_start: 0x100n, len: PAGE, type: 3n, flags: 1n }).errno).to.equal("EINVAL");
    expect(update({ gfn_start: 1n << 60n, len: PAGE, type: 3n }).errno).to.equal("EINVAL");
    const g = s.gmem(vm, PAGE);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: s.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: GPA, memory_size: PAGE, userspace_addr: s.anon(1n), guest_memfd: g } });
    // The gfn is not PRIVATE: kvm_gmem_populate() refuses the first page, which KVM reports as EIO with no firmware error.
    const notPrivate = update({ gfn_start: 0x100n, len: PAGE, type: 3n });
    expect(notPrivate.errno).to.equal("EIO");
    expect(notPrivate.out?.error).to.equal(0n);
    const finish = s.anon(1n);
    s.ok("store", { addr: finish + 54n, data: new Uint8Array([1]) });
    expect(s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: finish, sev_fd: sev }).errno).to.equal("EINVAL");
    const withId = s.anon(1n);
    s.ok("store", { addr: withId + 16n, data: new Uint8Array([1]) });
    expect(() => s.sevOp(vm, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: withId, sev_fd: sev })).to.throw(/ID block/);
  });

  it("routes KVM_MEMORY_ENCRYPT_OP by VM type and host, and /dev/sev by host", () => {
    const full = new Session("linux-7.2", "full");
    const snp = full.vm("KVM_X86_SNP_VM");
    expect(full.sevOp(snp, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: 0n }).errno).to.equal("ENOTTY");
    expect(() => full.ioctl(snp, "KVM_MEMORY_ENCRYPT_OP", { id: 7n })).to.throw(/legacy SEV/);
    expect(full.ioctl(snp, "KVM_MEMORY_ENCRYPT_OP", { id: 200n }).errno).to.equal("EINVAL");
    expect(full.ioctl(full.vcpu(snp), "KVM_MEMORY_ENCRYPT_OP", { id: 100n }).errno).to.equal("ENOTTY");
    const def = full.vm();
    expect(() => full.ioctl(def, "KVM_MEMORY_ENCRYPT_OP", { id: 22n })).to.throw(/depends on the CPU vendor/);
    expect(() => full.ioctl(full.vcpu(def), "KVM_MEMORY_ENCRYPT_OP", { id: 22n })).to.throw(/depends on the CPU vendor/);
    const sev = full.ok("open", { path: "/dev/sev", flags: full.c("O_RDWR") }).ret;
    expect(() => full.ioctl(sev, "KVM_MEMORY_ENCRYPT_OP", { id: 0n })).to.throw(/\/dev\/sev ioctls/);
    expect(full.call("fdinfo", { fd: sev }).out).to.include({ link: "/dev/sev" });
    const pvm = new Session("linux-6.18", "pvm");
    expect(pvm.ioctl(pvm.vm(), "KVM_MEMORY_ENCRYPT_OP", { id: 22n }).errno).to.equal("ENOTTY");
    expect(pvm.call("open", { path: "/dev/sev", flags: pvm.c("O_RDWR") }).errno).to.equal("ENOENT");
  });
});

describe("reference-impl arch/x86: TDX initialization", () => {
  it("creates vCPUs only between KVM_TDX_INIT_VM and finalization, with a split irqchip", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm("KVM_X86_TDX_VM");
    expect(s.ioctl(vm, "KVM_CREATE_VCPU", 0n).errno).to.equal("EIO");
    expect(s.tdxOp(vm, "KVM_TDX_INIT_VM", { data_u64: s.tdParams() }).errno).to.equal(undefined);
    expect(s.ioctl(vm, "KVM_CREATE_VCPU", 0n).errno).to.equal("EINVAL");
    const split = (args: bigint) => s.ioctl(vm, "KVM_ENABLE_CAP", { cap: s.c("KVM_CAP_SPLIT_IRQCHIP"), args: [args] }).errno;
    expect(split(4097n)).to.equal("EINVAL");
    expect(split(24n)).to.equal(undefined);
    expect(split(24n)).to.equal("EEXIST");
    // A TD has at most as many vCPUs as the host has CPUs.
    const vcpus = Array.from({ length: 8 }, (_, i) => s.vcpu(vm, BigInt(i)));
    expect(s.ioctl(vm, "KVM_CREATE_VCPU", 8n).errno).to.equal("EINVAL");
    s.launchConfidential(vm, "KVM_X86_TDX_VM", vcpus);
    expect(s.ioctl(vm, "KVM_CHECK_EXTENSION", s.c("KVM_CAP_SPLIT_IRQCHIP")).ret).to.equal(1n);
  });

  it("checks KVM_TDX_INIT_VM's command and payload", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_TDX_VM");
    const init = (data: bigint, extra: Record<string, bigint> = {}) => s.tdxOp(vm, "KVM_TDX_INIT_VM", { data_u64: data, ...extra }).errno;
    expect(init(s.tdParams(), { flags: 1n })).to.equal("EINVAL");
    expect(init(0x10n)).to.equal("EFAULT");
    const many = s.tdParams();
    s.ok("store", { addr: many + 256n, data: new Uint8Array([1, 1, 0, 0]) });
    expect(init(many)).to.equal("E2BIG");
    const reserved = s.tdParams();
    s.ok("store", { addr: reserved + 160n, data: new Uint8Array([1]) });
    expect(init(reserved)).to.equal("EINVAL");
    const padding = s.tdParams();
    s.ok("store", { addr: padding + 260n, data: new Uint8Array([1]) });
    expect(init(padding)).to.equal("EINVAL");
    const indexed = s.tdParams();
    s.ok("store", { addr: indexed + 268n, data: new Uint8Array([1, 0, 0, 0, 1]) });
    expect(init(indexed)).to.equal("EINVAL");
    const two = s.tdParams();
    s.ok("store", { addr: two + 256n, data: new Uint8Array([2]) });
    expect(() => init(two)).to.throw(/CPUID leaves/);
    expect(() => s.tdxOp(vm, "KVM_TDX_CAPABILITIES", { data_u64: s.anon(1n) })).to.throw(/KVM_TDX_CAPABILITIES/);
    expect(s.tdxOp(vm, "KVM_TDX_CAPABILITIES", { flags: 1n }).errno).to.equal("EINVAL");
    expect(init(s.tdParams(52n))).to.equal(undefined);
    expect(s.k.machine.vms.size).to.equal(1);
    const td = ([...s.k.machine.vms][0]!.type as X86VmType).tdx!;
    expect(td.sharedGfnBits).to.equal(1n << 39n);
  });

  it("takes vCPU commands only before finalization, and runs initialized vCPUs only after it", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_TDX_VM");
    s.initConfidential(vm, "KVM_X86_TDX_VM");
    slot(s, vm);
    const v0 = s.vcpu(vm);
    const v1 = s.vcpu(vm, 1n);
    const region = (fields: Record<string, bigint>, flags = 0n, vcpu = v0) => {
      const p = s.anon(1n);
      s.ok("store", { addr: p, data: s.k.spec.codec.encode("kvm_tdx_init_mem_region", fields) });
      return s.tdxOp(vcpu, "KVM_TDX_INIT_MEM_REGION", { data_u64: p, flags });
    };
    expect(s.tdxOp(v0, "KVM_TDX_INIT_VCPU", { hw_error: 1n }).errno).to.equal("EINVAL");
    expect(s.tdxOp(v0, "KVM_TDX_INIT_VCPU", { flags: 1n }).errno).to.equal("EINVAL");
    expect(region({ gpa: GPA, nr_pages: 1n }).errno).to.equal("EINVAL");
    expect(s.tdxOp(v0, "KVM_TDX_INIT_VCPU").errno).to.equal(undefined);
    expect(region({ gpa: GPA, nr_pages: 1n }, 2n).errno).to.equal("EINVAL");
    expect(region({ gpa: GPA, nr_pages: 0n }).errno).to.equal("EINVAL");
    expect(region({ gpa: GPA + 1n, nr_pages: 1n }).errno).to.equal("EINVAL");
    expect(region({ source_addr: 1n, gpa: GPA, nr_pages: 1n }).errno).to.equal("EINVAL");
    expect(region({ gpa: GPA | SHARED_47, nr_pages: 1n }).errno).to.equal("EINVAL");
    expect(region({ gpa: SHARED_47 - PAGE, nr_pages: 2n }).errno).to.equal("EINVAL");
    expect(region({ gpa: GPA, nr_pages: 1n << 60n }).errno).to.equal("EINVAL");
    // kvm_gmem_populate(): the gfn is not PRIVATE (tdx-sept.test.ts populates private ones).
    expect(region({ gpa: GPA, nr_pages: 1n }, 1n).errno).to.equal("EINVAL");
    expect(() => s.tdxOp(v0, "KVM_TDX_GET_CPUID", { data_u64: s.anon(1n) })).to.throw(/GET_CPUID/);
    expect(s.ioctl(v0, "KVM_MEMORY_ENCRYPT_OP_TDX", { id: 9n }).errno).to.equal("EINVAL");
    expect(s.read(v0, GPA).errno).to.equal("EINVAL");
    expect(s.tdxOp(vm, "KVM_TDX_FINALIZE_VM").out).to.include({ hw_error: 0n });
    expect(s.tdxOp(v1, "KVM_TDX_INIT_VCPU").errno).to.equal("EINVAL");
    expect(s.read(v1, GPA).errno).to.equal("EINVAL");
    expect(byte(s.read(v0, GPA))).to.equal(0x5a);
    expect(s.tdxOp(vm, "KVM_TDX_FINALIZE_VM").errno).to.equal("EINVAL");
  });

  it("refuses memslots whose last gfn carries the TD's shared bit, once KVM_TDX_INIT_VM chose it", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_TDX_VM");
    const mem = s.anon(2n);
    const at = (slot: bigint, gpa: bigint, size = PAGE) => s.slot(vm, { slot, guest_phys_addr: gpa, memory_size: size, userspace_addr: mem }).errno;
    // Before KVM_TDX_INIT_VM there is no shared bit yet.
    expect(at(0n, SHARED_47)).to.equal(undefined);
    expect(s.slot(vm, { slot: 0n, memory_size: 0n }).errno).to.equal(undefined);
    s.initConfidential(vm, "KVM_X86_TDX_VM");
    expect(at(0n, SHARED_47)).to.equal("EINVAL");
    expect(at(0n, SHARED_47 - PAGE, 2n * PAGE)).to.equal("EINVAL");
    expect(at(0n, SHARED_47 - 2n * PAGE, 2n * PAGE)).to.equal(undefined);
    // Moving the slot onto the alias is refused the same way and leaves it where it was.
    expect(at(0n, SHARED_47 + PAGE, 2n * PAGE)).to.equal("EINVAL");
    expect(at(1n, SHARED_47 - 2n * PAGE, PAGE)).to.equal("EEXIST");
    // Only the last gfn is looked at: a slot whose first page is an alias but whose last is not is accepted.
    expect(at(2n, 2n * SHARED_47 - PAGE, 2n * PAGE)).to.equal(undefined);
  });

  it("refuses to pre-fault before finalization, and the shared alias after it", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_TDX_VM");
    s.initConfidential(vm, "KVM_X86_TDX_VM");
    slot(s, vm);
    const vcpu = s.vcpu(vm);
    // Before finalization the alias is not even looked at.
    expect(prefault(s, vcpu, GPA | SHARED_47).errno).to.equal("EOPNOTSUPP");
    s.launchConfidential(vm, "KVM_X86_TDX_VM", [vcpu]);
    const r = prefault(s, vcpu, GPA | SHARED_47);
    expect(r.errno).to.equal("EINVAL");
    expect(r.out).to.include({ gpa: GPA | SHARED_47, size: PAGE });
    expect(prefault(s, vcpu).out).to.include({ gpa: GPA + PAGE, size: 0n });
  });
});
