// Guest faults KVM cannot resolve because of the host side of a memslot: no VMA
// behind userspace_addr. KVM_CAP_MEMORY_FAULT_INFO only promises that the exit
// *may* be described, which needs "if the exit is reported, then its fields are
// ..." logic that a step list cannot express. (A hardware-poisoned guest_memfd
// page always reports the exit: gmem:file:hwpoison_guest.)
import type { OpResult } from "../../harness/driver/contract.js";
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

function field(r: OpResult, name: string): bigint | undefined {
  const mf = r.exit?.memory_fault;
  if (typeof mf !== "object" || mf === null || Array.isArray(mf) || mf instanceof Uint8Array) return undefined;
  const v = (mf as Record<string, unknown>)[name];
  return typeof v === "bigint" ? v : undefined;
}

export default defineSuite({
  suite: "exit:host_fault",
  title: "KVM_RUN and memory_fault when the host side of a memslot fails",
  cases: [
    {
      name: "no_vma_behind_slot",
      title: "a guest access to a memslot page whose userspace_addr has no VMA makes KVM_RUN fail with EFAULT, again on every retry; if memory_fault is reported it names that page (flags 0, PAGE_SIZE); the mapped pages around it still work",
      clauses: ["EXIT-012", "EXIT-002"],
      requires: ["kvm", "vm-type:default", "guest-run"],
      control: "exit:memory_fault:default_vm_access_completes",
      variants: { access: ["read", "write"], slot: ["below_4g", "above_4g"] },
      async run(t, _self, v) {
        const P = t.pageSize;
        // Above 4 GiB the driver's guest runs in long mode with paging, so the access cannot be an emulated real-mode one.
        if (v.slot === "above_4g" && !t.features.includes("guest-run:high-gpa")) t.skip("needs feature guest-run:high-gpa");
        const G = v.slot === "above_4g" ? G_HIGH : G_LOW;
        const kvm = ok(t, await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
        const vm = ok(t, await t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") }), "KVM_CREATE_VM");
        const vcpu = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
        const mem = ok(t, await t.call({ op: "mmap", addr: 0n, len: 3n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }), "mmap 3 pages");
        ok(t, await t.call({ op: "store", addr: mem, data: new Uint8Array(Number(P)).fill(0xa0) }), "store page 0");
        ok(t, await t.call({ op: "store", addr: mem + 2n * P, data: new Uint8Array(Number(P)).fill(0xa2) }), "store page 2");
        ok(t, await t.call({ op: "munmap", addr: mem + P, len: P }), "munmap page 1");
        ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 1n, flags: 0n, guest_phys_addr: G, memory_size: 3n * P, userspace_addr: mem } }), "memslot over the 3 pages");
        await readsBack(t, vcpu, G, 0xa0);
        for (const attempt of [1, 2]) {
          const gpa = G + P + 8n;
          const r = await t.call({ op: "guest", vcpu, access: v.access as "read" | "write", gpa, len: 1n, ...(v.access === "write" ? { data: Uint8Array.of(0x5a) } : {}) });
          t.ASSERT_ERRNO(r, "EFAULT", `${v.access} at 0x${gpa.toString(16)} (no VMA), attempt ${attempt}`);
          t.ASSERT_EQ(r.ret, -1n, `KVM_RUN's return value, attempt ${attempt}`);
          // The capability promises that KVM_RUN *may* describe the fault; when it does, the description must be right.
          if (r.exit?.reason === "KVM_EXIT_MEMORY_FAULT") {
            t.EXPECT_EQ(field(r, "flags"), 0n, `memory_fault.flags (shared access), attempt ${attempt}`);
            t.EXPECT_EQ(field(r, "gpa"), G + P, `memory_fault.gpa, attempt ${attempt}`);
            t.EXPECT_EQ(field(r, "size"), P, `memory_fault.size, attempt ${attempt}`);
          }
        }
        await readsBack(t, vcpu, G + 2n * P, 0xa2);
        await readsBack(t, vcpu, G + P - 8n, 0xa0);
      },
    },
  ],
});
