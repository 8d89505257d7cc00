// The guest_memfd of an SNP guest closed after the VM's descriptors (GMEM-LIFE-006, HW-SNP-010):
// the file keeps the memory (and the VM) alive until it goes; its last close evicts the inode,
// which gives the guest's assigned pages back to the hypervisor (with --check-invariants the
// model checks that no RMP frame stays assigned to the ASID of a VM that is gone).
import { defineSuite } from "../../../harness/scenario/index.js";
import { expectDone, expectPvalidate, G, privateAccess, pvalidate, setPrivate, SNP_REQUIRES, snpGuest } from "../../../harness/scenario/snp.js";

export default defineSuite({
  suite: "hw:snp:close_gmem_last",
  title: "SEV-SNP: the guest_memfd closed after the VM's descriptors",
  description: "An SNP guest validates and writes a PRIVATE page (assigned to it in the RMP); the vCPU and VM descriptors are closed first, then the guest_memfd.",
  cases: [
    {
      name: "gmem_outlives_vm_fd",
      title: "after the vCPU and VM descriptors are closed, the guest_memfd still has its size and can be closed; its pages go back to the hypervisor with it",
      clauses: ["GMEM-LIFE-006", "HW-SNP-010"],
      requires: [...SNP_REQUIRES, "guest-arch:snp:pvalidate"],
      async run(t) {
        const P = t.pageSize;
        const g = await snpGuest(t);
        await setPrivate(t, g, G + P, P, true);
        expectPvalidate(t, await pvalidate(t, g, G + P, true), 0n, 0n, "PVALIDATE(1): the private fault assigns the page");
        expectDone(t, await privateAccess(t, g, G + P, 0x3c), "private write");
        t.ASSERT_OK(await t.call({ op: "close", fd: g.vcpu }), "close the vCPU");
        t.ASSERT_OK(await t.call({ op: "close", fd: g.vm }), "close the VM");
        const st = await t.call({ op: "fstat", fd: g.gmem });
        t.ASSERT_OK(st, "fstat the guest_memfd");
        t.EXPECT_EQ(st.out?.size, 4n * P, "the guest_memfd's size");
        t.ASSERT_OK(await t.call({ op: "close", fd: g.gmem }), "close the guest_memfd last");
      },
    },
  ],
});
