// gmem:create:proc_link — the /proc/self/fd link of a guest_memfd (GMEM-CREATE-017).
// Written as a scenario only because the JSON loader does not yet accept the text
// matcher ({"text": ...}) for out.link; the JSON form would be
//   { "op": "fdinfo", "fd": "$gmem", "expect": { "out": { "link": { "text": "anon_inode:[kvm-gmem]" } } } }
import { defineSuite } from "../../harness/scenario/index.js";

export default defineSuite({
  suite: "gmem:create",
  title: "KVM_CREATE_GUEST_MEMFD: the /proc link of the new file",
  cases: [
    {
      name: "proc_link",
      title: "with the anonymous-inode implementation, /proc/self/fd/N of a guest_memfd reads anon_inode:[kvm-gmem]",
      clauses: ["GMEM-CREATE-017"],
      requires: ["kvm", "vm-type:default", "guest-memfd"],
      async run(t) {
        const kvm = await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") });
        t.ASSERT_OK(kvm, "open /dev/kvm");
        const vm = await t.call({ op: "ioctl", fd: kvm.ret, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") });
        t.ASSERT_OK(vm, "KVM_CREATE_VM");
        const gmem = await t.call({ op: "ioctl", fd: vm.ret, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: t.pageSize } });
        t.ASSERT_OK(gmem, "KVM_CREATE_GUEST_MEMFD");
        const info = await t.call({ op: "fdinfo", fd: gmem.ret });
        t.ASSERT_OK(info, "fdinfo");
        t.EXPECT_EQ(info.out?.link, "anon_inode:[kvm-gmem]", "/proc/self/fd link");
      },
    },
  ],
});
