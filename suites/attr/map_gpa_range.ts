// KVM_HC_MAP_GPA_RANGE as a guest issues it with the hypercall instruction (ATTR-020):
// forwarded to userspace as KVM_EXIT_HYPERCALL when the VM enabled KVM_CAP_EXIT_HYPERCALL
// for it, otherwise answered in the guest's return register without an exit. The exit's
// args are an array, which a step list cannot compare element by element; only args[0..2]
// are compared (args[3..5] are not written by KVM and hold whatever they held).
import type { OpResult, OutValue } from "../../spec/driver/contract.js";
import type { ParamValue } from "../../harness/case/types.js";
import { defineSuite, describeResult, type TestContext } from "../../harness/scenario/index.js";

const U64 = 1n << 64n;
/** -KVM_ENOSYS and -KVM_EINVAL as the guest's 64-bit return register holds them */
const RET_ENOSYS = U64 - 1000n;
const RET_EINVAL = U64 - 22n;
/** KVM_EXIT_HYPERCALL_LONG_MODE: the driver's hypercall program runs in 64-bit mode */
const LONG_MODE = 1n;
const G = 0x10000000n;

function ok(t: TestContext, r: OpResult, what: string): bigint {
  t.ASSERT_OK(r, what);
  return r.ret;
}

function record(v: OutValue | undefined): { [k: string]: OutValue } | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? v : undefined;
}

