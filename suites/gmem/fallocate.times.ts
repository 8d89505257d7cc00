// gmem:fallocate:times — a successful fallocate updates the file's mtime and ctime, a
// failing one leaves them alone (GMEM-FALLOC-009).
//
// File times come from a coarse clock, so two calls a few microseconds apart usually
// get the same timestamp and "the time advanced" cannot be seen right after creation.
// The case therefore first waits, by rewriting one byte of a memfd, until the kernel's
// clock has visibly moved past the time it compares against; the fallocate that follows
// must then carry a time at least as late as the memfd's (both come from current_time(),
// which never goes backwards, also with multigrain timestamps). That wait is a loop a
// JSON step list cannot express.
import { defineSuite, type ScenarioCase, type TestContext } from "../../harness/scenario/index.js";
import type { OpResult } from "../../spec/driver/contract.js";

const MAX_SPINS = 20000;

function stamp(r: OpResult, field: "mtime" | "ctime"): bigint {
  const sec = r.out?.[`${field}_sec`];
  const nsec = r.out?.[`${field}_nsec`];
  if (typeof sec !== "bigint" || typeof nsec !== "bigint") throw new Error(`fstat did not report ${field}_sec/${field}_nsec`);
  return sec * 1_000_000_000n + nsec;
}

/** Rewrite a byte of the memfd until its mtime is later than `after`; return that mtime. */
async function clockPast(t: TestContext, memfd: bigint, after: bigint): Promise<bigint> {
  for (let i = 0; i < MAX_SPINS; i++) {
    const w = await t.call({ op: "pwrite", fd: memfd, data: new Uint8Array([i & 0xff]), offset: 0n });
    t.ASSERT_OK(w, "pwrite to the memfd clock");
    const st = await t.call({ op: "fstat", fd: memfd });
    t.ASSERT_OK(st, "fstat of the memfd clock");
    const m = stamp(st, "mtime");
    if (m > after) return m;
  }
  t.ASSERT(false, `the file clock did not move past ${after} within ${MAX_SPINS} memfd writes`);
  return 0n;
}

/** One case per mode: the refused call (offset 1) has its own control, the same call at offset 0. */
function timesCase(label: string, mode: string, control: string): ScenarioCase {
  return {
    name: "times",
    title: `a successful ${label === "punch" ? "hole punch" : "allocation"} sets mtime and ctime to the current time; the same call at an unaligned offset is refused and leaves both unchanged`,
    clauses: ["GMEM-FALLOC-009"],
    requires: ["kvm", "vm-type:default", "guest-memfd"],
    timeoutMs: 60000,
    variants: { mode: { [label]: mode } },
    control,
    async run(t) {
      const kvm = await t.call({ op: "open", path: "/dev/kvm", flags: t.c("O_RDWR") });
      t.ASSERT_OK(kvm, "open /dev/kvm");
      const vm = await t.call({ op: "ioctl", fd: kvm.ret, request: "KVM_CREATE_VM", arg: t.c("KVM_X86_DEFAULT_VM") });
      t.ASSERT_OK(vm, "KVM_CREATE_VM");
      const page = t.pageSize;
      const gmem = await t.call({ op: "ioctl", fd: vm.ret, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 4n * page } });
      t.ASSERT_OK(gmem, "KVM_CREATE_GUEST_MEMFD");
      const memfd = await t.call({ op: "memfd_create", name: "gmem-clock", flags: 0n });
      t.ASSERT_OK(memfd, "memfd_create");
      const mode = t.value("mode");

      const st0 = await t.call({ op: "fstat", fd: gmem.ret });
      t.ASSERT_OK(st0, "fstat before");
      const m0 = stamp(st0, "mtime");
      const c0 = stamp(st0, "ctime");

      // Success: both times move to at least the clock we waited for.
      const clock1 = await clockPast(t, memfd.ret, m0 > c0 ? m0 : c0);
      const ok = await t.call({ op: "fallocate", fd: gmem.ret, mode, offset: 0n, len: 2n * page });
      t.ASSERT_OK(ok, "fallocate inside the file");
      const st1 = await t.call({ op: "fstat", fd: gmem.ret });
      t.ASSERT_OK(st1, "fstat after the successful call");
      const m1 = stamp(st1, "mtime");
      const c1 = stamp(st1, "ctime");
      t.EXPECT(m1 >= clock1, `mtime after a successful fallocate is ${m1}, earlier than the clock ${clock1} read before it (it was ${m0})`);
      t.EXPECT(c1 >= clock1, `ctime after a successful fallocate is ${c1}, earlier than the clock ${clock1} read before it (it was ${c0})`);

      // Failure: neither time changes, however late the clock is.
      await clockPast(t, memfd.ret, m1 > c1 ? m1 : c1);
      const bad = await t.call({ op: "fallocate", fd: gmem.ret, mode, offset: 1n, len: page });
      t.ASSERT_ERRNO(bad, "EINVAL", "fallocate at an unaligned offset");
      const st2 = await t.call({ op: "fstat", fd: gmem.ret });
      t.ASSERT_OK(st2, "fstat after the refused call");
      t.EXPECT_EQ(stamp(st2, "mtime"), m1, "mtime after a refused fallocate");
      t.EXPECT_EQ(stamp(st2, "ctime"), c1, "ctime after a refused fallocate");
    },
  };
}

export default defineSuite({
  suite: "gmem:fallocate",
  title: "fallocate(2) on guest_memfd: file times",
  cases: [
    timesCase("allocate", "FALLOC_FL_KEEP_SIZE", "gmem:fallocate:allocate_in_range:offset=0;len=PAGE_SIZE"),
    timesCase("punch", "FALLOC_FL_KEEP_SIZE|FALLOC_FL_PUNCH_HOLE", "gmem:fallocate:punch_in_range:offset=0;len=PAGE_SIZE"),
  ],
});
