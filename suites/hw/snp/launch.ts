// KVM_SEV_SNP_LAUNCH_UPDATE through kvm_gmem_populate (HW-SNP-016..020, 023..025): what KVM
// requires of the attributes and of the RMP, what it writes back into the user's struct,
// and what the guest finds once launched. The update runs between LAUNCH_START and
// LAUNCH_FINISH (snpGuest's beforeFinish); the source pages are a mapping filled with
// 0x11 (page 0), 0x22 (page 1), ...
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, expectVc, G, launchUpdate, privateAccess, pvalidate, setPrivate, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";

const REQUIRES = [...SNP_REQUIRES, "guest-arch:snp:pvalidate"];
const GFN = G >> 12n;
/** types whose outcome the model decides (CPUID and SECRETS pages are the firmware's) */
const TYPES = { normal: "KVM_SEV_SNP_PAGE_TYPE_NORMAL", unmeasured: "KVM_SEV_SNP_PAGE_TYPE_UNMEASURED", zero: "KVM_SEV_SNP_PAGE_TYPE_ZERO" };

/** n source pages, page i filled with 0x11 * (i + 1). */
async function source(t: TestContext, n: bigint): Promise<bigint> {
  const P = t.pageSize;
  const r = await t.call({ op: "mmap", addr: 0n, len: n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n });
  t.ASSERT_OK(r, "mmap the source");
  for (let i = 0n; i < n; i++) t.ASSERT_OK(await t.call({ op: "store", addr: r.ret + i * P, data: new Uint8Array(Number(P)).fill(0x11 * Number(i + 1n)) }), `fill source page ${i}`);
  return r.ret;
}

function expectProgress(t: TestContext, got: { gfn: bigint; uaddr: bigint; len: bigint }, want: { gfn: bigint; uaddr: bigint; len: bigint }, what: string): void {
  t.EXPECT(got.gfn === want.gfn && got.uaddr === want.uaddr && got.len === want.len, `${what}: expected gfn_start 0x${want.gfn.toString(16)}, uaddr 0x${want.uaddr.toString(16)}, len 0x${want.len.toString(16)}; got 0x${got.gfn.toString(16)}, 0x${got.uaddr.toString(16)}, 0x${got.len.toString(16)}`);
}

function expectEio(t: TestContext, r: { r: { ret: bigint; errno?: string; out?: { [k: string]: unknown } } }, what: string): void {
  t.EXPECT(r.r.ret === -1n && r.r.errno === "EIO" && r.r.out?.error === 0n, `${what}: expected EIO with kvm_sev_cmd.error 0, got ret ${r.r.ret} errno ${r.r.errno} error ${String(r.r.out?.error)}`);
}