/** A default VM with vCPU 0, and KVM_CAP_EXIT_HYPERCALL enabled for KVM_HC_MAP_GPA_RANGE when `forward`. */
async function defaultVm(t: TestContext, forward: boolean): Promise<{ vm: bigint; vcpu: bigint }> {
  const kvm = ok(t, await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
  const vm = ok(t, await t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") }), "KVM_CREATE_VM");
  const vcpu = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
  if (forward) await enableForwarding(t, vm);
  return { vm, vcpu };
}

async function enableForwarding(t: TestContext, vm: bigint): Promise<void> {
  const mask = 1n << t.c("KVM_HC_MAP_GPA_RANGE");
  ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_ENABLE_CAP", arg: { cap: t.c("KVM_CAP_EXIT_HYPERCALL"), flags: 0n, args: [mask, 0n, 0n, 0n] } }), "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE)");
}

/** KVM_HC_MAP_GPA_RANGE(a0, a1, a2). */
function mapGpaRange(t: TestContext, vcpu: bigint, args: bigint[]): Promise<OpResult> {
  return t.call({ op: "hypercall", vcpu, nr: t.c("KVM_HC_MAP_GPA_RANGE"), args });
}

/** The hypercall exited to userspace with nr 12, args[0..2] as passed, and flags LONG_MODE. */
function expectForwarded(t: TestContext, r: OpResult, args: bigint[], what: string): void {
  t.ASSERT(r.ret === 0n && r.errno === undefined && r.exit?.reason === "KVM_EXIT_HYPERCALL", `${what}: expected KVM_RUN 0 with KVM_EXIT_HYPERCALL, got ${describeResult(r)}`);
  const hc = record(r.exit?.hypercall);
  t.ASSERT(hc !== undefined, `${what}: the exit has no hypercall payload`);
  t.EXPECT_EQ(hc!.nr, t.c("KVM_HC_MAP_GPA_RANGE"), `${what}: hypercall.nr`);
  t.EXPECT_EQ(hc!.flags, LONG_MODE, `${what}: hypercall.flags (KVM_EXIT_HYPERCALL_LONG_MODE)`);
  const got = hc!.args;
  t.ASSERT(Array.isArray(got) && got.length >= 3, `${what}: hypercall.args is an array of at least 3 (got ${JSON.stringify(got, (_k, x) => (typeof x === "bigint" ? x.toString() : x))})`);
  for (let i = 0; i < 3; i++) t.EXPECT_EQ((got as OutValue[])[i], args[i], `${what}: hypercall.args[${i}]`);
}

/** The guest got `ret` back in its return register and halted: no exit for the hypercall. */
function expectAnswered(t: TestContext, r: OpResult, ret: bigint, what: string): void {
  t.ASSERT(r.ret === 0n && r.errno === undefined && r.exit?.reason === "KVM_EXIT_HLT", `${what}: expected the guest to halt (KVM_EXIT_HLT) without a hypercall exit, got ${describeResult(r)}`);
  t.EXPECT_EQ(r.out?.hypercall_ret, ret, `${what}: the guest's return value (-${U64 - ret} as a u64)`);
}

/** Valid ranges: page-aligned GPAs, at least one page, gfn + npages not wrapping. */
const VALID: Record<string, ParamValue> = {
  one_page: "0x10000000,1",
  gpa_zero: "0,1",
  high_gpa: "0x100000000,16",
  last_page: "(1<<64)-PAGE_SIZE,1",
  max_pages: "0x100000,(1<<64)-0x101",
};
/** Invalid ranges: unaligned GPA, no pages, gfn + npages wrapping (exactly to 0, and past it). */
const INVALID: Record<string, ParamValue> = {
  gpa_plus_one: "0x10000001,1",
  gpa_page_minus_one: "0x10000000+PAGE_SIZE-1,1",
  zero_pages: "0x10000000,0",
  wrap_to_zero: "0x100000,(1<<64)-0x100",
  wrap_max: "PAGE_SIZE,(1<<64)-1",
};

function range(t: TestContext, spec: ParamValue): [bigint, bigint] {
  const [gpa, npages] = String(spec).split(",");
  return [t.value(gpa!), t.value(npages!)];
}

const ATTRS = { private: "KVM_MAP_GPA_RANGE_ENCRYPTED", shared: "KVM_MAP_GPA_RANGE_DECRYPTED" };

export default defineSuite({
  suite: "attr:map_gpa_range",
  title: "KVM_HC_MAP_GPA_RANGE forwarded to userspace as KVM_EXIT_HYPERCALL",
  cases: [
    {
      name: "forwarded",
      title: "with KVM_CAP_EXIT_HYPERCALL enabled for it, a valid KVM_HC_MAP_GPA_RANGE makes KVM_RUN return 0 with KVM_EXIT_HYPERCALL: nr 12, args[0..2] the GPA, the page count and the attributes as the guest passed them, flags KVM_EXIT_HYPERCALL_LONG_MODE",
      clauses: ["ATTR-020"],
      requires: ["kvm", "vm-type:default", "guest-run", "exit-hypercall"],
      variants: { range: VALID, attrs: ATTRS },
      async run(t, _self, v) {
        const { vcpu } = await defaultVm(t, true);
        const args = [...range(t, v.range!), t.c(String(v.attrs))];
        expectForwarded(t, await mapGpaRange(t, vcpu, args), args, "KVM_HC_MAP_GPA_RANGE");
        // Nothing was left pending that changes the next one.
        expectForwarded(t, await mapGpaRange(t, vcpu, args), args, "the same hypercall again");
      },
    },
    {
      name: "not_enabled",
      title: "without KVM_CAP_EXIT_HYPERCALL the guest's KVM_HC_MAP_GPA_RANGE returns -KVM_ENOSYS (-1000) and KVM_RUN does not exit for it, for valid and invalid ranges alike (the capability is checked first)",
      clauses: ["ATTR-020"],
      requires: ["kvm", "vm-type:default", "guest-run"],
      control: "attr:map_gpa_range:forwarded",
      variants: { range: { ...VALID, ...INVALID } },
      async run(t, _self, v) {
        const { vcpu } = await defaultVm(t, false);
        const args = [...range(t, v.range!), t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")];
        expectAnswered(t, await mapGpaRange(t, vcpu, args), RET_ENOSYS, "KVM_HC_MAP_GPA_RANGE without the capability");
        expectAnswered(t, await mapGpaRange(t, vcpu, args), RET_ENOSYS, "again");
      },
    },
    {
      name: "bad_range",
      title: "with KVM_CAP_EXIT_HYPERCALL enabled, a KVM_HC_MAP_GPA_RANGE whose GPA is not page aligned, whose page count is 0, or whose gfns wrap returns -KVM_EINVAL (-22) to the guest without an exit; a valid one then still exits",
      clauses: ["ATTR-020"],
      requires: ["kvm", "vm-type:default", "guest-run", "exit-hypercall"],
      control: "attr:map_gpa_range:forwarded",
      variants: { range: INVALID },
      async run(t, _self, v) {
        const { vcpu } = await defaultVm(t, true);
        const args = [...range(t, v.range!), t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")];
        expectAnswered(t, await mapGpaRange(t, vcpu, args), RET_EINVAL, "KVM_HC_MAP_GPA_RANGE with a bad range");
        const good = [G, 1n, t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")];
        expectForwarded(t, await mapGpaRange(t, vcpu, good), good, "a valid KVM_HC_MAP_GPA_RANGE afterwards");
      },
    },
    {
      name: "no_attribute_change",
      title: "KVM changes no attribute for a forwarded KVM_HC_MAP_GPA_RANGE: on a SW_PROTECTED VM a shared gfn the guest asked to make private still reads userspace_addr, and a PRIVATE gfn it asked to make shared still reads guest_memfd, until userspace converts it",
      clauses: ["ATTR-020"],
      requires: ["kvm", "vm-type:sw-protected", "memory-attributes", "guest-memfd", "user-memory2", "guest-run", "exit-hypercall"],
      async run(t) {
        const P = t.pageSize;
        const kvm = ok(t, await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
        const vm = ok(t, await t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_SW_PROTECTED_VM") }), "KVM_CREATE_VM");
        const vcpu = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
        const gmem = ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 2n * P } }), "KVM_CREATE_GUEST_MEMFD");
        const shared = ok(t, await t.call({ op: "mmap", addr: 0n, len: 2n * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }), "mmap");
        ok(t, await t.call({ op: "store", addr: shared, data: new Uint8Array(Number(2n * P)).fill(0xa0) }), "store 0xa0");
        ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: { slot: 1n, flags: t.c("KVM_MEM_GUEST_MEMFD"), guest_phys_addr: G, memory_size: 2n * P, userspace_addr: shared, guest_memfd_offset: 0n, guest_memfd: gmem } }), "memslot");
        ok(t, await t.call({ op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg: { address: G + P, size: P, attributes: t.c("KVM_MEMORY_ATTRIBUTE_PRIVATE"), flags: 0n } }), "gfn 1 PRIVATE");
        await enableForwarding(t, vm);
        const reads = async (gpa: bigint, byte: number, what: string) => {
          const r = await t.call({ op: "guest", vcpu, access: "read", gpa, len: 8n });
          t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT" && r.out?.data instanceof Uint8Array && r.out.data.every((b) => b === byte), `${what}: expected 8 bytes of 0x${byte.toString(16)}, got ${describeResult(r)}`);
        };
        await reads(G, 0xa0, "gfn 0 before (shared: userspace_addr)");
        await reads(G + P, 0x00, "gfn 1 before (PRIVATE: a new guest_memfd page)");
        const toPrivate = [G, 1n, t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")];
        expectForwarded(t, await mapGpaRange(t, vcpu, toPrivate), toPrivate, "gfn 0 to private");
        const toShared = [G + P, 1n, t.c("KVM_MAP_GPA_RANGE_DECRYPTED")];
        expectForwarded(t, await mapGpaRange(t, vcpu, toShared), toShared, "gfn 1 to shared");
        await reads(G, 0xa0, "gfn 0 after its exit: still shared");
        await reads(G + P, 0x00, "gfn 1 after its exit: still PRIVATE");
      },
    },
  ],
});
