import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import sinon from "sinon";
import { GmemLibrary } from "../../reference-impl/arch/arm64/pkvm/gmem-library.js";
import { PageState } from "../../reference-impl/arch/arm64/pkvm/hyp.js";
import type { Kernel } from "../../reference-impl/kernel.js";
import { InvariantViolation } from "../../reference-impl/lib/invariants.js";
import { mutatedCopy } from "../mutants/copy.js";
import { arm64GmemVm, GPA } from "./arm64-gmem-vm.js";
import { PAGE, Session } from "./session.js";


/** The model's kernel behind a session (private to the adapter; the tests look at the hypervisor's tables). */
const kernelOf = (s: Session): Kernel => (s.k as unknown as { kernel: Kernel }).kernel;

/** A protected VM with vCPU 0 and a 4-page guest_memfd (MMAP) bound at GPA, mapped at gmap. */
const protectedVm = (s: Session) => arm64GmemVm(s, s.c("KVM_VM_TYPE_ARM_PROTECTED"));

describe("reference-impl pKVM: page ownership, MEM_SHARE/MEM_UNSHARE, the guest_memfd library", () => {
  it("offers protected VMs and the sharing hypercalls on arm64-pkvm only", () => {
    expect(new Session("linux-7.2", "arm64-pkvm").k.handshake.features).to.include.members(["vm-type:arm-protected", "guest-arch:pkvm:share", "guest-arch:pkvm:unshare"]);
    for (const host of ["arm64", "full"]) expect(new Session("linux-7.2", host).k.handshake.features).to.not.include("vm-type:arm-protected");
  });

  it("donates at the guest's fault, shares and unshares in place, and keeps the tables consistent", () => {
    const s = new Session("linux-7.2", "arm64-pkvm");
    const { vcpu, gmap } = protectedVm(s);
    const hyp = kernelOf(s).pkvm!.hyp;
    const vm = [...kernelOf(s).vms][0]!;
    const inode = [...vm.gmemFiles][0]!.inode;
    s.ok("guest", { vcpu, access: "write", gpa: GPA, len: 1n, data: new Uint8Array([0xab]) });
    expect([hyp.hostState(inode, 0), hyp.guestState(vm, Number(GPA / PAGE))]).to.deep.equal([PageState.NOPAGE, PageState.OWNED]);
    expect(s.call("load", { addr: gmap, len: 1n }).signal).to.equal("SIGBUS");
    expect(s.ok("guest_arch", { vcpu, action: "pkvm:share", gpa: GPA }).out).to.deep.equal({ status: 0n });
    expect([hyp.hostState(inode, 0), hyp.guestState(vm, Number(GPA / PAGE))]).to.deep.equal([PageState.SHARED_BORROWED, PageState.SHARED_OWNED]);
    expect(s.ok("load", { addr: gmap, len: 1n }).out!.data).to.deep.equal(new Uint8Array([0xab]));
    expect(s.ok("guest_arch", { vcpu, action: "pkvm:unshare", gpa: GPA }).out).to.deep.equal({ status: 0n });
    expect(s.call("load", { addr: gmap, len: 1n }).signal).to.equal("SIGBUS");
  });

  it("gives every page back to the host, scrubbed, when the VM dies", () => {
    const s = new Session("linux-7.2", "arm64-pkvm");
    const { vm, vcpu, gmem, gmap } = protectedVm(s);
    s.ok("guest", { vcpu, access: "write", gpa: GPA, len: 1n, data: new Uint8Array([0xab]) });
    const kvmVm = [...kernelOf(s).vms][0]!;
    const inode = [...kvmVm.gmemFiles][0]!.inode;
    const folio = inode.cachedPage(0)!;
    s.ok("munmap", { addr: gmap, len: 4n * PAGE });
    for (const fd of [vcpu, vm, gmem]) s.ok("close", { fd });
    expect(kvmVm.destroyed).to.equal(true);
    expect(kernelOf(s).pkvm!.hyp.hostState(inode, 0)).to.equal(PageState.OWNED);
    expect(folio.read(0, 1)).to.deep.equal(new Uint8Array([0]));
  });

  it("--check-invariants fires on a broken model: a share that guest_memfd never hears of", () => {
    const s = new Session("linux-7.2", "arm64-pkvm");
    const { vcpu } = protectedVm(s);
    const skipped = sinon.stub(GmemLibrary.prototype, "makeAccessible");
    try {
      expect(() => s.call("guest_arch", { vcpu, action: "pkvm:share", gpa: GPA })).to.throw(InvariantViolation, /shared with the host, but guest_memfd keeps it inaccessible/);
      expect(skipped.calledOnce).to.equal(true);
    } finally {
      skipped.restore();
    }
  });

  it("--check-invariants fires on a broken model: the CLI run of a mutant that unshares a pinned page", function () {
    this.timeout(120000);
    const dir = mutatedCopy("arch/arm64/pkvm/gmem-library.js", "if (folio !== undefined && this.refCount(folio) !== SAFE_REFS)", "if (false)");
    try {
      const run = (flag: string[]) => {
        try {
          return execFileSync(process.execPath, [join(dir, "dist", "harness", "cli", "main.js"), "run", "--driver", "reference", "--host", "arm64-pkvm", ...flag, "--filter", "hw:pkvm:share:unshare_pinned:page=0", "--out", join(dir, "out")], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        } catch (err) {
          return (err as { stdout: string }).stdout;
        }
      };
      expect(run(["--check-invariants"])).to.match(/owned by the guest, but a GUP pin holds it/);
      expect(run([])).to.not.match(/GUP pin holds it/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
