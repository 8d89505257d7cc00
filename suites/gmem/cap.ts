// gmem:cap — KVM_CAP_GUEST_MEMFD_FLAGS is exactly the set KVM_CREATE_GUEST_MEMFD
// accepts (GMEM-CREATE-010), checked bit by bit on each VM type: a loop over 64 bits
// that a JSON step list cannot express. The exact values per VM type are in cap.json.
import { defineSuite, type ScenarioCase } from "../../harness/scenario/index.js";

// control: KVM_CREATE_GUEST_MEMFD of one page on the same VM type with one supported
// flag, which succeeds where the bits outside the mask fail (only the flags differ).
const VM_TYPES: { label: string; constant: string; feature: string; control: string }[] = [
  { label: "default", constant: "KVM_X86_DEFAULT_VM", feature: "vm-type:default", control: "gmem:create:supported_flag:flags=mmap" },
  { label: "sw_protected", constant: "KVM_X86_SW_PROTECTED_VM", feature: "vm-type:sw-protected", control: "gmem:create:mmap_on_private_vm:vm=sw_protected" },
  { label: "sev", constant: "KVM_X86_SEV_VM", feature: "vm-type:sev", control: "gmem:create:init_shared_on_shared_vm:vm=sev;flags=init_shared" },
  { label: "sev_es", constant: "KVM_X86_SEV_ES_VM", feature: "vm-type:sev-es", control: "gmem:create:init_shared_on_shared_vm:vm=sev_es;flags=init_shared" },
  { label: "snp", constant: "KVM_X86_SNP_VM", feature: "vm-type:snp", control: "gmem:create:mmap_on_private_vm:vm=snp" },
  { label: "tdx", constant: "KVM_X86_TDX_VM", feature: "vm-type:tdx", control: "gmem:create:mmap_on_private_vm:vm=tdx" },
];

function maskMatchesCreate(vm: (typeof VM_TYPES)[number]): ScenarioCase {
  return {
    name: "flags_mask_matches_create",
    title: "every bit KVM_CAP_GUEST_MEMFD_FLAGS reports on the VM fd creates a file alone, every other bit fails with EINVAL; the VM's mask is within the system mask",
    clauses: ["GMEM-CREATE-010", "GMEM-CREATE-004", "GMEM-CREATE-009"],
    requires: ["kvm", "guest-memfd", vm.feature],
    // 6.18..7.2: conv-v7 changes the private-VM answer with a module parameter
    profiles: "linux-6.18..linux-7.2",
    variants: { vm: [vm.label] },
    control: vm.control,
    async run(t) {
      const kvm = await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") });
      t.ASSERT_OK(kvm, "open /dev/kvm");
      const vmfd = await t.call({ op: "ioctl", fd: kvm.ret, request: "KVM_CREATE_VM", arg: t.c(vm.constant) });
      t.ASSERT_OK(vmfd, `KVM_CREATE_VM(${vm.constant})`);
      const sys = await t.call({ op: "ioctl", fd: kvm.ret, request: "KVM_CHECK_EXTENSION", arg: t.c("KVM_CAP_GUEST_MEMFD_FLAGS") });
      t.ASSERT_OK(sys, "KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) on /dev/kvm");
      const cap = await t.call({ op: "ioctl", fd: vmfd.ret, request: "KVM_CHECK_EXTENSION", arg: t.c("KVM_CAP_GUEST_MEMFD_FLAGS") });
      t.ASSERT_OK(cap, "KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) on the VM fd");
      const mask = cap.ret;
      t.ASSERT(mask > 0n, `the VM's flag mask is not empty (got ${mask})`);
      t.EXPECT_EQ(mask & ~sys.ret, 0n, "flags the VM reports but the system does not");
      for (let bit = 0n; bit < 64n; bit++) {
        const flag = 1n << bit;
        const r = await t.call({ op: "ioctl", fd: vmfd.ret, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: t.pageSize, flags: flag } });
        if ((mask & flag) !== 0n) {
          t.EXPECT_OK(r, `flags 1<<${bit} (in the mask 0x${mask.toString(16)})`);
          if (r.errno === undefined) await t.call({ op: "close", fd: r.ret });
        } else t.EXPECT_ERRNO(r, "EINVAL", `flags 1<<${bit} (not in the mask 0x${mask.toString(16)})`);
      }
      // The whole mask at once is accepted as well.
      const all = await t.call({ op: "ioctl", fd: vmfd.ret, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: t.pageSize, flags: mask } });
      t.EXPECT_OK(all, `flags = the whole mask 0x${mask.toString(16)}`);
    },
  };
}

export default defineSuite({
  suite: "gmem:cap",
  title: "KVM_CAP_GUEST_MEMFD_FLAGS against KVM_CREATE_GUEST_MEMFD, bit by bit",
  cases: VM_TYPES.map(maskMatchesCreate),
});
