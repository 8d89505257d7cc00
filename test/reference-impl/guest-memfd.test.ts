import { expect } from "chai";
import { byte, memoryFault, PAGE, Session } from "./session.js";

const MMAP = 1n;
const INIT_SHARED = 2n;
const GPA = 0x100000n;

describe("reference-impl guest_memfd: creation and file operations", () => {
  it("validates flags per VM type and profile, then the size", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm();
    const sw = s.vm("KVM_X86_SW_PROTECTED_VM");
    const create = (on: bigint, size: bigint, flags = 0n) => s.ioctl(on, "KVM_CREATE_GUEST_MEMFD", { size, flags }).errno;
    expect(create(vm, PAGE, MMAP | INIT_SHARED)).to.equal(undefined);
    expect(create(vm, PAGE, INIT_SHARED)).to.equal(undefined);
    expect(create(sw, PAGE, INIT_SHARED)).to.equal("EINVAL");
    expect(create(sw, PAGE, MMAP)).to.equal(undefined);
    expect(create(vm, PAGE, 4n)).to.equal("EINVAL");
    expect(create(vm, 0n, 4n)).to.equal("EINVAL");
    for (const size of [0n, 1n, PAGE - 1n, PAGE + 1n, 1n << 63n, (1n << 64n) - PAGE]) expect(create(vm, size), String(size)).to.equal("EINVAL");
    expect(create(vm, (1n << 63n) - PAGE)).to.equal(undefined);
    expect(s.ioctl(vm, "KVM_CREATE_GUEST_MEMFD", { size: PAGE, reserved: [1n, 2n, 3n, 4n, 5n, 6n] }).errno).to.equal(undefined);
    const old = new Session("linux-6.8", "full");
    expect(old.ioctl(old.vm(), "KVM_CREATE_GUEST_MEMFD", { size: PAGE, flags: 1n }).errno).to.equal("EINVAL");
  });

  it("answers the file system calls like the kernel", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm();
    const g = s.gmem(vm, 4n * PAGE);
    const g2 = s.gmem(vm, PAGE);
    expect(s.call("read", { fd: g, len: 1n }).errno).to.equal("EINVAL");
    expect(s.call("write", { fd: g, data: new Uint8Array(1) }).errno).to.equal("EINVAL");
    expect(s.call("pread", { fd: g, len: 1n, offset: 0n }).errno).to.equal("ESPIPE");
    expect(s.call("pwrite", { fd: g, data: new Uint8Array(1), offset: 0n }).errno).to.equal("ESPIPE");
    expect(s.call("pread", { fd: g, len: 1n, offset: -1n }).errno).to.equal("EINVAL");
    expect(s.call("lseek", { fd: g, offset: 0n, whence: 0n }).errno).to.equal("ESPIPE");
    expect(s.call("ftruncate", { fd: g, length: PAGE }).errno).to.equal("EINVAL");
    expect(s.call("ftruncate", { fd: g, length: -1n }).errno).to.equal("EINVAL");
    expect(s.call("fchmod", { fd: g, mode: 0o644n }).errno).to.equal("EINVAL");
    const st = s.ok("fstat", { fd: g }).out!;
    expect(st).to.include({ size: 4n * PAGE, blksize: PAGE, blocks: 0n, mode: 0o100600n, nlink: 1n });
    expect(s.ok("fstat", { fd: g2 }).out!.ino).to.not.equal(st.ino);
    expect(s.ok("fcntl", { fd: g, cmd: s.c("F_GETFL") }).ret).to.equal(0x8002n);
    expect(s.ok("fcntl", { fd: g, cmd: s.c("F_GETFD") }).ret).to.equal(0n);
    expect(s.ok("fdinfo", { fd: g }).out).to.deep.equal({ link: "anon_inode:[kvm-gmem]", flags: 0x8002n });
    expect(s.ok("fstatfs", { fd: g }).out!.type).to.equal(0x09041934n);
    const n = new Session("linux-7.2", "full");
    const ng = n.gmem(n.vm(), PAGE);
    expect(n.ok("fstatfs", { fd: ng }).out).to.include({ type: 0x474d454dn, flags: 0x28n });
    expect(n.ok("fdinfo", { fd: ng }).out!.link).to.equal("/[kvm-gmem] (deleted)");
  });

  it("takes a reference on the VM, so the VM outlives its fd", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, PAGE);
    s.ok("close", { fd: vm });
    expect(s.k.machine.vms.size).to.equal(1);
    s.ok("fallocate", { fd: g, mode: 1n, offset: 0n, len: PAGE });
    s.ok("close", { fd: g });
    expect(s.k.machine.vms.size).to.equal(0);
  });
});

