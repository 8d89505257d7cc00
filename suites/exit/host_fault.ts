// Guest faults KVM cannot resolve because of the host side of a memslot: no usable
// host page behind userspace_addr (no VMA, a PROT_NONE mapping, a guest_memfd
// mapping whose fault raises SIGBUS). Mainline fails KVM_RUN with -1/EFAULT and
// prepares no KVM_EXIT_MEMORY_FAULT for it (EXIT-012): what is checked is that no
// such exit is reported, whatever stale exit_reason the driver sees, which a step
// list cannot express. (A hardware-poisoned guest_memfd page always reports the
// exit: gmem:file:hwpoison_guest.)
import type { OpResult } from "../../spec/driver/contract.js";
import type { ParamValue } from "../../harness/case/types.js";
import { defineSuite, describeResult, type TestContext } from "../../harness/scenario/index.js";

const G_LOW = 0x10000000n;
const G_HIGH = 0x100000000n;

function ok(t: TestContext, r: OpResult, what: string): bigint {
  t.ASSERT_OK(r, what);
  return r.ret;
}

/** A guest read that must complete and return `len` bytes of `byte`. */
async function readsBack(t: TestContext, vcpu: bigint, gpa: bigint, byte: number, len = 8n): Promise<void> {
  const r = await t.call({ op: "guest", vcpu, access: "read", gpa, len });
  t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT", `guest read at 0x${gpa.toString(16)}: expected KVM_EXIT_HLT, got ${describeResult(r)}`);
  const data = r.out?.data;
  t.EXPECT(data instanceof Uint8Array && data.length === Number(len) && data.every((b) => b === byte), `guest read at 0x${gpa.toString(16)}: expected ${len} bytes of 0x${byte.toString(16)}`);
}

/** What makes the middle page of the slot's host range unusable. */
type Hole = "no_vma" | "prot_none" | "gmem_not_shared";

/**
 * A default VM with vCPU 0 and memslot 1 over 3 host pages at G: pages 0 and 2 are
 * anonymous memory holding 0xa0 and 0xa2, page 1 has no usable host page (`hole`).
 * A guest access to page 1 fails KVM_RUN with -1/EFAULT, on every retry, and no
 * KVM_EXIT_MEMORY_FAULT is reported; the pages around it still work.
 */
