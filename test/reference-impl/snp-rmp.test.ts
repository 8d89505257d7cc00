import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { sevGmemInvalidate } from "../../reference-impl/arch/x86/snp/gmem.js";
import { PAGES_PER_2M, ReverseMapTable, RMP_RET } from "../../reference-impl/arch/x86/snp/rmp.js";
import { Folio } from "../../reference-impl/mm/folio.js";
import { MUTANTS } from "../mutants/mutants.js";
import { mutatedCopy } from "../mutants/copy.js";
import { PAGE, Session } from "./session.js";

const BASE = 0x200000; // a 2M-aligned frame number
const GFN = 0x10000;
const ASID = 7;

/** An RMP whose frames BASE.. hold pages, as guest_memfd folios would. */
function table(pages = PAGES_PER_2M): ReverseMapTable {
  const rmp = new ReverseMapTable();
  for (let i = 0; i < pages; i++) rmp.frames.set(BASE + i, new Folio({ kind: "guest_memfd", ino: 1 }, i, 4096));
  return rmp;
}

describe("reference-impl SEV-SNP RMP", () => {
  it("keeps consecutive frames assigned to consecutive GPAs as one range, and splits it where one changes", () => {
    const rmp = table(4);
    for (let i = 0; i < 4; i++) expect(rmp.makePrivate(BASE + i, GFN + i, "4K", ASID, false)).to.equal(RMP_RET.SUCCESS);
    expect(rmp.table.size).to.equal(1);
    expect(rmp.gfnOf(BASE + 3)).to.equal(GFN + 3);
    rmp.setValidated(BASE + 1, true);
    expect(rmp.table.size).to.equal(3);
    expect(rmp.makeShared(BASE + 2, "4K")).to.equal(RMP_RET.SUCCESS);
    expect(rmp.lookup(BASE + 2).entry).to.equal(undefined);
    expect(rmp.lookup(BASE + 1).entry?.validated).to.equal(true);
    rmp.checkInvariants();
  });

  it("clears validated on every update and refuses to change an immutable entry", () => {
    const rmp = table(1);
    rmp.makePrivate(BASE, GFN, "4K", ASID, false);
    rmp.setValidated(BASE, true);
    expect(rmp.makePrivate(BASE, GFN, "4K", ASID, false)).to.equal(RMP_RET.SUCCESS);
    expect(rmp.lookup(BASE).entry?.validated).to.equal(false);
    rmp.makePrivate(BASE, GFN, "4K", ASID, true);
    expect(rmp.makeShared(BASE, "4K")).to.equal(RMP_RET.FAIL_PERMISSION);
    rmp.reclaim(BASE);
    expect(rmp.lookup(BASE).entry).to.equal(undefined);
  });

  it("checks 2M updates: aligned frames, no 4K assignment inside; a 4K update inside a 2M entry overlaps it", () => {
    const rmp = table();
    expect(rmp.makePrivate(BASE + 1, GFN, "2M", ASID, false)).to.equal(RMP_RET.FAIL_INPUT);
    rmp.makePrivate(BASE + 5, GFN + 5, "4K", ASID, false);
    expect(rmp.makePrivate(BASE, GFN, "2M", ASID, false)).to.equal(RMP_RET.FAIL_OVERLAP);
    rmp.makeShared(BASE + 5, "4K");
    expect(rmp.makePrivate(BASE, GFN, "2M", ASID, false)).to.equal(RMP_RET.SUCCESS);
    expect(rmp.lookup(BASE + 300)).to.deep.include({ level: "2M", base: BASE });
    expect(rmp.makeShared(BASE + 300, "4K")).to.equal(RMP_RET.FAIL_OVERLAP);
    rmp.checkInvariants();
  });

  it("PSMASH splits a 2M entry into 512 4K entries with the same fields, validated kept", () => {
    const rmp = table();
    rmp.makePrivate(BASE, GFN, "2M", ASID, false);
    rmp.setValidated(BASE + 9, true);
    expect(rmp.psmash(BASE + 9)).to.equal(RMP_RET.SUCCESS);
    for (const pfn of [BASE, BASE + 9, BASE + 511]) {
      expect(rmp.lookup(pfn)).to.deep.include({ level: "4K", base: pfn });
      expect(rmp.lookup(pfn).entry).to.deep.include({ asid: ASID, validated: true, huge: false });
      expect(rmp.gfnOf(pfn)).to.equal(GFN + pfn - BASE);
    }
    expect(rmp.psmash(BASE)).to.equal(RMP_RET.FAIL_INPUT);
    rmp.checkInvariants();
  });

  it("sev_gmem_invalidate: a whole 2M entry in one update, a partial free PSMASHes first and keeps the rest", () => {
    const whole = table();
    whole.makePrivate(BASE, GFN, "2M", ASID, false);
    sevGmemInvalidate(whole, BASE, BASE + PAGES_PER_2M);
    expect(whole.table.size).to.equal(0);
    const part = table();
    part.makePrivate(BASE, GFN, "2M", ASID, false);
    part.setValidated(BASE, true);
    // The last page of the 2M range alone (a punch of one 4K page).
    sevGmemInvalidate(part, BASE + 511, BASE + 512);
    expect(part.lookup(BASE + 511).entry).to.equal(undefined);
    expect(part.lookup(BASE).entry).to.deep.include({ huge: false, validated: true });
    expect(part.lookup(BASE + 510).entry).to.deep.include({ huge: false, validated: true });
    // The first page alone.
    sevGmemInvalidate(part, BASE, BASE + 1);
    expect(part.lookup(BASE).entry).to.equal(undefined);
    expect(part.table.all().map((iv) => [iv.start - BASE, iv.end - BASE])).to.deep.equal([[1, 511]]);
  });

  it("agrees with a page-by-page RMP over random updates, PSMASHes and invalidations", () => {
    type Op = { kind: "private" | "shared" | "psmash" | "validate" | "invalidate"; page: number; huge: boolean; immutable: boolean };
    const op = fc.record({ kind: fc.constantFrom("private", "shared", "psmash", "validate", "invalidate"), page: fc.integer({ min: 0, max: 1023 }), huge: fc.boolean(), immutable: fc.boolean() }) as fc.Arbitrary<Op>;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const rmp = table(1024);
        const ref: ({ gfn: number; validated: boolean; huge: boolean; immutable: boolean } | undefined)[] = new Array(1024).fill(undefined);
        for (const o of ops) {
          const pfn = BASE + o.page;
          const base = o.huge ? o.page - (o.page % PAGES_PER_2M) : o.page;
          const span = o.huge ? PAGES_PER_2M : 1;
          if (o.kind === "validate") {
            if (ref[o.page] === undefined) continue;
            rmp.setValidated(pfn, true);
            const b = ref[o.page]!.huge ? o.page - (o.page % PAGES_PER_2M) : o.page;
            for (let i = b; i < b + (ref[o.page]!.huge ? PAGES_PER_2M : 1); i++) ref[i] = { ...ref[i]!, validated: true };
          } else if (o.kind === "psmash") {
            const b = o.page - (o.page % PAGES_PER_2M);
            const wasHuge = ref[b]?.huge === true;
            expect(rmp.psmash(pfn)).to.equal(wasHuge ? RMP_RET.SUCCESS : RMP_RET.FAIL_INPUT);
            if (wasHuge) for (let i = b; i < b + PAGES_PER_2M; i++) ref[i] = { ...ref[i]!, huge: false };
          } else if (o.kind === "invalidate") {
            if (ref.slice(base, base + span).some((e) => e?.immutable)) continue;
            sevGmemInvalidate(rmp, BASE + base, BASE + base + span);
            // A 4K free inside a 2M entry PSMASHes it first: the rest stays assigned at 4K.
            const b2 = o.page - (o.page % PAGES_PER_2M);
            if (span === 1 && ref[o.page]?.huge) for (let i = b2; i < b2 + PAGES_PER_2M; i++) ref[i] = { ...ref[i]!, huge: false };
            for (let i = base; i < base + span; i++) ref[i] = undefined;
          } else {
            const rc = o.kind === "private" ? rmp.makePrivate(BASE + base, GFN + base, o.huge ? "2M" : "4K", ASID, o.immutable) : rmp.makeShared(BASE + base, o.huge ? "2M" : "4K");
            if (rc !== RMP_RET.SUCCESS) continue;
            for (let i = base; i < base + span; i++) ref[i] = o.kind === "private" ? { gfn: GFN + i, validated: false, huge: o.huge, immutable: o.immutable } : undefined;
          }
        }
        for (let i = 0; i < 1024; i++) {
          const e = rmp.lookup(BASE + i).entry;
          expect(e === undefined, `frame ${i} assigned`).to.equal(ref[i] === undefined);
          if (e && ref[i]) {
            expect(rmp.gfnOf(BASE + i)).to.equal(ref[i]!.gfn);
            expect({ validated: e.validated, huge: e.huge, immutable: e.immutable }).to.deep.equal({ validated: ref[i]!.validated, huge: ref[i]!.huge, immutable: ref[i]!.immutable });
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it("gives a freed page's frame to the next page, which sev_gmem_prepare assigns unvalidated", () => {
    const s = new Session("linux-7.2", "full");
    const vm = s.vm("KVM_X86_SNP_VM");
    s.initConfidential(vm, "KVM_X86_SNP_VM");
    const g = s.gmem(vm, PAGE);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 0n, flags: 4n, guest_phys_addr: 0x100000n, memory_size: PAGE, userspace_addr: s.anon(1n), guest_memfd: g } });
    const vcpu = s.vcpu(vm);
    s.launchConfidential(vm, "KVM_X86_SNP_VM", [vcpu]);
    s.ok("ioctl", { fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: 0x100000n, size: PAGE, attributes: 8n } });
    const pv = () => s.call("guest_arch", { vcpu, action: "snp:pvalidate", gpa: 0x100000n, args: [1n] }).out;
    expect(pv()).to.deep.equal({ status: 0n, carry: 0n });
    const rmp = s.k.machine.rmp;
    const [before] = rmp.table.all();
    s.ok("fallocate", { fd: g, mode: 3n, offset: 0n, len: PAGE });
    expect(rmp.table.size).to.equal(0);
    expect(pv()).to.deep.equal({ status: 0n, carry: 0n });
    const [after] = rmp.table.all();
    expect(after!.start).to.equal(before!.start);
  });

  it("--check-invariants fires on an RMP that keeps a freed page assigned (a mutated copy of the model)", function () {
    this.timeout(120000);
    const m = MUTANTS.find((x) => x.name === "snp-free-keeps-rmp-assigned")!;
    const dir = mutatedCopy(m.file, m.search, m.replace);
    try {
      const run = (extra: string[]) => {
        try {
          return execFileSync("node", [join(dir, "dist/harness/cli/main.js"), "run", "--driver", "reference", "--profile", "linux-7.2", "--host", "full", "--filter", "=hw:snp:pvalidate:punch_needs_revalidation:page=first", "--out", join(dir, "rep"), ...extra], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
        } catch (e) {
          return (e as { stdout: string }).stdout;
        }
      };
      const checked = run(["--check-invariants"]);
      expect(checked).to.match(/not ok .* # ERROR .*InvariantViolation: RMP frames \[\d+, \d+\) \(ASID \d+\): frame \d+ is assigned but holds no page/);
      // Without the checks the same broken model only shows in what the guest sees.
      expect(run([])).to.match(/not ok .*punch_needs_revalidation/).and.not.to.match(/InvariantViolation/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
