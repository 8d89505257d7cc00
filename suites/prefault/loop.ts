// KVM_PRE_FAULT_MEMORY driven the way userspace is told to drive it: call again
// with the range written back until size is 0. Every call is checked on its own:
// it either made progress (returned 0, size shrank, gpa moved by the same amount)
// or failed and left the struct exactly as passed, never both, never neither.
import type { OpResult } from "../../spec/driver/contract.js";
import { defineSuite, describeResult, type ScenarioCase, type TestContext } from "../../harness/scenario/index.js";

const G = 0x10000000n;

interface Layout {
  vcpu: bigint;
  /** pages of [G, G + 8 pages) that have a memslot, with the byte each holds */
  fill: Map<bigint, number>;
}

/** A default VM, vCPU 0, memslot 1 over pages 0-3 and memslot 2 over pages 6-7 of [G, G+8P); pages 4-5 are a hole. */
async function twoSlotsWithHole(t: TestContext): Promise<Layout> {
  const P = t.pageSize;
  const ok = (r: OpResult, what: string) => {
    t.ASSERT_OK(r, what);
    return r.ret;
  };
  const kvm = ok(await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") }), "open /dev/kvm");
  const vm = ok(await t.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") }), "KVM_CREATE_VM");
  const vcpu = ok(await t.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: 0n }), "KVM_CREATE_VCPU");
  const fill = new Map<bigint, number>();
  for (const [slot, first, pages] of [[1n, 0n, 4n], [2n, 6n, 2n]] as const) {
    const mem = ok(await t.call({ op: "mmap", addr: 0n, len: pages * P, prot: t.c("PROT_READ") | t.c("PROT_WRITE"), flags: t.c("MAP_PRIVATE") | t.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }), "mmap");
    for (let i = 0n; i < pages; i++) {
      const byte = 0xa0 + Number(first + i);
      ok(await t.call({ op: "store", addr: mem + i * P, data: new Uint8Array(Number(P)).fill(byte) }), "store");
      fill.set(G + (first + i) * P, byte);
    }
    ok(await t.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot, flags: 0n, guest_phys_addr: G + first * P, memory_size: pages * P, userspace_addr: mem } }), `memslot ${slot}`);
  }
  return { vcpu, fill };
}

/**
 * One case per signal variant. Without a signal the refusals are the ENOENT calls at the
 * hole, whose control is the same call inside the memslot; with a signal it is the EINTR
 * call, whose control is the same loop without the signal.
 */
function untilSizeZero(signal: "none" | "after_one_page", control: string): ScenarioCase {
  return {
    name: "until_size_zero",
    title: "each call either shrinks size (ret 0, gpa + size constant) or fails with the struct unchanged; the loop maps every slot page, stops with ENOENT exactly at the two hole pages, and the guest then reads every slot page",
    clauses: ["PREFAULT-004", "PREFAULT-005", "PREFAULT-007"],
    requires: ["kvm", "vm-type:default", "pre-fault-memory", "guest-run"],
    variants: { signal: [signal] },
    control,
    async run(t, _self, v) {
      const P = t.pageSize;
      const { vcpu, fill } = await twoSlotsWithHole(t);
      if (v.signal === "after_one_page") {
        if (!t.features.includes("fault-injection")) t.skip("needs feature fault-injection to make a signal pending after one page");
        t.ASSERT_OK(await t.call({ op: "inject", fault: "signal", after: 1n }), "inject signal after one page");
      }
      const end = G + 8n * P;
      let gpa = G;
      let size = 8n * P;
      const holes: bigint[] = [];
      const done: bigint[] = [];
      for (let calls = 0; size > 0n; calls++) {
        t.ASSERT(calls < 64, `no end after ${calls} calls (gpa 0x${gpa.toString(16)}, size 0x${size.toString(16)})`);
        const r = await t.call({ op: "ioctl", fd: vcpu, request: "KVM_PRE_FAULT_MEMORY", arg: { gpa, size } });
        const outGpa = r.out?.gpa as bigint | undefined;
        const outSize = r.out?.size as bigint | undefined;
        t.ASSERT(typeof outGpa === "bigint" && typeof outSize === "bigint", `call ${calls}: the struct is written back (out.gpa, out.size), got ${JSON.stringify(Object.keys(r.out ?? {}))}`);
        const progressed = outSize! < size;
        const failed = r.errno !== undefined || r.signal !== undefined;
        t.ASSERT(progressed !== failed, `call ${calls} at 0x${gpa.toString(16)}+0x${size.toString(16)}: "size decreased" XOR "error" must hold, got ${describeResult(r)} with size 0x${outSize!.toString(16)}`);
        if (failed) {
          t.ASSERT_EQ(outGpa, gpa, `call ${calls}: gpa after a failed call`);
          t.ASSERT_EQ(outSize, size, `call ${calls}: size after a failed call`);
          if (r.errno === "EINTR") continue;
          t.ASSERT_ERRNO(r, "ENOENT", `call ${calls} at 0x${gpa.toString(16)}`);
          t.ASSERT(!fill.has(gpa), `ENOENT at 0x${gpa.toString(16)}, which is inside a memslot`);
          holes.push(gpa);
          gpa += P;
          size -= P;
          continue;
        }
        t.ASSERT_EQ(r.ret, 0n, `call ${calls}: ret of a call that made progress`);
        t.ASSERT_EQ(outGpa! + outSize!, end, `call ${calls}: gpa + size after the call (the end of the range)`);
        t.ASSERT(outGpa! > gpa && (outGpa! - gpa) % P === 0n, `call ${calls}: gpa moved forward by whole pages (0x${gpa.toString(16)} -> 0x${outGpa!.toString(16)})`);
        for (let p = gpa; p < outGpa!; p += P) {
          t.ASSERT(fill.has(p), `call ${calls} reports 0x${p.toString(16)} as processed, but no memslot covers it`);
          done.push(p);
        }
        gpa = outGpa!;
        size = outSize!;
      }
      const hex = (xs: bigint[]) => xs.map((x) => `0x${x.toString(16)}`);
      t.EXPECT_EQ(hex(holes), hex([G + 4n * P, G + 5n * P]), "pages that failed with ENOENT");
      t.EXPECT_EQ(hex(done), hex([...fill.keys()].sort((a, b) => (a < b ? -1 : 1))), "pages processed");
      for (const [page, byte] of fill) {
        const r = await t.call({ op: "guest", vcpu, access: "read", gpa: page + P - 8n, len: 8n });
        t.EXPECT(r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT", `guest read at 0x${(page + P - 8n).toString(16)}: expected KVM_EXIT_HLT, got ${describeResult(r)}`);
        const data = r.out?.data;
        t.EXPECT(data instanceof Uint8Array && data.length === 8 && data.every((b) => b === byte), `guest read at 0x${page.toString(16)}: expected 0x${byte.toString(16)} bytes`);
      }
    },
  };
}

export default defineSuite({
  suite: "prefault:loop",
  title: "KVM_PRE_FAULT_MEMORY in a loop until size is 0",
  description: "Two memslots with a two-page hole between them; the loop restarts after ENOENT one page further on, as a VMM skipping a hole would. Kselftest pre_fault_memory_test checks the same XOR property, but only for one slot and without a hole.",
  cases: [
    untilSizeZero("none", "=prefault:args:valid_range:gpa=0x10000000;size=4*PAGE_SIZE"),
    untilSizeZero("after_one_page", "prefault:loop:until_size_zero:signal=none"),
  ],
});
