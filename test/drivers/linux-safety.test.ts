// What the linux driver refuses or bounds so that no case can corrupt the driver
// or endanger the host, and the paths that must still reach the kernel. The unit
// parts need no KVM; the rest runs the driver's child process against /dev/kvm
// and is skipped, with the reason printed, where /dev/kvm cannot be used.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { loadSpec } from "../../spec/index.js";
import { DriverFailure, type Op, type OpResult } from "../../spec/driver/contract.js";
import { rejection } from "./refusal.js";
import { constantsOf } from "./constants.js";
import type { ChildProcessDriver } from "../../harness/protocol/child.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { argumentBuffer, memslotRefusedEarly } from "../../harness/drivers/linux/ioctl.js";
import { checkAccess, currentVmas, MappingTable, parseMaps, protectionKeyOf, SIGBUS, SIGSEGV, type Populator, type Vma } from "../../harness/drivers/linux/memory.js";
import { pointerRanges, unknownLength } from "../../harness/drivers/linux/pointers.js";
import { DEFAULT_LIMITS, kernelFd, OPEN_ALLOWLIST, Session } from "../../harness/drivers/linux/session.js";
import { CODE_REGION_NAME } from "../../harness/drivers/linux/vcpu.js";

const spec = loadSpec();
const P = "linux-6.18" as const;
const c = constantsOf(spec, P);
const PAGE = 4096n;
const PROT_RW = c("PROT_READ") | c("PROT_WRITE");
const MAP_ANON = c("MAP_PRIVATE") | c("MAP_ANONYMOUS");

