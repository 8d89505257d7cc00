// GHCB page-state changes of an SNP guest and the KVM_EXIT_HYPERCALL exits KVM makes of
// them (HW-SNP-011..015): the MSR protocol's one-page request and the PSC buffer, with
// the VMM's answer given on the next KVM_RUN (snp:resume). The exit's args are compared
// element by element, which a JSON step list cannot do.
import { defineSuite, describeResult, type TestContext } from "../../../harness/scenario/index.js";
import { expectMapGpaRange, expectMemoryFault, expectStatus, G, pscEntry, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";
import type { OpResult } from "../../../spec/driver/contract.js";

const MSR = [...SNP_REQUIRES, "guest-arch:snp:psc-msr", "guest-arch:snp:resume"];
const BUF = [...SNP_REQUIRES, "guest-arch:snp:psc", "guest-arch:snp:resume"];
const GFN = G >> 12n;

function msr(t: TestContext, g: SnpGuest, gpa: bigint, op: bigint): Promise<OpResult> {
  return t.call({ op: "guest_arch", vcpu: g.vcpu, action: "snp:psc-msr", gpa, args: [op] });
}

function buffer(t: TestContext, g: SnpGuest, cur: bigint, end: bigint, entries: bigint[]): Promise<OpResult> {
  return t.call({ op: "guest_arch", vcpu: g.vcpu, action: "snp:psc", gpa: G, args: [cur, end, ...entries] });
}

function resume(t: TestContext, g: SnpGuest, ret: bigint): Promise<OpResult> {
  return t.call({ op: "guest_arch", vcpu: g.vcpu, action: "snp:resume", gpa: G, args: [ret] });
}

/** The buffer as KVM left it: hdr.cur_entry and each entry's cur_page. */
function expectBuffer(t: TestContext, r: OpResult, curEntry: bigint, curPages: bigint[], what: string): void {
  const entries = r.out?.entries;
  const pages = Array.isArray(entries) ? entries.map((e) => (typeof e === "bigint" ? e & 0xfffn : undefined)) : undefined;
  t.EXPECT(r.out?.cur_entry === curEntry && JSON.stringify(pages?.slice(0, curPages.length).map(String)) === JSON.stringify(curPages.map(String)), `${what}: expected cur_entry ${curEntry} and cur_page ${curPages.join(",")}, got ${describeResult(r)}`);
}

function attrs(t: TestContext, priv: boolean, huge = false): bigint {
  return t.c(priv ? "KVM_MAP_GPA_RANGE_ENCRYPTED" : "KVM_MAP_GPA_RANGE_DECRYPTED") | t.c(huge ? "KVM_MAP_GPA_RANGE_PAGE_SZ_2M" : "KVM_MAP_GPA_RANGE_PAGE_SZ_4K");
}

export default defineSuite({
  suite: "hw:snp:psc",
  title: "SEV-SNP: GHCB page-state changes forwarded as KVM_EXIT_HYPERCALL",
  description: "An SNP guest launched with no LAUNCH_UPDATE, memslot 1 at 0x10000000 (4 pages, or 512 for 2 MiB entries), and KVM_CAP_EXIT_HYPERCALL enabled for KVM_HC_MAP_GPA_RANGE unless a case says otherwise.",
  cases: [
    {
      name: "msr_forwarded",
      title: "an MSR-protocol PRIVATE or SHARED request for the first or last page exits with MAP_GPA_RANGE(gpa, 1, ENCRYPTED|DECRYPTED, 4K) and changes no attribute; the next KVM_RUN answers GHCB_MSR_PSC_RESP, or GHCB_MSR_PSC_RESP_ERROR when userspace wrote a non-zero hypercall.ret",
      clauses: ["HW-SNP-011"],
      requires: MSR,
      variants: { op: { private: "SNP_PAGE_STATE_PRIVATE", shared: "SNP_PAGE_STATE_SHARED" }, page: { first: 0, last: 3 }, ret: { ok: 0, failed: 1 } },
      async run(t, _self, v) {
        const g = await snpGuest(t, { exitHypercall: true });
        const gpa = G + BigInt(Number(v.page)) * t.pageSize;
        const priv = v.op === "SNP_PAGE_STATE_PRIVATE";
        expectMapGpaRange(t, await msr(t, g, gpa, t.c(String(v.op))), gpa, 1n, attrs(t, priv), "the request");
        expectStatus(t, await resume(t, g, BigInt(Number(v.ret))), Number(v.ret) === 0 ? t.c("GHCB_MSR_PSC_RESP") : t.c("GHCB_MSR_PSC_RESP_ERROR"), "the answer");
        // Nothing was converted: the page is still shared.
        expectMemoryFault(t, await t.call({ op: "guest", vcpu: g.vcpu, access: "read", gpa, len: 1n, private: true }), gpa, true, "a private read after the exchange");
      },
    },
    {
      name: "msr_refused",
      title: "an MSR-protocol request is answered GHCB_MSR_PSC_RESP_ERROR at once, with no exit, when KVM_CAP_EXIT_HYPERCALL does not enable MAP_GPA_RANGE or the operation is neither PRIVATE nor SHARED",
      clauses: ["HW-SNP-012"],
      requires: MSR,
      control: "hw:snp:psc:msr_forwarded",
      variants: { why: { no_exit: "0,1", op_zero: "1,0", op_psmash: "1,3", op_max: "1,15" } },
      async run(t, _self, v) {
        const [exit, op] = String(v.why).split(",").map(BigInt) as [bigint, bigint];
        const g = await snpGuest(t, { exitHypercall: exit === 1n });
        expectStatus(t, await msr(t, g, G, op), t.c("GHCB_MSR_PSC_RESP_ERROR"), "the request");
        expectStatus(t, await msr(t, g, G, op), t.c("GHCB_MSR_PSC_RESP_ERROR"), "the same request again");
      },
    },
    {
      name: "buffer_coalesced",
      title: "a PSC buffer exits once per run of adjacent entries with the same operation and size: two PRIVATE pages then one SHARED page are two exits; each answer of 0 marks its entries done, and the guest ends with status 0",
      clauses: ["HW-SNP-013"],
      requires: BUF,
      async run(t) {
        const g = await snpGuest(t, { exitHypercall: true });
        const P = t.pageSize;
        const entries = [pscEntry(GFN, 1n), pscEntry(GFN + 1n, 1n), pscEntry(GFN + 3n, 2n)];
        expectMapGpaRange(t, await buffer(t, g, 0n, 2n, entries), G, 2n, attrs(t, true), "first range");
        expectMapGpaRange(t, await resume(t, g, 0n), G + 3n * P, 1n, attrs(t, false), "second range");
        const done = await resume(t, g, 0n);
        expectStatus(t, done, 0n, "the request");
        expectBuffer(t, done, 3n, [1n, 1n, 1n], "the buffer");
      },
    },
    {
      name: "buffer_2m_entry",
      title: "a 2 MiB PSC entry at a 2 MiB-aligned gfn exits with 512 pages and PAGE_SZ_2M; answered 0, its cur_page becomes 512",
      clauses: ["HW-SNP-013"],
      requires: BUF,
      async run(t) {
        const g = await snpGuest(t, { exitHypercall: true, pages: 512n });
        expectMapGpaRange(t, await buffer(t, g, 0n, 0n, [pscEntry(GFN, 1n, true)]), G, 512n, attrs(t, true, true), "the 2 MiB entry");
        const done = await resume(t, g, 0n);
        expectStatus(t, done, 0n, "the request");
        expectBuffer(t, done, 1n, [512n], "the buffer");
      },
    },
    {
      name: "buffer_error",
      title: "a PSC buffer ends with an error and no exit when end_entry is 253 or more (INVALID_HDR), when the entry at cur_entry has a 2 MiB gfn out of alignment or cur_page above its page count (INVALID_ENTRY, cur_entry left there), or without KVM_CAP_EXIT_HYPERCALL (GENERIC)",
      clauses: ["HW-SNP-014"],
      requires: BUF,
      control: "hw:snp:psc:buffer_coalesced",
      variants: {
        bad: {
          end_max: "1,253,0,INVALID_HDR",
          end_u16: "1,65535,0,INVALID_HDR",
          unaligned_2m: "1,0,1,INVALID_ENTRY",
          cur_page_over: "1,0,2,INVALID_ENTRY",
          no_exit: "0,0,0,GENERIC",
        },
      },
      async run(t, _self, v) {
        const [exit, end, kind, error] = String(v.bad).split(",") as [string, string, string, string];
        const g = await snpGuest(t, { exitHypercall: exit === "1" });
        const entry = kind === "1" ? pscEntry(GFN + 1n, 1n, true) : kind === "2" ? pscEntry(GFN, 1n, false, 2n) : pscEntry(GFN, 1n);
        const r = await buffer(t, g, 0n, BigInt(end), [entry]);
        expectStatus(t, r, t.c(`VMGEXIT_PSC_ERROR_${error}`), "the request");
        expectBuffer(t, r, 0n, [kind === "2" ? 2n : 0n], "the buffer, untouched");
      },
    },
    {
      name: "buffer_error_after_exit",
      title: "a PSC buffer whose second range is bad ends with INVALID_ENTRY after the first range's exit, cur_entry at the bad entry; an answer with a non-zero hypercall.ret ends it with GENERIC and the in-flight entries not done",
      clauses: ["HW-SNP-014"],
      requires: BUF,
      control: "hw:snp:psc:buffer_coalesced",
      variants: { fail: { bad_second_entry: "entry", vmm_error: "ret" } },
      async run(t, _self, v) {
        const g = await snpGuest(t, { exitHypercall: true });
        const second = v.fail === "entry" ? pscEntry(GFN + 3n, 2n, true) : pscEntry(GFN + 3n, 2n);
        expectMapGpaRange(t, await buffer(t, g, 0n, 1n, [pscEntry(GFN, 1n), second]), G, 1n, attrs(t, true), "first range");
        const r = await resume(t, g, v.fail === "ret" ? 1n : 0n);
        if (v.fail === "ret") {
          expectStatus(t, r, t.c("VMGEXIT_PSC_ERROR_GENERIC"), "the request after a failed answer");
          expectBuffer(t, r, 0n, [0n, 0n], "the buffer: nothing done");
        } else {
          expectStatus(t, r, t.c("VMGEXIT_PSC_ERROR_INVALID_ENTRY"), "the request at the bad entry");
          expectBuffer(t, r, 1n, [1n, 0n], "the buffer: the first entry done");
        }
      },
    },
    {
      name: "buffer_nothing_to_do",
      title: "a PSC buffer whose cur_entry is past end_entry, or whose entries are all done, completes with status 0 and no exit",
      clauses: ["HW-SNP-014"],
      requires: BUF,
      variants: { why: { cur_past_end: "2,1,0", all_done: "0,1,1" } },
      async run(t, _self, v) {
        const [cur, end, done] = String(v.why).split(",").map(BigInt) as [bigint, bigint, bigint];
        const g = await snpGuest(t, { exitHypercall: true });
        const r = await buffer(t, g, cur, end, [pscEntry(GFN, 1n, false, done), pscEntry(GFN + 1n, 1n, false, done)]);
        expectStatus(t, r, 0n, "the request");
        expectBuffer(t, r, cur > end ? cur : end + 1n, [done, done], "the buffer");
      },
    },
    {
      name: "buffer_psmash_and_partial",
      title: "PSMASH and UNSMASH entries are done without an exit; a 2 MiB entry with cur_page 2 goes on as 4 KiB pages from gfn + 2 (510 pages, PAGE_SZ_2M still set) and is not coalesced with the entry after it",
      clauses: ["HW-SNP-015"],
      requires: BUF,
      async run(t) {
        const g = await snpGuest(t, { exitHypercall: true, pages: 512n });
        const P = t.pageSize;
        const entries = [pscEntry(GFN, t.c("SNP_PAGE_STATE_PSMASH"), true), pscEntry(GFN, t.c("SNP_PAGE_STATE_UNSMASH"), true), pscEntry(GFN, 1n, true, 2n), pscEntry(GFN + 512n, 1n)];
        expectMapGpaRange(t, await buffer(t, g, 0n, 3n, entries), G + 2n * P, 510n, attrs(t, true, true), "the partly done 2 MiB entry");
        expectMapGpaRange(t, await resume(t, g, 0n), G + 512n * P, 1n, attrs(t, true), "the next entry, on its own");
        const done = await resume(t, g, 0n);
        expectStatus(t, done, 0n, "the request");
        expectBuffer(t, done, 4n, [512n, 512n, 512n, 1n], "the buffer");
      },
    },
  ],
});
