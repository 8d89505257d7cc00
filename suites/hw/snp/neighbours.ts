// RMP state is per page and per guest (HW-SNP-026): PVALIDATE, the private fault and the free
// of one page change that page's RMP entry only. Each case touches two pages, in an order that
// makes KVM assign them one after the other, and checks the other page is as it was: its
// validated bit (#VC or not, PVALIDATE's CF), its GPA (no RMP fault) and the guest's data.
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, expectVc, G, privateAccess, pvalidate, setPrivate, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";

const REQUIRES = [...SNP_REQUIRES, "guest-arch:snp:pvalidate"];
const NOUPDATE = 1n;

/** PVALIDATE(1) of the page at gpa (its private fault assigns it first), then a private write of `byte`. */
async function validateAndWrite(t: TestContext, g: SnpGuest, gpa: bigint, byte: number, what: string): Promise<void> {
  expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, `PVALIDATE(1) of ${what}`);
  expectDone(t, await privateAccess(t, g, gpa, byte), `private write to ${what}`);
}

export default defineSuite({
  suite: "hw:snp:neighbours",
  title: "SEV-SNP: one page's RMP entry changes alone",
  description: "An SNP guest launched with no LAUNCH_UPDATE, its 4-page memslot at 0x10000000 made PRIVATE; two of its pages are assigned, validated, rescinded or freed one after the other.",
  cases: [
    {
      name: "validate_one_page",
      title: "PVALIDATE of page 0 leaves page 1, assigned next, unvalidated (#VC, then PVALIDATE with CF 0); rescinding page 0 later leaves page 1 validated with its data",
      clauses: ["HW-SNP-026", "HW-SNP-002", "HW-SNP-004"],
      requires: REQUIRES,
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t);
        await setPrivate(t, g, G, 4n * P, true);
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "PVALIDATE(1) of page 0");
        expectVc(t, await privateAccess(t, g, G + P, 0x22), "private write to page 1, never validated");
        expectPvalidate(t, await pvalidate(t, g, G + P, true), 0n, 0n, "PVALIDATE(1) of page 1: its bit was clear");
        expectDone(t, await privateAccess(t, g, G + P, 0x22), "private write to page 1");
        expectDone(t, await privateAccess(t, g, G, 0x11), "private write to page 0");
        expectPvalidate(t, await pvalidate(t, g, G, false), 0n, 0n, "PVALIDATE(0) of page 0");
        expectVc(t, await privateAccess(t, g, G), "private read of page 0 after the rescind");
        expectDone(t, await privateAccess(t, g, G + P), "private read of page 1", 0x22);
        expectPvalidate(t, await pvalidate(t, g, G + P, true), 0n, NOUPDATE, "PVALIDATE(1) of page 1: still validated");
      },
    },
    {
      name: "pages_in_any_order",
      title: "pages assigned last-first (page 3, then page 0) keep their own GPAs: both validate with CF 0 and read back what the guest wrote",
      clauses: ["HW-SNP-026", "HW-SNP-002"],
      requires: REQUIRES,
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t);
        await setPrivate(t, g, G, 4n * P, true);
        await validateAndWrite(t, g, G + 3n * P, 0x33, "page 3");
        await validateAndWrite(t, g, G, 0x10, "page 0");
        expectDone(t, await privateAccess(t, g, G + 3n * P), "private read of page 3", 0x33);
        expectDone(t, await privateAccess(t, g, G), "private read of page 0", 0x10);
      },
    },
    {
      name: "free_one_page",
      title: "page 0 made shared and punched out of the guest_memfd goes back to the hypervisor; page 1, assigned after it, keeps its data and stays validated (CF 1)",
      clauses: ["HW-SNP-026", "HW-SNP-010"],
      requires: REQUIRES,
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t);
        await setPrivate(t, g, G, 4n * P, true);
        await validateAndWrite(t, g, G, 0x10, "page 0");
        await validateAndWrite(t, g, G + P, 0x22, "page 1");
        await setPrivate(t, g, G, P, false);
        const punch = await t.call({ op: "fallocate", fd: g.gmem, mode: t.c("FALLOC_FL_KEEP_SIZE") | t.c("FALLOC_FL_PUNCH_HOLE"), offset: 0n, len: P });
        t.ASSERT_OK(punch, "punch page 0 out of the guest_memfd");
        expectDone(t, await privateAccess(t, g, G + P), "private read of page 1", 0x22);
        expectPvalidate(t, await pvalidate(t, g, G + P, true), 0n, NOUPDATE, "PVALIDATE(1) of page 1: still validated");
        await setPrivate(t, g, G, P, true);
        expectVc(t, await privateAccess(t, g, G, 0x12), "private write to page 0's new page");
      },
    },
    {
      name: "two_guests",
      title: "two SNP guests of one process, each using the page the other does not (page 0 of one, page 1 of the other), validate and write them and read back their own data",
      clauses: ["HW-SNP-026", "HW-SNP-002"],
      requires: REQUIRES,
      async run(t) {
        const P = t.pageSize;
        const a = await snpGuest(t);
        const b = await snpGuest(t);
        await setPrivate(t, a, G, 4n * P, true);
        await setPrivate(t, b, G, 4n * P, true);
        await validateAndWrite(t, a, G, 0x0a, "guest A's page 0");
        await validateAndWrite(t, b, G + P, 0x0b, "guest B's page 1");
        expectDone(t, await privateAccess(t, a, G), "guest A reads its page 0", 0x0a);
        expectDone(t, await privateAccess(t, b, G + P), "guest B reads its page 1", 0x0b);
        expectPvalidate(t, await pvalidate(t, b, G + P, false), 0n, 0n, "guest B rescinds its page 1");
        expectDone(t, await privateAccess(t, a, G), "guest A still reads its page 0", 0x0a);
      },
    },
  ],
});
