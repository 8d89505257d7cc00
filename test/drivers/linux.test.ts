// The linux driver against the real kernel through /dev/kvm, in its child process.
// Skipped, with the reason printed, where /dev/kvm cannot be used.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSpec } from "../../spec/index.js";
import { type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { rejection } from "./refusal.js";
import type { ChildProcessDriver } from "../../harness/protocol/child.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import * as libc from "../../harness/drivers/linux/libc.js";

const unavailable = kvmUnavailableReason();
const spec = loadSpec();
const named = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const PAGE = 4096n;
const PROT_RW = named("PROT_READ") | named("PROT_WRITE");
const MAP_SHARED = named("MAP_SHARED");
const MAP_ANON_PRIVATE = named("MAP_PRIVATE") | named("MAP_ANONYMOUS");
const MMAP = named("GUEST_MEMFD_FLAG_MMAP");
const INIT_SHARED = named("GUEST_MEMFD_FLAG_INIT_SHARED");
const KVM_MEM_GUEST_MEMFD = named("KVM_MEM_GUEST_MEMFD");
const LOW_GPA = 0x100000n;
const HIGH_GPA = 0x100000000n;
// Hex strings made only of digits are misread by the protocol schema (see the
// report), so test data always contains a letter nibble.
/** What a guest program at this GPA needs: real mode below 4 GiB, long mode above. */
const guestRun = (gpa: bigint): string[] => (gpa < HIGH_GPA ? ["guest-run"] : ["guest-run", "guest-run:high-gpa"]);
const pattern = (len: number, seed = 0xa0) => Uint8Array.from({ length: len }, (_, i) => (seed + i * 0x11) & 0xff | 0xa0);

function skipWithoutKvm(ctx: Mocha.Context): void {
  if (unavailable !== undefined) {
    console.log(`      SKIP linux driver: ${unavailable}`);
    ctx.skip();
  }
}

/** Skip, naming what is missing, unless the driver's handshake offers every feature (as KSFT_SKIP does). */
function skipWithout(ctx: Mocha.Context, driver: Driver, ...features: string[]): void {
  const missing = features.filter((f) => !driver.handshake.features.includes(f));
  if (missing.length > 0) {
    console.log(`      SKIP: this host lacks ${missing.join(", ")}`);
    ctx.skip();
  }
}

describe("linux driver against /dev/kvm", function () {
  this.timeout(30000);
  let driver: Driver;
  const call = (op: Op): Promise<OpResult> => driver.call(op);
  const ok = async (op: Op): Promise<bigint> => {
    const r = await call(op);
    expect(r.errno, `${op.op} ${"request" in op ? op.request : ""}`).to.equal(undefined);
    return r.ret;
  };

  before(async function () {
    skipWithoutKvm(this);
    driver = await openLinux({ guestTimeoutMs: 500 });
  });
  afterEach(async () => {
    if (driver) await driver.reset();
  });
  after(async () => {
    if (driver) await driver.close();
  });

  async function vmAndVcpu(): Promise<{ kvm: bigint; vm: bigint; vcpu: bigint }> {
    const kvm = await ok({ op: "open", path: "/dev/kvm", flags: named("O_RDWR") });
    const vm = await ok({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n });
    const vcpu = await ok({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n });
    return { kvm, vm, vcpu };
  }
  const anonPage = () => ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_ANON_PRIVATE, fd: -1n, offset: 0n });
  const gmem = (vm: bigint, flags: bigint, size = PAGE) => ok({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size, flags } });
  const slot = (vm: bigint, n: bigint, gpa: bigint, uaddr: bigint, gmemFd?: bigint) =>
    ok({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: n, flags: gmemFd === undefined ? 0n : KVM_MEM_GUEST_MEMFD, guest_phys_addr: gpa, memory_size: PAGE, userspace_addr: uaddr, guest_memfd: gmemFd ?? 0n } });

  it("offers exactly the features its probes find", async () => {
    const hs = driver.handshake;
    expect(hs.name).to.equal("linux");
    expect(hs.host.pageSize).to.equal(libc.pageSize());
    // Each feature recomputed from its spec/features.json probe, with the flag values spec/ names.
    const kvm = libc.open("/dev/kvm", named("O_RDWR"), 0n);
    const cap = (name: string) => {
      const n = spec.constant(name, hs.profile);
      const r = n === undefined ? 0n : libc.ioctlValue(kvm.ret, spec.ioctl("KVM_CHECK_EXTENSION", hs.profile)!.request, n).ret;
      return r < 0n ? 0n : r;
    };
    const has = (capName: string, flag: bigint) => (cap(capName) & flag) === flag;
    const vmType = (name: string) => has("KVM_CAP_VM_TYPES", 1n << named(name));
    const expected: Record<string, boolean> = {
      "user-memory2": cap("KVM_CAP_USER_MEMORY2") > 0n,
      "guest-memfd": cap("KVM_CAP_GUEST_MEMFD") > 0n,
      "gmem-flag:mmap": has("KVM_CAP_GUEST_MEMFD_FLAGS", named("GUEST_MEMFD_FLAG_MMAP")),
      "gmem-flag:init-shared": has("KVM_CAP_GUEST_MEMFD_FLAGS", named("GUEST_MEMFD_FLAG_INIT_SHARED")),
      "memory-attributes": has("KVM_CAP_MEMORY_ATTRIBUTES", named("KVM_MEMORY_ATTRIBUTE_PRIVATE")),
      "memory-fault-info": cap("KVM_CAP_MEMORY_FAULT_INFO") > 0n,
      "pre-fault-memory": cap("KVM_CAP_PRE_FAULT_MEMORY") > 0n,
      "readonly-mem": cap("KVM_CAP_READONLY_MEM") > 0n,
      "multi-address-space": cap("KVM_CAP_MULTI_ADDRESS_SPACE") > 1n,
      "exit-hypercall": has("KVM_CAP_EXIT_HYPERCALL", 1n << named("KVM_HC_MAP_GPA_RANGE")),
      "vm-type:default": vmType("KVM_X86_DEFAULT_VM") || cap("KVM_CAP_VM_TYPES") === 0n,
      "vm-type:sw-protected": vmType("KVM_X86_SW_PROTECTED_VM"),
      "vm-type:sev": vmType("KVM_X86_SEV_VM"),
      "vm-type:sev-es": vmType("KVM_X86_SEV_ES_VM"),
      "vm-type:snp": vmType("KVM_X86_SNP_VM"),
      "vm-type:tdx": vmType("KVM_X86_TDX_VM"),
      "process:fork": false,
      "memory-failure": false,
      "fault-injection": false,
    };
    const flags = Number(cap("KVM_CAP_GUEST_MEMFD_FLAGS"));
    libc.close(kvm.ret);
    for (const [feature, present] of Object.entries(expected)) expect(hs.features.includes(feature), feature).to.equal(present);
    const vocabulary = new Set(spec.features.map((f) => f.name));
    for (const f of hs.features) expect(vocabulary.has(f), f).to.equal(true);
    expect((hs.host.capabilities as Record<string, number>).KVM_CAP_GUEST_MEMFD_FLAGS).to.equal(flags);

    // pre-fault-ioctl: the request on a vCPU fd fails with anything but ENOTTY
    const { vcpu } = await vmAndVcpu();
    const prefault = await call({ op: "ioctl", fd: vcpu, request: "KVM_PRE_FAULT_MEMORY", arg: { gpa: 0n, size: 0n } });
    expect(hs.features.includes("pre-fault-ioctl"), "pre-fault-ioctl").to.equal(prefault.errno !== "ENOTTY");
    // guest-run: a program that halts runs to KVM_EXIT_HLT (a hlt at a GPA below 4 GiB, fetched)
    const mem = await anonPage();
    await ok({ op: "store", addr: mem, data: Uint8Array.of(0xf4) });
    const { vm: vm2, vcpu: vcpu2 } = await vmAndVcpu();
    await slot(vm2, 1n, LOW_GPA, mem);
    const fetched = await call({ op: "guest", vcpu: vcpu2, access: "fetch", gpa: LOW_GPA });
    expect(hs.features.includes("guest-run"), "guest-run").to.equal(fetched.ret === 0n && fetched.exit?.reason === "KVM_EXIT_HLT");
  });

  it("creates, inspects and closes a guest_memfd", async function () {
    skipWithout(this, driver, "guest-memfd");
    const { vm } = await vmAndVcpu();
    const created = await call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 2n * PAGE, flags: 0n } });
    expect(created.out).to.deep.include({ size: 2n * PAGE, flags: 0n });
    const st = await call({ op: "fstat", fd: created.ret });
    expect(st.out).to.deep.include({ size: 2n * PAGE, blksize: PAGE });
    const info = await call({ op: "fdinfo", fd: created.ret });
    expect(String(info.out?.link)).to.contain("kvm-gmem");
    expect(await call({ op: "close", fd: created.ret })).to.deep.equal({ ret: 0n });
    expect((await call({ op: "fstat", fd: created.ret })).errno).to.equal("EBADF");
    expect((await call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", pointer: "invalid" })).errno).to.equal("EFAULT");
  });

  it("reports SIGBUS for a private guest_memfd page and keeps running", async function () {
    skipWithout(this, driver, "guest-memfd", "gmem-flag:mmap", "gmem-flag:init-shared");
    const { vm } = await vmAndVcpu();
    const priv = await gmem(vm, MMAP);
    const map = await ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: priv, offset: 0n });
    expect(await call({ op: "load", addr: map, len: 1n })).to.deep.equal({ ret: -1n, signal: "SIGBUS" });
    expect(await call({ op: "store", addr: map, data: pattern(4) })).to.deep.equal({ ret: -1n, signal: "SIGBUS" });
    // control: the same with INIT_SHARED works, and a page past the end is SIGBUS again
    const shared = await gmem(vm, MMAP | INIT_SHARED);
    const smap = await ok({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: shared, offset: 0n });
    expect(await call({ op: "store", addr: smap, data: pattern(4) })).to.deep.equal({ ret: 0n });
    expect((await call({ op: "load", addr: smap, len: 4n })).out?.data).to.deep.equal(pattern(4));
    expect((await call({ op: "load", addr: smap + PAGE, len: 1n })).signal).to.equal("SIGBUS");
  });

  it("reports SIGSEGV for unmapped and read-only memory", async () => {
    const ro = await ok({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: named("PROT_READ"), flags: MAP_ANON_PRIVATE, fd: -1n, offset: 0n });
    expect((await call({ op: "store", addr: ro, data: pattern(1) })).signal).to.equal("SIGSEGV");
    await ok({ op: "munmap", addr: ro + PAGE, len: PAGE });
    expect((await call({ op: "load", addr: ro + PAGE - 1n, len: 2n })).signal, "a load running off the mapping").to.equal("SIGSEGV");
    await ok({ op: "munmap", addr: ro, len: PAGE });
    expect((await call({ op: "load", addr: ro, len: 1n })).signal).to.equal("SIGSEGV");
  });

  for (const access of ["read", "write"]) {
    it(`predicts the SIGBUS a real ${access} of a private guest_memfd page raises`, function () {
      skipWithout(this, driver, "guest-memfd", "gmem-flag:mmap");
      const script = join(dirname(fileURLToPath(import.meta.url)), "linux-touch.js");
      const child = spawnSync(process.execPath, [script, access], { encoding: "utf8", timeout: 20000 });
      const first = JSON.parse(child.stdout.split("\n")[0]!) as { predicted?: string };
      expect(first.predicted, "what checkAccess predicted").to.equal("SIGBUS");
      expect(child.signal, "what the process really died of").to.equal("SIGBUS");
    });
  }

  for (const [gpa, mode] of [[LOW_GPA, "real mode"], [HIGH_GPA, "long mode"]] as const) {
    it(`runs guest reads and writes through an anonymous memslot (${mode})`, async function () {
      skipWithout(this, driver, ...guestRun(gpa));
      const { vm, vcpu } = await vmAndVcpu();
      const mem = await anonPage();
      await slot(vm, 1n, gpa, mem);
      for (const len of [1, 2, 4, 8]) {
        const data = pattern(len, 0xb0 + len);
        await ok({ op: "store", addr: mem + 0x40n, data });
        const read = await call({ op: "guest", vcpu, access: "read", gpa: gpa + 0x40n, len: BigInt(len) });
        expect(read).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" }, out: { data } });
        const written = pattern(len, 0xc0 + len);
        expect(await call({ op: "guest", vcpu, access: "write", gpa: gpa + 0x80n, len: BigInt(len), data: written })).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" } });
        expect((await call({ op: "load", addr: mem + 0x80n, len: BigInt(len) })).out?.data).to.deep.equal(written);
      }
    });

    it(`runs guest accesses through a guest_memfd-backed memslot (${mode})`, async function () {
      skipWithout(this, driver, "guest-memfd", "gmem-flag:mmap", "gmem-flag:init-shared", ...guestRun(gpa));
      const { vm, vcpu } = await vmAndVcpu();
      const g = await gmem(vm, MMAP | INIT_SHARED);
      const map = await ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: g, offset: 0n });
      // userspace_addr is the guest_memfd's own mapping, so every path reaches the same pages
      await slot(vm, 1n, gpa, map, g);
      await ok({ op: "store", addr: map, data: pattern(8) });
      expect((await call({ op: "guest", vcpu, access: "read", gpa, len: 8n })).out?.data).to.deep.equal(pattern(8));
      await call({ op: "guest", vcpu, access: "write", gpa: gpa + 8n, len: 4n, data: pattern(4, 0xd0) });
      expect((await call({ op: "load", addr: map + 8n, len: 4n })).out?.data).to.deep.equal(pattern(4, 0xd0));
    });

    it(`serves a guest_memfd slot through a mapping of the same file, which every other mapping of the file sees (${mode})`, async function () {
      skipWithout(this, driver, "guest-memfd", "gmem-flag:mmap", "gmem-flag:init-shared", ...guestRun(gpa));
      // userspace_addr maps the guest_memfd itself: mainline serves the access from the
      // guest_memfd, this host from userspace_addr (HOST-NOTES.md Q1): the same pages either way
      const { vm, vcpu } = await vmAndVcpu();
      const g = await gmem(vm, MMAP | INIT_SHARED, 2n * PAGE);
      const bound = await ok({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: g, offset: 0n });
      const other = await ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: g, offset: PAGE });
      await ok({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: KVM_MEM_GUEST_MEMFD, guest_phys_addr: gpa, memory_size: 2n * PAGE, userspace_addr: bound, guest_memfd: g } });
      await ok({ op: "store", addr: other + 0x10n, data: pattern(4, 0xe1) });
      expect(await call({ op: "guest", vcpu, access: "read", gpa: gpa + PAGE + 0x10n, len: 4n })).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" }, out: { data: pattern(4, 0xe1) } });
      expect(await call({ op: "guest", vcpu, access: "write", gpa: gpa + PAGE + 0x20n, len: 2n, data: pattern(2, 0xf2) })).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" } });
      expect((await call({ op: "load", addr: other + 0x20n, len: 2n })).out?.data).to.deep.equal(pattern(2, 0xf2));
      expect((await call({ op: "load", addr: bound + PAGE + 0x20n, len: 2n })).out?.data).to.deep.equal(pattern(2, 0xf2));
    });
  }

  it("reports MMIO exits and leaves the vCPU clean for the next program", async function () {
    skipWithout(this, driver, "guest-run", "guest-run:high-gpa");
    const { vm, vcpu } = await vmAndVcpu();
    const mem = await anonPage();
    await slot(vm, 1n, LOW_GPA, mem);
    await ok({ op: "store", addr: mem, data: pattern(4, 0xe0) });
    const w = await call({ op: "guest", vcpu, access: "write", gpa: 0x200000n, len: 4n, data: pattern(4) });
    expect(w).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_MMIO", mmio: { phys_addr: 0x200000n, len: 4n, is_write: 1n, data: pattern(4) } } });
    const r = await call({ op: "guest", vcpu, access: "read", gpa: 0x200008n, len: 8n });
    expect(r.exit).to.deep.equal({ reason: "KVM_EXIT_MMIO", mmio: { phys_addr: 0x200008n, len: 8n, is_write: 0n } });
    expect((await call({ op: "guest", vcpu, access: "read", gpa: LOW_GPA, len: 4n })).out?.data).to.deep.equal(pattern(4, 0xe0));
    const high = await call({ op: "guest", vcpu, access: "read", gpa: HIGH_GPA + 0x10n, len: 2n });
    expect(high.exit).to.deep.equal({ reason: "KVM_EXIT_MMIO", mmio: { phys_addr: HIGH_GPA + 0x10n, len: 2n, is_write: 0n } });
  });

  it("fetches at a GPA, and the watchdog stops a guest that never halts", async function () {
    skipWithout(this, driver, "guest-run");
    const { vm, vcpu } = await vmAndVcpu();
    const mem = await anonPage();
    await slot(vm, 1n, LOW_GPA, mem);
    await ok({ op: "store", addr: mem, data: Uint8Array.of(0xf4) }); // hlt
    expect(await call({ op: "guest", vcpu, access: "fetch", gpa: LOW_GPA })).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" } });
    await ok({ op: "store", addr: mem, data: Uint8Array.of(0xeb, 0xfe) }); // jmp $
    expect(await call({ op: "guest", vcpu, access: "fetch", gpa: LOW_GPA })).to.deep.equal({ ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } });
    expect((await call({ op: "guest", vcpu, access: "read", gpa: LOW_GPA, len: 1n })).out?.data).to.deep.equal(Uint8Array.of(0xeb));
  });

  it("releases everything on reset: no fd stays open in the driver process", async function () {
    skipWithout(this, driver, "guest-run");
    // The guest_memfd and its mapping only where the host has guest_memfd with MMAP.
    const withGmem = ["guest-memfd", "gmem-flag:mmap", "gmem-flag:init-shared"].every((f) => driver.handshake.features.includes(f));
    const openFds = async () => {
      const open: number[] = [];
      for (let fd = 0n; fd < 96n; fd++) if ((await call({ op: "fdinfo", fd })).ret === 0n) open.push(Number(fd));
      return open;
    };
    await driver.reset();
    const before = await openFds();
    const { vm, vcpu } = await vmAndVcpu();
    if (withGmem) {
      const g = await gmem(vm, MMAP | INIT_SHARED);
      await ok({ op: "mmap", addr: 0n, len: PAGE, prot: PROT_RW, flags: MAP_SHARED, fd: g, offset: 0n });
    }
    await ok({ op: "memfd_create", name: "privmem-cts", flags: 0n });
    await ok({ op: "dup", fd: vm });
    const mem = await anonPage();
    await ok({ op: "store", addr: mem, data: pattern(1) });
    await slot(vm, 1n, LOW_GPA, mem);
    expect((await call({ op: "guest", vcpu, access: "read", gpa: LOW_GPA, len: 1n })).out?.data).to.deep.equal(pattern(1));
    expect((await openFds()).length).to.be.greaterThan(before.length);
    const { released } = await driver.reset();
    // kvm, vm, vcpu, memfd, dup (+ guest_memfd); the anonymous page (+ the guest_memfd mapping)
    expect(released).to.deep.equal(withGmem ? { fds: 6, mappings: 2, processes: 0 } : { fds: 5, mappings: 1, processes: 0 });
    expect(await openFds()).to.deep.equal(before);
  });

  it("refuses what could harm the host or the driver, with the reason", async () => {
    expect((await rejection(call({ op: "open", path: "/etc/hostname", flags: named("O_RDWR") }))).kind).to.equal("unsupported");
    expect((await rejection(call({ op: "close", fd: 1n }))).message).to.match(/belongs to the driver/);
    expect((await rejection(call({ op: "fork" }))).kind).to.equal("unsupported");
    expect((await rejection(call({ op: "fstat", fd: 0n, process: 1n }))).kind).to.equal("unsupported");
    const mem = await anonPage();
    expect((await rejection(call({ op: "madvise", addr: mem, len: PAGE, advice: named("MADV_HWPOISON") }))).message).to.match(/HWPOISON/);
    expect((await rejection(call({ op: "mmap", addr: 0n, len: 1n << 30n, prot: PROT_RW, flags: MAP_ANON_PRIVATE | named("MAP_POPULATE"), fd: -1n, offset: 0n }))).message).to.match(/populate/);
    const memfd = await ok({ op: "memfd_create", name: "budget", flags: 0n });
    expect(await call({ op: "fallocate", fd: memfd, mode: 0n, offset: 0n, len: PAGE })).to.deep.equal({ ret: 0n });
    expect((await rejection(call({ op: "fallocate", fd: memfd, mode: 0n, offset: 0n, len: 1n << 40n }))).kind).to.equal("unsupported");
  });

  it("surfaces a crash of its process as DriverFailure crash", async () => {
    const victim = (await openLinux()) as ChildProcessDriver;
    await victim.call({ op: "fdinfo", fd: 0n });
    process.kill(victim.pid!, "SIGKILL");
    expect((await rejection(victim.call({ op: "fdinfo", fd: 0n }))).kind).to.equal("crash");
    expect((await rejection(victim.reset())).kind).to.equal("crash");
  });
});
