// Unit tests of the linux driver's pure parts: guest code generation, page
// tables, /proc/self/maps parsing, range bookkeeping, profile choice. No KVM needed.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import {
  accessProgram,
  checkLength,
  DRIVER_GPA,
  DRIVER_REGION_SIZE,
  FOUR_GIB,
  haltProgram,
  hypercallProgram,
  littleEndian,
  modeFor,
  toBytes,
  translate,
  type GuestProgram,
} from "../../harness/drivers/linux/guest-code.js";
import { checkAccess, foreignOverlap, parseMaps, RangeSet, SIGSEGV, unmappedAddress, type Populator, type Vma } from "../../harness/drivers/linux/memory.js";
import { defaultProfile } from "../../harness/drivers/linux/probe.js";
import { ExitDecoder } from "../../harness/drivers/linux/exits.js";
import { kvmUnavailableReason } from "../../harness/drivers/linux/index.js";

const code = (p: GuestProgram, n: number) => [...p.image.subarray(0, n)];
const bytes = (...b: number[]) => Uint8Array.from(b);

describe("linux driver: guest code generation", () => {
  it("reads below 4 GiB in real mode through DS.base = gpa", () => {
    const expected: Record<number, number[]> = { 1: [0xa0, 0, 0, 0xf4], 2: [0xa1, 0, 0, 0xf4], 4: [0x66, 0xa1, 0, 0, 0xf4] };
    for (const [len, bytesOut] of Object.entries(expected)) {
      const p = accessProgram(0x123456n, "read", Number(len));
      expect(p.mode).to.equal("real");
      expect(p.sregs.ds.base).to.equal(0x123456n);
      expect(p.sregs.cs.base).to.equal(DRIVER_GPA);
      expect(p.sregs.cr0 & 1n, "CR0.PE").to.equal(0n);
      expect(p.regs.rip).to.equal(0n);
      expect(code(p, bytesOut.length)).to.deep.equal(bytesOut);
      expect(p.result).to.deep.equal({ register: "rax", len: Number(len) });
      expect(p.image.length).to.equal(DRIVER_REGION_SIZE);
    }
  });

  it("makes 8-byte real-mode accesses with one MMX move, the operand in the driver's scratch page", () => {
    const read = accessProgram(0x1000n, "read", 8);
    expect(code(read, 12)).to.deep.equal([0x0f, 0x6f, 0x06, 0, 0, 0x26, 0x0f, 0x7f, 0x06, 0, 0, 0xf4]);
    expect(read.sregs.es.base).to.equal(DRIVER_GPA + 0x1000n);
    expect(read.result).to.deep.equal({ scratchOffset: 0x1000, len: 8 });
    const data = bytes(1, 2, 3, 4, 5, 6, 7, 8);
    const write = accessProgram(0x1000n, "write", 8, data);
    expect(code(write, 12)).to.deep.equal([0x26, 0x0f, 0x6f, 0x06, 0, 0, 0x0f, 0x7f, 0x06, 0, 0, 0xf4]);
    expect([...write.image.subarray(0x1000, 0x1008)]).to.deep.equal([...data]);
    expect(write.result).to.equal(undefined);
  });

  it("passes the bytes of smaller writes in rax, little-endian", () => {
    const p = accessProgram(0x2000n, "write", 4, bytes(0x11, 0x22, 0x33, 0x44));
    expect(p.regs.rax).to.equal(0x44332211n);
    expect(code(p, 5)).to.deep.equal([0x66, 0xa3, 0, 0, 0xf4]);
  });

  it("switches to long mode when any byte of the access is at or above 4 GiB", () => {
    expect(modeFor(FOUR_GIB - 8n, 8)).to.equal("real");
    expect(modeFor(FOUR_GIB - 4n, 8)).to.equal("long");
    expect(accessProgram(FOUR_GIB - 1n, "read", 1).mode).to.equal("real");
    expect(accessProgram(FOUR_GIB - 1n, "read", 2).mode).to.equal("long");
  });

  it("identity-maps the GPA and the driver's own pages in long mode", () => {
    const p = accessProgram(FOUR_GIB, "read", 8);
    expect(p.mode).to.equal("long");
    expect(code(p, 4)).to.deep.equal([0x48, 0x8b, 0x03, 0xf4]);
    expect(p.regs.rbx).to.equal(FOUR_GIB);
    expect(translate(p, p.regs.rbx!)).to.equal(FOUR_GIB);
    expect(translate(p, p.regs.rip!)).to.equal(DRIVER_GPA);
    expect(translate(p, p.regs.rsp! - 8n)).to.equal(p.regs.rsp! - 8n);
    expect(p.sregs.cr0 & 0x80000001n, "PG and PE").to.equal(0x80000001n);
    expect(p.sregs.cr4 & 0x20n, "PAE").to.equal(0x20n);
    expect(p.sregs.efer & 0x500n, "LME and LMA").to.equal(0x500n);
    expect(p.sregs.cs.l).to.equal(1n);
    expect(p.sregs.cr3 >= DRIVER_GPA && p.sregs.cr3 < DRIVER_GPA + BigInt(DRIVER_REGION_SIZE)).to.equal(true);
    expect(translate(p, 0x200000000n), "nothing else is mapped").to.equal(undefined);
  });

  it("maps both pages of an access that crosses a page boundary", () => {
    const gpa = FOUR_GIB + 0xffdn;
    const p = accessProgram(gpa, "write", 8, bytes(1, 2, 3, 4, 5, 6, 7, 8));
    expect(translate(p, p.regs.rbx!)).to.equal(gpa);
    expect(translate(p, p.regs.rbx! + 7n)).to.equal(gpa + 7n);
    expect(p.regs.rax).to.equal(0x0807060504030201n);
  });

  it("reaches GPAs that are not canonical linear addresses through a window", () => {
    const gpa = (1n << 47n) + 0x5123n;
    const p = accessProgram(gpa, "read", 4);
    expect(p.regs.rbx).to.not.equal(gpa);
    expect(p.regs.rbx! < 1n << 47n).to.equal(true);
    expect(translate(p, p.regs.rbx!)).to.equal(gpa);
  });

  it("fetches by starting execution at the GPA", () => {
    const low = accessProgram(0x300000n, "fetch", 1);
    expect(low.mode).to.equal("real");
    expect(low.sregs.cs.base).to.equal(0x300000n);
    expect(low.regs.rip).to.equal(0n);
    const high = accessProgram(FOUR_GIB + 0x10n, "fetch", 1);
    expect(code(high, 3)).to.deep.equal([0xff, 0xe3, 0xf4]);
    expect(translate(high, high.regs.rbx!)).to.equal(FOUR_GIB + 0x10n);
    expect(translate(high, high.regs.rbx! + 15n)).to.equal(FOUR_GIB + 0x1fn);
  });

  it("issues hypercalls with KVM's register ABI and the vendor's instruction", () => {
    const amd = hypercallProgram(12n, [0x1000n, 1n, 16n], "amd");
    expect(code(amd, 4)).to.deep.equal([0x0f, 0x01, 0xd9, 0xf4]);
    expect([amd.regs.rax, amd.regs.rbx, amd.regs.rcx, amd.regs.rdx]).to.deep.equal([12n, 0x1000n, 1n, 16n]);
    expect(amd.mode).to.equal("long");
    expect(code(hypercallProgram(1n, [], "intel"), 3)).to.deep.equal([0x0f, 0x01, 0xc1]);
    expect(() => hypercallProgram(1n, [1n, 2n, 3n, 4n, 5n], "amd")).to.throw(RangeError);
  });

  it("halts at once in either mode (the probe program)", () => {
    expect(code(haltProgram("real"), 1)).to.deep.equal([0xf4]);
    const long = haltProgram("long");
    expect(code(long, 1)).to.deep.equal([0xf4]);
    expect(translate(long, long.regs.rip!)).to.equal(DRIVER_GPA);
  });

  it("rejects lengths other than 1, 2, 4, 8 and writes without matching data", () => {
    expect(() => checkLength(3)).to.throw(RangeError);
    expect(() => accessProgram(0n, "read", 16)).to.throw(RangeError);
    expect(() => accessProgram(0n, "write", 4, bytes(1))).to.throw(RangeError);
  });

  it("converts between bytes and little-endian integers", () => {
    expect(littleEndian(bytes(0x78, 0x56, 0x34, 0x12))).to.equal(0x12345678n);
    expect([...toBytes(0x0102n, 4)]).to.deep.equal([2, 1, 0, 0]);
    expect(littleEndian(toBytes(0xfedcba9876543210n, 8))).to.equal(0xfedcba9876543210n);
  });
});