async function unusableHostPage(t: TestContext, v: Record<string, ParamValue>, hole: Hole): Promise<void> {
  const P = t.pageSize;
  // Above 4 GiB the driver's guest runs in long mode with paging, so the access cannot be an emulated real-mode one.
  if (v.slot === "above_4g" && !t.features.includes("guest-run:high-gpa")) t.skip("needs feature guest-run:high-gpa");
  const G = v.slot === "above_4g" ? G_HIGH : G_LOW;
  const kvm = ok(t, await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
  const vm = ok(t, await t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") }), "KVM_CREATE_VM");
  const vcpu = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
  const rw = t.c("PROT_READ") | t.c("PROT_WRITE");
  const mem = ok(t, await t.call({ op: "mmap", addr: 0n, len: 3n * P, prot: rw, flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }), "mmap 3 pages");
  ok(t, await t.call({ op: "store", addr: mem, data: new Uint8Array(Number(P)).fill(0xa0) }), "store page 0");
  ok(t, await t.call({ op: "store", addr: mem + 2n * P, data: new Uint8Array(Number(P)).fill(0xa2) }), "store page 2");
  if (hole === "no_vma") ok(t, await t.call({ op: "munmap", addr: mem + P, len: P }), "munmap page 1");
  else if (hole === "prot_none") ok(t, await t.call({ op: "mprotect", addr: mem + P, len: P, prot: t.c("PROT_NONE") }), "mprotect page 1 PROT_NONE");
  else {
    // A guest_memfd created with MMAP but not INIT_SHARED: its pages are private, so a host fault on the mapping raises SIGBUS.
    const gmem = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: P, flags: t.c("GUEST_MEMFD_FLAG_MMAP") } }), "KVM_CREATE_GUEST_MEMFD (MMAP)");
    const at = ok(t, await t.call({ op: "mmap", addr: mem + P, len: P, prot: rw, flags: t.c("MAP_SHARED") | t.c("MAP_FIXED"), fd: gmem, offset: 0n }), "mmap the guest_memfd over page 1");
    t.ASSERT_EQ(at, mem + P, "MAP_FIXED address");
    const probe = await t.call({ op: "load", addr: mem + P, len: 1n });
    t.ASSERT_EQ(probe.signal, "SIGBUS", "a host load from the guest_memfd mapping (the page the guest would use)");
  }
  ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 1n, flags: 0n, guest_phys_addr: G, memory_size: 3n * P, userspace_addr: mem } }), "memslot over the 3 pages");
  await readsBack(t, vcpu, G, 0xa0);
  for (const attempt of [1, 2]) {
    const gpa = G + P + 8n;
    const r = await t.call({ op: "guest", vcpu, access: v.access as "read" | "write", gpa, len: 1n, ...(v.access === "write" ? { data: Uint8Array.of(0x5a) } : {}) });
    t.ASSERT_ERRNO(r, "EFAULT", `${v.access} at 0x${gpa.toString(16)} (${hole}), attempt ${attempt}`);
    t.ASSERT_EQ(r.ret, -1n, `KVM_RUN's return value, attempt ${attempt}`);
    // KVM prepares no memory-fault exit for this failure: exit_reason is stale, never KVM_EXIT_MEMORY_FAULT.
    t.EXPECT(r.exit?.reason !== "KVM_EXIT_MEMORY_FAULT", `no KVM_EXIT_MEMORY_FAULT for a host page that cannot be had, attempt ${attempt}: got ${describeResult(r)}`);
  }
  await readsBack(t, vcpu, G + 2n * P, 0xa2);
  await readsBack(t, vcpu, G + P - 8n, 0xa0);
}

const VARIANTS = { access: ["read", "write"], slot: ["below_4g", "above_4g"] };

export default defineSuite({
  suite: "exit:host_fault",
  title: "KVM_RUN when the host side of a memslot has no usable page",
  cases: [
    {
      name: "no_vma_behind_slot",
      title: "a guest access to a memslot page whose userspace_addr has no VMA makes KVM_RUN fail with -1/EFAULT, again on every retry, and no KVM_EXIT_MEMORY_FAULT is reported; the mapped pages around it still work",
      clauses: ["EXIT-012", "EXIT-002"],
      requires: ["kvm", "vm-type:default", "guest-run"],
      control: "exit:memory_fault:default_vm_access_completes",
      variants: VARIANTS,
      run: (t, _self, v) => unusableHostPage(t, v, "no_vma"),
    },
    {
      name: "prot_none_behind_slot",
      title: "a guest access to a memslot page whose userspace_addr is mapped PROT_NONE makes KVM_RUN fail with -1/EFAULT, again on every retry, and no KVM_EXIT_MEMORY_FAULT is reported; the pages around it still work",
      clauses: ["EXIT-012", "EXIT-002"],
      requires: ["kvm", "vm-type:default", "guest-run"],
      control: "exit:memory_fault:default_vm_access_completes",
      variants: VARIANTS,
      run: (t, _self, v) => unusableHostPage(t, v, "prot_none"),
    },
    {
      name: "gmem_not_shared_behind_slot",
      title: "a guest access to a memslot page whose userspace_addr maps a guest_memfd created with MMAP but not INIT_SHARED (a host fault there raises SIGBUS) makes KVM_RUN fail with -1/EFAULT, again on every retry, and no KVM_EXIT_MEMORY_FAULT is reported; the pages around it still work",
      clauses: ["EXIT-012", "EXIT-002"],
      requires: ["kvm", "vm-type:default", "guest-memfd", "gmem-flag:mmap", "guest-run"],
      profiles: "linux-6.18+",
      control: "exit:memory_fault:default_vm_access_completes",
      variants: VARIANTS,
      run: (t, _self, v) => unusableHostPage(t, v, "gmem_not_shared"),
    },
  ],
});
