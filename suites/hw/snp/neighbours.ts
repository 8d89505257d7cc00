// RMP state is per page and per guest (HW-SNP-026): PVALIDATE, the private fault and the free
// of one page change that page's RMP entry only. Each case touches two pages, in an order that
// makes KVM assign them one after the other, and checks the other page is as it was: its
// validated bit (#VC or not, PVALIDATE's CF), its GPA (no RMP fault) and the guest's data.
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, expectVc, G, privateAccess, pvalidate, setPrivate, SNP_REQUIRES, snpGuest, type SnpGuest } from "../../../harness/scenario/snp.js";

const REQUIRES = [...SNP_REQUIRES, "guest-arch:snp:pvalidate"];
/** in-place conversion (conv-v7): guest_memfd keeps the attributes, set with KVM_SET_MEMORY_ATTRIBUTES2 */
const INPLACE_REQUIRES = [...SNP_REQUIRES.filter((f) => f !== "memory-attributes"), "gmem-flag:mmap", "gmem-attributes", "guest-arch:snp:pvalidate"];
const NOUPDATE = 1n;

/** A launched SNP guest whose 4-page memslot is all PRIVATE. */
async function privateGuest(t: TestContext): Promise<SnpGuest> {
  const g = await snpGuest(t);
  await setPrivate(t, g, G, 4n * t.pageSize, true);
  return g;
}

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
        const g = await privateGuest(t);
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "PVALIDATE(1) of page 0");
        expectVc(t, await privateAccess(t, g, G + P, 0x22), "private write to page 1, never validated");
        expectPvalidate(t, await pvalidate(t, g, G + P, true), 0n, 0n, "PVALIDATE(1) of page 1: its bit was clear");
        expectDone(t, await privateAccess(t, g, G + P, 0x22), "private write to page 1");
        expectDone(t, await privateAccess(t, g, G + P + 0x80n, 0x23), "private write to page 1 at offset 0x80");
        expectDone(t, await privateAccess(t, g, G, 0x11), "private write to page 0");
        expectPvalidate(t, await pvalidate(t, g, G, false), 0n, 0n, "PVALIDATE(0) of page 0");
        expectVc(t, await privateAccess(t, g, G), "private read of page 0 after the rescind");
        expectDone(t, await privateAccess(t, g, G + P), "private read of page 1", 0x22);
        expectDone(t, await privateAccess(t, g, G + P + 0x80n), "private read of page 1 at offset 0x80", 0x23);
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
        const g = await privateGuest(t);
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
        const g = await privateGuest(t);
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
      name: "second_guest_memfd",
      title: "a page of a second guest_memfd, bound one page into the file by a second memslot, is assigned at the GPA that memslot gives it: PVALIDATE returns 0 and the guest reads back what it wrote, beside a page of the first guest_memfd at the same file offset",
      clauses: ["HW-SNP-001", "HW-SNP-026"],
      requires: REQUIRES,
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t);
        const G2 = G + 0x100000n;
        const gmem2 = await t.call({ op: "ioctl", fd: g.vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 4n * P, flags: 0n } });
        t.ASSERT_OK(gmem2, "a second guest_memfd");
        const slot2 = { slot: 2n, flags: t.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: G2, memory_size: 2n * P, userspace_addr: g.shared, guest_memfd_offset: P, guest_memfd: gmem2.ret };
        t.ASSERT_OK(await t.call({ op: "ioctl", fd: g.vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: slot2 }), "memslot 2: pages 1 and 2 of the second guest_memfd");
        await setPrivate(t, g, G, 4n * P, true);
        await setPrivate(t, g, G2, 2n * P, true);
        await validateAndWrite(t, g, G + P, 0x11, "page 1 of memslot 1 (file offset 1 page)");
        await validateAndWrite(t, g, G2, 0x21, "page 0 of memslot 2 (file offset 1 page)");
        await validateAndWrite(t, g, G2 + P, 0x22, "page 1 of memslot 2 (file offset 2 pages)");
        expectDone(t, await privateAccess(t, g, G + P), "private read of memslot 1's page", 0x11);
        expectDone(t, await privateAccess(t, g, G2), "private read of memslot 2's first page", 0x21);
        expectDone(t, await privateAccess(t, g, G2 + P), "private read of memslot 2's second page", 0x22);
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
    {
      name: "convert_one_page",
      title: "in-place conversion of one page to shared gives back that page only: the host writes and reads it, while the pages before and after it and another SNP guest's page at the same file offset stay validated with their data",
      clauses: ["HW-SNP-026", "HW-SNP-022"],
      requires: INPLACE_REQUIRES,
      profiles: "conv-v7",
      async run(t) {
        const P = t.pageSize;
        const a = await snpGuest(t, { gmemFlags: t.c("GUEST_MEMFD_FLAG_MMAP") });
        const b = await snpGuest(t, { gmemFlags: t.c("GUEST_MEMFD_FLAG_MMAP") });
        for (const i of [0n, 1n, 2n]) await validateAndWrite(t, a, G + i * P, 0x10 + Number(i), `guest A's page ${i}`);
        await validateAndWrite(t, b, G + P, 0x21, "guest B's page 1");
        const convert = await t.call({ op: "ioctl", fd: a.gmem, request: "KVM_SET_MEMORY_ATTRIBUTES2", arg: { offset: P, size: P, attributes: 0n } });
        t.ASSERT_OK(convert, "convert guest A's page 1 to shared");
        const map = await t.call({ op: "mmap", addr: 0n, len: 4n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_SHARED"), fd: a.gmem, offset: 0n });
        t.ASSERT_OK(map, "mmap guest A's guest_memfd");
        t.ASSERT_OK(await t.call({ op: "store", addr: map.ret + P, data: new Uint8Array([0x66]) }), "host write to the shared page 1");
        const back = await t.call({ op: "load", addr: map.ret + P, len: 1n });
        t.EXPECT(back.out?.data instanceof Uint8Array && back.out.data[0] === 0x66, "the host reads back what it wrote");
        for (const i of [0n, 2n]) {
          expectDone(t, await privateAccess(t, a, G + i * P), `guest A reads its page ${i}`, 0x10 + Number(i));
          expectPvalidate(t, await pvalidate(t, a, G + i * P, true), 0n, NOUPDATE, `PVALIDATE(1) of guest A's page ${i}: still validated`);
        }
        expectDone(t, await privateAccess(t, b, G + P), "guest B reads its page 1", 0x21);
        expectPvalidate(t, await pvalidate(t, b, G + P, true), 0n, NOUPDATE, "PVALIDATE(1) of guest B's page 1: still validated");
      },
    },
  ],
});
