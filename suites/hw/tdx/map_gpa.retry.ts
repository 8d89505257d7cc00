// TDG.VP.VMCALL<MapGPA> stopped by a pending event (HW-TDX-011). The VMM leaves a chunk's
// KVM_EXIT_HYPERCALL pending (guest_arch tdx:map-gpa without answers), queues an NMI on the
// vCPU with KVM_NMI, and re-enters with the resume operation, whose data is hypercall.ret.
// The chunks the VMM saw before the RETRY are the partial progress; R11 tells the guest
// where to start again.
import type { OpResult } from "../../../spec/driver/contract.js";
import { defineSuite, type TestContext } from "../../../harness/scenario/index.js";
import { must } from "../../../harness/scenario/kvm.js";
import { MIB2, REQUIRES, SHARED, TARGET, expectDone, expectExit, mapGpa, ready, target, td, type Self } from "./map_gpa.js";

/** hypercall.ret as the resume operation takes it: 8 bytes, little-endian. */
function ret(value: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  return b;
}

const resume = (t: TestContext, self: Self, value = 0n): Promise<OpResult> => t.call({ op: "resume", vcpu: self.vcpu!, data: ret(value) });
const nmi = (t: TestContext, self: Self) => must(t, { op: "ioctl", fd: self.vcpu!, request: "KVM_NMI", arg: 0n }, "KVM_NMI");

/** The exits of a MapGPA of `pages` from gpa, answered 0, until `stopAfter` chunks were forwarded (the last one left pending). */
async function forward(t: TestContext, self: Self, gpa: bigint, pages: bigint, attrs: bigint, stopAfter: bigint): Promise<void> {
  const chunk = MIB2 / t.pageSize;
  let r = await mapGpa(t, self, gpa, pages * t.pageSize);
  for (let n = 0n; ; n++) {
    const left = pages - n * chunk;
    expectExit(t, r, [(gpa & ~SHARED) + n * MIB2, left < chunk ? left : chunk, attrs], `exit ${n + 1n} of the MapGPA of ${pages} pages`);
    if (n + 1n === stopAfter) return;
    r = await resume(t, self);
  }
}

const REQ = [...REQUIRES, "guest-arch:tdx:map-gpa:resume"];

/** A MapGPA of 1027 pages (three chunks) to the variant's target, left at chunk k's exit with an NMI queued. */
async function nmiAtChunk(t: TestContext, self: Self, v: Parameters<typeof target>[1], k: bigint): Promise<{ gpa: bigint; attrs: bigint }> {
  await ready(t, self, true);
  const { gpa, attrs } = target(t, v);
  await forward(t, self, gpa, 1027n, attrs, k);
  await nmi(t, self);
  return { gpa, attrs };
}

export default defineSuite({
  suite: "hw:tdx:map_gpa",
  title: "TDX: TDG.VP.VMCALL<MapGPA> forwarded as KVM_EXIT_HYPERCALL",
  fixtures: { td },
  cases: [
    {
      name: "resume_continues",
      title: "re-entering (resume) after a chunk's exit with hypercall.ret 0 and no event pending forwards the next chunk; after the last the guest gets TDVMCALL_STATUS_SUCCESS",
      clauses: ["HW-TDX-008", "HW-TDX-011"],
      fixture: "td",
      requires: REQ,
      variants: { target: TARGET },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const { gpa, attrs } = target(t, v);
        await forward(t, self as Self, gpa, 1027n, attrs, 3n);
        expectDone(t, await resume(t, self as Self), "TDVMCALL_STATUS_SUCCESS", undefined, "after the third chunk");
      },
    },
    {
      name: "nmi_at_chunk",
      title: "with an NMI queued with KVM_NMI at chunk k's exit (of 1027 pages: the first chunk, the second), answer 0 ends the MapGPA with TDVMCALL_STATUS_RETRY and R11 = the GPA of chunk k+1, with no further exit, and the MapGPA repeated from R11 forwards only the rest and succeeds (the NMI was delivered); answer 1 ends it with TDVMCALL_STATUS_INVALID_OPERAND and R11 = chunk k (the error is checked before events)",
      clauses: ["HW-TDX-011"],
      fixture: "td",
      requires: REQ,
      control: "hw:tdx:map_gpa:resume_continues",
      variants: { chunk: { first: "1", second: "2" }, answer: { zero: "0", one: "1" }, target: TARGET },
      async run(t, self, v) {
        const k = t.value(String(v.chunk));
        const { gpa, attrs } = await nmiAtChunk(t, self as Self, v, k);
        const r = await resume(t, self as Self, t.value(String(v.answer)));
        if (v.answer === "1") return expectDone(t, r, "TDVMCALL_STATUS_INVALID_OPERAND", gpa + (k - 1n) * MIB2, `hypercall.ret 1 for chunk ${k}`);
        const at = gpa + k * MIB2;
        expectDone(t, r, "TDVMCALL_STATUS_RETRY", at, `re-entering after chunk ${k} with an NMI queued`);
        const rest = 1027n - k * (MIB2 / t.pageSize);
        await forward(t, self as Self, at, rest, attrs, (rest + 511n) / 512n);
        expectDone(t, await resume(t, self as Self), "TDVMCALL_STATUS_SUCCESS", undefined, "the MapGPA repeated from R11");
      },
    },
    {
      name: "nmi_after_last_chunk",
      title: "an NMI queued before re-entering after the last chunk (a page, exactly 2 MiB, or the page after 2 MiB) does not stop the MapGPA: the guest gets TDVMCALL_STATUS_SUCCESS",
      clauses: ["HW-TDX-011"],
      fixture: "td",
      requires: REQ,
      variants: { pages: { one_page: "1,1", exactly_2m: "512,1", "2m_plus_page": "513,2" }, target: TARGET },
      async run(t, self, v) {
        await ready(t, self as Self, true);
        const { gpa, attrs } = target(t, v);
        const [pages, chunks] = String(v.pages).split(",").map((x) => BigInt(x)) as [bigint, bigint];
        await forward(t, self as Self, gpa, pages, attrs, chunks);
        await nmi(t, self as Self);
        expectDone(t, await resume(t, self as Self), "TDVMCALL_STATUS_SUCCESS", undefined, "the last chunk answered with an NMI queued");
      },
    },
  ],
});
