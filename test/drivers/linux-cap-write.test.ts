// Issue 15, security: the linux driver lets a case enable only the capabilities the
// suites use (with their arguments checked), and charges write, pwrite and
// pwrite_user against the populate budget like every other path that makes the
// kernel allocate. Each attack is refused; its control reaches the kernel.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { DriverFailure, type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { rejection } from "./refusal.js";
import { constantsOf } from "./constants.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { LinuxDriver } from "../../harness/drivers/linux/driver.js";
import { checkEnableCap, ENABLE_CAP_ALLOWLIST } from "../../harness/drivers/linux/enable-cap.js";
import { DEFAULT_LIMITS, Session } from "../../harness/drivers/linux/session.js";

const spec = loadSpec();
const P = "linux-6.18" as const;
const c = constantsOf(spec, P);
const PAGE = 4096n;
/** Capabilities no suite enables (include/uapi/linux/kvm.h; not in spec/constants.json because no clause is about them). */
const HOSTILE_CAPS: Record<string, bigint> = { KVM_CAP_X86_DISABLE_EXITS: 143n, KVM_CAP_HALT_POLL: 182n, KVM_CAP_DIRTY_LOG_RING: 192n, KVM_CAP_VM_COPY_ENC_CONTEXT_FROM: 197n };
const cap = (fields: Record<string, unknown>) => spec.codec.decode("kvm_enable_cap", spec.codec.encode("kvm_enable_cap", fields as never));

