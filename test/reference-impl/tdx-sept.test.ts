import { expect } from "chai";
import sinon from "sinon";
import type { OpResult } from "../../spec/driver/contract.js";
import type { TdxState } from "../../reference-impl/arch/x86/tdx.js";
import type { X86VmType } from "../../reference-impl/arch/x86/vm-types.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import type { Vm } from "../../reference-impl/vm/vm.js";
import { big, byte, PAGE, Session } from "./session.js";

const GPA = 0x10000000n;
const PRIVATE = 8n;
const SHARED_BIT = 1n << 47n;
const TDX_PAGE_ALREADY_ACCEPTED = 0x00000b0a00000000n;
const TDX_PAGE_SIZE_MISMATCH = 0xc0000b0b00000000n;
const TDX_OPERAND_INVALID_RCX = 0xc000010000000001n;
const MIB2 = 2n * 1024n * 1024n;

/** A TD with vCPU 0 initialized and memslot 0 of `pages` pages at GPA, backed by a guest_memfd; not finalized. */
function td(profile: "linux-6.18" | "linux-7.2" = "linux-7.2", pages = 4n) {
  const s = new Session(profile, "full");
  const vm = s.vm("KVM_X86_TDX_VM");
  s.initConfidential(vm, "KVM_X86_TDX_VM");
  const vcpu = s.vcpu(vm);
  expect(s.tdxOp(vcpu, "KVM_TDX_INIT_VCPU").errno).to.equal(undefined);
  const gmem = s.gmem(vm, pages * PAGE);
  expect(s.slot(vm, { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: pages * PAGE, userspace_addr: s.anon(pages), guest_memfd: gmem }).errno).to.equal(undefined);
  const model = [...s.k.machine.vms].at(-1)! as Vm;
  const state = (model.type as X86VmType).tdx!;
  const setAttr = (address: bigint, size: bigint, attributes: bigint) => s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address, size, attributes } });
  const finalize = () => expect(s.tdxOp(vm, "KVM_TDX_FINALIZE_VM").errno).to.equal(undefined);
  const arch = (action: string, gpa: bigint, extra: { len?: bigint; args?: bigint[] } = {}) => s.call("guest_arch", { vcpu, action, gpa, ...extra });
  return { s, vm, vcpu, gmem, model, state, setAttr, finalize, arch };
}

/** KVM_TDX_INIT_MEM_REGION of nr pages from a source filled with `fill`; returns the result and the region as written back. */
function initMem(t: ReturnType<typeof td>, gpa: bigint, nr: bigint, fill = 0x5a, flags = 0n) {
  const { s } = t;
  const src = s.anon(nr === 0n ? 1n : nr);
  for (let i = 0n; i < nr; i++) s.ok("store", { addr: src + i * PAGE, data: new Uint8Array(Number(PAGE)).fill(fill + Number(i)) });
  const region = s.anon(1n);
  s.ok("store", { addr: region, data: s.k.spec.codec.encode("kvm_tdx_init_mem_region", { source_addr: src, gpa, nr_pages: nr }) });
  const r = s.tdxOp(t.vcpu, "KVM_TDX_INIT_MEM_REGION", { data_u64: region, flags });
  const back = s.k.spec.codec.decode("kvm_tdx_init_mem_region", s.ok("load", { addr: region, len: 24n }).out!.data as Uint8Array) as Record<string, bigint>;
  return { r, back, src };
}

const status = (r: OpResult) => r.out?.status;