export default defineSuite({
  suite: "hw:snp:launch",
  title: "SEV-SNP: KVM_SEV_SNP_LAUNCH_UPDATE and the pages it puts in place",
  description: "An SNP guest with memslot 1 at 0x10000000 (4 pages); KVM_SEV_SNP_LAUNCH_UPDATE between LAUNCH_START and LAUNCH_FINISH, then the guest's view of the pages.",
  cases: [
    {
      name: "update_pages",
      title: "LAUNCH_UPDATE of two PRIVATE pages (the slot's first two, or its last two) copies the source (nothing for ZERO: the pages are zero), writes back gfn_start + 2, uaddr + 2 pages (unchanged for ZERO) and len 0; the guest reads the pages with no PVALIDATE, and PVALIDATE(1) reports CF set",
      clauses: ["HW-SNP-016"],
      requires: REQUIRES,
      variants: { type: TYPES, pages: { first: 0, last: 2 } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const first = BigInt(Number(v.pages));
        const zero = v.type === TYPES.zero;
        let src = 0n;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            src = await source(t, 2n);
            await setPrivate(t, g, G + first * P, 2n * P, true);
            const r = await launchUpdate(t, g, { gfn: GFN + first, uaddr: src, len: 2n * P, type: String(v.type) });
            t.EXPECT_OK(r.r, "KVM_SEV_SNP_LAUNCH_UPDATE");
            expectProgress(t, r, { gfn: GFN + first + 2n, uaddr: zero ? src : src + 2n * P, len: 0n }, "the struct written back");
          },
        });
        for (const i of [0n, 1n]) {
          const gpa = G + (first + i) * P;
          expectDone(t, await privateAccess(t, g, gpa + P - 1n), `private read of launched page ${i}`, zero ? 0 : 0x11 * Number(i + 1n));
          expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 1n, `PVALIDATE(1) of launched page ${i}`);
        }
      },
    },
    {
      name: "not_private",
      title: "LAUNCH_UPDATE stops at the first gfn that is not PRIVATE: on the first page it fails with EIO, error 0 and the struct unchanged; on the second it returns 0 with one page done and the rest in the struct",
      clauses: ["HW-SNP-017"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      variants: { private_pages: { none: 0, first_only: 1 } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const n = BigInt(Number(v.private_pages));
        let src = 0n;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            src = await source(t, 2n);
            if (n > 0n) await setPrivate(t, g, G, n * P, true);
            const r = await launchUpdate(t, g, { gfn: GFN, uaddr: src, len: 2n * P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            if (n === 0n) expectEio(t, r, "LAUNCH_UPDATE");
            else t.EXPECT_OK(r.r, "LAUNCH_UPDATE");
            expectProgress(t, r, { gfn: GFN + n, uaddr: src + n * P, len: (2n - n) * P }, "the struct written back");
          },
        });
        if (n > 0n) expectDone(t, await privateAccess(t, g, G), "the launched first page", 0x11);
      },
    },
    {
      name: "already_assigned",
      title: "a second LAUNCH_UPDATE of a launched page fails with EIO (error 0) before anything is written into it: the guest still reads the first update's data",
      clauses: ["HW-SNP-018"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      variants: { page: { first: 0, last: 3 } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const page = BigInt(Number(v.page));
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const src = await source(t, 3n);
            await setPrivate(t, g, G + page * P, P, true);
            t.EXPECT_OK((await launchUpdate(t, g, { gfn: GFN + page, uaddr: src, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" })).r, "first LAUNCH_UPDATE");
            const again = await launchUpdate(t, g, { gfn: GFN + page, uaddr: src + 2n * P, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            expectEio(t, again, "second LAUNCH_UPDATE");
            expectProgress(t, again, { gfn: GFN + page, uaddr: src + 2n * P, len: P }, "the second struct, unchanged");
          },
        });
        expectDone(t, await privateAccess(t, g, G + page * P), "the page", 0x11);
      },
    },
    {
      name: "past_memslot_end",
      title: "LAUNCH_UPDATE over a range that runs past the memslot's last page launches the pages inside it, returns 0 and leaves the rest in len",
      clauses: ["HW-SNP-019"],
      requires: REQUIRES,
      variants: { from: { third: 2, last: 3 } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const from = BigInt(Number(v.from));
        const inside = 4n - from;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const src = await source(t, 4n);
            await setPrivate(t, g, G, 4n * P, true);
            const r = await launchUpdate(t, g, { gfn: GFN + from, uaddr: src, len: 4n * P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            t.EXPECT_OK(r.r, "LAUNCH_UPDATE");
            expectProgress(t, r, { gfn: GFN + 4n, uaddr: src + inside * P, len: (4n - inside) * P }, "the struct written back");
          },
        });
        expectDone(t, await privateAccess(t, g, G + 3n * P), "the slot's last page", 0x11 * Number(inside));
      },
    },
    {
      name: "not_sev_fd",
      title: "LAUNCH_UPDATE through a descriptor that is not /dev/sev fails with EIO (error 0) and the struct unchanged; the page is not launched: the guest finds it unvalidated (#VC) and PVALIDATE(1) clears CF",
      clauses: ["HW-SNP-020"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const src = await source(t, 1n);
            await setPrivate(t, g, G, P, true);
            const r = await launchUpdate(t, g, { gfn: GFN, uaddr: src, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" }, g.vm);
            expectEio(t, r, "LAUNCH_UPDATE with the VM fd as sev_fd");
            expectProgress(t, r, { gfn: GFN, uaddr: src, len: P }, "the struct, unchanged");
          },
        });
        expectVc(t, await privateAccess(t, g, G), "the page");
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "PVALIDATE(1)");
      },
    },
    {
      name: "bad_params",
      title: "LAUNCH_UPDATE on a PRIVATE page with len 0, a len that is not a multiple of 4096, non-zero flags, or a type KVM does not accept (2, the firmware's VMSA type; 7) fails with EINVAL before kvm_gmem_populate: the struct is not written back and the page is not launched: the guest finds it unvalidated (#VC)",
      clauses: ["HW-SNP-023"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      variants: { bad: { len_zero: "len_zero", len_unaligned: "len_unaligned", flags: "flags", type_vmsa: "type_vmsa", type_unknown: "type_unknown" } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const len = v.bad === "len_zero" ? 0n : v.bad === "len_unaligned" ? P + 0x800n : P;
        const rawType = v.bad === "type_vmsa" ? 2n : v.bad === "type_unknown" ? 7n : undefined;
        const flags = v.bad === "flags" ? 1n : 0n;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const src = await source(t, 2n);
            await setPrivate(t, g, G, 2n * P, true);
            const r = await launchUpdate(t, g, { gfn: GFN, uaddr: src, len, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL", rawType, flags });
            t.EXPECT_ERRNO(r.r, "EINVAL", `LAUNCH_UPDATE with ${String(v.bad)}`);
            expectProgress(t, r, { gfn: GFN, uaddr: src, len }, "the struct, unchanged");
          },
        });
        expectVc(t, await privateAccess(t, g, G), "the page");
      },
    },
    {
      name: "not_gmem_slot",
      title: "LAUNCH_UPDATE whose gfn_start is in no memslot, or in a memslot without KVM_MEM_GUEST_MEMFD, fails with EINVAL and the struct unchanged",
      clauses: ["HW-SNP-024"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      variants: { at: { no_slot: "no_slot", plain_slot: "plain_slot" } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const G2 = 0x20000000n;
        await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const src = await source(t, 1n);
            if (v.at === "plain_slot")
              t.ASSERT_OK(await t.call({ op: "ioctl", fd: g.vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 2n, flags: 0n, guest_phys_addr: G2, memory_size: P, userspace_addr: src, guest_memfd_offset: 0n, guest_memfd: 0n } }), "memslot 2, no guest_memfd");
            const r = await launchUpdate(t, g, { gfn: G2 >> 12n, uaddr: src, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            t.EXPECT_ERRNO(r.r, "EINVAL", "LAUNCH_UPDATE");
            expectProgress(t, r, { gfn: G2 >> 12n, uaddr: src, len: P }, "the struct, unchanged");
          },
        });
      },
    },
    {
      name: "bad_source",
      title: "LAUNCH_UPDATE of a NORMAL page whose source address is not mapped fails with EIO (error 0: the firmware was never reached) and the struct unchanged; the page is not launched: the guest finds it unvalidated (#VC)",
      clauses: ["HW-SNP-025"],
      requires: REQUIRES,
      control: "hw:snp:launch:update_pages",
      async run(t) {
        const P = t.pageSize;
        let src = 0n;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            src = await source(t, 1n);
            t.ASSERT_OK(await t.call({ op: "munmap", addr: src, len: P }), "munmap the source");
            await setPrivate(t, g, G, P, true);
            const r = await launchUpdate(t, g, { gfn: GFN, uaddr: src, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            expectEio(t, r, "LAUNCH_UPDATE from an unmapped source");
            expectProgress(t, r, { gfn: GFN, uaddr: src, len: P }, "the struct, unchanged");
          },
        });
        expectVc(t, await privateAccess(t, g, G), "the page");
      },
    },
  ],
});
