// TDG.VP.VMCALL<MapGPA> from a TD guest (HW-TDX-008, HW-TDX-009): forwarded to userspace
// as KVM_EXIT_HYPERCALL in chunks of at most 2 MiB when the VM enabled
// KVM_CAP_EXIT_HYPERCALL, answered with a TDVMCALL status otherwise. The guest_arch
// action tdx:map-gpa passes gpa and len as R12 and R13; its args are the hypercall.ret
// values the VMM writes for the exits in turn before it re-enters. A step list cannot
// compare the exit's args array element by element, hence TypeScript. map_gpa.retry.ts
// holds the RETRY cases (HW-TDX-011) and uses the helpers exported here.
import { join } from "node:path";
import type { OpResult, OutValue } from "../../../spec/driver/contract.js";
import { SUITES_DIR } from "../../../spec/paths.js";
import type { ParamValue } from "../../../harness/case/types.js";
import { defineSuite, describeResult, type TestContext } from "../../../harness/scenario/index.js";
import { jsonFixture, must } from "../../../harness/scenario/kvm.js";

export const G = 0x10000000n;
export const SHARED = 1n << 47n;
export const MIB2 = 2n * 1024n * 1024n;
export const REQUIRES = ["guest-run", "guest-arch:tdx:map-gpa"];
export const td = jsonFixture("tdx_gmem_slot", join(SUITES_DIR, "guest.fixtures.json"));

export type Self = Record<string, bigint>;

/** Finalize the TD, and forward KVM_HC_MAP_GPA_RANGE to userspace when `exits`. */
export async function ready(t: TestContext, self: Self, exits: boolean): Promise<void> {
  await must(t, { op: "ioctl", fd: self.vm!, request: "KVM_MEMORY_ENCRYPT_OP_TDX", arg: { id: t.c("KVM_TDX_FINALIZE_VM") } }, "KVM_TDX_FINALIZE_VM");
  if (exits) await must(t, { op: "ioctl", fd: self.vm!, request: "KVM_ENABLE_CAP", arg: { cap: t.c("KVM_CAP_EXIT_HYPERCALL"), args: [1n << t.c("KVM_HC_MAP_GPA_RANGE")] } }, "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)");
}

export function mapGpa(t: TestContext, self: Self, gpa: bigint, len: bigint, answers: bigint[] = []): Promise<OpResult> {
  return t.call({ op: "guest_arch", vcpu: self.vcpu!, action: "tdx:map-gpa", gpa, len, args: answers });
}

/** The exit is KVM_EXIT_HYPERCALL for KVM_HC_MAP_GPA_RANGE(gpa, npages, attrs) with KVM_EXIT_HYPERCALL_LONG_MODE. */
export function expectExit(t: TestContext, r: OpResult, want: [bigint, bigint, bigint], what: string): void {
  t.ASSERT(r.ret === 0n && r.errno === undefined && r.exit?.reason === "KVM_EXIT_HYPERCALL", `${what}: expected KVM_RUN 0 with KVM_EXIT_HYPERCALL, got ${describeResult(r)}`);
  const hc = r.exit!.hypercall as { [k: string]: OutValue } | undefined;
  t.ASSERT(hc !== undefined && Array.isArray(hc.args), `${what}: the exit has no hypercall args`);
  t.EXPECT_EQ(hc!.nr, t.c("KVM_HC_MAP_GPA_RANGE"), `${what}: hypercall.nr`);
  t.EXPECT_EQ(hc!.flags, 1n, `${what}: hypercall.flags (KVM_EXIT_HYPERCALL_LONG_MODE)`);
  want.forEach((v, i) => t.EXPECT_EQ((hc!.args as OutValue[])[i], v, `${what}: hypercall.args[${i}]`));
}

/** The guest resumed and halted with R10 = status (and R11 = r11 where given). */
export function expectDone(t: TestContext, r: OpResult, status: string, r11: bigint | undefined, what: string): void {
  t.ASSERT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT", `${what}: expected the guest to halt (KVM_EXIT_HLT), got ${describeResult(r)}`);
  t.EXPECT_EQ(r.out?.status, t.c(status), `${what}: R10 (${status})`);
  if (r11 !== undefined) t.EXPECT_EQ(r.out?.r11, r11, `${what}: R11`);
}

