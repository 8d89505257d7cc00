import { expect } from "chai";
import { PAGE_BUDGET } from "../../reference-impl/lib/budget.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { byte, PAGE, Session } from "./session.js";

describe("reference-impl process: descriptors", () => {
  it("opens devices, duplicates and closes descriptors, and keeps the flags", () => {
    const s = new Session("linux-7.2", "pvm");
    const kvm = s.ok("open", { path: "/dev/kvm", flags: s.c("O_RDWR") | s.c("O_CLOEXEC") }).ret;
    expect(kvm).to.equal(3n);
    expect(s.ok("fcntl", { fd: kvm, cmd: s.c("F_GETFL") }).ret).to.equal(0x8002n);
    expect(s.ok("fcntl", { fd: kvm, cmd: s.c("F_GETFD") }).ret).to.equal(1n);
    s.ok("fcntl", { fd: kvm, cmd: s.c("F_SETFD"), arg: 0n });
    expect(s.ok("fdinfo", { fd: kvm }).out).to.deep.equal({ link: "/dev/kvm", flags: 0x8002n });
    const dup = s.ok("dup", { fd: kvm }).ret;
    expect(dup).to.equal(4n);
    expect(s.ok("fcntl", { fd: kvm, cmd: s.c("F_DUPFD"), arg: 10n }).ret).to.equal(10n);
    s.ok("fcntl", { fd: kvm, cmd: s.c("F_SETFL"), arg: s.c("O_NONBLOCK") });
    expect(s.ok("fcntl", { fd: dup, cmd: s.c("F_GETFL") }).ret).to.equal(0x8002n | s.c("O_NONBLOCK"));
    s.ok("close", { fd: kvm });
    s.err("EBADF", "close", { fd: kvm });
    s.err("EBADF", "dup", { fd: -1n });
    expect(s.ioctl(dup, "KVM_GET_API_VERSION").ret).to.equal(12n);
    expect(() => s.call("open", { path: "/etc/passwd", flags: 0n })).to.throw(DriverFailure);
    expect(() => s.call("fcntl", { fd: dup, cmd: 999n })).to.throw(DriverFailure);
  });

  it("answers generic calls on /dev/kvm, VM files and /dev/null as the kernel does", () => {
    const s = new Session("linux-6.18", "pvm");
    const kvm = s.kvm();
    const vm = s.vm();
    const nul = s.ok("open", { path: "/dev/null", flags: s.c("O_RDWR") }).ret;
    expect(s.ok("lseek", { fd: kvm, offset: 10n, whence: 0n }).ret).to.equal(0n);
    expect(s.call("lseek", { fd: kvm, offset: 0n, whence: 9n }).errno).to.equal("EINVAL");
    expect(s.call("read", { fd: kvm, len: 8n }).errno).to.equal("EINVAL");
    expect(s.call("pread", { fd: kvm, len: 8n, offset: 0n }).errno).to.equal("EINVAL");
    expect(s.call("pread", { fd: vm, len: 8n, offset: 0n }).errno).to.equal("ESPIPE");
    expect(s.call("fallocate", { fd: kvm, mode: 1n, offset: 0n, len: PAGE }).errno).to.equal("ENODEV");
    expect(s.call("ftruncate", { fd: vm, length: 0n }).errno).to.equal("EINVAL");
    expect(s.call("fchmod", { fd: vm, mode: 0o600n }).errno).to.equal("EOPNOTSUPP");
    expect(s.call("fchmod", { fd: kvm, mode: 0o666n }).errno).to.equal(undefined);
    expect(s.ok("fstat", { fd: kvm }).out).to.include({ mode: 0o20666n, rdev: 0xae8n });
    expect(s.ok("fstatfs", { fd: kvm }).out).to.include({ type: 0x01021994n, flags: 0x1020n });
    expect(s.ok("fstat", { fd: vm }).out!.mode).to.equal(0o600n);
    expect(s.mapShared(vm, 1n).errno).to.equal("ENODEV");
    expect(s.ok("read", { fd: nul, len: 4n }).ret).to.equal(0n);
    expect(s.ok("write", { fd: nul, data: new Uint8Array(3) }).ret).to.equal(3n);
    expect(s.ok("pwrite", { fd: nul, data: new Uint8Array(3), offset: 5n }).ret).to.equal(3n);
    const ro = s.ok("open", { path: "/dev/null", flags: s.c("O_RDONLY") }).ret;
    expect(s.call("write", { fd: ro, data: new Uint8Array(1) }).errno).to.equal("EBADF");
    const old = new Session("linux-6.8", "pvm");
    expect(old.call("fchmod", { fd: old.vm(), mode: 0o600n }).errno).to.equal(undefined);
  });

  it("implements memfds as ordinary shmem files", () => {
    const s = new Session("linux-7.2", "pvm");
    const m = s.ok("memfd_create", { name: "probe", flags: 0n }).ret;
    expect(s.ok("fdinfo", { fd: m }).out!.link).to.equal("/memfd:probe (deleted)");
    expect(s.ok("fcntl", { fd: m, cmd: s.c("F_GET_SEALS") }).ret).to.equal(1n);
    expect(s.ok("fstat", { fd: m }).out).to.include({ mode: 0o100777n, nlink: 0n, size: 0n });
    expect(s.call("memfd_create", { name: "x", flags: 0x100n }).errno).to.equal("EINVAL");
    s.ok("ftruncate", { fd: m, length: 3n * PAGE });
    s.ok("fallocate", { fd: m, mode: 0n, offset: 0n, len: PAGE });
    expect(s.ok("fstat", { fd: m }).out).to.include({ size: 3n * PAGE, blocks: 8n });
    expect(s.ok("write", { fd: m, data: new Uint8Array([1, 2, 3]) }).ret).to.equal(3n);
    expect(s.ok("pread", { fd: m, len: 2n, offset: 1n }).out!.data).to.deep.equal(new Uint8Array([2, 3]));
    expect(s.ok("lseek", { fd: m, offset: 0n, whence: s.c("SEEK_DATA") }).ret).to.equal(0n);
    expect(s.ok("lseek", { fd: m, offset: 0n, whence: s.c("SEEK_HOLE") }).ret).to.equal(PAGE);
    expect(s.call("lseek", { fd: m, offset: 5n * PAGE, whence: s.c("SEEK_DATA") }).errno).to.equal("ENXIO");
    expect(s.ok("lseek", { fd: m, offset: -1n, whence: s.c("SEEK_END") }).ret).to.equal(3n * PAGE - 1n);
    const map = s.mapShared(m, 4n).ret;
    expect(byte(s.load(map + 1n))).to.equal(2);
    expect(s.load(map + 3n * PAGE).signal).to.equal("SIGBUS");
    s.ok("fallocate", { fd: m, mode: 3n, offset: 1n, len: 1n });
    expect(byte(s.load(map + 1n))).to.equal(0);
    expect(byte(s.load(map + 2n))).to.equal(3);
    s.ok("ftruncate", { fd: m, length: PAGE });
    expect(s.load(map + PAGE).signal).to.equal("SIGBUS");
    expect(s.call("fallocate", { fd: m, mode: 16n, offset: 0n, len: PAGE }).errno).to.equal("EOPNOTSUPP");
  });
});

