import { expect } from "chai";
import { DriverFailure } from "../../spec/driver/contract.js";
import { ReferenceKernel } from "../../reference-impl/index.js";
import { PAGE, Session, spec } from "./session.js";

describe("reference-impl system: /dev/kvm, capabilities, handshake", () => {
  it("refuses hosts it does not model, and models the UPM and RFC profiles", () => {
    for (const profile of ["upm-v9", "upm-v10"] as const) {
      const features = new ReferenceKernel(spec, { profile, host: "full" }).handshake.features;
      expect(features, profile).to.include("restrictedmem").and.not.include("guest-memfd");
    }
    expect(new ReferenceKernel(spec, { profile: "rfc-v11", host: "full" }).handshake.features).to.include("guest-memfd").and.not.include("restrictedmem");
    expect(() => new ReferenceKernel(spec, { profile: "linux-6.18", host: "mainframe" })).to.throw(DriverFailure, /unknown host/);
  });

  it("derives its features from its own capabilities", () => {
    const full = new Session("linux-7.2", "full").k.handshake;
    expect(full.contractVersion).to.equal("1.4");
    expect(full.name).to.equal("reference");
    expect(full.host).to.include({ kernel: "model:full", arch: "x86_64", pageSize: 4096 });
    expect(full.features).to.include.members(["memory-attributes", "pre-fault-memory", "vm-type:tdx", "gmem-flag:init-shared", "memory-failure", "multi-address-space"]);
    const pvm = new Session("linux-6.18", "pvm").k.handshake.features;
    expect(pvm).to.include.members(["guest-memfd", "gmem-flag:mmap", "pre-fault-ioctl", "vm-type:default", "exit-hypercall"]);
    expect(pvm).to.not.include.members(["memory-attributes", "pre-fault-memory", "vm-type:sw-protected", "memory-failure", "multi-address-space"]);
    const old = new Session("linux-6.8", "full").k.handshake.features;
    expect(old).to.include.members(["vm-type:default", "vm-type:sw-protected"]);
    expect(old).to.not.include.members(["vm-type:snp", "pre-fault-ioctl", "gmem-flag:mmap"]);
    const names = new Set(spec.features.map((f) => f.name));
    for (const f of [...full.features, ...pvm, ...old]) expect(names.has(f), f).to.equal(true);
  });

  it("answers KVM_CHECK_EXTENSION at system scope like the probed PVM host", () => {
    const s = new Session("linux-6.18", "pvm");
    const kvm = s.kvm();
    const cap = (name: string) => s.ioctl(kvm, "KVM_CHECK_EXTENSION", s.c(name)).ret;
    expect(cap("KVM_CAP_USER_MEMORY2")).to.equal(1n);
    expect(cap("KVM_CAP_GUEST_MEMFD")).to.equal(1n);
    expect(cap("KVM_CAP_GUEST_MEMFD_FLAGS")).to.equal(3n);
    expect(cap("KVM_CAP_MEMORY_ATTRIBUTES")).to.equal(0n);
    expect(cap("KVM_CAP_VM_TYPES")).to.equal(1n);
    expect(cap("KVM_CAP_PRE_FAULT_MEMORY")).to.equal(0n);
    expect(cap("KVM_CAP_MULTI_ADDRESS_SPACE")).to.equal(0n);
    expect(cap("KVM_CAP_EXIT_HYPERCALL")).to.equal(0x1000n);
    expect(cap("KVM_CAP_NR_MEMSLOTS")).to.equal(32764n);
    expect(cap("KVM_CAP_NR_VCPUS")).to.equal(2n);
    // Capabilities the model does not model are refused, not answered 0.
    expect(() => s.ioctl(kvm, "KVM_CHECK_EXTENSION", 0n)).to.throw(/does not model this capability/);
    expect(() => s.ioctl(kvm, "KVM_CHECK_EXTENSION", 99999n)).to.throw(/does not model this capability/);
    expect(s.ioctl(kvm, "KVM_CHECK_EXTENSION", -1n).ret).to.equal(0n);
    // v6.8 defines nothing past KVM_CAP_VM_TYPES (235): later numbers are 0 there.
    const old = new Session("linux-6.8", "full");
    const oldKvm = old.kvm();
    for (const n of [236n, 244n, 99999n]) expect(old.ioctl(oldKvm, "KVM_CHECK_EXTENSION", n).ret).to.equal(0n);
    expect(() => old.ioctl(oldKvm, "KVM_CHECK_EXTENSION", 100n)).to.throw(/does not model/);
    expect(s.ioctl(kvm, "KVM_GET_API_VERSION").ret).to.equal(12n);
    expect(s.ioctl(kvm, "KVM_GET_VCPU_MMAP_SIZE").ret).to.equal(3n * PAGE);
    expect(s.ioctl(kvm, "KVM_GET_API_VERSION", 1n).errno).to.equal("EINVAL");
    expect(s.ioctl(kvm, "KVM_GET_VCPU_MMAP_SIZE", 1n).errno).to.equal("EINVAL");
  });

  it("answers per VM by type and profile", () => {
    const s = new Session("linux-6.18", "full");
    const cap = (vm: bigint, name: string) => s.ioctl(vm, "KVM_CHECK_EXTENSION", s.c(name)).ret;
    const def = s.vm();
    const sw = s.vm("KVM_X86_SW_PROTECTED_VM");
    const snp = s.vm("KVM_X86_SNP_VM");
    const es = s.vm("KVM_X86_SEV_ES_VM");
    expect(cap(def, "KVM_CAP_MEMORY_ATTRIBUTES")).to.equal(0n);
    expect(cap(sw, "KVM_CAP_MEMORY_ATTRIBUTES")).to.equal(8n);
    expect(cap(def, "KVM_CAP_GUEST_MEMFD_FLAGS")).to.equal(3n);
    expect(cap(sw, "KVM_CAP_GUEST_MEMFD_FLAGS")).to.equal(1n);
    expect(cap(def, "KVM_CAP_MULTI_ADDRESS_SPACE")).to.equal(2n);
    expect(cap(sw, "KVM_CAP_MULTI_ADDRESS_SPACE")).to.equal(1n);
    expect(cap(es, "KVM_CAP_READONLY_MEM")).to.equal(0n);
    expect(cap(snp, "KVM_CAP_READONLY_MEM")).to.equal(0n);
    expect(cap(def, "KVM_CAP_READONLY_MEM")).to.equal(1n);
    const old = new Session("linux-6.8", "full");
    expect(old.ioctl(old.vm(), "KVM_CHECK_EXTENSION", old.c("KVM_CAP_GUEST_MEMFD")).ret).to.equal(0n);
    expect(old.ioctl(old.vm("KVM_X86_SW_PROTECTED_VM"), "KVM_CHECK_EXTENSION", old.c("KVM_CAP_GUEST_MEMFD")).ret).to.equal(1n);
    expect(old.ioctl(old.kvm(), "KVM_CHECK_EXTENSION", old.c("KVM_CAP_VM_TYPES")).ret).to.equal(3n);
  });

  it("creates VMs only of the host's types", () => {
    const s = new Session("linux-6.18", "pvm");
    const kvm = s.kvm();
    expect(s.ioctl(kvm, "KVM_CREATE_VM", 1n).errno).to.equal("EINVAL");
    expect(s.ioctl(kvm, "KVM_CREATE_VM", 64n).errno).to.equal("EINVAL");
    expect(s.ioctl(kvm, "KVM_CREATE_VM", -1n).errno).to.equal("EINVAL");
    const vm = s.ioctl(kvm, "KVM_CREATE_VM", 0n).ret;
    expect(s.ok("fcntl", { fd: vm, cmd: s.c("F_GETFD") }).ret).to.equal(1n);
    expect(s.ok("fcntl", { fd: vm, cmd: s.c("F_GETFL") }).ret).to.equal(2n);
    expect(s.ok("fdinfo", { fd: vm }).out?.link).to.equal("anon_inode:kvm-vm");
  });

  it("gives each kind of descriptor the kernel's answer to unknown ioctls", () => {
    const s = new Session("linux-6.18", "full");
    const kvm = s.kvm();
    const vm = s.vm();
    const vcpu = s.vcpu(vm);
    const g = s.gmem(vm, PAGE);
    expect(s.ioctl(kvm, "KVM_CREATE_GUEST_MEMFD", { size: PAGE }).errno).to.equal("EINVAL");
    expect(s.ioctl(vcpu, "KVM_CHECK_EXTENSION", 1n).errno).to.equal("EINVAL");
    expect(s.ioctl(vm, "KVM_PRE_FAULT_MEMORY", { gpa: 0n, size: PAGE }).errno).to.equal("ENOTTY");
    expect(s.ioctl(g, "KVM_CHECK_EXTENSION", 1n).errno).to.equal("ENOTTY");
    expect(s.ioctl(vm, "KVM_SET_MEMORY_ATTRIBUTES", { address: 0n, size: PAGE, attributes: 8n }).errno).to.equal("EINVAL");
    expect(s.ioctl(vm, "KVM_CREATE_GUEST_MEMFD", { size: PAGE }).errno).to.equal(undefined);
    expect(s.call("ioctl", { fd: vm, request: "KVM_CREATE_GUEST_MEMFD", pointer: "invalid" }).errno).to.equal("EFAULT");
    expect(s.call("guest", { vcpu: vm, access: "read", gpa: 0n }).errno).to.equal("ENOTTY");
    expect(s.call("guest", { vcpu: kvm, access: "read", gpa: 0n }).errno).to.equal("EINVAL");
    expect(s.call("guest", { vcpu: 999n, access: "read", gpa: 0n }).errno).to.equal("EBADF");
    expect(() => s.ioctl(vcpu, "KVM_RUN")).to.throw(DriverFailure);
    expect(() => s.ioctl(vm, "KVM_MEMORY_ENCRYPT_OP_DOES_NOT_EXIST")).to.throw(DriverFailure);
  });

  it("limits vCPU ids and refuses duplicates", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    s.vcpu(vm, 3n);
    expect(s.ioctl(vm, "KVM_CREATE_VCPU", 3n).errno).to.equal("EEXIST");
    expect(s.ioctl(vm, "KVM_CREATE_VCPU", 4096n).errno).to.equal("EINVAL");
    expect(s.ok("fdinfo", { fd: s.vcpu(vm, 7n) }).out?.link).to.equal("anon_inode:kvm-vcpu:7");
  });

  it("enables the hypercall exit only for KVM_HC_MAP_GPA_RANGE", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const cap = s.c("KVM_CAP_EXIT_HYPERCALL");
    expect(s.ioctl(vm, "KVM_ENABLE_CAP", { cap, args: [1n << 11n] }).errno).to.equal("EINVAL");
    expect(s.ioctl(vm, "KVM_ENABLE_CAP", { cap, flags: 1n, args: [1n << 12n] }).errno).to.equal("EINVAL");
    expect(() => s.ioctl(vm, "KVM_ENABLE_CAP", { cap: 1n })).to.throw(/does not model capability 1/);
    expect(() => s.ioctl(s.vcpu(vm, 1n), "KVM_ENABLE_CAP", { cap: 1n })).to.throw(/does not model capability 1/);
    expect(s.ioctl(vm, "KVM_ENABLE_CAP", { cap, args: [1n << 12n] }).errno).to.equal(undefined);
    expect(s.ioctl(s.vcpu(vm), "KVM_ENABLE_CAP", { cap, args: [1n << 12n] }).errno).to.equal("EINVAL");
  });

  it("resets to a clean kernel and reports what it released", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    s.gmem(vm, PAGE);
    s.anon(2n);
    s.ok("fork", {});
    const r = s.k.reset();
    expect(r.released).to.deep.equal({ fds: 3 + 6, mappings: 1 + 1, processes: 1 });
    expect(s.k.reset().released).to.deep.equal({ fds: 0, mappings: 0, processes: 0 });
    expect(s.k.machine.vms.size).to.equal(0);
  });
});