describe("reference-impl TDX Secure EPT", () => {
  afterEach(() => sinon.restore());
  it("KVM_TDX_INIT_MEM_REGION adds private pages with the source's contents, measured with the flag, and writes the progress back", () => {
    const t = td();
    t.setAttr(GPA, 4n * PAGE, PRIVATE);
    const { r, back, src } = initMem(t, GPA, 2n, 0x40, 1n);
    expect(r.errno).to.equal(undefined);
    expect(back).to.deep.include({ source_addr: src + 2n * PAGE, gpa: GPA + 2n * PAGE, nr_pages: 0n });
    expect(t.state.sept.leaf(0x10000)?.state).to.equal("mapped");
    expect(t.state.measured).to.deep.equal([GPA, GPA + PAGE]);
    t.finalize();
    // Added pages are accepted already: the guest reads the source and ACCEPT says so.
    expect(byte(t.s.read(t.vcpu, GPA + PAGE, { private: true }))).to.equal(0x41);
    expect(status(t.arch("tdx:accept", GPA))).to.equal(TDX_PAGE_ALREADY_ACCEPTED);
    // After finalization the command is refused before it is read.
    expect(initMem(t, GPA + 2n * PAGE, 1n).r.errno).to.equal("EINVAL");
  });

  it("KVM_TDX_INIT_MEM_REGION stops at a shared gfn (EINVAL) after the pages before it, and on 6.18 at a page it added already (EEXIST)", () => {
    const t = td("linux-6.18");
    t.setAttr(GPA, 2n * PAGE, PRIVATE);
    const { r, back } = initMem(t, GPA, 3n);
    expect(r.errno).to.equal("EINVAL");
    expect(back).to.deep.include({ gpa: GPA + 2n * PAGE, nr_pages: 1n });
    expect(initMem(t, GPA + PAGE, 1n).r.errno).to.equal("EEXIST");
    expect(t.state.sept.leaves.all().map((l) => l.start)).to.deep.equal([0x10000, 0x10001]);
    expect(initMem(t, GPA + 8n * PAGE, 1n).r.errno, "no memslot").to.equal("EINVAL");
    expect(initMem(t, GPA | SHARED_BIT, 1n).r.errno, "a shared GPA").to.equal("EINVAL");
  });

  it("a private fault after finalization AUGs the page: the guest's access raises #VE until it accepts, then it reads zeroes", () => {
    const t = td();
    t.finalize();
    t.setAttr(GPA, PAGE, PRIVATE);
    const ve = t.s.write(t.vcpu, GPA + 8n, 0x77, { private: true });
    expect(ve.exit?.reason).to.equal("KVM_EXIT_HLT");
    expect(ve.out).to.deep.equal({ vector: 20n, ve_exit_reason: 48n, ve_gpa: GPA + 8n });
    expect(t.state.sept.leaf(0x10000)?.state).to.equal("pending");
    expect(status(t.arch("tdx:accept", GPA))).to.equal(0n);
    expect(byte(t.s.read(t.vcpu, GPA + 8n, { private: true }))).to.equal(0);
    expect(status(t.arch("tdx:accept", GPA))).to.equal(TDX_PAGE_ALREADY_ACCEPTED);
  });

  it("ACCEPT of a FREE page makes KVM AUG it (success), of a shared gfn exits with a private memory fault, of a 2M range over 4K leaves is a size mismatch", () => {
    const t = td("linux-7.2", 512n);
    t.finalize();
    t.setAttr(GPA, 512n * PAGE, PRIVATE);
    expect(status(t.arch("tdx:accept", GPA + PAGE))).to.equal(0n);
    expect(t.state.sept.leaf(0x10001)?.state).to.equal("mapped");
    expect(status(t.arch("tdx:accept", GPA, { args: [1n] }))).to.equal(TDX_PAGE_SIZE_MISMATCH | 1n);
    for (const [gpa, level] of [[GPA + 8n, 0n], [GPA + PAGE, 1n], [GPA, 2n], [GPA | SHARED_BIT, 0n], [1n << 48n, 0n]] as const)
      expect(status(t.arch("tdx:accept", gpa, { args: [level] })), `${gpa} level ${level}`).to.equal(TDX_OPERAND_INVALID_RCX);
    t.setAttr(GPA + 2n * PAGE, PAGE, 0n);
    const r = t.arch("tdx:accept", GPA + 2n * PAGE);
    expect(r.errno).to.equal("EFAULT");
    expect(r.exit).to.deep.equal({ reason: "KVM_EXIT_MEMORY_FAULT", memory_fault: { flags: 8n, gpa: GPA + 2n * PAGE, size: PAGE } });
  });

  it("converting a private page to shared removes it from the Secure EPT (BLOCK, TRACK, REMOVE) and its contents are gone when it is private again", () => {
    const t = td();
    t.finalize();
    t.setAttr(GPA, PAGE, PRIVATE);
    expect(status(t.arch("tdx:accept", GPA))).to.equal(0n);
    t.s.ok("guest", { vcpu: t.vcpu, access: "write", gpa: GPA, data: new Uint8Array([0x99]), private: true });
    const epoch = t.state.sept.epoch;
    t.setAttr(GPA, PAGE, 0n);
    expect(t.state.sept.leaf(0x10000)).to.equal(undefined);
    expect(t.state.sept.removals).to.equal(1);
    expect(t.state.sept.epoch).to.equal(epoch + 1);
    t.setAttr(GPA, PAGE, PRIVATE);
    expect(status(t.arch("tdx:accept", GPA))).to.equal(0n);
    expect(byte(t.s.read(t.vcpu, GPA, { private: true }))).to.equal(0);
  });

  it("MapGPA exits in chunks of at most 2 MiB with the shared bit stripped, resumes on ret 0, and reports errors in R10/R11", () => {
    const t = td();
    t.finalize();
    const start = (GPA | SHARED_BIT) + PAGE;
    expect(status(t.arch("tdx:map-gpa", start, { len: PAGE }))).to.equal(0x8000000000000003n);
    t.s.ok("ioctl", { fd: t.vm, request: "KVM_ENABLE_CAP", arg: { cap: t.s.c("KVM_CAP_EXIT_HYPERCALL"), args: [1n << 12n] } });
    const len = 2n * MIB2 + 3n * PAGE;
    const hc = (r: OpResult) => r.exit?.hypercall as { args: bigint[] };
    expect(hc(t.arch("tdx:map-gpa", start, { len })).args.slice(0, 3)).to.deep.equal([GPA + PAGE, 512n, 0n]);
    expect(hc(t.arch("tdx:map-gpa", start, { len, args: [0n, 0n] })).args.slice(0, 3)).to.deep.equal([GPA + PAGE + 2n * MIB2, 3n, 0n]);
    expect(t.arch("tdx:map-gpa", start, { len, args: [0n, 0n, 0n] }).out).to.deep.equal({ status: 0n });
    expect(t.arch("tdx:map-gpa", start, { len, args: [0n, 1n] }).out).to.deep.equal({ status: 0x8000000000000000n, r11: start + MIB2 });
    expect(hc(t.arch("tdx:map-gpa", GPA, { len: PAGE })).args.slice(0, 3)).to.deep.equal([GPA, 1n, 16n]);
    expect(t.arch("tdx:map-gpa", GPA + 1n, { len: PAGE }).out).to.deep.equal({ status: 0x8000000000000002n, r11: GPA + 1n });
    expect(t.arch("tdx:map-gpa", SHARED_BIT - PAGE, { len: 2n * PAGE }).out, "straddles the alias").to.deep.equal({ status: 0x8000000000000000n, r11: SHARED_BIT - PAGE });
    expect(t.arch("tdx:map-gpa", GPA, { len: 0n }).out?.status, "empty").to.equal(0x8000000000000000n);
    // An event pending between chunks: RETRY, and R11 is where the guest resumes.
    sinon.stub(t.state, "pendingEvent").returns(true);
    expect(t.arch("tdx:map-gpa", start, { len, args: [0n] }).out).to.deep.equal({ status: 1n, r11: start + MIB2 });
  });

  it("--check-invariants fires on a Secure EPT that a zap did not empty, and on a leaf in the wrong state", () => {
    const t = td();
    t.finalize();
    t.setAttr(GPA, PAGE, PRIVATE);
    expect(status(t.arch("tdx:accept", GPA))).to.equal(0n);
    t.s.k.machine.checkInvariants();
    // A broken model: the conversion zaps KVM's mirror root but skips the Secure EPT removal.
    const type = t.model.type as X86VmType;
    sinon.stub(type, "privateSpteRemoved");
    expect(() => t.setAttr(GPA, PAGE, 0n)).to.throw(InvariantViolation, /in the Secure EPT but not in KVM's mirror root/);
    const state: TdxState = t.state;
    const leaf = state.sept.leaf(0x10000)!;
    state.sept.leaves.set(0x10000, 0x10001, { ...leaf, state: "blocked", blockedEpoch: 0 });
    expect(() => t.s.k.machine.checkInvariants()).to.throw(InvariantViolation, /left blocked/);
    expect(JSON.stringify(leaf.state, big)).to.equal('"mapped"');
  });
});