describe("reference-impl process: address space", () => {
  it("maps, protects and unmaps anonymous memory, raising SIGSEGV where nothing is mapped", () => {
    const s = new Session("linux-7.2", "pvm");
    const a = s.anon(3n);
    expect(byte(s.load(a))).to.equal(0);
    s.ok("store", { addr: a + PAGE, data: new Uint8Array([5]) });
    s.ok("mprotect", { addr: a + PAGE, len: PAGE, prot: s.c("PROT_READ") });
    expect(s.store(a + PAGE, 6).signal).to.equal("SIGSEGV");
    expect(byte(s.load(a + PAGE))).to.equal(5);
    s.ok("mprotect", { addr: a, len: PAGE, prot: 0n });
    expect(s.load(a).signal).to.equal("SIGSEGV");
    s.ok("munmap", { addr: a + 2n * PAGE, len: 1n });
    expect(s.load(a + 2n * PAGE).signal).to.equal("SIGSEGV");
    expect(s.call("mprotect", { addr: a, len: 3n * PAGE, prot: 1n }).errno).to.equal("ENOMEM");
    expect(s.call("mprotect", { addr: a, len: PAGE, prot: 0x100n }).errno).to.equal("EINVAL");
    expect(s.call("munmap", { addr: a + 1n, len: PAGE }).errno).to.equal("EINVAL");
    expect(s.call("munmap", { addr: a, len: 0n }).errno).to.equal("EINVAL");
    s.ok("madvise", { addr: a + PAGE, len: PAGE, advice: s.c("MADV_DONTNEED") });
    expect(byte(s.load(a + PAGE))).to.equal(0);
    expect(() => s.call("load", { addr: a, len: 65537n })).to.throw(DriverFailure);
  });

  it("punches a hole for MADV_REMOVE on any shared mapping that may be written, even PROT_READ", () => {
    const s = new Session("linux-6.8", "pvm");
    const fd = s.ok("memfd_create", { name: "m", flags: 0n }).ret;
    s.ok("ftruncate", { fd, length: 2n * PAGE });
    s.ok("pwrite", { fd, data: new Uint8Array([7]), offset: 0n });
    const ro = s.mapShared(fd, 2n, s.c("PROT_READ")).ret;
    expect(byte(s.load(ro))).to.equal(7);
    s.ok("madvise", { addr: ro, len: PAGE, advice: s.c("MADV_REMOVE") });
    expect(byte(s.load(ro))).to.equal(0);
    const priv = s.ok("mmap", { addr: 0n, len: PAGE, prot: s.c("PROT_READ") | s.c("PROT_WRITE"), flags: s.c("MAP_PRIVATE"), fd, offset: 0n }).ret;
    expect(s.call("madvise", { addr: priv, len: PAGE, advice: s.c("MADV_REMOVE") }).errno).to.equal("EACCES");
  });

  it("refuses to populate or poison more pages than its per-operation budget", () => {
    const s = new Session("linux-7.2", "full");
    const rw = s.c("PROT_READ") | s.c("PROT_WRITE");
    const big = (BigInt(PAGE_BUDGET) + 1n) * PAGE;
    const populate = s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS") | s.c("MAP_POPULATE");
    expect(() => s.call("mmap", { addr: 0n, len: big, prot: rw, flags: populate, fd: -1n, offset: 0n })).to.throw(/at most 262144 per operation/);
    const a = s.ok("mmap", { addr: 0n, len: big, prot: rw, flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
    expect(() => s.call("madvise", { addr: a, len: big, advice: s.c("MADV_POPULATE_READ") })).to.throw(/at most 262144/);
    expect(() => s.call("madvise", { addr: a, len: big, advice: s.c("MADV_HWPOISON") })).to.throw(/at most 262144/);
    s.ok("madvise", { addr: a, len: 2n * PAGE, advice: s.c("MADV_POPULATE_WRITE") });
  });

  it("checks ranges the way each system call does: TASK_SIZE for munmap, 64-bit wrap for the others", () => {
    const s = new Session("linux-7.2", "pvm");
    const a = s.anon(1n);
    const TASK_SIZE = 0x7ffffffff000n;
    const near = (1n << 64n) - PAGE;
    expect(s.call("munmap", { addr: TASK_SIZE - PAGE, len: PAGE }).errno).to.equal(undefined);
    expect(s.call("munmap", { addr: TASK_SIZE, len: PAGE }).errno).to.equal("EINVAL");
    expect(s.call("mprotect", { addr: TASK_SIZE, len: PAGE, prot: 1n }).errno).to.equal("ENOMEM");
    expect(s.call("mprotect", { addr: a, len: 0n, prot: 0x100n }).errno).to.equal(undefined);
    // PAGE_ALIGN(len) wraps to 0 in 64 bits: ENOMEM for mprotect (before the prot check), EINVAL for madvise and mbind.
    expect(s.call("mprotect", { addr: a, len: near + 1n, prot: 0x100n }).errno).to.equal("ENOMEM");
    expect(s.call("madvise", { addr: a, len: near + 1n, advice: s.c("MADV_NORMAL") }).errno).to.equal("EINVAL");
    expect(s.call("madvise", { addr: near, len: 2n * PAGE, advice: s.c("MADV_NORMAL") }).errno).to.equal("EINVAL");
    expect(s.call("madvise", { addr: TASK_SIZE, len: PAGE, advice: s.c("MADV_NORMAL") }).errno).to.equal("ENOMEM");
    expect(s.call("madvise", { addr: a, len: 0n, advice: s.c("MADV_NORMAL") }).errno).to.equal(undefined);
    expect(s.call("mbind", { addr: near, len: 2n * PAGE, mode: s.c("MPOL_DEFAULT"), nodemask: 0n, flags: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mbind", { addr: TASK_SIZE, len: PAGE, mode: s.c("MPOL_DEFAULT"), nodemask: 0n, flags: 0n }).errno).to.equal("EFAULT");
    expect(s.call("get_mempolicy", { addr: near }).errno).to.equal("EFAULT");
    expect(s.load(TASK_SIZE).signal).to.equal("SIGSEGV");
  });

  it("honours MAP_FIXED, MAP_FIXED_NOREPLACE, hints and argument checks", () => {
    const s = new Session("linux-7.2", "pvm");
    const rw = s.c("PROT_READ") | s.c("PROT_WRITE");
    const anon = s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS");
    const at = 0x200000000n;
    expect(s.ok("mmap", { addr: at, len: PAGE, prot: rw, flags: anon, fd: -1n, offset: 0n }).ret).to.equal(at);
    s.ok("store", { addr: at, data: new Uint8Array([1]) });
    expect(s.call("mmap", { addr: at, len: PAGE, prot: rw, flags: anon | s.c("MAP_FIXED_NOREPLACE"), fd: -1n, offset: 0n }).errno).to.equal("EEXIST");
    expect(s.ok("mmap", { addr: at, len: PAGE, prot: rw, flags: anon | s.c("MAP_FIXED"), fd: -1n, offset: 0n }).ret).to.equal(at);
    expect(byte(s.load(at))).to.equal(0);
    expect(s.call("mmap", { addr: at + 1n, len: PAGE, prot: rw, flags: anon | s.c("MAP_FIXED"), fd: -1n, offset: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mmap", { addr: 0n, len: 0n, prot: rw, flags: anon, fd: -1n, offset: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mmap", { addr: 0n, len: PAGE, prot: rw, flags: s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mmap", { addr: 0n, len: PAGE, prot: rw, flags: s.c("MAP_SHARED"), fd: 77n, offset: 0n }).errno).to.equal("EBADF");
    expect(s.call("mmap", { addr: 0n, len: PAGE, prot: rw, flags: anon, fd: -1n, offset: 1n }).errno).to.equal("EINVAL");
    expect(s.call("mmap", { addr: 0n, len: 1n << 60n, prot: rw, flags: anon, fd: -1n, offset: 0n }).errno).to.equal("ENOMEM");
    const nul = s.ok("open", { path: "/dev/null", flags: 0n }).ret;
    expect(s.call("mmap", { addr: 0n, len: PAGE, prot: rw, flags: s.c("MAP_SHARED"), fd: nul, offset: 0n }).errno).to.equal("EACCES");
  });

  it("shares MAP_SHARED memory with a forked child and copies private memory", () => {
    const s = new Session("linux-7.2", "pvm");
    const shared = s.ok("mmap", { addr: 0n, len: PAGE, prot: 3n, flags: s.c("MAP_SHARED") | s.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
    const priv = s.anon(1n);
    const skipped = s.anon(1n);
    s.ok("madvise", { addr: skipped, len: PAGE, advice: s.c("MADV_DONTFORK") });
    s.ok("store", { addr: priv, data: new Uint8Array([1]) });
    const kvm = s.kvm();
    const child = s.ok("fork", {}).ret;
    s.ok("store", { addr: shared, data: new Uint8Array([7]), process: child });
    s.ok("store", { addr: priv, data: new Uint8Array([9]), process: child });
    expect(byte(s.load(shared))).to.equal(7);
    expect(byte(s.load(priv))).to.equal(1);
    expect(s.call("load", { addr: skipped, len: 1n, process: child }).signal).to.equal("SIGSEGV");
    expect(s.call("ioctl", { fd: kvm, request: "KVM_GET_API_VERSION", process: child }).ret).to.equal(12n);
    expect(() => s.call("close", { fd: 0n, process: 42n })).to.throw(DriverFailure);
  });

  it("zaps what KVM mapped from host memory that goes away", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm();
    const mem = s.anon(2n);
    s.ok("store", { addr: mem, data: new Uint8Array([4]) });
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: 0x100000n, memory_size: 2n * PAGE, userspace_addr: mem } });
    const vcpu = s.vcpu(vm);
    expect(byte(s.read(vcpu, 0x100000n))).to.equal(4);
    s.ok("munmap", { addr: mem, len: PAGE });
    expect(s.read(vcpu, 0x100000n).errno).to.equal("EFAULT");
    s.anon(1n);
    s.ok("mmap", { addr: mem, len: PAGE, prot: 3n, flags: s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS") | s.c("MAP_FIXED"), fd: -1n, offset: 0n });
    expect(byte(s.read(vcpu, 0x100000n))).to.equal(0);
  });

  it("sets and reports NUMA policies on the VMA or, for shared files, on the file range", () => {
    const s = new Session("linux-7.2", "full");
    const a = s.anon(2n);
    const bind = s.c("MPOL_BIND");
    s.ok("mbind", { addr: a, len: PAGE, mode: bind, nodemask: 2n, flags: 0n });
    expect(s.ok("get_mempolicy", { addr: a }).out).to.deep.equal({ mode: bind, nodemask: 2n });
    expect(s.ok("get_mempolicy", { addr: a + PAGE }).out).to.deep.equal({ mode: 0n, nodemask: 0n });
    expect(s.call("mbind", { addr: a, len: PAGE, mode: 999n, nodemask: 1n, flags: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mbind", { addr: a, len: PAGE, mode: bind, nodemask: 4n, flags: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mbind", { addr: a, len: PAGE, mode: bind, nodemask: 0n, flags: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mbind", { addr: a, len: PAGE, mode: 0n, nodemask: 1n, flags: 0n }).errno).to.equal("EINVAL");
    expect(s.call("mbind", { addr: 0x10000n, len: PAGE, mode: bind, nodemask: 1n, flags: 0n }).errno).to.equal("EFAULT");
    expect(s.call("get_mempolicy", { addr: 0x10000n }).errno).to.equal("EFAULT");
    s.ok("mbind", { addr: a, len: PAGE, mode: s.c("MPOL_PREFERRED"), nodemask: 0n, flags: 0n });
    expect(s.ok("get_mempolicy", { addr: a }).out!.mode).to.equal(s.c("MPOL_LOCAL"));
    const g = s.gmem(s.vm(), 2n * PAGE, 3n);
    const m1 = s.mapShared(g, 2n).ret;
    s.ok("mbind", { addr: m1 + PAGE, len: PAGE, mode: s.c("MPOL_INTERLEAVE"), nodemask: 3n, flags: 0n });
    const m2 = s.mapShared(g, 2n).ret;
    expect(s.ok("get_mempolicy", { addr: m2 + PAGE }).out).to.deep.equal({ mode: s.c("MPOL_INTERLEAVE"), nodemask: 3n });
    const old = new Session("linux-6.18", "full");
    const og = old.gmem(old.vm(), PAGE, 3n);
    old.ok("mbind", { addr: old.mapShared(og, 1n).ret, len: PAGE, mode: bind, nodemask: 1n, flags: 0n });
    expect(old.ok("get_mempolicy", { addr: old.mapShared(og, 1n).ret }).out!.mode).to.equal(0n);
  });
});
