// In-place conversion (conv-v7) on an SNP guest (HW-SNP-022): only the conversion to shared
// gives pages back to the hypervisor in the RMP. A conversion to PRIVATE over a range whose
// first page is private already (validated, holding guest data) and whose second is shared
// leaves the first page's RMP entry alone: the guest reads its data with no new PVALIDATE.
import { defineSuite } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, G, privateAccess, pvalidate, SNP_REQUIRES, snpGuest } from "../../../harness/scenario/snp.js";

export default defineSuite({
  suite: "hw:snp:inplace_mixed",
  title: "SEV-SNP with in-place conversion: a conversion to PRIVATE over pages that are partly private",
  description: "An SNP guest whose 4-page guest_memfd (GUEST_MEMFD_FLAG_MMAP, all private) is tracked by guest_memfd (kvm.vm_memory_attributes=0); page 0 is validated and written by the guest, page 1 is made shared, then pages 0-1 are converted to PRIVATE together.",
  cases: [
    {
      name: "private_page_kept",
      title: "converting pages 0-1 to PRIVATE while page 0 is private and validated and page 1 shared keeps page 0 as it was: the guest reads its data without #VC, and PVALIDATE(1) reports it validated already (CF set)",
      clauses: ["HW-SNP-022", "CONV-001"],
      requires: [...SNP_REQUIRES.filter((f) => f !== "memory-attributes"), "gmem-flag:mmap", "gmem-attributes", "guest-arch:snp:pvalidate"],
      profiles: "conv-v7",
      control: "hw:snp:inplace:to_shared_and_back:page=first",
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t, { gmemFlags: t.c("GUEST_MEMFD_FLAG_MMAP") });
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 0n, "PVALIDATE(1) of page 0");
        expectDone(t, await privateAccess(t, g, G, 0x5a), "private write to page 0");
        const convert = (offset: bigint, size: bigint, attributes: bigint) => t.call({ op: "ioctl", fd: g.gmem, request: "KVM_SET_MEMORY_ATTRIBUTES2", arg: { offset, size, attributes } });
        t.ASSERT_OK(await convert(P, P, 0n), "convert page 1 to shared");
        t.ASSERT_OK(await convert(0n, 2n * P, t.c("KVM_MEMORY_ATTRIBUTE_PRIVATE")), "convert pages 0-1 to PRIVATE");
        expectDone(t, await privateAccess(t, g, G), "private read of page 0 after the conversion", 0x5a);
        expectPvalidate(t, await pvalidate(t, g, G, true), 0n, 1n, "PVALIDATE(1) of page 0 again");
      },
    },
  ],
});