describe("linux driver: host memory bookkeeping", () => {
  const vma = (start: bigint, end: bigint, perms: string): Vma => ({ start, end, read: perms[0] === "r", write: perms[1] === "w", exec: perms[2] === "x", shared: perms[3] === "s", path: "" });

  it("parses /proc/self/maps lines", () => {
    const v = parseMaps("7f00a000-7f00c000 rw-s 00000000 00:10 28357                      anon_inode:[kvm-gmem]\n7ffd1000-7ffd2000 r-xp 00000000 00:00 0 \n");
    expect(v).to.have.length(2);
    expect(v[0]).to.deep.include({ start: 0x7f00a000n, end: 0x7f00c000n, read: true, write: true, exec: false, shared: true, path: "anon_inode:[kvm-gmem]" });
    expect(v[1]).to.deep.include({ read: true, write: false, exec: true, shared: false });
  });

  it("keeps ranges split the way munmap splits them", () => {
    const r = new RangeSet();
    r.add(0x1000n, 0x5000n);
    r.remove(0x2000n, 0x3000n);
    expect(r.list).to.deep.equal([{ start: 0x1000n, end: 0x2000n }, { start: 0x3000n, end: 0x5000n }]);
    expect(r.uncovered(0x1000n, 0x5000n)).to.deep.equal([{ start: 0x2000n, end: 0x3000n }]);
    r.add(0x1800n, 0x3800n);
    expect(r.uncovered(0x1000n, 0x5000n)).to.deep.equal([]);
  });

  it("flags memory that the session does not own", () => {
    const owned = new RangeSet();
    owned.add(0x10000n, 0x12000n);
    const vmas = [vma(0x10000n, 0x12000n, "rw-p"), vma(0x12000n, 0x13000n, "rw-p")];
    expect(foreignOverlap(owned, 0x10000n, 0x12000n, vmas)).to.equal(undefined);
    expect(foreignOverlap(owned, 0x11000n, 0x13000n, vmas)?.start).to.equal(0x12000n);
    expect(foreignOverlap(owned, 0x20000n, 0x30000n, vmas), "unmapped space is nobody's").to.equal(undefined);
  });

  it("predicts SIGSEGV from the VMAs alone, as the x86 fault handler would", () => {
    const vmas = [vma(0x10000n, 0x11000n, "r--p"), vma(0x11000n, 0x12000n, "---p"), vma(0x13000n, 0x14000n, "--xp")];
    expect(checkAccess(0x10000n, 4, true, 4096, vmas)).to.deep.equal({ ok: false, signal: SIGSEGV });
    expect(checkAccess(0x11000n, 1, false, 4096, vmas)).to.deep.equal({ ok: false, signal: SIGSEGV });
    const populated: Populator = { madvise: () => ({ ret: 0n, errno: 0 }), forceRead: (_a, len) => len, protectionKey: () => 0 };
    expect(checkAccess(0x10ffen, 4, false, 4096, vmas, populated), "runs into a PROT_NONE page").to.deep.equal({ ok: false, signal: SIGSEGV });
    expect(checkAccess(0x12000n, 1, false, 4096, vmas), "no VMA").to.deep.equal({ ok: false, signal: SIGSEGV });
    expect(checkAccess(0x12000n, 0, false, 4096, vmas), "nothing touched").to.deep.equal({ ok: true });
  });

  it("finds a page no VMA covers", () => {
    const vmas = [vma(0x10000n, 0x12000n, "rw-p"), vma(0x12000n, 0x20000n, "r--p"), vma(0x21000n, 0x30000n, "r--p")];
    expect(unmappedAddress(4096, 0x10000n, vmas)).to.equal(0x20000n);
  });
});

