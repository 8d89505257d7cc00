import { expect } from "chai";
import { byte, memoryFault, PAGE, Session } from "./session.js";

const GPA = 0x100000n;
const PRIVATE = 8n;

function swVm(s: Session) {
  const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
  const g = s.gmem(vm, 4n * PAGE);
  const shared = s.anon(4n);
  expect(s.slot(vm, { slot: 0n, flags: 4n, guest_phys_addr: GPA, memory_size: 4n * PAGE, userspace_addr: shared, guest_memfd: g }).errno).to.equal(undefined);
  return { vm, g, shared, vcpu: s.vcpu(vm) };
}

describe("reference-impl vm: memory attributes", () => {
  it("does not exist where it is not built", () => {
    const s = new Session("linux-6.18", "pvm");
    expect(s.ioctl(s.vm(), "KVM_SET_MEMORY_ATTRIBUTES", { address: 0n, size: PAGE }).errno).to.equal("ENOTTY");
  });

  it("validates the arguments before looking at the range, and the range before reserving", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const set = (f: Record<string, bigint>) => s.ioctl(vm, "KVM_SET_MEMORY_ATTRIBUTES", { address: GPA, size: PAGE, attributes: PRIVATE, ...f }).errno;
    // An armed allocation failure is met only by a call that gets as far as xa_reserve().
    s.ok("inject", { fault: "enomem" });
    expect(set({ flags: 1n })).to.equal("EINVAL");
    expect(set({ size: PAGE + 1n })).to.equal("EINVAL");
    // A range that already has the attributes returns before reserving anything.
    expect(set({ attributes: 0n })).to.equal(undefined);
    expect(set({})).to.equal("ENOMEM");
    expect(set({})).to.equal(undefined);
    // copy_from_user comes first of all.
    s.ok("inject", { fault: "enomem" });
    expect(s.call("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", pointer: "invalid" }).errno).to.equal("EFAULT");
    expect(set({ address: GPA + PAGE })).to.equal("ENOMEM");
  });

  it("refuses each malformed field with EINVAL", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SW_PROTECTED_VM");
    const set = (f: Record<string, bigint>) => s.ioctl(vm, "KVM_SET_MEMORY_ATTRIBUTES", { address: 0n, size: PAGE, attributes: PRIVATE, ...f }).errno;
    expect(set({ flags: 1n })).to.equal("EINVAL");
    expect(set({ attributes: 1n })).to.equal("EINVAL");
    expect(set({ size: 0n })).to.equal("EINVAL");
    expect(set({ address: (1n << 64n) - PAGE, size: 2n * PAGE })).to.equal("EINVAL");
    expect(set({ address: 1n })).to.equal("EINVAL");
    expect(set({ size: PAGE + 1n })).to.equal("EINVAL");
    expect(set({ address: 1n << 60n, size: 1n << 62n })).to.equal(undefined);
    expect(set({ address: 1n << 60n, size: 1n << 62n })).to.equal(undefined);
    const def = s.vm();
    expect(s.ioctl(def, "KVM_SET_MEMORY_ATTRIBUTES", { address: 0n, size: PAGE, attributes: PRIVATE }).errno).to.equal("EINVAL");
    expect(s.ioctl(def, "KVM_SET_MEMORY_ATTRIBUTES", { address: 0n, size: PAGE, attributes: 0n }).errno).to.equal(undefined);
  });

  it("decides private or shared backing for SW_PROTECTED VMs, and zaps the old view", () => {
    const s = new Session("linux-7.2", "full");
    const { vm, shared, vcpu } = swVm(s);
    s.ok("store", { addr: shared, data: new Uint8Array([0x11]) });
    expect(byte(s.read(vcpu, GPA))).to.equal(0x11);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    // The shared mapping was zapped: the guest now sees the (zeroed) guest_memfd page.
    expect(byte(s.read(vcpu, GPA))).to.equal(0);
    expect(s.write(vcpu, GPA, 0x22).errno).to.equal(undefined);
    expect(byte(s.load(shared))).to.equal(0x11);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: 0n } });
    expect(byte(s.read(vcpu, GPA))).to.equal(0x11);
    // Converting back does not lose the private contents.
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    expect(byte(s.read(vcpu, GPA))).to.equal(0x22);
  });

  it("keeps attributes across memslot deletion, so a private access then faults", () => {
    const s = new Session("linux-7.2", "full");
    const { vm, vcpu } = swVm(s);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: GPA, size: PAGE, attributes: PRIVATE } });
    expect(s.read(vcpu, GPA).errno).to.equal(undefined);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, memory_size: 0n } });
    const r = s.read(vcpu, GPA);
    expect(r.errno).to.equal("EFAULT");
    expect(memoryFault(r)).to.deep.equal({ flags: PRIVATE, gpa: GPA, size: PAGE });
    expect(s.read(vcpu, GPA + PAGE).exit?.reason).to.equal("KVM_EXIT_MMIO");
  });

  it("changes nothing when the reservation fails", () => {
    const s = new Session("linux-7.2", "full");
    const { vm, vcpu } = swVm(s);
    s.ok("inject", { fault: "enomem", after: 3n });
    expect(s.ioctl(vm, "KVM_SET_MEMORY_ATTRIBUTES", { address: GPA, size: 4n * PAGE, attributes: PRIVATE }).errno).to.equal("ENOMEM");
    const machineVm = s.k.machine.vms.values().next().value!;
    for (let gfn = 0; gfn < 4; gfn++) expect(machineVm.isPrivate(Number(GPA / PAGE) + gfn)).to.equal(false);
    expect(s.read(vcpu, GPA).errno).to.equal(undefined);
  });
});