describe("linux driver safety: pure parts", () => {
  it("sizes a kvm_cpuid2 argument for its entries, at most KVM_MAX_CPUID_ENTRIES (U1)", () => {
    const header = spec.codec.get("kvm_cpuid2").size;
    const entry = spec.codec.get("kvm_cpuid_entry2").size;
    for (const name of ["KVM_GET_SUPPORTED_CPUID", "KVM_SET_CPUID2"]) {
      const def = spec.ioctl(name, P)!;
      expect(argumentBuffer(spec, def, { nent: 2n }).length, `${name} nent 2`).to.equal(header + 2 * entry);
      expect(argumentBuffer(spec, def, { nent: 0n }).length, `${name} nent 0`).to.equal(header);
      expect(argumentBuffer(spec, def, { nent: 0xffffffffn }).length, `${name} nent 2^32-1`).to.equal(header + Number(c("KVM_MAX_CPUID_ENTRIES")) * entry);
    }
    expect(argumentBuffer(spec, spec.ioctl("KVM_CREATE_GUEST_MEMFD", P)!, { size: PAGE }).length).to.equal(spec.codec.get("kvm_create_guest_memfd").size);
  });

  it("normalises fds to the int the kernel sees (U2)", () => {
    expect(kernelFd((1n << 32n) + 1n)).to.equal(1n);
    expect(kernelFd(1n << 32n)).to.equal(0n);
    expect(kernelFd(0x80000000n)).to.equal(-0x80000000n);
    expect(kernelFd((1n << 64n) - 1n)).to.equal(-1n);
    expect(kernelFd(-1n)).to.equal(-1n);
  });

  it("opens only the allowlisted paths (U3)", () => {
    expect(OPEN_ALLOWLIST).to.deep.equal(["/dev/kvm", "/dev/null", "/dev/zero", "/dev/sev"]);
    for (const p of OPEN_ALLOWLIST) expect(() => Session.checkOpen(p)).not.to.throw();
    for (const p of ["/etc/hostname", "/proc/kmsg", "/dev/watchdog", "/dev/kvm/", "/dev/../dev/kvm", "/tmp/fifo"]) expect(() => Session.checkOpen(p), p).to.throw(DriverFailure, /\/dev\/kvm, \/dev\/null, \/dev\/zero, \/dev\/sev/);
  });

  it("charges memslot pages and changes, and attribute bytes, over the whole session (U4, U5)", () => {
    const s = new Session({ ...DEFAULT_LIMITS, slotPages: 10n, slotChanges: 3, attributeBytes: 8n * PAGE }, PAGE);
    s.chargeSlot(4n, "a");
    s.chargeSlot(6n, "b");
    expect(() => s.chargeSlot(1n, "c")).to.throw(DriverFailure, /at most 10 memslot pages/);
    s.release();
    s.chargeSlot(1n, "a");
    s.chargeSlot(1n, "b");
    s.chargeSlot(1n, "c");
    expect(() => s.chargeSlot(1n, "d")).to.throw(DriverFailure, /at most 3 memslots/);
    s.chargeAttributes(5n * PAGE, "x");
    expect(() => s.chargeAttributes(4n * PAGE, "y")).to.throw(DriverFailure, /at most 32768 bytes in all/);
    s.chargeAttributes(3n * PAGE, "z");
    expect(DEFAULT_LIMITS.slotPages >= 512n, "the suites need 512 pages in one case").to.equal(true);
  });

  it("knows which memslot requests the kernel refuses before allocating (U4)", () => {
    const slot = (fields: Record<string, bigint>) => spec.codec.decode("kvm_userspace_memory_region2", spec.codec.encode("kvm_userspace_memory_region2", { slot: 1, guest_phys_addr: 0x100000n, memory_size: PAGE, userspace_addr: 0x7f0000000000n, ...fields }));
    expect(memslotRefusedEarly(slot({}), 4096)).to.equal(undefined);
    expect(memslotRefusedEarly(slot({ memory_size: 0n }), 4096)).to.match(/deletes/);
    expect(memslotRefusedEarly(slot({ memory_size: PAGE + 1n }), 4096)).to.match(/memory_size/);
    expect(memslotRefusedEarly(slot({ memory_size: (c("KVM_MEM_MAX_NR_PAGES") + 1n) * PAGE }), 4096)).to.match(/KVM_MEM_MAX_NR_PAGES/);
    expect(memslotRefusedEarly(slot({ memory_size: c("KVM_MEM_MAX_NR_PAGES") * PAGE }), 4096)).to.equal(undefined);
    expect(memslotRefusedEarly(slot({ guest_phys_addr: (1n << 64n) - PAGE, memory_size: 2n * PAGE }), 4096)).to.match(/wraps/);
    expect(memslotRefusedEarly(slot({ userspace_addr: 0x7f0000000001n }), 4096)).to.match(/userspace_addr/);
  });

  it("finds the user addresses inside struct arguments from the layouts' pointer markers (U6)", () => {
    const page = 4096;
    const sev = (id: bigint, data: bigint) => pointerRanges(spec, P, "kvm_sev_cmd", spec.codec.decode("kvm_sev_cmd", spec.codec.encode("kvm_sev_cmd", { id, data_u64: data })), page);
    expect(sev(c("KVM_SEV_INIT2"), 0x1000n)).to.deep.equal([{ path: "kvm_sev_cmd.data_u64 (KVM_SEV_INIT2)", addr: 0x1000n, len: BigInt(spec.codec.get("kvm_sev_init").size), payload: "kvm_sev_init" }]);
    const unknown = sev(3n, 0x1000n);
    expect(unknown).to.have.length(1);
    expect(unknown[0]!.len, "a command of unknown layout: at least a page").to.equal(unknownLength(spec, page));
    expect(unknownLength(spec, page) >= PAGE).to.equal(true);
    const tdx = (id: bigint) => pointerRanges(spec, P, "kvm_tdx_cmd", spec.codec.decode("kvm_tdx_cmd", spec.codec.encode("kvm_tdx_cmd", { id, data_u64: 0x5000n })), page);
    expect(tdx(c("KVM_TDX_INIT_VCPU")), "INIT_VCPU's data is a value").to.deep.equal([]);
    expect(tdx(c("KVM_TDX_INIT_MEM_REGION"))[0]?.payload).to.equal("kvm_tdx_init_mem_region");
    const region = pointerRanges(spec, P, "kvm_tdx_init_mem_region", { source_addr: 0x9000n, gpa: 0n, nr_pages: 3n }, page);
    expect(region).to.deep.equal([{ path: "kvm_tdx_init_mem_region.source_addr", addr: 0x9000n, len: 3n * PAGE }]);
    const slot = pointerRanges(spec, P, "kvm_userspace_memory_region2", spec.codec.decode("kvm_userspace_memory_region2", spec.codec.encode("kvm_userspace_memory_region2", { memory_size: 8192, userspace_addr: 0x10000 })), page);
    expect(slot).to.deep.equal([{ path: "kvm_userspace_memory_region2.userspace_addr", addr: 0x10000n, len: 8192n }]);
  });

  describe("load and store reach only the case's own mappings (U12)", () => {
    const rw = { read: true, write: true, exec: false, shared: false };
    it("tracks mmap, partial munmap and mprotect as the kernel splits VMAs", () => {
      const t = new MappingTable();
      t.add(0x10000n, 0x14000n, rw);
      t.remove(0x11000n, 0x12000n);
      t.protect(0x12000n, 0x13000n, { read: true, write: false, exec: false });
      expect(t.list.map((v) => [v.start, v.end, v.write])).to.deep.equal([
        [0x10000n, 0x11000n, true],
        [0x12000n, 0x13000n, false],
        [0x13000n, 0x14000n, true],
      ]);
      expect(t.uncovered(0x10000n, 0x15000n)).to.deep.equal([
        { start: 0x11000n, end: 0x12000n },
        { start: 0x14000n, end: 0x15000n },
      ]);
      expect(t.within(0x10800n, 0x12800n).map((v) => [v.start, v.end])).to.deep.equal([
        [0x10800n, 0x11000n],
        [0x12000n, 0x12800n],
      ]);
      t.add(0x10000n, 0x14000n, { ...rw, write: false });
      expect(t.list).to.have.length(1);
      t.resync([{ start: 0x13000n, end: 0x20000n, read: true, write: true, exec: false, shared: false, path: "" }]);
      expect(t.list.map((v) => [v.start, v.end, v.write]), "only what the kernel still maps, with its permissions").to.deep.equal([[0x13000n, 0x14000n, true]]);
    });

    it("refuses this process's heap, stack and environment; unmapped memory is SIGSEGV without a refusal", () => {
      const s = new Session(DEFAULT_LIMITS, PAGE);
      const vmas = currentVmas();
      for (const path of ["[heap]", "[stack]"]) {
        const v = vmas.find((x) => x.path === path);
        if (!v) continue;
        for (const [what, write] of [["load", false], ["store", true]] as const)
          expect(() => checkAccess(v.start, 8, write, 4096, s.accessVmas(v.start, 8, what)), `${what} ${path}`).to.throw(DriverFailure, /driver itself uses/);
      }
      // the end of the stack holds argv and the environment
      const stack = vmas.find((x) => x.path === "[stack]")!;
      expect(() => s.accessVmas(stack.end - 16n, 8, "load")).to.throw(DriverFailure, /driver itself uses/);
      let hole = 0x10000n;
      for (const v of vmas) if (v.start < hole + PAGE && v.end > hole) hole = v.end;
      expect(checkAccess(hole, 8, false, 4096, s.accessVmas(hole, 8, "load"))).to.deep.equal({ ok: false, signal: SIGSEGV });
      expect(checkAccess((1n << 64n) - 4n, 8, false, 4096, s.accessVmas((1n << 64n) - 4n, 8, "load")), "past the end of the address space").to.deep.equal({ ok: false, signal: SIGSEGV });
    });

    it("predicts from the table without reading /proc/self/maps when the access is inside the case's mappings", () => {
      const s = new Session(DEFAULT_LIMITS, PAGE);
      // a fake address range that is the driver's own memory in this process: the table alone decides
      const stack = currentVmas().find((x) => x.path === "[stack]")!;
      s.addMapping(stack.start, PAGE, c("PROT_READ"));
      expect(s.accessVmas(stack.start, 8, "store")).to.deep.equal([{ start: stack.start, end: stack.start + PAGE, read: true, write: false, exec: false, shared: false, path: "" }]);
      expect(checkAccess(stack.start, 8, true, 4096, s.accessVmas(stack.start, 8, "store")), "read-only in the table").to.deep.equal({ ok: false, signal: SIGSEGV });
      expect(() => s.accessVmas(stack.start + PAGE - 4n, 8, "load"), "running off the case's mapping into memory of the driver's").to.throw(DriverFailure, /driver itself uses/);
    });
  });

  describe("loads from memory the CPU can read without PROT_READ (U11)", () => {
    const vma = (start: bigint, end: bigint, perms: string): Vma => ({ start, end, read: perms[0] === "r", write: perms[1] === "w", exec: perms[2] === "x", shared: perms[3] === "s", path: "" });
    const fake = (over: Partial<Populator> = {}) => {
      const calls: string[] = [];
      const p: Populator = {
        madvise: (addr, len, advice) => (calls.push(`madvise ${addr.toString(16)}+${len} ${advice === c("MADV_POPULATE_WRITE") ? "WRITE" : "READ"}`), { ret: 0n, errno: 0 }),
        forceRead: (addr, len) => (calls.push(`forceRead ${addr.toString(16)}+${len}`), len),
        protectionKey: () => 0,
        ...over,
      };
      return { p, calls };
    };

    it("populates a write-only VMA for writing, a readable one for reading, an exec-only one through /proc/self/mem", () => {
      const vmas = [vma(0x10000n, 0x11000n, "-w-p"), vma(0x11000n, 0x12000n, "r--p"), vma(0x12000n, 0x13000n, "--xp")];
      const { p, calls } = fake();
      expect(checkAccess(0x10ff0n, 0x1020, false, 4096, vmas, p)).to.deep.equal({ ok: true });
      expect(calls).to.deep.equal(["madvise 10000+4096 WRITE", "madvise 11000+4096 READ", "forceRead 12000+4096"]);
    });

    it("reports SIGBUS where the exec-only page cannot be read, SIGSEGV where a protection key denies it", () => {
      const vmas = [vma(0x12000n, 0x14000n, "--xp")];
      expect(checkAccess(0x12000n, 8, false, 4096, vmas, fake({ forceRead: () => 0 }).p)).to.deep.equal({ ok: false, signal: SIGBUS });
      expect(checkAccess(0x12000n, 8, false, 4096, vmas, fake({ protectionKey: () => 1 }).p)).to.deep.equal({ ok: false, signal: SIGSEGV });
      expect(checkAccess(0x12000n, 8, true, 4096, vmas, fake().p), "no write to exec-only memory").to.deep.equal({ ok: false, signal: SIGSEGV });
    });

    it("decides the signal in address order: a SIGBUS before a hole wins", () => {
      const vmas = [vma(0x10000n, 0x11000n, "rw-p")];
      const efault = fake({ madvise: () => ({ ret: -1n, errno: spec.errnoNumber("EFAULT")! }) }).p;
      expect(checkAccess(0x10ff0n, 0x20, false, 4096, vmas, efault)).to.deep.equal({ ok: false, signal: SIGBUS });
    });

    it("reads ProtectionKey from smaps", () => {
      const smaps = "10000-11000 --xp 00000000 00:00 0\nSize: 4 kB\nProtectionKey:         1\n12000-13000 r--p 00000000 00:00 0\nProtectionKey:         0\n";
      expect(protectionKeyOf(0x10000n, smaps)).to.equal(1);
      expect(protectionKeyOf(0x12000n, smaps)).to.equal(0);
      expect(protectionKeyOf(0x20000n, smaps)).to.equal(0);
      expect(parseMaps(smaps)).to.have.length(2);
    });
  });
});

