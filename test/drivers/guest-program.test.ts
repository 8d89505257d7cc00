// guest_program and resume: the linux driver's code generator (no KVM needed), the
// wire form of a `records` parameter, and the refusals both drivers make the same
// way (the reference model here; the same refusals on /dev/kvm where it is usable).
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { DriverFailure, type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { DRIVER_GPA, SCRATCH_OFFSET, translate } from "../../harness/drivers/linux/guest-code.js";
import { MAX_STEPS, stepsOut, stepsProgram, type ProgramStep } from "../../harness/drivers/linux/guest-program.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { openReference } from "../../harness/drivers/reference.js";
import { opFromWire, opToWire } from "../../harness/protocol/wire.js";

const spec = loadSpec();
const named = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const write = (gpa: bigint, data: number[]): ProgramStep => ({ kind: "access", write: true, gpa, len: data.length, data: Uint8Array.from(data) });
const read = (gpa: bigint, len: number): ProgramStep => ({ kind: "access", write: false, gpa, len, data: new Uint8Array(len) });
const out = (port: number, data: number[]): ProgramStep => ({ kind: "pio", in: false, port, size: data.length, data: Uint8Array.from(data) });
const inp = (port: number, size: number): ProgramStep => ({ kind: "pio", in: true, port, size, data: new Uint8Array(size) });
const contains = (hay: Uint8Array, needle: number[]) => Buffer.from(hay).includes(Buffer.from(needle));

describe("linux driver: guest_program code", () => {
  it("maps every step's GPA, low, high and non-canonical, each through its own page", () => {
    const gpas = [0x10000000n, 0x7fff_ffff_f000n, 0x8000_0000_1008n, 0xf_0000_0000_2010n];
    const p = stepsProgram(gpas.map((g) => read(g, 8)));
    expect(p.mode).to.equal("long");
    // the non-canonical GPAs are reached through two different windows
    const linears = [0x10000000n, 0x7fff_ffff_f000n];
    for (const [i, l] of linears.entries()) expect(translate(p, l)).to.equal(gpas[i]);
    const windows = [0x0000_4000_0000_0000n + 2n * 0x2000n + 0x008n, 0x0000_4000_0000_0000n + 3n * 0x2000n + 0x010n];
    expect(translate(p, windows[0]!)).to.equal(gpas[2]);
    expect(translate(p, windows[1]!)).to.equal(gpas[3]);
  });

  it("encodes an OUT as mov rax, imm; mov edx, port; out dx, ax, and an IN's result into its scratch slot", () => {
    const p = stepsProgram([out(0x3f8, [0xef, 0xbe]), inp(0x60, 4)]);
    const code = p.image.subarray(0, 0x100);
    expect(contains(code, [0x48, 0xb8, 0xef, 0xbe, 0, 0, 0, 0, 0, 0, 0xba, 0xf8, 0x03, 0, 0, 0x66, 0xef])).to.equal(true);
    expect(contains(code, [0xba, 0x60, 0, 0, 0, 0xed, 0x89, 0x87, 0x48, 0, 0, 0])).to.equal(true);
    // progress after each step, then hlt; jmp back to the hlt
    expect(contains(code, [0xc6, 0x07, 0x01])).to.equal(true);
    expect(contains(code, [0xc6, 0x07, 0x02, 0xf4, 0xeb, 0xfd])).to.equal(true);
    expect(p.regs.rdi).to.equal(DRIVER_GPA + BigInt(SCRATCH_OFFSET));
    expect(p.steps).to.deep.equal({ count: 2, progressOffset: SCRATCH_OFFSET, reads: [{ step: 1, offset: SCRATCH_OFFSET + 0x48, len: 4 }] });
  });

  it("issues a hypercall with KVM's ABI (nr in rax, arguments in rbx, rcx, rdx, rsi) and keeps rax in the step's slot", () => {
    const p = stepsProgram([{ kind: "hypercall", nr: 12n, args: [0x10000000n, 1n, 0x10n] }], "amd");
    const code = p.image.subarray(0, 0x100);
    expect(contains(code, [0x48, 0xb8, 12, 0, 0, 0, 0, 0, 0, 0, 0x48, 0xbb, 0, 0, 0, 0x10, 0, 0, 0, 0, 0x48, 0xb9, 1, 0, 0, 0, 0, 0, 0, 0, 0x48, 0xba, 0x10])).to.equal(true);
    expect(contains(code, [0x0f, 0x01, 0xd9, 0x48, 0x89, 0x87, 0x40, 0, 0, 0])).to.equal(true);
    expect(contains(stepsProgram([{ kind: "hypercall", nr: 1n, args: [] }], "intel").image.subarray(0, 0x100), [0x0f, 0x01, 0xc1])).to.equal(true);
    expect(() => stepsProgram([{ kind: "hypercall", nr: 1n, args: [1n, 2n, 3n, 4n, 5n] }])).to.throw(RangeError, /at most 4/);
  });

  it("reports the steps completed, and the reads only once the program halted after its last step", () => {
    const p = stepsProgram([read(0x1000n, 2), write(0x2000n, [1]), inp(0x80, 1)]);
    const region = new Uint8Array(0x2000);
    region[SCRATCH_OFFSET] = 1;
    const view = (o: number, n: number) => region.subarray(o, o + n);
    expect(stepsOut(p.steps!, false, view)).to.deep.equal({ step: 1n });
    region[SCRATCH_OFFSET] = 3;
    region.set([0x34, 0x12], SCRATCH_OFFSET + 0x40);
    region[SCRATCH_OFFSET + 0x50] = 0x99;
    expect(stepsOut(p.steps!, true, view)).to.deep.equal({ step: 3n, data: Uint8Array.of(0x34, 0x12, 0x99) });
  });

  it("refuses what it cannot encode", () => {
    expect(() => stepsProgram([])).to.throw(RangeError, /1 to 8 steps/);
    expect(() => stepsProgram(Array.from({ length: MAX_STEPS + 1 }, () => inp(1, 1)))).to.throw(RangeError);
    expect(() => stepsProgram([read(0x1000n, 3)])).to.throw(RangeError, /1, 2, 4 or 8/);
    expect(() => stepsProgram([inp(0x10000, 1)])).to.throw(RangeError, /16-bit/);
    expect(() => stepsProgram([{ ...inp(1, 8) }])).to.throw(RangeError, /1, 2 or 4/);
  });
});

describe("guest_program on the wire", () => {
  it("round-trips steps and refuses unknown step fields", () => {
    const op: Op = { op: "guest_program", vcpu: 5n, steps: [{ access: "write", gpa: 1n << 63n, len: 8n, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }, { pio: "in", port: 0x60n, size: 1n }] };
    const wire = opToWire(op);
    expect(wire.steps).to.deep.equal([{ access: "write", gpa: "9223372036854775808", len: 8, data: "0102030405060708" }, { pio: "in", port: 96, size: 1 }]);
    expect(opFromWire(JSON.parse(JSON.stringify(wire)))).to.deep.equal(op);
    expect(() => opFromWire({ op: "guest_program", vcpu: 5, steps: [{ pio: "in", port: 1, bogus: 1 }] })).to.throw(DriverFailure, /unknown field bogus/);
    expect(() => opFromWire({ op: "guest_program", vcpu: 5, steps: {} })).to.throw(DriverFailure, /list of objects/);
  });
});

/** The refusals the contract states for guest_program and resume, on one driver. */
function refusals(open: () => Promise<Driver>, needsKvm: boolean) {
  return function (this: Mocha.Suite) {
    this.timeout(30000);
    let driver: Driver;
    const call = (op: Op): Promise<OpResult> => driver.call(op);
    const fails = async (op: Op, kind: string, pattern: RegExp) => {
      const err = await call(op).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(DriverFailure);
      expect((err as DriverFailure).kind).to.equal(kind);
      expect((err as DriverFailure).message).to.match(pattern);
    };
    before(async function () {
      if (needsKvm && kvmUnavailableReason() !== undefined) this.skip();
      driver = await open();
    });
    after(async () => {
      if (driver) await driver.close();
    });

    it("resumes only a guest_program, and takes data only for a pending read", async () => {
      const kvm = (await call({ op: "open", path: "/dev/kvm", flags: named("O_RDWR") })).ret;
      const vm = (await call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
      const vcpu = (await call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n })).ret;
      await fails({ op: "resume", vcpu }, "unsupported", /no guest_program loaded/);
      await fails({ op: "guest_program", vcpu, steps: [{ pio: "in", access: "read", port: 1n }] }, "protocol", /exactly one of access, pio and hypercall/);
      await fails({ op: "guest_program", vcpu, steps: [{ pio: "out", port: 1n, size: 2n, data: Uint8Array.of(1) }] }, "protocol", /2 bytes with 1 bytes/);
      const r = await call({ op: "guest_program", vcpu, steps: [{ pio: "out", port: 0x1234n, size: 1n, data: Uint8Array.of(7) }, { pio: "in", port: 0x1234n, size: 2n }] });
      expect(r.exit?.reason).to.equal("KVM_EXIT_IO");
      await fails({ op: "resume", vcpu, data: Uint8Array.of(1) }, "protocol", /none is pending/);
      expect((await call({ op: "resume", vcpu })).out).to.deep.equal({ step: 1n });
      await fails({ op: "resume", vcpu, data: Uint8Array.of(1) }, "protocol", /takes 2 bytes|2 bytes with 1 bytes/);
      const done = await call({ op: "resume", vcpu, data: Uint8Array.of(0x34, 0x12) });
      expect(done).to.deep.equal({ ret: 0n, exit: { reason: "KVM_EXIT_HLT" }, out: { step: 2n, data: Uint8Array.of(0x34, 0x12) } });
      // after the halt the program halts again; a `guest` program replaces it
      expect(await call({ op: "resume", vcpu })).to.deep.equal(done);
      await call({ op: "guest", vcpu, access: "read", gpa: 0x20000000n, len: 1n });
      await fails({ op: "resume", vcpu }, "unsupported", /no guest_program loaded/);
    });
  };
}

describe("guest_program refusals: reference", refusals(async () => openReference({ profile: "linux-6.18", host: "pvm" }), false));
describe("guest_program refusals: linux", refusals(() => openLinux({ guestTimeoutMs: 500 }), true));
