import { expect } from "chai";
import { DriverFailure } from "../../spec/driver/contract.js";
import { Session } from "./session.js";

describe("reference-impl s390 host: capabilities, VM types, protected virtualization", () => {
  it("reports the s390 machine and its facilities, and none of x86's", () => {
    const hs = new Session("linux-6.18", "s390").k.handshake;
    expect(hs.host).to.include({ arch: "s390x", pageSize: 4096 });
    expect(hs.features).to.include.members(["kvm", "user-memory2", "s390:ucontrol", "s390:protected"]);
    for (const f of ["guest-run", "readonly-mem", "guest-memfd", "vm-type:default", "memory-fault-info", "pre-fault-ioctl", "exit-hypercall"]) expect(hs.features, f).to.not.include(f);
  });

  it("answers KVM_CHECK_EXTENSION as s390 does", () => {
    for (const [profile, slots] of [["linux-6.8", 32767n], ["linux-7.2", 32766n]] as const) {
      const s = new Session(profile, "s390");
      const kvm = s.kvm();
      const cap = (name: string) => s.ioctl(kvm, "KVM_CHECK_EXTENSION", s.c(name)).ret;
      expect(cap("KVM_CAP_S390_UCONTROL")).to.equal(1n);
      expect(cap("KVM_CAP_S390_PROTECTED")).to.equal(1n);
      expect(cap("KVM_CAP_NR_MEMSLOTS")).to.equal(slots);
      for (const none of ["KVM_CAP_READONLY_MEM", "KVM_CAP_GUEST_MEMFD", "KVM_CAP_MEMORY_ATTRIBUTES", "KVM_CAP_VM_TYPES", "KVM_CAP_MEMORY_FAULT_INFO", "KVM_CAP_EXIT_HYPERCALL", "KVM_CAP_MULTI_ADDRESS_SPACE"])
        expect(cap(none), none).to.equal(0n);
      expect(s.ioctl(kvm, "KVM_GET_VCPU_MMAP_SIZE").ret).to.equal(4096n);
    }
    // x86 hosts answer the s390 capabilities with 0.
    const x86 = new Session("linux-7.2", "full");
    expect(x86.ioctl(x86.kvm(), "KVM_CHECK_EXTENSION", x86.c("KVM_CAP_S390_PROTECTED")).ret).to.equal(0n);
  });

  it("creates VMs of type 0 and KVM_VM_S390_UCONTROL only", () => {
    const s = new Session("linux-7.2", "s390");
    const kvm = s.kvm();
    expect(s.ioctl(kvm, "KVM_CREATE_VM", 0n).ret >= 0n).to.equal(true);
    expect(s.ioctl(kvm, "KVM_CREATE_VM", 1n).ret >= 0n).to.equal(true);
    for (const bad of [2n, 3n, 1n << 63n]) expect(s.ioctl(kvm, "KVM_CREATE_VM", bad).errno, String(bad)).to.equal("EINVAL");
  });

  it("refuses x86 VM ioctls with ENOTTY and leaves unmodelled PV commands and vCPU work to be refused as not modelled", () => {
    const s = new Session("linux-7.2", "s390");
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", 0n).ret;
    expect(s.ioctl(vm, "KVM_MEMORY_ENCRYPT_OP", { id: 0n }).errno).to.equal("ENOTTY");
    expect(s.ioctl(vm, "KVM_SET_TSS_ADDR", 0xfffbd000n).errno).to.equal("ENOTTY");
    expect(() => s.ioctl(vm, "KVM_S390_PV_COMMAND", { cmd: 2n })).to.throw(DriverFailure, /KVM_PV_ENABLE and KVM_PV_DISABLE/);
    // x86's VM capabilities are not s390's: KVM_ENABLE_CAP refuses them.
    for (const cap of ["KVM_CAP_SPLIT_IRQCHIP", "KVM_CAP_EXIT_HYPERCALL"]) expect(s.ioctl(vm, "KVM_ENABLE_CAP", { cap: s.c(cap), args: [0n, 0n, 0n, 0n] }).errno, cap).to.equal("EINVAL");
    const vcpu = s.ioctl(vm, "KVM_CREATE_VCPU", 0n).ret;
    expect(() => s.ioctl(vcpu, "KVM_PRE_FAULT_MEMORY", { gpa: 0n, size: 4096n })).to.throw(DriverFailure, /s390 vCPU ioctls/);
  });

  it("writes the Ultravisor's return code back on success", () => {
    const s = new Session("linux-7.2", "s390");
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", 0n).ret;
    const r = s.ok("ioctl", { fd: vm, request: "KVM_S390_PV_COMMAND", arg: { cmd: s.c("KVM_PV_ENABLE") } });
    expect(r.out).to.include({ rc: 1n, rrc: 0n });
  });

  it("explains instead of answering where linux-6.8 crashed: a ucontrol VM's memslot (CVE-2024-43819)", () => {
    const s = new Session("linux-6.8", "s390");
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", 1n).ret;
    const mem = s.ok("mmap", { addr: 0n, len: 0x200000n, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
    const hva = (mem + 0xfffffn) & ~0xfffffn;
    expect(() => s.ioctl(vm, "KVM_SET_USER_MEMORY_REGION2", { slot: 0n, guest_phys_addr: 0x100000n, memory_size: 0x100000n, userspace_addr: hva })).to.throw(DriverFailure, /CVE-2024-43819/);
  });
});
