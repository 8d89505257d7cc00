// The Python reference remote driver (harness/drivers/python/): written from CONTRACT.md
// alone, it runs the whole suite through `remote:` with 0 ERROR and 0 FAIL, skipping what
// it does not offer by name. Skipped where python3 is missing.
import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { PROJECT_ROOT, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { ChildProcessDriver } from "../../harness/protocol/child.js";
import { DriverUnavailable } from "../../spec/driver/contract.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run } from "../../harness/runner/runner.js";
import { rejection } from "./refusal.js";

const DRIVER = join(PROJECT_ROOT, "harness", "drivers", "python", "driver.py");
function python(): string | undefined {
  try {
    execFileSync("python3", ["-c", "import ctypes, json, struct"], { stdio: "ignore" });
    return "python3";
  } catch {
    return undefined;
  }
}

describe("python remote driver", function () {
  this.timeout(600000);
  const py = python();
  /** The driver in a child process, or the test skipped when /dev/kvm is unusable. */
  async function startDriver(t: Mocha.Context): Promise<ChildProcessDriver> {
    try {
      return await ChildProcessDriver.start({ command: py!, args: [DRIVER] });
    } catch (err) {
      if (err instanceof DriverUnavailable) t.skip();
      throw err;
    }
  }
  before(function () {
    if (py === undefined) this.skip(); // python3 with ctypes is not installed
  });

  it("runs every suite through remote: with 0 ERROR and 0 FAIL; what it skips names an operation or a feature", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const r = await run({ spec, cases, driver: driverChoice(`remote:${py} ${DRIVER}`), filters: [], timeoutMs: 20000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
    if (r.info.skippedRun !== undefined) {
      // no usable /dev/kvm: the driver says so at hello and nothing runs
      expect(r.info.skippedRun).to.match(/\/dev\/kvm/);
      expect(r.results).to.deep.equal([]);
      return;
    }
    expect(r.results.filter((x) => x.outcome !== "PASS" && x.outcome !== "SKIP").map((x) => `${x.id}: ${x.outcome} ${x.message ?? ""}`)).to.deep.equal([]);
    expect(r.summary.PASS).to.be.greaterThan(10);
    for (const s of r.results.filter((x) => x.outcome === "SKIP"))
      expect(s.message, s.id).to.match(/^needs operations? |^needs feature |^needs .* to be absent|^the case is (written for|for profiles)|does not exist in profile|states no expectation/);
    expect(r.info.driverName).to.equal("python");
  });

  it("runs the FOPS and SPLICE suites on the kernel: every case that needs no memory operation and no guest_memfd passes", async () => {
    const spec = loadSpec();
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const r = await run({ spec, cases, driver: driverChoice(`remote:${py} ${DRIVER}`), filters: ["fops:*", "splice:*"], timeoutMs: 20000, expectations: Expectations.none(), reporters: [], suiteFiles: files });
    if (r.info.skippedRun !== undefined) return; // no usable /dev/kvm (first test)
    expect(r.results.filter((x) => x.outcome !== "PASS" && x.outcome !== "SKIP").map((x) => `${x.id}: ${x.outcome} ${x.message ?? ""}`)).to.deep.equal([]);
    // what is skipped needs memory (mmap, load, store, vmsplice, *_user) or a feature this host lacks, never a file operation
    const fileOps = /\b(readv|writev|preadv2|pwritev2|posix_fadvise|readahead|syncfs|sync_file_range|flock|fcntl_lock|fchown|futimens|pipe|splice|sendfile|copy_file_range|tmpfile|fchmod)\b/;
    for (const s of r.results.filter((x) => x.outcome === "SKIP")) expect(s.message, s.id).to.match(/^needs operations? |^needs feature /).and.not.match(fileOps);
    const passed = r.results.filter((x) => x.outcome === "PASS").map((x) => x.id);
    for (const id of ["fops:io:", "fops:meta:", "splice:pipes:round_trip", "splice:splice:file_to_pipe", "splice:splice:sendfile_memfd", "splice:splice:copy_file_range_memfd", "splice:files:reopen_memfd"])
      expect(passed.some((p) => p.startsWith(id)), id).to.equal(true);
  });

  it("answers the 1.3 file operations as the kernel does: offsets written back, the file position for -1, UTIME_OMIT, no sleeping on a pipe", async function () {
    const d = await startDriver(this);
    const spec = loadSpec();
    const K = (n: string) => spec.constant(n, "linux-6.18")!;
    try {
      expect(d.handshake.contractVersion).to.equal("1.3");
      expect(d.handshake.operations).to.include.members(["pipe", "splice", "sendfile", "copy_file_range", "tmpfile", "readv", "preadv2", "fcntl_lock", "futimens"]).and.not.include.members(["vmsplice", "mlock", "userfaultfd"]);
      const m = (await d.call({ op: "memfd_create", name: "py", flags: 0n })).ret;
      expect((await d.call({ op: "pwritev2", fd: m, data: Uint8Array.from([1, 2, 3, 4]), lens: [1n, 3n], offset: -1n, flags: 0n })).ret).to.equal(4n);
      expect((await d.call({ op: "preadv2", fd: m, lens: [2n], offset: 1n, flags: 0n })).out?.data).to.deep.equal(Uint8Array.from([2, 3]));
      expect((await d.call({ op: "lseek", fd: m, offset: 0n, whence: 1n })).ret, "-1 wrote at and advanced the position").to.equal(4n);
      const p = await d.call({ op: "pipe", flags: 0n });
      const w = p.out!.write_fd as bigint;
      // the read end is empty and blocking: refused instead of sleeping
      expect((await rejection(d.call({ op: "read", fd: p.ret, len: 1n }))).kind).to.equal("unsupported");
      expect(await d.call({ op: "splice", fd_in: m, off_in: 1n, fd_out: w, len: 2n, flags: 0n })).to.deep.equal({ ret: 2n, out: { off_in: 3n } });
      expect((await d.call({ op: "readv", fd: p.ret, lens: [1n, 1n] })).out?.data).to.deep.equal(Uint8Array.from([2, 3]));
      expect(await d.call({ op: "sendfile", out_fd: w, in_fd: m, offset: 0n, count: 4n })).to.deep.equal({ ret: 4n, out: { offset: 4n } });
      const before = (await d.call({ op: "fstat", fd: m })).out!;
      expect((await d.call({ op: "futimens", fd: m, atime_sec: 5n, atime_nsec: 6n, mtime_sec: 0n, mtime_nsec: K("UTIME_OMIT") })).ret).to.equal(0n);
      const after = (await d.call({ op: "fstat", fd: m })).out!;
      expect([after.atime_sec, after.atime_nsec, after.mtime_sec, after.mtime_nsec]).to.deep.equal([5n, 6n, before.mtime_sec, before.mtime_nsec]);
      expect((await rejection(d.call({ op: "fcntl_lock", fd: m, cmd: K("F_SETLK"), lock: 0n }))).kind).to.equal("protocol");
      expect((await d.call({ op: "fcntl_lock", fd: m, cmd: K("F_OFD_GETLK"), lock: { l_type: K("F_WRLCK") } })).out?.l_type).to.equal(K("F_UNLCK"));
    } finally {
      await d.close();
    }
  });

  it("refuses an integer argument to a struct request as the reference does; runs the field map (control)", async function () {
    const d = await startDriver(this);
    try {
      expect(d.handshake.operations).to.include.members(["open", "close", "fstat", "ioctl", "memfd_create", "pread"]).and.not.include.members(["mmap", "load"]);
      const kvm = (await d.call({ op: "open", path: "/dev/kvm", flags: 2n })).ret;
      const vm = (await d.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
      expect(vm > kvm, `a VM fd, got ${vm}`).to.equal(true);
      const err = await rejection(d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: 0n }));
      expect([err.kind, err.message]).to.deep.equal([
        "protocol",
        `KVM_SET_USER_MEMORY_REGION takes a struct kvm_userspace_memory_region as a field map, not an integer (an integer is never a pointer; pointer: "invalid" passes one the kernel cannot read)`,
      ]);
      expect((await d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", pointer: "invalid" })).errno).to.equal("EFAULT");
      // a memslot over host addresses the kernel does not touch until a guest runs
      expect(await d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 0n, guest_phys_addr: 0x100000n, memory_size: 4096n, userspace_addr: 0x40000000n } })).to.deep.include({ ret: 0n });
      expect((await d.call({ op: "fstat", fd: vm })).out?.size).to.equal(0n);
    } finally {
      await d.close();
    }
  });
});
