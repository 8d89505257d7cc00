import { expect } from "chai";
import { DriverFailure } from "../../spec/driver/contract.js";
import { PAGE, Session } from "./session.js";

describe("reference-impl arm64 host: machine types, capabilities, memslots, guest runs", () => {
  it("reports the aarch64 machine, its IPA limit and guest_memfd from 6.18 only", () => {
    const hs = new Session("linux-7.2", "arm64").k.handshake;
    expect(hs.host).to.include({ arch: "aarch64", pageSize: 4096 });
    expect(hs.features).to.include.members(["kvm", "arm64:ipa-size", "vm-type:default", "guest-run", "readonly-mem", "guest-memfd", "gmem-flag:mmap", "gmem-flag:init-shared"]);
    for (const f of ["memory-attributes", "pre-fault-ioctl", "pre-fault-memory", "exit-hypercall", "vm-type:sw-protected", "vm-type:arm-protected", "multi-address-space"]) expect(hs.features, f).to.not.include(f);
    expect(new Session("linux-6.8", "arm64").k.handshake.features).to.not.include("guest-memfd");
  });

  it("answers KVM_CHECK_EXTENSION as arm64 does, and x86 answers the arm64 capability with 0", () => {
    const s = new Session("linux-7.2", "arm64");
    const kvm = s.kvm();
    const cap = (name: string) => s.ioctl(kvm, "KVM_CHECK_EXTENSION", s.c(name)).ret;
    expect(cap("KVM_CAP_ARM_VM_IPA_SIZE")).to.equal(48n);
    expect(cap("KVM_CAP_NR_MEMSLOTS")).to.equal(32767n);
    for (const none of ["KVM_CAP_MEMORY_ATTRIBUTES", "KVM_CAP_VM_TYPES", "KVM_CAP_EXIT_HYPERCALL", "KVM_CAP_MULTI_ADDRESS_SPACE", "KVM_CAP_PRE_FAULT_MEMORY"]) expect(cap(none), none).to.equal(0n);
    expect(s.ioctl(kvm, "KVM_GET_VCPU_MMAP_SIZE").ret).to.equal(2n * PAGE);
    const x86 = new Session("linux-7.2", "full");
    expect(x86.ioctl(x86.kvm(), "KVM_CHECK_EXTENSION", x86.c("KVM_CAP_ARM_VM_IPA_SIZE")).ret).to.equal(0n);
  });

  it("creates VMs whose type is an IPA size of 0 or 32..48, and nothing else", () => {
    const s = new Session("linux-7.2", "arm64");
    const kvm = s.kvm();
    for (const ok of [0n, 32n, 40n, 48n]) expect(s.ioctl(kvm, "KVM_CREATE_VM", ok).ret >= 0n, String(ok)).to.equal(true);
    for (const bad of [1n, 31n, 49n, 0xffn, 1n << 8n, 1n << 31n, 1n << 63n]) expect(s.ioctl(kvm, "KVM_CREATE_VM", bad).errno, String(bad)).to.equal("EINVAL");
  });

  it("refuses memslots past the VM's IPA space with EFAULT and a guest_memfd slot without MMAP with EINVAL", () => {
    const s = new Session("linux-7.2", "arm64");
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", 32n).ret;
    const mem = s.ok("mmap", { addr: 0n, len: 2n * PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
    expect(s.slot(vm, { slot: 0n, guest_phys_addr: (1n << 32n) - PAGE, memory_size: 2n * PAGE, userspace_addr: mem }).errno).to.equal("EFAULT");
    expect(s.slot(vm, { slot: 0n, guest_phys_addr: (1n << 32n) - 2n * PAGE, memory_size: 2n * PAGE, userspace_addr: mem }).errno).to.equal(undefined);
    const gmem = s.gmem(vm, 2n * PAGE);
    const fields = { slot: 1n, flags: s.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: 0x10000000n, memory_size: 2n * PAGE, userspace_addr: mem, guest_memfd_offset: 0n, guest_memfd: gmem };
    expect(s.slot(vm, fields).errno).to.equal("EINVAL");
    expect(s.slot(vm, { ...fields, guest_memfd: s.gmem(vm, 2n * PAGE, s.c("GUEST_MEMFD_FLAG_MMAP")) }).errno).to.equal(undefined);
  });

  it("ends completed guest programs with PSCI SYSTEM_OFF and refuses the x86 hypercall operation", () => {
    const s = new Session("linux-7.2", "arm64");
    const vm = s.ioctl(s.kvm(), "KVM_CREATE_VM", 0n).ret;
    const vcpu = s.vcpu(vm);
    const mem = s.ok("mmap", { addr: 0n, len: PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
    s.slot(vm, { slot: 0n, guest_phys_addr: 0x10000000n, memory_size: PAGE, userspace_addr: mem });
    const r = s.ok("guest", { vcpu, access: "write", gpa: 0x10000000n, len: 1n, data: new Uint8Array([7]) });
    expect(r.exit).to.deep.equal({ reason: "KVM_EXIT_SYSTEM_EVENT", system_event: { type: 1n, ndata: 0n } });
    expect(() => s.call("hypercall", { vcpu, nr: 12n, args: [] })).to.throw(DriverFailure, /hypercall/);
    expect(() => s.call("guest", { vcpu, access: "fetch", gpa: 0x20000000n })).to.throw(DriverFailure, /prefetch abort/);
  });
});
