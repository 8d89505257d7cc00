// kvm_gmem_populate() meeting an allocation failure (HW-SNP-017): the guest_memfd page of a
// gfn is allocated on the way (__kvm_gmem_get_pfn() -> kvm_gmem_get_folio()), and an ENOMEM
// there stops the loop like any other failure. On the first page KVM_SEV_SNP_LAUNCH_UPDATE
// fails with EIO (snp_launch_update(): a negative count), past it the pages done are
// reported. A signal pending before a page stops the loop the same way (EINTR). The failure is injected (the inject operation: models only, feature fault-injection).
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { expectDone, G, launchUpdate, privateAccess, setPrivate, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";

const GFN = G >> 12n;

export default defineSuite({
  suite: "hw:snp:populate_stop",
  title: "SEV-SNP: KVM_SEV_SNP_LAUNCH_UPDATE when a guest_memfd page cannot be allocated",
  description: "An SNP guest with memslot 1 at 0x10000000 (4 pages, none allocated yet); two PRIVATE pages are launched from a source filled with 0x11 (page 0) and 0x22 (page 1), with an injected ENOMEM at the first or the second new page, or a signal pending before the first or the second page.",
  cases: [
    {
      name: "stops_at_failure",
      title: "an allocation failure (or a pending signal: EINTR) at the first page fails LAUNCH_UPDATE with EIO (error 0) and the struct unchanged; at the second page it returns 0 with one page done and the rest in the struct, and the guest reads the launched page",
      clauses: ["HW-SNP-017"],
      requires: [...SNP_REQUIRES, "fault-injection"],
      control: "hw:snp:launch:update_pages",
      variants: { fault: { enomem: "enomem", signal: "signal" }, fails_at: { first_page: 0, second_page: 1 } },
      async run(t: TestContext, _self, v) {
        const P = t.pageSize;
        const done = BigInt(Number(v.fails_at));
        let src = 0n;
        const g = await snpGuest(t, {
          async beforeFinish(g: SnpGuest) {
            const m = await t.call({ op: "mmap", addr: 0n, len: 2n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n });
            t.ASSERT_OK(m, "mmap the source");
            src = m.ret;
            for (const i of [0n, 1n]) t.ASSERT_OK(await t.call({ op: "store", addr: src + i * P, data: new Uint8Array(Number(P)).fill(0x11 * Number(i + 1n)) }), `fill source page ${i}`);
            await setPrivate(t, g, G, 2n * P, true);
            t.ASSERT_OK(await t.call({ op: "inject", fault: v.fault as "enomem" | "signal", after: done }), `inject ${String(v.fault)}`);
            const r = await launchUpdate(t, g, { gfn: GFN, uaddr: src, len: 2n * P, type: "KVM_SEV_SNP_PAGE_TYPE_NORMAL" });
            if (done === 0n) t.EXPECT(r.r.ret === -1n && r.r.errno === "EIO" && r.r.out?.error === 0n, `LAUNCH_UPDATE: expected EIO with error 0, got ret ${r.r.ret} errno ${r.r.errno} error ${String(r.r.out?.error)}`);
            else t.EXPECT_OK(r.r, "LAUNCH_UPDATE");
            const want = { gfn: GFN + done, uaddr: src + done * P, len: (2n - done) * P };
            t.EXPECT(r.gfn === want.gfn && r.uaddr === want.uaddr && r.len === want.len, `the struct written back: expected gfn_start 0x${want.gfn.toString(16)}, uaddr 0x${want.uaddr.toString(16)}, len 0x${want.len.toString(16)}; got 0x${r.gfn.toString(16)}, 0x${r.uaddr.toString(16)}, 0x${r.len.toString(16)}`);
          },
        });
        if (done > 0n) expectDone(t, await privateAccess(t, g, G), "the launched first page", 0x11);
      },
    },
  ],
});