describe("linux driver: profile choice", () => {
  const spec = loadSpec();
  it("takes the newest release profile not newer than the kernel", () => {
    expect(defaultProfile(spec, "6.18.44-fc-v595")).to.equal("linux-6.18");
    expect(defaultProfile(spec, "6.17.2")).to.equal("linux-6.8");
    expect(defaultProfile(spec, "7.5.0")).to.equal("linux-7.2");
    expect(() => defaultProfile(spec, "5.15.0")).to.throw(/no release profile/);
  });
});

describe("linux driver: kvm_run exits", () => {
  const spec = loadSpec();
  const decoder = new ExitDecoder(spec, "linux-6.18");
  const run = (fields: Record<string, unknown>) => spec.codec.encode("kvm_run", fields as never);

  // This host never produces a memory-fault exit (HOST-NOTES.md Q3), so the decoding is checked here.
  it("decodes a memory-fault exit with the profile's exit number", () => {
    const bytes = run({ exit_reason: spec.constant("KVM_EXIT_MEMORY_FAULT", "linux-6.18")!, memory_fault: { flags: 8, gpa: 0x100000000n, size: 4096 } });
    expect(decoder.decode(bytes)).to.deep.equal({ reason: "KVM_EXIT_MEMORY_FAULT", memory_fault: { flags: 8n, gpa: 0x100000000n, size: 4096n } });
    expect(new ExitDecoder(spec, "upm-v9").name(39n), "39 means nothing in UPM v9").to.equal("KVM_EXIT_#39");
  });

  it("decodes MMIO (with the written bytes), hypercall and internal-error payloads", () => {
    expect(decoder.decode(run({ exit_reason: 6, mmio: { phys_addr: 0x2000, data: [1, 2, 3, 4, 5, 6, 7, 8], len: 2, is_write: 1 } }))).to.deep.equal({
      reason: "KVM_EXIT_MMIO",
      mmio: { phys_addr: 0x2000n, len: 2n, is_write: 1n, data: bytes(1, 2) },
    });
    expect(decoder.decode(run({ exit_reason: 3, hypercall: { nr: 12, args: [1, 2, 3], flags: 1 } }))).to.deep.equal({
      reason: "KVM_EXIT_HYPERCALL",
      hypercall: { nr: 12n, args: [1n, 2n, 3n, 0n, 0n, 0n], flags: 1n },
    });
    expect(decoder.decode(run({ exit_reason: 17, internal: { suberror: 1, ndata: 2, data: [7, 9] } }))).to.deep.equal({
      reason: "KVM_EXIT_INTERNAL_ERROR",
      internal: { suberror: 1n, ndata: 2n, data_u64: [7n, 9n] },
    });
    expect(decoder.decode(run({ exit_reason: 5 }))).to.deep.equal({ reason: "KVM_EXIT_HLT" });
  });
});

describe("linux driver: availability", () => {
  it("names the reason the KVM device cannot be used", () => {
    expect(kvmUnavailableReason("/nonexistent/kvm")).to.match(/does not exist/);
    expect(kvmUnavailableReason("/")).to.match(/cannot be opened read-write: EISDIR/);
    expect(kvmUnavailableReason("/dev/kvm", "s390x")).to.match(/x86_64 only .* this machine is s390x/);
  });
});