describe("reference-impl guest_memfd: fallocate", () => {
  const KEEP = 1n;
  const PUNCH = 2n;

  it("requires KEEP_SIZE and refuses other modes, with the VFS checks first", () => {
    const s = new Session("linux-6.18", "full");
    const g = s.gmem(s.vm(), 4n * PAGE);
    const f = (mode: bigint, offset = 0n, len = PAGE) => s.call("fallocate", { fd: g, mode, offset, len }).errno;
    expect(f(0n)).to.equal("EOPNOTSUPP");
    expect(f(PUNCH)).to.equal("EOPNOTSUPP");
    for (const m of [4n, 8n, 16n, 32n, 64n, 128n]) expect(f(m | KEEP), String(m)).to.equal("EOPNOTSUPP");
    expect(f(KEEP, -PAGE)).to.equal("EINVAL");
    expect(f(KEEP, 0n, 0n)).to.equal("EINVAL");
    expect(f(KEEP, 1n)).to.equal("EINVAL");
    expect(f(KEEP | PUNCH, 0n, PAGE - 1n)).to.equal("EINVAL");
    expect(f(KEEP, 4n * PAGE)).to.equal("EINVAL");
    expect(f(KEEP, 3n * PAGE, 2n * PAGE)).to.equal("EINVAL");
    expect(f(KEEP | PUNCH, 4n * PAGE)).to.equal(undefined);
    expect(f(KEEP | PUNCH, PAGE, (1n << 63n) - PAGE)).to.equal("EFBIG");
    expect(f(KEEP, 0n, 4n * PAGE)).to.equal(undefined);
    expect(s.k.machine.vms.values().next().value!.gmemFiles.values().next().value!.inode.cache.allocatedPages).to.equal(4);
    const old = new Session("linux-6.8", "full");
    const og = old.gmem(old.vm(), PAGE);
    expect(old.call("fallocate", { fd: og, mode: 8n | KEEP, offset: 0n, len: PAGE }).errno).to.equal("EINVAL");
  });

  it("stops allocating at a pending signal or a failed allocation, keeping what it allocated", () => {
    const s = new Session("linux-7.2", "full");
    const g = s.gmem(s.vm(), 1n << 40n);
    const inode = () => s.k.machine.vms.values().next().value!.gmemFiles.values().next().value!.inode;
    s.ok("inject", { fault: "signal", after: 3n });
    expect(s.call("fallocate", { fd: g, mode: KEEP, offset: 0n, len: 10n * PAGE }).errno).to.equal("EINTR");
    expect(inode().cache.allocatedPages).to.equal(3);
    s.ok("inject", { fault: "enomem", after: 2n });
    expect(s.call("fallocate", { fd: g, mode: KEEP, offset: 0n, len: 10n * PAGE }).errno).to.equal("ENOMEM");
    expect(inode().cache.allocatedPages).to.equal(5);
    s.ok("fallocate", { fd: g, mode: KEEP, offset: 0n, len: 1n << 40n });
    expect(inode().cache.allocatedPages).to.equal(2 ** 28);
  });
});

