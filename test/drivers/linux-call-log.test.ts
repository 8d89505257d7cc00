// The linux driver's call log (harness/drivers/linux/call-log.ts) and its C replayer
// (bench/replay.c): the encoding of each argument kind, and a recorded case that
// replays from C with every result as recorded. The end-to-end part skips without
// /dev/kvm or gcc.
import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, signature } from "../../harness/drivers/linux/call-log.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { loadSpec } from "../../spec/index.js";
import { PROJECT_ROOT } from "../../spec/paths.js";

describe("linux driver: call log for the replay anchor", function () {
  this.timeout(60000);

  it("reads the symbol, the C int return and the fixed parameters of a variadic function from a prototype", () => {
    expect(signature(["int open(const char *path, int flags, ...)"])).to.deep.equal({ symbol: "open", int: true, fixed: 2 });
    expect(signature(["int64 syscall(int64 number, ...)"])).to.deep.equal({ symbol: "syscall", int: false, fixed: 1 });
    expect(signature(["uint64 mmap(uint64 addr, uint64 len, int prot, int flags, int fd, int64 offset)"])).to.deep.equal({ symbol: "mmap", int: false, fixed: undefined });
    expect(signature(["pread", "int64", ["int", "uint64", "uint64", "int64"]])).to.deep.equal({ symbol: "pread", int: false, fixed: undefined });
    expect(signature(["timer_create", "int", []])).to.deep.equal({ symbol: "timer_create", int: true, fixed: undefined });
  });

  it("encodes integers as 64-bit two's complement, strings and buffers as hex, out cells and sigevents by kind", () => {
    expect(arg(-1n)).to.equal("xffffffffffffffff");
    expect(arg(4096)).to.equal("x1000");
    expect(arg(null)).to.equal("x0");
    expect(arg("/dev/kvm")).to.equal("s2f6465762f6b766d");
    expect(arg(Buffer.from([1, 0xab]))).to.equal("b01ab");
    expect(arg(new Uint8Array([0xff]).subarray(0, 1))).to.equal("bff");
    expect(arg([0n])).to.equal("o");
    expect(arg({ value: 0n, signo: 12, notify: 4, tid: 77, pad: [] })).to.equal("e12,4");
    expect(arg({ intervalSec: 0, intervalNsec: 0, valueSec: 1, valueNsec: 2 })).to.equal("b" + "00".repeat(16) + "0100000000000000" + "0200000000000000");
    expect(() => arg({ other: 1 })).to.throw(/cannot record/);
  });

  it("a recorded case replays from C with every result as recorded", async function () {
    if (kvmUnavailableReason() !== undefined) this.skip();
    const gcc = spawnSync("gcc", ["--version"]);
    if (gcc.error || gcc.status !== 0) this.skip();
    const dir = mkdtempSync(join(tmpdir(), "pmc-call-log-"));
    const saved = process.env["PRIVMEM_CTS_CALL_LOG"];
    try {
      process.env["PRIVMEM_CTS_CALL_LOG"] = dir;
      const d = await openLinux({ profile: "linux-6.18" });
      delete process.env["PRIVMEM_CTS_CALL_LOG"];
      const spec = loadSpec();
      const kvm = (await d.call({ op: "open", path: "/dev/kvm", flags: spec.constant("O_RDWR", "linux-6.18")! })).ret;
      const vm = (await d.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
      const map = (await d.call({ op: "mmap", addr: 0n, len: 8192n, prot: 3n, flags: 0x22n, fd: -1n, offset: 0n })).ret;
      await d.call({ op: "store", addr: map, data: Uint8Array.of(1, 2, 3) });
      const slot = await d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION", arg: { slot: 1n, flags: 0n, guest_phys_addr: 0x100000n, memory_size: 8192n, userspace_addr: map } });
      expect(slot.ret).to.equal(0n);
      await d.reset();
      await d.close();
      const logs = readdirSync(dir).map((f) => join(dir, f));
      expect(logs).to.have.length(1);
      const text = readFileSync(logs[0]!, "utf8");
      expect(text).to.match(/^case$/m);
      expect(text).to.match(/^open i [0-9a-f]+ s2f6465762f6b766d /m);
      expect(text).to.match(/^ioctl i 0 x[0-9a-f]+ x[0-9a-f]+ b/m, "the memslot ioctl with its struct's bytes");
      const exe = join(dir, "replay");
      const built = spawnSync("gcc", ["-O2", "-o", exe, join(PROJECT_ROOT, "bench", "replay.c")], { encoding: "utf8" });
      expect(built.status, built.stderr).to.equal(0);
      // the driver's idle VM (ballast.ts), when the kernel let it create one, is listed for the replayer to hold
      const hex = (name: string) => spec.ioctl(name, "linux-6.18")!.request.toString(16);
      const requests = `--kvm-requests=${hex("KVM_CREATE_VM")},${hex("KVM_CREATE_VCPU")}`;
      for (const mode of [[], ["--one-process"]]) {
        const out = spawnSync(exe, [...mode, requests, ...logs], { encoding: "utf8" });
        expect(out.status, out.stderr).to.equal(0);
        const r = JSON.parse(out.stdout) as { cases: number; calls: number; mismatches: number; crashed: number; unheldKvm: number };
        expect(r.unheldKvm).to.equal(0);
        expect(r.cases).to.be.at.least(1);
        expect(r.calls).to.be.at.least(6);
        expect(r.mismatches, out.stdout).to.equal(0);
        expect(r.crashed).to.equal(0);
      }
      // a result that differs from the recorded one is counted: the recorded memslot ioctl said 5
      const req = spec.ioctl("KVM_SET_USER_MEMORY_REGION", "linux-6.18")!.request.toString(16);
      const firstCase = text.indexOf("\ncase\n");
      const withFive = text.slice(firstCase).replace(new RegExp(`^ioctl i 0 (x[0-9a-f]+ x${req} b)`, "m"), "ioctl i 5 $1");
      expect(withFive).to.not.equal(text.slice(firstCase));
      writeFileSync(logs[0]!, text.slice(0, firstCase) + withFive);
      const tampered = JSON.parse(spawnSync(exe, logs, { encoding: "utf8" }).stdout) as { mismatches: number; firstMismatches: string[] };
      expect(tampered.mismatches).to.equal(1);
      expect(tampered.firstMismatches[0]).to.match(/ioctl: recorded 0x5, got 0/);
    } finally {
      if (saved === undefined) delete process.env["PRIVMEM_CTS_CALL_LOG"];
      else process.env["PRIVMEM_CTS_CALL_LOG"] = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
