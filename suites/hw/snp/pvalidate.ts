// The RMP under an SNP guest's private memory, seen through PVALIDATE and C=1 accesses
// (HW-SNP-001..010, 021): a private fault assigns a page unvalidated, PVALIDATE sets and
// clears the validated bit with its status codes, and the RMP follows guest_memfd's pages
// (a zap keeps it, a free gives the page back). Guest actions need guest-arch:snp:pvalidate.
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { expectDone, expectMemoryFault, expectPvalidate, expectVc, G, privateAccess, pvalidate, setPrivate, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";

const REQUIRES = [...SNP_REQUIRES, "guest-arch:snp:pvalidate"];
/** The first and the last page of the 4-page memslot. */
const PAGE_OF_SLOT = { first: 0, last: 3 };
const NOUPDATE = 1n;

function at(t: TestContext, page: unknown): bigint {
  return G + BigInt(Number(page)) * t.pageSize;
}

/** A launched SNP guest with page `page` of the slot PRIVATE, and validated by PVALIDATE(1) (rAX 0, CF 0) when `validate`. */
async function privatePage(t: TestContext, page: unknown, validate: boolean): Promise<{ g: SnpGuest; gpa: bigint }> {
  const g = await snpGuest(t);
  const gpa = at(t, page);
  await setPrivate(t, g, gpa, t.pageSize, true);
  if (validate) expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE(1)");
  return { g, gpa };
}

export default defineSuite({
  suite: "hw:snp:pvalidate",
  title: "SEV-SNP: page assignment, PVALIDATE and #VC",
  description: "An SNP guest launched with no LAUNCH_UPDATE; memslot 1 at 0x10000000 with a guest_memfd and shared memory whose page i holds 0xa0+i. Private (C=1) accesses and PVALIDATE go through the driver's SNP guest.",
  cases: [
    {
      name: "fault_assigns_unvalidated",
      title: "a private access to a PRIVATE gfn maps a page the guest has not validated: reads and writes take #VC, with no exit, until PVALIDATE",
      clauses: ["HW-SNP-001", "HW-SNP-006"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:validate_then_access",
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, false);
        expectVc(t, await privateAccess(t, g, gpa), "private read");
        expectVc(t, await privateAccess(t, g, gpa, 0x5a), "private write");
        expectVc(t, await privateAccess(t, g, gpa), "private read again: the write did not validate anything");
        // The page is mapped and assigned, only not validated: PVALIDATE changes the bit (CF 0).
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE afterwards");
      },
    },
    {
      name: "validate_then_access",
      title: "PVALIDATE(1) of a page assigned by the private fault returns 0 with CF clear; then the guest writes and reads the page back",
      clauses: ["HW-SNP-001", "HW-SNP-002"],
      requires: REQUIRES,
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, true);
        expectDone(t, await privateAccess(t, g, gpa + 7n, 0x5a), "private write");
        expectDone(t, await privateAccess(t, g, gpa + 7n), "private read", 0x5a);
      },
    },
    {
      name: "no_update_sets_carry",
      title: "PVALIDATE asking for the validated bit's current value changes nothing and sets CF: rescinding a page never validated, validating one twice",
      clauses: ["HW-SNP-003"],
      requires: REQUIRES,
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, false);
        expectPvalidate(t, await pvalidate(t, g, gpa, false), 0n, NOUPDATE, "PVALIDATE(0) of a page not validated");
        expectVc(t, await privateAccess(t, g, gpa), "still not validated");
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE(1)");
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, NOUPDATE, "PVALIDATE(1) again");
        expectDone(t, await privateAccess(t, g, gpa, 1), "still validated");
      },
    },
    {
      name: "rescind",
      title: "PVALIDATE(0) of a validated page clears the bit (CF clear): private accesses take #VC again; validated again, the page still holds what the guest wrote",
      clauses: ["HW-SNP-004", "HW-SNP-006"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:validate_then_access",
      async run(t) {
        const { g } = await privatePage(t, 0, true);
        expectDone(t, await privateAccess(t, g, G, 0x3c), "private write");
        expectPvalidate(t, await pvalidate(t, g, G, false), 0n, 0n, "PVALIDATE(0)");
        expectVc(t, await privateAccess(t, g, G), "private read after the rescind");
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "PVALIDATE(1) again");
        expectDone(t, await privateAccess(t, g, G), "private read", 0x3c);
      },
    },
    {
      name: "size_mismatch_2m",
      title: "a 2 MiB PVALIDATE of a 2 MiB-aligned GPA fails with FAIL_SIZEMISMATCH (6) because KVM made a 4 KiB RMP entry; nothing changes, and 4 KiB PVALIDATEs of the range's first and last pages succeed",
      clauses: ["HW-SNP-005"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:validate_then_access",
      async run(t) {
        const huge = 512n * t.pageSize;
        const g = await snpGuest(t, { pages: 512n });
        await setPrivate(t, g, G, huge, true);
        expectPvalidate(t, await pvalidate(t, g, G, true, huge), t.c("SNP_PVALIDATE_FAIL_SIZEMISMATCH"), 0n, "2 MiB PVALIDATE(1)");
        expectVc(t, await privateAccess(t, g, G), "the first page is still not validated");
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "4 KiB PVALIDATE of the first page");
        expectPvalidate(t, await pvalidate(t, g, G + huge - t.pageSize, true), 0n, 0n, "4 KiB PVALIDATE of the last page");
        expectPvalidate(t, await pvalidate(t, g, G, false, huge), t.c("SNP_PVALIDATE_FAIL_SIZEMISMATCH"), 0n, "2 MiB PVALIDATE(0)");
        expectDone(t, await privateAccess(t, g, G, 1), "the first page is still validated");
      },
    },
    {
      name: "unaligned_fails_input",
      title: "a 2 MiB PVALIDATE of a GPA that is not 2 MiB-aligned fails with FAIL_INPUT (1) and changes nothing",
      clauses: ["HW-SNP-007"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:validate_then_access",
      variants: { page: { second: 1, last: 3 } },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, false);
        expectPvalidate(t, await pvalidate(t, g, gpa, true, 512n * t.pageSize), t.c("SNP_PVALIDATE_FAIL_INPUT"), 0n, "2 MiB PVALIDATE of an unaligned GPA");
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "4 KiB PVALIDATE of the same page");
      },
    },
    {
      name: "shared_gfn_exits",
      title: "PVALIDATE of a gfn that is not PRIVATE is a private fault against the attributes: EFAULT with KVM_EXIT_MEMORY_FAULT (PRIVATE, the page); once userspace makes it PRIVATE the same PVALIDATE succeeds",
      clauses: ["HW-SNP-008"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:validate_then_access",
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const g = await snpGuest(t);
        const gpa = at(t, v.page);
        expectMemoryFault(t, await pvalidate(t, g, gpa, true), gpa, true, "PVALIDATE of a shared gfn");
        expectMemoryFault(t, await privateAccess(t, g, gpa + 1n), gpa, true, "a private read of it");
        await setPrivate(t, g, gpa, t.pageSize, true);
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE once PRIVATE");
      },
    },
    {
      name: "shared_round_trip_keeps_page",
      title: "a validated page made shared and PRIVATE again without a punch is the same page, still validated: no #VC, the guest's byte is there, and PVALIDATE(1) sets CF",
      clauses: ["HW-SNP-009"],
      requires: REQUIRES,
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, true);
        expectDone(t, await privateAccess(t, g, gpa, 0x77), "private write");
        await setPrivate(t, g, gpa, t.pageSize, false);
        const shared = await t.call({ op: "guest", vcpu: g.vcpu, access: "read", gpa, len: 1n, private: false });
        expectDone(t, shared, "shared read while shared: userspace_addr's page", 0xa0 + Number(v.page));
        await setPrivate(t, g, gpa, t.pageSize, true);
        expectDone(t, await privateAccess(t, g, gpa), "private read once PRIVATE again", 0x77);
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, NOUPDATE, "PVALIDATE(1): still validated");
      },
    },
    {
      name: "punch_needs_revalidation",
      title: "a validated page converted to shared and punched out of the guest_memfd goes back to the hypervisor: once PRIVATE again, the gfn's new page takes #VC and PVALIDATE(1) clears CF",
      clauses: ["HW-SNP-010", "HW-SNP-006"],
      requires: REQUIRES,
      control: "hw:snp:pvalidate:shared_round_trip_keeps_page",
      variants: { page: PAGE_OF_SLOT },
      async run(t, _self, v) {
        const { g, gpa } = await privatePage(t, v.page, true);
        expectDone(t, await privateAccess(t, g, gpa, 0x77), "private write");
        await setPrivate(t, g, gpa, t.pageSize, false);
        const punch = await t.call({ op: "fallocate", fd: g.gmem, mode: t.c("FALLOC_FL_KEEP_SIZE") | t.c("FALLOC_FL_PUNCH_HOLE"), offset: BigInt(Number(v.page)) * t.pageSize, len: t.pageSize });
        t.ASSERT_OK(punch, "punch the page out of the guest_memfd");
        await setPrivate(t, g, gpa, t.pageSize, true);
        expectVc(t, await privateAccess(t, g, gpa, 0x78), "private write to the new page");
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE(1) of the new page");
      },
    },
    {
      name: "rebound_page_keeps_gpa",
      title: "a validated guest_memfd page bound again at another GPA keeps its RMP GPA: the guest's private read there faults forever (KVM_RUN interrupted, KVM_EXIT_INTR); bound again at its own GPA it reads back what the guest wrote",
      clauses: ["HW-SNP-021"],
      requires: REQUIRES,
      variants: { gpa: { other: "0x10100000", same: "0x10000000" } },
      async run(t, _self, v) {
        const { g } = await privatePage(t, 0, true);
        const to = t.value(String(v.gpa));
        expectDone(t, await privateAccess(t, g, G, 0x42), "private write");
        const slot = (gpa: bigint, size: bigint) => t.call({ op: "ioctl", fd: g.vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: t.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: gpa, memory_size: size, userspace_addr: g.shared, guest_memfd_offset: 0n, guest_memfd: g.gmem } });
        t.ASSERT_OK(await slot(G, 0n), "delete memslot 1");
        t.ASSERT_OK(await slot(to, t.pageSize), "memslot 1 again, one page at the new GPA");
        await setPrivate(t, g, to, t.pageSize, true);
        const r = await privateAccess(t, g, to);
        if (to === G) expectDone(t, r, "private read at the page's own GPA", 0x42);
        else t.EXPECT(r.ret === -1n && r.errno === "EINTR" && r.exit?.reason === "KVM_EXIT_INTR", `private read at another GPA: expected the guest to fault until interrupted (EINTR, KVM_EXIT_INTR), got ${JSON.stringify(r, (_k, x) => (typeof x === "bigint" ? x.toString() : x))}`);
      },
    },
  ],
});