describe("linux driver: KVM_ENABLE_CAP and write budgets (pure parts)", () => {
  it("lets through only KVM_CAP_EXIT_HYPERCALL and KVM_CAP_SPLIT_IRQCHIP; flags and args[0] reach the kernel, which checks them first", () => {
    expect(ENABLE_CAP_ALLOWLIST).to.deep.equal(["KVM_CAP_EXIT_HYPERCALL", "KVM_CAP_SPLIT_IRQCHIP"]);
    expect(() => checkEnableCap(spec, P, cap({ cap: c("KVM_CAP_EXIT_HYPERCALL"), args: [1n << 12n] }))).not.to.throw();
    expect(() => checkEnableCap(spec, P, cap({ cap: c("KVM_CAP_EXIT_HYPERCALL"), flags: 1n, args: [(1n << 64n) - 1n] })), "EINVAL is the kernel's answer").not.to.throw();
    expect(() => checkEnableCap(spec, P, cap({ cap: c("KVM_CAP_SPLIT_IRQCHIP"), args: [24n] }))).not.to.throw();
    expect(() => checkEnableCap(spec, P, cap({ cap: c("KVM_CAP_SPLIT_IRQCHIP"), args: [100000n] })), "EINVAL is the kernel's answer").not.to.throw();
  });

  it("refuses any other capability, and args[1..3] or pad that are not zero, as protocol errors", () => {
    for (const [name, v] of Object.entries(HOSTILE_CAPS)) {
      expect(() => checkEnableCap(spec, P, cap({ cap: v, args: [1n] })), name).to.throw(DriverFailure, /is not one the linux driver enables \(only KVM_CAP_EXIT_HYPERCALL, KVM_CAP_SPLIT_IRQCHIP/);
    }
    expect(() => checkEnableCap(spec, P, cap({ cap: 0xffffffffn }))).to.throw(DriverFailure, /capability 4294967295/);
    expect(() => checkEnableCap(spec, P, cap({ cap: c("KVM_CAP_SPLIT_IRQCHIP"), args: [24n, 0n, 7n] }))).to.throw(DriverFailure, /args\[2\] = 7, but the kernel reads only args\[0\]/);
    const padded = cap({ cap: c("KVM_CAP_EXIT_HYPERCALL") });
    (padded.pad as bigint[])[5] = 1n;
    expect(() => checkEnableCap(spec, P, padded)).to.throw(DriverFailure, /pad is not zero/);
  });

  it("charges the pages a write spans against the populate budget", () => {
    const s = new Session({ ...DEFAULT_LIMITS, populateBytes: 4n * PAGE }, PAGE);
    s.chargeWrite(-1n, 2n, PAGE - 1n, "pwrite"); // two bytes across a page boundary: two pages
    s.chargeWrite(-1n, PAGE, 8n * PAGE, "pwrite");
    expect(() => s.chargeWrite(-1n, 2n, PAGE - 1n, "pwrite")).to.throw(DriverFailure, /pwrite: would populate 8192 bytes.*at most 16384 bytes \(12288 used\)/);
    s.chargeWrite(-1n, 1n << 40n, -1n, "pwrite"); // a negative offset: the kernel refuses before writing
    s.chargeWrite(-1n, 0n, 0n, "write");
    s.release();
    s.chargeWrite(-1n, 4n * PAGE, 0n, "write");
  });

  it("charges loads and stores against their own budget over the whole session", () => {
    const s = new Session({ ...DEFAULT_LIMITS, accessBytes: 100 }, PAGE);
    s.chargeAccess(60, "store");
    expect(() => s.chargeAccess(41, "load")).to.throw(DriverFailure, /load: the linux driver lets a case load and store at most 100 bytes \(60 used\)/);
    s.chargeAccess(40, "load");
    expect(DEFAULT_LIMITS.accessBytes).to.equal(64 << 20);
  });
});

describe("linux driver: KVM_ENABLE_CAP and write budgets against /dev/kvm", function () {
  this.timeout(60000);
  const unavailable = kvmUnavailableReason();
  before(function () {
    if (unavailable !== undefined) {
      console.log(`      SKIP linux driver: ${unavailable}`);
      this.skip();
    }
  });

  it("KVM_ENABLE_CAP of another capability never reaches the kernel; the allowed ones do, with the kernel's own refusals", async () => {
    const driver = await openLinux({ guestTimeoutMs: 500 });
    try {
      const call = (op: Op): Promise<OpResult> => driver.call(op);
      const kvm = (await call({ op: "open", path: "/dev/kvm", flags: c("O_RDWR") })).ret;
      const vm = (await call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
      const enable = (fields: Record<string, unknown>) => call({ op: "ioctl", fd: vm, request: "KVM_ENABLE_CAP", arg: fields as never });
      const attack = await rejection(enable({ cap: HOSTILE_CAPS.KVM_CAP_X86_DISABLE_EXITS, flags: 0n, args: [15n] }));
      expect([attack.kind, attack.message]).to.deep.equal(["protocol", `KVM_ENABLE_CAP: capability ${HOSTILE_CAPS.KVM_CAP_X86_DISABLE_EXITS} is not one the linux driver enables (only KVM_CAP_EXIT_HYPERCALL, KVM_CAP_SPLIT_IRQCHIP in profile ${driver.handshake.profile}); other capabilities could change the host beyond the case`]);
      expect((await rejection(enable({ cap: c("KVM_CAP_EXIT_HYPERCALL"), flags: 0n, args: [0n, 1n] }))).message).to.match(/args\[1\] = 1/);
      expect((await enable({ cap: c("KVM_CAP_EXIT_HYPERCALL"), flags: 0n, args: [1n << c("KVM_HC_MAP_GPA_RANGE")] })).ret, "control").to.equal(0n);
      expect((await enable({ cap: c("KVM_CAP_EXIT_HYPERCALL"), flags: 1n, args: [0n] })).errno, "flags: the kernel refuses").to.equal("EINVAL");
      expect((await enable({ cap: c("KVM_CAP_SPLIT_IRQCHIP"), flags: 0n, args: [24n] })).ret, "control").to.equal(0n);
      expect((await enable({ cap: c("KVM_CAP_SPLIT_IRQCHIP"), flags: 0n, args: [24n] })).errno, "again: the kernel's EEXIST").to.equal("EEXIST");
    } finally {
      await driver.close();
    }
  });

  it("write, pwrite and pwrite_user stop at the populate budget; the session's writes below it reach the kernel", async () => {
    const driver: Driver = LinuxDriver.open({ limits: { populateBytes: 4n * PAGE } });
    try {
      const call = (op: Op): Promise<OpResult> => driver.call(op);
      const fd = (await call({ op: "memfd_create", name: "budget", flags: c("MFD_CLOEXEC") })).ret;
      const page = new Uint8Array(Number(PAGE)).fill(0x5a);
      expect((await call({ op: "write", fd, data: page })).ret, "control: one page").to.equal(PAGE);
      expect((await call({ op: "pwrite", fd, data: page, offset: 16n * PAGE })).ret, "control: a page far away").to.equal(PAGE);
      expect((await rejection(call({ op: "pwrite", fd, data: new Uint8Array(Number(PAGE) + 2), offset: 64n * PAGE - 1n }))).message).to.match(/pwrite: would populate 12288 bytes; the linux driver lets a case populate at most 16384 bytes \(8192 used\)/);
      const buf = (await call({ op: "mmap", addr: 0n, len: 3n * PAGE, prot: c("PROT_READ") | c("PROT_WRITE"), flags: c("MAP_PRIVATE") | c("MAP_ANONYMOUS"), fd: -1n, offset: 0n })).ret;
      expect((await rejection(call({ op: "pwrite_user", fd, addr: buf, len: 2n * PAGE + 1n, offset: 0n }))).message).to.match(/pwrite_user: would populate 12288 bytes/);
      expect((await call({ op: "pwrite_user", fd, addr: buf, len: PAGE, offset: 32n * PAGE })).ret, "control: within the budget").to.equal(PAGE);
      expect((await rejection(call({ op: "write", fd, data: new Uint8Array(2 * Number(PAGE)) }))).message, "past the budget").to.match(/write: would populate 8192 bytes.*\(12288 used\)/);
      expect((await call({ op: "fstat", fd })).out?.size, "the refused writes wrote nothing").to.equal(33n * PAGE);
      await driver.reset();
      const again = (await call({ op: "memfd_create", name: "budget", flags: c("MFD_CLOEXEC") })).ret;
      expect((await call({ op: "pwrite", fd: again, data: page, offset: 0n })).ret, "a new session has the whole budget").to.equal(PAGE);
    } finally {
      await driver.close();
    }
  });
});
