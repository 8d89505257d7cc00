import { expect } from "chai";
import sinon from "sinon";
import { GmemLibrary } from "../../reference-impl/arch/arm64/pkvm/gmem-library.js";
import type { Kernel } from "../../reference-impl/kernel.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { arm64GmemVm, GPA } from "./arm64-gmem-vm.js";
import { PAGE, Session } from "./session.js";

const kernelOf = (s: Session): Kernel => (s.k as unknown as { kernel: Kernel }).kernel;

/** A VM (every VM is a Gunyah VM on arm64-gunyah) with vCPU 0 and a 4-page guest_memfd bound at GPA, mapped at gmap. */
const gunyahVm = (s: Session) => arm64GmemVm(s, 0n);

describe("reference-impl Gunyah: demand paging of guest_memfd on the library", () => {
  it("is offered on arm64-gunyah only", () => {
    expect(new Session("linux-7.2", "arm64-gunyah").k.handshake.features).to.include("arm64:gunyah");
    for (const host of ["arm64", "arm64-pkvm", "full"]) expect(new Session("linux-7.2", host).k.handshake.features).to.not.include("arm64:gunyah");
  });

  it("lends at the guest's access with the host's bytes, reclaims at the host's access, and lends again", () => {
    const s = new Session("linux-7.2", "arm64-gunyah");
    const { vcpu, gmap } = gunyahVm(s);
    const rm = kernelOf(s).gunyah!;
    const inode = [...[...kernelOf(s).vms][0]!.gmemFiles][0]!.inode;
    s.ok("store", { addr: gmap, data: new Uint8Array([0x5a]) });
    expect(s.ok("guest", { vcpu, access: "read", gpa: GPA, len: 1n }).out!.data).to.deep.equal(new Uint8Array([0x5a]));
    expect(rm.lentTo(inode, 0)).to.not.equal(undefined);
    expect(rm.lib.inDirectMap(inode.cachedPage(0)!)).to.equal(false);
    s.ok("store", { addr: gmap, data: new Uint8Array([0x77]) });
    expect(rm.lentTo(inode, 0)).to.equal(undefined);
    expect(s.ok("guest", { vcpu, access: "read", gpa: GPA, len: 1n }).out!.data).to.deep.equal(new Uint8Array([0x77]));
    expect(rm.lentTo(inode, 0)).to.not.equal(undefined);
  });

  it("refuses the lend while a GUP pin holds the page (KVM_RUN EBUSY with a memory-fault exit), and lends after the unpin", () => {
    const s = new Session("linux-7.2", "arm64-gunyah");
    const { vcpu, gmap } = gunyahVm(s);
    const pin = s.ok("pin_user_pages", { addr: gmap, len: PAGE }).ret;
    const r = s.call("guest", { vcpu, access: "read", gpa: GPA, len: 1n });
    expect([r.ret, r.errno, r.exit?.reason]).to.deep.equal([-1n, "EBUSY", "KVM_EXIT_MEMORY_FAULT"]);
    s.ok("unpin_user_pages", { pin });
    expect(s.ok("guest", { vcpu, access: "read", gpa: GPA, len: 1n }).exit?.reason).to.equal("KVM_EXIT_SYSTEM_EVENT");
  });

  it("--check-invariants fires on a broken model: a lend that leaves the host's mapping in place", () => {
    const s = new Session("linux-7.2", "arm64-gunyah");
    const { vcpu, gmap } = gunyahVm(s);
    s.ok("store", { addr: gmap, data: new Uint8Array([1]) });
    const broken = sinon.stub(GmemLibrary.prototype, "makeInaccessible").returns(0);
    try {
      expect(() => s.call("guest", { vcpu, access: "read", gpa: GPA, len: 1n })).to.throw(InvariantViolation, /lent to VM .* process .* maps it/);
    } finally {
      broken.restore();
    }
  });
});