describe("linux driver safety against /dev/kvm", function () {
  this.timeout(60000);
  const unavailable = kvmUnavailableReason();
  let driver: ChildProcessDriver;
  const call = (op: Op): Promise<OpResult> => driver.call(op);
  const ok = async (op: Op): Promise<bigint> => {
    const r = await call(op);
    expect(r.errno, `${op.op} ${"request" in op ? op.request : ""}`).to.equal(undefined);
    expect(r.signal, `${op.op}`).to.equal(undefined);
    return r.ret;
  };
  const maps = (): Vma[] => parseMaps(readFileSync(`/proc/${driver.pid}/maps`, "utf8"));
  /** An address of the driver's own memory: its heap, or else its executable. */
  const driverMemory = (): bigint => {
    const m = maps();
    return (m.find((v) => v.path === "[heap]" && v.write) ?? m.find((v) => v.write && v.path.includes("node"))!).start;
  };
  const vmAndVcpu = async () => {
    const kvm = await ok({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") });
    const vm = await ok({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n });
    const vcpu = await ok({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n });
    return { kvm, vm, vcpu };
  };
  const anon = (pages = 1n, prot = PROT_RW) => ok({ op: "mmap", addr: 0n, len: pages * PAGE, prot, flags: MAP_ANON, fd: -1n, offset: 0n });
  const slot = (vm: bigint, n: bigint, gpa: bigint, size: bigint, uaddr: bigint) => call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: n, guest_phys_addr: gpa, memory_size: size, userspace_addr: uaddr } });

  before(async function () {
    if (unavailable !== undefined) {
      console.log(`      SKIP linux driver: ${unavailable}`);
      this.skip();
    }
    driver = (await openLinux({ guestTimeoutMs: 500 })) as ChildProcessDriver;
  });
  afterEach(async () => {
    if (driver) await driver.reset();
  });
  after(async () => {
    if (driver) await driver.close();
  });

  it("U1: KVM_GET_SUPPORTED_CPUID and KVM_SET_CPUID2 through ioctl get room for their entries", async () => {
    const got = await call({ op: "ioctl", fd: await ok({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") }), request: "KVM_GET_SUPPORTED_CPUID", arg: { nent: 1000n } });
    expect(got.ret).to.equal(0n);
    const nent = (got.out as { nent: bigint }).nent;
    expect(nent > 1n && nent <= c("KVM_MAX_CPUID_ENTRIES"), `nent ${nent}`).to.equal(true);
    const { vcpu } = await vmAndVcpu();
    expect((await call({ op: "ioctl", fd: vcpu, request: "KVM_SET_CPUID2", arg: { nent: c("KVM_MAX_CPUID_ENTRIES") + 1n } })).errno).to.equal("E2BIG");
    expect((await call({ op: "ioctl", fd: vcpu, request: "KVM_SET_CPUID2", arg: { nent: 1n } })).ret, "one zeroed entry").to.equal(0n);
    // an integer is never a pointer (CONTRACT.md, as in the reference): refused, even one into the case's memory
    const three = await anon(3n);
    const kvm2 = await ok({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") });
    const refused = await rejection(call({ op: "ioctl", fd: kvm2, request: "KVM_GET_SUPPORTED_CPUID", arg: three }));
    expect([refused.kind, refused.message]).to.deep.equal(["protocol", `KVM_GET_SUPPORTED_CPUID takes a struct kvm_cpuid2 as a field map, not an integer (an integer is never a pointer; pointer: "invalid" passes one the kernel cannot read)`]);
    expect((await call({ op: "fdinfo", fd: 0n })).ret, "the driver still answers").to.equal(0n);
  });

  it("U2: an fd above 2^31 is the fd the kernel sees", async () => {
    expect((await rejection(call({ op: "write", fd: (1n << 32n) + 1n, data: Uint8Array.of(0x7b, 0x0a) }))).message).to.match(/belongs to the driver/);
    expect((await rejection(call({ op: "close", fd: 1n << 32n }))).message).to.match(/belongs to the driver/);
    expect((await rejection(call({ op: "ioctl", fd: (1n << 33n) + 1n, request: "KVM_CREATE_VM", arg: 0n }))).message).to.match(/belongs to the driver/);
    const { vm } = await vmAndVcpu();
    const cap = { op: "ioctl", request: "KVM_CHECK_EXTENSION", arg: c("KVM_CAP_USER_MEMORY") } as const;
    expect((await call({ ...cap, fd: vm + (1n << 32n) })).ret).to.equal((await call({ ...cap, fd: vm })).ret);
    expect((await call({ op: "close", fd: 0x80000000n })).errno, "a negative int").to.equal("EBADF");
  });

  it("U3: opens only /dev/kvm, /dev/null, /dev/zero, /dev/sev", async () => {
    // /proc/self/mem and /proc/self/fd/N are the exceptions, under their own checks (linux-proc-mem, linux-pipes tests)
    for (const path of ["/etc/hostname", "/proc/kmsg", "/proc/self/environ", "/proc/1/mem"]) expect((await rejection(call({ op: "open", path, flags: c("O_RDONLY") }))).message, path).to.match(/opens only \/dev\/kvm, \/dev\/null, \/dev\/zero, \/dev\/sev/);
    const zero = await ok({ op: "open", path: "/dev/zero", flags: c("O_RDONLY") });
    expect((await call({ op: "read", fd: zero, len: 2n })).out?.data).to.deep.equal(new Uint8Array(2));
  });

  it("U4: memslot pages are charged against a session budget; requests the kernel refuses first still reach it", async () => {
    const { vm } = await vmAndVcpu();
    const pages = DEFAULT_LIMITS.slotPages;
    const reserve = await ok({ op: "mmap", addr: 0n, len: pages * PAGE, prot: c("PROT_NONE"), flags: MAP_ANON | c("MAP_NORESERVE"), fd: -1n, offset: 0n });
    expect((await slot(vm, 1n, 0x100000000n, pages * PAGE, reserve)).ret, "the whole budget in one slot").to.equal(0n);
    expect((await rejection(slot(vm, 2n, 0x200000000n, PAGE, reserve))).message).to.match(/memslot pages/);
    expect((await slot(vm, 1n, 0n, 0n, 0n)).ret, "a deletion").to.equal(0n);
    expect((await slot(vm, 2n, 0x200000000n, PAGE + 1n, reserve)).errno, "an unaligned size").to.equal("EINVAL");
    expect((await slot(vm, 2n, 0x200000000n, (c("KVM_MEM_MAX_NR_PAGES") + 1n) * PAGE, reserve)).errno, "beyond KVM_MEM_MAX_NR_PAGES").to.equal("EINVAL");
    expect((await slot(vm, 2n, (1n << 64n) - PAGE, 2n * PAGE, reserve)).errno, "a wrapping range").to.equal("EINVAL");
    await driver.reset();
    const again = await vmAndVcpu();
    expect((await slot(again.vm, 1n, 0x100000n, PAGE, 0n)).ret, "a new session has the whole budget").to.equal(0n);
  });

  it("U5: the attribute cap counts every call of the session", async () => {
    const { vm } = await vmAndVcpu();
    const three = 3n << 30n;
    const first = await call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: 0n, size: three, attributes: 0n } });
    expect(first.ret === 0n || first.errno !== undefined, "the first call reaches the kernel").to.equal(true);
    expect((await rejection(call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: three, size: three, attributes: 0n } }))).message).to.match(/in all/);
    expect((await call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: three, size: three + 1n, attributes: 0n } })).ret, "unaligned: refused by the kernel first").to.equal(-1n);
  });

  it("U6: command payloads must not be the driver's memory; values are not pointers", async () => {
    const { vm, vcpu } = await vmAndVcpu();
    const heap = driverMemory();
    const op = (id: bigint, data: bigint, request = "KVM_MEMORY_ENCRYPT_OP"): Op => ({ op: "ioctl", fd: vm, request, arg: { id, data_u64: data } });
    expect((await rejection(call(op(c("KVM_SEV_INIT2"), heap)))).message).to.match(/data_u64 \(KVM_SEV_INIT2\).*driver itself uses/);
    expect((await rejection(call(op(3n, heap)))).message, "a command of unknown layout").to.match(/driver itself uses/);
    const page = await anon(1n);
    expect((await call(op(c("KVM_SEV_INIT2"), page))).ret, "the case's page reaches the kernel (no SEV here)").to.equal(-1n);
    expect((await call({ op: "ioctl", fd: vcpu, request: "KVM_MEMORY_ENCRYPT_OP_TDX", arg: { id: c("KVM_TDX_INIT_VCPU"), data_u64: heap } })).ret, "INIT_VCPU's data is a value").to.equal(-1n);
    // a payload in the case's page whose own pointer names the driver's memory
    const update = spec.codec.encode("kvm_sev_snp_launch_update", { gfn_start: 0n, uaddr: heap, len: PAGE, type: c("KVM_SEV_SNP_PAGE_TYPE_NORMAL") });
    await ok({ op: "store", addr: page, data: update });
    expect((await rejection(call(op(c("KVM_SEV_SNP_LAUNCH_UPDATE"), page)))).message).to.match(/kvm_sev_snp_launch_update\.uaddr/);
  });

  it("U6: a memslot struct is checked only as a field map; its host memory is checked before every run", async () => {
    const { vm, vcpu } = await vmAndVcpu();
    const page = await anon(1n);
    const struct = spec.codec.encode("kvm_userspace_memory_region2", { slot: 1, guest_phys_addr: 0x100000n, memory_size: PAGE, userspace_addr: driverMemory() });
    await ok({ op: "store", addr: page, data: struct });
    expect((await rejection(call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: page }))).message).to.match(/field map/);
    expect((await rejection(call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: 0n }))).kind, "an integer is not a pointer, NULL neither").to.equal("protocol");
    expect((await call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", pointer: "invalid" })).errno, "an unreadable pointer reaches the kernel").to.equal("EFAULT");
    // the kernel does not touch a slot's host memory while creating it; the guest would
    expect((await slot(vm, 1n, 0x100000n, PAGE, driverMemory())).ret).to.equal(0n);
    expect((await rejection(call({ op: "guest", vcpu, access: "read", gpa: 0x100000n }))).message).to.match(/memslot 1's host memory.*driver itself uses/);
    expect((await rejection(call({ op: "ioctl", fd: vcpu, request: "KVM_RUN" }))).message).to.match(/memslot 1/);
    expect((await slot(vm, 1n, 0n, 0n, 0n)).ret, "deleted").to.equal(0n);
    // unmapped host memory is nobody's: the guest runs (and the kernel fails cleanly)
    const hole = await anon(1n);
    await ok({ op: "munmap", addr: hole, len: PAGE });
    expect((await slot(vm, 2n, 0x100000n, PAGE, hole)).ret).to.equal(0n);
    expect((await call({ op: "guest", vcpu, access: "read", gpa: 0x100000n })).exit?.reason).to.be.a("string");
  });

  it("U7: the guest code region goes at reset even when the case closed every fd of its VM", async () => {
    const named = () => maps().filter((v) => v.path.includes(CODE_REGION_NAME) || v.path.includes("kvm-vcpu"));
    expect(named(), "nothing before the case").to.deep.equal([]);
    const { vm, vcpu } = await vmAndVcpu();
    const mem = await anon(1n);
    await ok({ op: "store", addr: mem, data: Uint8Array.of(0xa5) });
    expect((await slot(vm, 1n, 0x100000n, PAGE, mem)).ret).to.equal(0n);
    expect((await call({ op: "guest", vcpu, access: "read", gpa: 0x100000n })).out?.data).to.deep.equal(Uint8Array.of(0xa5));
    await ok({ op: "close", fd: vcpu });
    await ok({ op: "close", fd: vm });
    expect(named().map((v) => v.path).some((p) => p.includes(CODE_REGION_NAME)), "the region outlives the case's fds").to.equal(true);
    await driver.reset();
    expect(named(), "after reset").to.deep.equal([]);
  });

  it("U8: memfd_restricted only where the probe found it", async () => {
    const upm = await openLinux({ profile: "upm-v10" });
    try {
      expect(upm.handshake.features).not.to.include("restrictedmem");
      expect((await rejection(upm.call({ op: "memfd_restricted", flags: 0n }))).message).to.match(/probe found no restrictedmem/);
      expect((await upm.call({ op: "fdinfo", fd: 0n })).ret, "stdin is still open").to.equal(0n);
    } finally {
      await upm.close();
    }
  });

  it("U9: KVM_RUN with a non-zero argument reaches the kernel", async () => {
    const { vcpu } = await vmAndVcpu();
    expect(await call({ op: "ioctl", fd: vcpu, request: "KVM_RUN", arg: 1n })).to.deep.equal({ ret: -1n, errno: "EINVAL" });
  });

  it("U12: load and store of the driver's heap, stack and environment are refused; the case's own memory and unmapped memory are not", async () => {
    const m = maps();
    const heap = driverMemory();
    const stack = m.find((v) => v.path === "[stack]")!;
    for (const [where, addr] of [["heap", heap], ["stack", stack.start], ["environment (top of the stack)", stack.end - 64n]] as const) {
      expect((await rejection(call({ op: "load", addr, len: 8n }))).message, `load ${where}`).to.match(/^load: .*driver itself uses/);
      expect((await rejection(call({ op: "store", addr, data: Uint8Array.of(1) }))).message, `store ${where}`).to.match(/^store: .*driver itself uses/);
    }
    const page = await anon(2n);
    await ok({ op: "store", addr: page, data: Uint8Array.of(7) });
    expect((await call({ op: "load", addr: page, len: 1n })).out?.data).to.deep.equal(Uint8Array.of(7));
    await ok({ op: "mprotect", addr: page + PAGE, len: PAGE, prot: c("PROT_READ") });
    expect((await call({ op: "store", addr: page + PAGE - 1n, data: Uint8Array.of(1, 2) })).signal, "the second page is read-only now").to.equal("SIGSEGV");
    await ok({ op: "munmap", addr: page, len: PAGE });
    expect((await call({ op: "load", addr: page, len: 1n })).signal, "unmapped by the case").to.equal("SIGSEGV");
    expect((await call({ op: "load", addr: page + PAGE, len: 1n })).out?.data, "the other half is still the case's").to.deep.equal(Uint8Array.of(0));
  });

  it("U11: loads from PROT_WRITE-only and PROT_EXEC-only mappings", async () => {
    const wo = await anon(1n, c("PROT_WRITE"));
    await ok({ op: "store", addr: wo, data: Uint8Array.of(0xab, 0xcd) });
    expect((await call({ op: "load", addr: wo, len: 2n })).out?.data).to.deep.equal(Uint8Array.of(0xab, 0xcd));
    const memfd = await ok({ op: "memfd_create", name: "exec-only", flags: 0n });
    await ok({ op: "write", fd: memfd, data: Uint8Array.of(0xc3, 0xcc) });
    const xo = await ok({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: c("PROT_EXEC"), flags: c("MAP_SHARED"), fd: memfd, offset: 0n });
    expect((await call({ op: "load", addr: xo, len: 2n })).out?.data).to.deep.equal(Uint8Array.of(0xc3, 0xcc));
    expect(await call({ op: "load", addr: xo + PAGE, len: 1n }), "past the end of the file").to.deep.equal({ ret: -1n, signal: "SIGBUS" });
    const none = await anon(1n, c("PROT_NONE"));
    expect((await call({ op: "load", addr: none, len: 1n })).signal).to.equal("SIGSEGV");
  });
});
