// In-place conversion (conv-v7) on an SNP guest (HW-SNP-022): converting a guest_memfd
// range to shared gives its pages back to the hypervisor in the RMP before the host maps
// them; converted back, the guest must validate the page again.
import { defineSuite } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, expectVc, G, launchUpdate, privateAccess, pvalidate, SNP_REQUIRES, snpGuest } from "../../../harness/scenario/snp.js";
import type { OpResult } from "../../../spec/driver/contract.js";

export default defineSuite({
  suite: "hw:snp:inplace",
  title: "SEV-SNP with in-place conversion: the RMP across KVM_SET_MEMORY_ATTRIBUTES2",
  description: "An SNP guest whose 4-page guest_memfd (GUEST_MEMFD_FLAG_MMAP, all private) is also mapped MAP_SHARED by the host; guest_memfd tracks shared/private (kvm.vm_memory_attributes=0).",
  cases: [
    {
      name: "to_shared_and_back",
      title: "a validated page converted to shared can be written and read by the host; converted back to PRIVATE, the guest takes #VC and PVALIDATE(1) clears CF",
      clauses: ["HW-SNP-022"],
      requires: [...SNP_REQUIRES.filter((f) => f !== "memory-attributes"), "gmem-flag:mmap", "gmem-attributes", "guest-arch:snp:pvalidate"],
      profiles: "conv-v7",
      variants: { page: { first: 0, last: 3 } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const page = BigInt(Number(v.page));
        const gpa = G + page * P;
        const g = await snpGuest(t, { gmemFlags: t.c("GUEST_MEMFD_FLAG_MMAP") });
        const map = await t.call({ op: "mmap", addr: 0n, len: 4n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_SHARED"), fd: g.gmem, offset: 0n });
        t.ASSERT_OK(map, "mmap the guest_memfd");
        const convert = (attributes: bigint): Promise<OpResult> => t.call({ op: "ioctl", fd: g.gmem, request: "KVM_SET_MEMORY_ATTRIBUTES2", arg: { offset: page * P, size: P, attributes } });
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE(1)");
        expectDone(t, await privateAccess(t, g, gpa, 0x5a), "private write");
        const host = map.ret + page * P;
        t.EXPECT_EQ((await t.call({ op: "load", addr: host, len: 1n })).signal, "SIGBUS", "host read while private");
        t.ASSERT_OK(await convert(0n), "convert to shared");
        t.ASSERT_OK(await t.call({ op: "store", addr: host, data: new Uint8Array([0x66]) }), "host write while shared");
        const back = await t.call({ op: "load", addr: host, len: 1n });
        t.EXPECT(back.out?.data instanceof Uint8Array && back.out.data[0] === 0x66, "host reads back what it wrote");
        t.ASSERT_OK(await convert(t.c("KVM_MEMORY_ATTRIBUTE_PRIVATE")), "convert to PRIVATE again");
        expectVc(t, await privateAccess(t, g, gpa, 0x5b), "private write after the round trip");
        expectPvalidate(t, await pvalidate(t, g, gpa, true), 0n, 0n, "PVALIDATE(1) after the round trip");
      },
    },
    {
      name: "zero_page_over_host_data",
      title: "a page the host wrote while it was shared, converted back to PRIVATE before the launch, is put in place by LAUNCH_UPDATE of type ZERO as zeroes: the guest reads 0, not the host's byte",
      clauses: ["HW-SNP-016", "HW-SNP-022"],
      requires: [...SNP_REQUIRES.filter((f) => f !== "memory-attributes"), "gmem-flag:mmap", "gmem-attributes", "guest-arch:snp:pvalidate"],
      profiles: "conv-v7",
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t, {
          gmemFlags: t.c("GUEST_MEMFD_FLAG_MMAP"),
          beforeFinish: async (g) => {
            const convert = (attributes: bigint) => t.call({ op: "ioctl", fd: g.gmem, request: "KVM_SET_MEMORY_ATTRIBUTES2", arg: { offset: 0n, size: P, attributes } });
            t.ASSERT_OK(await convert(0n), "convert page 0 to shared");
            const map = await t.call({ op: "mmap", addr: 0n, len: 4n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_SHARED"), fd: g.gmem, offset: 0n });
            t.ASSERT_OK(map, "mmap the guest_memfd");
            t.ASSERT_OK(await t.call({ op: "store", addr: map.ret, data: new Uint8Array(Number(P)).fill(0x66) }), "host write while shared");
            t.ASSERT_OK(await t.call({ op: "munmap", addr: map.ret, len: 4n * P }), "unmap it");
            t.ASSERT_OK(await convert(t.c("KVM_MEMORY_ATTRIBUTE_PRIVATE")), "convert page 0 to PRIVATE again");
            const u = await launchUpdate(t, g, { gfn: G / P, uaddr: 0n, len: P, type: "KVM_SEV_SNP_PAGE_TYPE_ZERO" });
            t.ASSERT_OK(u.r, "LAUNCH_UPDATE of type ZERO");
          },
        });
        expectDone(t, await privateAccess(t, g, G + 7n), "private read of the ZERO page", 0);
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 1n, "PVALIDATE(1): the firmware validated it");
      },
    },
  ],
});