/** Ranges [gpa, len] of valid MapGPAs: a page, 2 MiB exactly, 2 MiB and a page, from a GPA that is not 2 MiB-aligned. */
const CHUNKED: Record<string, ParamValue> = { one_page: "1", exactly_2m: "512", "2m_plus_page": "513", "2m_times_2_plus_3": "1027" };
export const TARGET: Record<string, ParamValue> = { shared: "1", private: "0" };

export function target(t: TestContext, v: Record<string, ParamValue>): { gpa: bigint; attrs: bigint } {
  const shared = t.value(String(v.target)) === 1n;
  return { gpa: (shared ? G | SHARED : G) + t.pageSize, attrs: t.c(shared ? "KVM_MAP_GPA_RANGE_DECRYPTED" : "KVM_MAP_GPA_RANGE_ENCRYPTED") };
}

export default defineSuite({
  suite: "hw:tdx:map_gpa",
  title: "TDX: TDG.VP.VMCALL<MapGPA> forwarded as KVM_EXIT_HYPERCALL",
  fixtures: { td },
  cases: [
    {
      name: "chunks",
      title: "with KVM_CAP_EXIT_HYPERCALL enabled, MapGPA of n pages exits once per 2 MiB chunk counted from the guest's GPA (1, 512, 513 and 1027 pages: one, one, two and three exits): args[0] the chunk's GPA with the shared bit cleared, args[1] its pages, args[2] DECRYPTED for a shared target and ENCRYPTED for a private one; after ret 0 for the last chunk the guest resumes with TDVMCALL_STATUS_SUCCESS",
      clauses: ["HW-TDX-008"],
      fixture: "td",
      requires: REQUIRES,
      variants: { pages: CHUNKED, target: TARGET },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const { gpa, attrs } = target(t, v);
        const pages = t.value(String(v.pages));
        const len = pages * t.pageSize;
        const chunk = MIB2 / t.pageSize;
        const answers: bigint[] = [];
        for (let done = 0n; done < pages; done += chunk) {
          const r = await mapGpa(t, self as Self, gpa, len, answers);
          const n = pages - done < chunk ? pages - done : chunk;
          expectExit(t, r, [(gpa & ~SHARED) + done * t.pageSize, n, attrs], `exit ${answers.length + 1} of the MapGPA of ${pages} pages`);
          answers.push(0n);
        }
        expectDone(t, await mapGpa(t, self as Self, gpa, len, answers), "TDVMCALL_STATUS_SUCCESS", undefined, "after the last chunk");
      },
    },
    {
      name: "exits_change_nothing",
      title: "a MapGPA exit changes no attribute: after the guest asked to make a shared gfn private (and the VMM answered 0), a private access to it still exits with a private KVM_EXIT_MEMORY_FAULT, and a shared read still sees userspace memory",
      clauses: ["HW-TDX-008"],
      fixture: "td",
      requires: [...REQUIRES, "memory-fault-info"],
      async run(t, self) {
        await ready(t, self as Self, true);
        expectExit(t, await mapGpa(t, self as Self, G, t.pageSize), [G, 1n, t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")], "MapGPA to private");
        expectDone(t, await mapGpa(t, self as Self, G, t.pageSize, [0n]), "TDVMCALL_STATUS_SUCCESS", undefined, "after ret 0");
        const r = await t.call({ op: "guest", vcpu: (self as Self).vcpu!, access: "read", gpa: G, len: 8n, private: true });
        t.EXPECT(r.errno === "EFAULT" && r.exit?.reason === "KVM_EXIT_MEMORY_FAULT", `a private access to the still-shared gfn: expected KVM_EXIT_MEMORY_FAULT, got ${describeResult(r)}`);
        const s = await t.call({ op: "guest", vcpu: (self as Self).vcpu!, access: "read", gpa: G, len: 8n, private: false });
        t.EXPECT(s.exit?.reason === "KVM_EXIT_HLT" && s.out?.data instanceof Uint8Array && s.out.data.every((b) => b === 0xa0), `a shared read: expected 0xa0 bytes, got ${describeResult(s)}`);
      },
    },
    {
      name: "vmm_error",
      title: "a non-zero hypercall.ret from the VMM ends the MapGPA: the guest resumes with TDVMCALL_STATUS_INVALID_OPERAND and R11 = the GPA of the chunk that failed (as the guest passed it, shared bit included), for the first chunk and for the second",
      clauses: ["HW-TDX-009"],
      fixture: "td",
      requires: REQUIRES,
      control: "hw:tdx:map_gpa:chunks",
      variants: { failing: { first: "0", second: "1" }, target: TARGET },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const { gpa } = target(t, v);
        const before = t.value(String(v.failing));
        const answers = [...Array<bigint>(Number(before)).fill(0n), 1n];
        expectDone(t, await mapGpa(t, self as Self, gpa, 2n * MIB2 + t.pageSize, answers), "TDVMCALL_STATUS_INVALID_OPERAND", gpa + before * MIB2, "the VMM answered 1");
      },
    },
    {
      name: "not_enabled",
      title: "without KVM_CAP_EXIT_HYPERCALL a MapGPA returns TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED with R11 = gpa and no exit, whatever the range",
      clauses: ["HW-TDX-009"],
      fixture: "td",
      requires: REQUIRES,
      control: "hw:tdx:map_gpa:chunks",
      variants: { target: TARGET },
      async run(t, self, v) {
        await ready(t, self as Self, false);
        const { gpa } = target(t, v);
        expectDone(t, await mapGpa(t, self as Self, gpa, t.pageSize), "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED", gpa, "MapGPA");
        expectDone(t, await mapGpa(t, self as Self, gpa + 1n, 0n), "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED", gpa + 1n, "MapGPA of a bad range");
      },
    },
    {
      name: "bad_range",
      title: "with KVM_CAP_EXIT_HYPERCALL enabled, MapGPA of no bytes, of a range that wraps, ends beyond the 48-bit address width or starts at it (even one unaligned byte: the operand is checked before the alignment), or straddles the shared bit returns TDVMCALL_STATUS_INVALID_OPERAND; of an unaligned GPA or size TDVMCALL_STATUS_ALIGN_ERROR; R11 = gpa and no exit; a valid MapGPA then still exits",
      clauses: ["HW-TDX-009"],
      fixture: "td",
      requires: REQUIRES,
      control: "hw:tdx:map_gpa:chunks",
      variants: {
        range: {
          empty: `${G},0,TDVMCALL_STATUS_INVALID_OPERAND`,
          wraps: `(1<<64)-PAGE_SIZE,2*PAGE_SIZE,TDVMCALL_STATUS_INVALID_OPERAND`,
          beyond_gpaw: `(1<<48)-PAGE_SIZE,2*PAGE_SIZE,TDVMCALL_STATUS_INVALID_OPERAND`,
          // the first GPA past the width, one byte: the operand check comes before the alignment check
          at_gpaw: `1<<48,1,TDVMCALL_STATUS_INVALID_OPERAND`,
          straddles_alias: `(1<<47)-PAGE_SIZE,2*PAGE_SIZE,TDVMCALL_STATUS_INVALID_OPERAND`,
          gpa_unaligned: `${G}+8,PAGE_SIZE,TDVMCALL_STATUS_ALIGN_ERROR`,
          size_unaligned: `${G},PAGE_SIZE+8,TDVMCALL_STATUS_ALIGN_ERROR`,
        },
      },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const [gpa, len, status] = String(v.range).split(",") as [string, string, string];
        const at = t.value(gpa);
        expectDone(t, await mapGpa(t, self as Self, at, t.value(len)), status, at, "MapGPA of a bad range");
        expectExit(t, await mapGpa(t, self as Self, G, t.pageSize), [G, 1n, t.c("KVM_MAP_GPA_RANGE_ENCRYPTED")], "a valid MapGPA afterwards");
      },
    },
    {
      name: "alias_boundaries",
      title: "MapGPA of the last page below the shared bit and of the first and last pages of the shared alias (48-bit width) exits with the shared bit cleared: the private target ENCRYPTED, the shared ones DECRYPTED",
      clauses: ["HW-TDX-008"],
      fixture: "td",
      requires: REQUIRES,
      variants: { at: { last_private: "(1<<47)-PAGE_SIZE", first_shared: "1<<47", last_shared: "(1<<48)-PAGE_SIZE" } },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const gpa = t.value(String(v.at));
        const shared = (gpa & SHARED) !== 0n;
        expectExit(t, await mapGpa(t, self as Self, gpa, t.pageSize), [gpa & ~SHARED, 1n, t.c(shared ? "KVM_MAP_GPA_RANGE_DECRYPTED" : "KVM_MAP_GPA_RANGE_ENCRYPTED")], "MapGPA");
      },
    },
    {
      name: "alias_52bit",
      title: "in a TD with a 52-bit address width the shared bit is GPA bit 51: MapGPA of the last page below it is private (ENCRYPTED, the GPA unchanged), so is GPA bit 47 set, and of the first page of the alias shared (DECRYPTED, bit 51 cleared); a range across bit 51 returns TDVMCALL_STATUS_INVALID_OPERAND",
      clauses: ["HW-TDX-008", "HW-TDX-009"],
      requires: ["kvm", "vm-type:tdx", ...REQUIRES],
      variants: { at: { last_private: "(1<<51)-PAGE_SIZE", bit47: "1<<47", first_shared: "1<<51", across: "(1<<51)-PAGE_SIZE,2" } },
      async run(t, _self, v) {
        const P = t.pageSize;
        const kvm = (await must(t, { op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }, "open /dev/kvm")).ret;
        const vm = (await must(t, { op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_TDX_VM") }, "KVM_CREATE_VM")).ret;
        const params = (await must(t, { op: "mmap", addr: 0n, len: P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }, "mmap")).ret;
        // cpuid.nent = 1; entries[0]: leaf 0x80000008 with EAX[23:16] = 52.
        await must(t, { op: "store", addr: params + 256n, data: Uint8Array.from(Buffer.from("01000000", "hex")) }, "cpuid.nent");
        await must(t, { op: "store", addr: params + 264n, data: Uint8Array.from(Buffer.from("08000080000000000000000000003400", "hex")) }, "cpuid entry");
        const init = await t.call({ op: "ioctl", fd: vm, request: "KVM_MEMORY_ENCRYPT_OP_TDX", arg: { id: t.c("KVM_TDX_INIT_VM"), data_u64: params } });
        // setup_tdparams_eptp_controls(): 52 bits need 5-level EPT, a property of the host.
        if (init.errno === "EINVAL") t.skip("this host refuses a 52-bit TD (no 5-level EPT)");
        t.ASSERT_OK(init, "KVM_TDX_INIT_VM (52 bits)");
        await must(t, { op: "ioctl", fd: vm, request: "KVM_ENABLE_CAP", arg: { cap: t.c("KVM_CAP_SPLIT_IRQCHIP"), args: [24n] } }, "KVM_CAP_SPLIT_IRQCHIP");
        const vcpu = (await must(t, { op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }, "KVM_CREATE_VCPU")).ret;
        await must(t, { op: "ioctl", fd: vcpu, request: "KVM_MEMORY_ENCRYPT_OP_TDX", arg: { id: t.c("KVM_TDX_INIT_VCPU") } }, "KVM_TDX_INIT_VCPU");
        await ready(t, { vm, vcpu }, true);
        const [at, pages = "1"] = String(v.at).split(",");
        const gpa = t.value(at!);
        const r = await mapGpa(t, { vcpu }, gpa, t.value(pages) * P);
        const bit51 = 1n << 51n;
        if (pages !== "1") return expectDone(t, r, "TDVMCALL_STATUS_INVALID_OPERAND", gpa, "MapGPA across bit 51");
        const shared = (gpa & bit51) !== 0n;
        expectExit(t, r, [gpa & ~bit51, 1n, t.c(shared ? "KVM_MAP_GPA_RANGE_DECRYPTED" : "KVM_MAP_GPA_RANGE_ENCRYPTED")], "MapGPA");
      },
    },
  ],
});