describe("reference-impl guest_memfd: mmap and host access", () => {
  it("maps only with MMAP, only shared, never executable", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm();
    const plain = s.gmem(vm, PAGE);
    const mappable = s.gmem(vm, PAGE, MMAP | INIT_SHARED);
    const R = s.c("PROT_READ");
    expect(s.mapShared(plain, 1n).errno).to.equal("ENODEV");
    expect(s.mapShared(plain, 1n, R | s.c("PROT_EXEC")).errno).to.equal("EPERM");
    expect(s.call("mmap", { addr: 0n, len: PAGE, prot: R, flags: s.c("MAP_PRIVATE"), fd: mappable, offset: 0n }).errno).to.equal("EINVAL");
    const ro = s.mapShared(mappable, 1n, R).ret;
    expect(s.call("mprotect", { addr: ro, len: PAGE, prot: R | s.c("PROT_EXEC") }).errno).to.equal("EACCES");
    expect(byte(s.load(ro))).to.equal(0);
    expect(s.store(ro, 1).signal).to.equal("SIGSEGV");
  });

  it("raises SIGBUS past EOF and for memory that does not start shared", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const shared = s.mapShared(s.gmem(vm, 2n * PAGE, MMAP | INIT_SHARED), 4n).ret;
    s.ok("store", { addr: shared, data: new Uint8Array([0xaa]) });
    const r = s.call("store", { addr: shared + PAGE, data: new Uint8Array(2 * 4096).fill(0xbb) });
    expect(r.signal).to.equal("SIGBUS");
    expect(byte(s.load(shared + PAGE))).to.equal(0xbb);
    expect(s.load(shared + 2n * PAGE).signal).to.equal("SIGBUS");
    const priv = s.mapShared(s.gmem(vm, PAGE, MMAP), 1n).ret;
    expect(s.load(priv).signal).to.equal("SIGBUS");
    expect(s.load(0x1000n).signal).to.equal("SIGSEGV");
  });

  it("punches through MADV_REMOVE and refuses MADV_COLLAPSE and MADV_FREE", () => {
    const s = new Session("linux-7.2", "full");
    const g = s.gmem(s.vm(), 2n * PAGE, MMAP | INIT_SHARED);
    const m = s.mapShared(g, 2n).ret;
    s.ok("store", { addr: m, data: new Uint8Array([1]) });
    s.ok("store", { addr: m + PAGE, data: new Uint8Array([2]) });
    const adv = (name: string, addr = m) => s.call("madvise", { addr, len: PAGE, advice: s.c(name) }).errno;
    expect(adv("MADV_REMOVE")).to.equal(undefined);
    expect(byte(s.load(m))).to.equal(0);
    expect(byte(s.load(m + PAGE))).to.equal(2);
    expect(adv("MADV_COLLAPSE")).to.equal("EINVAL");
    expect(adv("MADV_FREE")).to.equal("EINVAL");
    expect(adv("MADV_HUGEPAGE")).to.equal(undefined);
    expect(adv("MADV_DONTNEED")).to.equal(undefined);
    expect(adv("MADV_NORMAL", m + 1n)).to.equal("EINVAL");
    expect(s.call("madvise", { addr: m, len: PAGE, advice: 77n }).errno).to.equal("EINVAL");
    expect(adv("MADV_WILLNEED", 0x10000n)).to.equal("ENOMEM");
  });

  it("shares host and guest views of MMAP memory through a gmem-only slot", () => {
    const s = new Session("linux-6.18", "full");
    const vm = s.vm();
    const g = s.gmem(vm, PAGE, MMAP | INIT_SHARED);
    const m = s.mapShared(g, 1n).ret;
    s.ok("store", { addr: m, data: new Uint8Array([0xaa]) });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: 4n, guest_phys_addr: 1n << 32n, memory_size: PAGE, userspace_addr: 0n, guest_memfd: g } });
    const vcpu = s.vcpu(vm);
    expect(byte(s.read(vcpu, 1n << 32n))).to.equal(0xaa);
    expect(s.write(vcpu, 1n << 32n, 0xff).errno).to.equal(undefined);
    expect(byte(s.load(m))).to.equal(0xff);
    // A punch frees the page under both: the guest sees a new zero page.
    s.ok("fallocate", { fd: g, mode: 3n, offset: 0n, len: PAGE });
    expect(byte(s.read(vcpu, 1n << 32n))).to.equal(0);
  });

  it("zaps guest mappings and makes later faults fail when the file is closed while bound", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const g = s.gmem(vm, PAGE);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: PAGE, guest_memfd: g } });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: 8n } });
    const vcpu = s.vcpu(vm);
    expect(s.write(vcpu, GPA, 5).errno).to.equal(undefined);
    s.ok("close", { fd: g });
    const r = s.read(vcpu, GPA);
    expect(r.errno).to.equal("EFAULT");
    expect(memoryFault(r).flags).to.equal(8n);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, memory_size: 0n } });
  });

  it("reports a poisoned page to the guest with EHWPOISON and to the host with SIGBUS", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const g = s.gmem(vm, 2n * PAGE, MMAP | INIT_SHARED);
    const m = s.mapShared(g, 2n).ret;
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: 2n * PAGE, guest_memfd: g } });
    const vcpu = s.vcpu(vm);
    expect(s.read(vcpu, GPA).errno).to.equal(undefined);
    s.ok("madvise", { addr: m, len: PAGE, advice: s.c("MADV_HWPOISON") });
    expect(s.call("madvise", { addr: m, len: PAGE, advice: s.c("MADV_HWPOISON") }).errno).to.equal("EFAULT");
    const r = s.read(vcpu, GPA);
    expect(r.errno).to.equal("EHWPOISON");
    expect(memoryFault(r)).to.deep.equal({ flags: 0n, gpa: GPA, size: PAGE });
    expect(s.load(m).signal).to.equal("SIGBUS");
    expect(s.read(vcpu, GPA + PAGE).errno).to.equal(undefined);
    s.ok("fallocate", { fd: g, mode: 3n, offset: 0n, len: PAGE });
    expect(s.read(vcpu, GPA).errno).to.equal(undefined);
    const pvm = new Session("linux-7.2", "pvm");
    const pm = pvm.mapShared(pvm.gmem(pvm.vm(), PAGE, MMAP | INIT_SHARED), 1n).ret;
    expect(pvm.call("madvise", { addr: pm, len: PAGE, advice: 100n }).errno).to.equal("EINVAL");
  });
});
