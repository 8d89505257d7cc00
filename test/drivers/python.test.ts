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

  it("refuses an integer argument to a struct request as the reference does; runs the field map (control)", async function () {
    let d: ChildProcessDriver;
    try {
      d = await ChildProcessDriver.start({ command: py!, args: [DRIVER] });
    } catch (err) {
      if (err instanceof DriverUnavailable) this.skip();
      throw err;
    }
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
