// The linux driver's setrlimit and drop_capability (contract 1.4) against this machine's
// kernel: what they change is undone at reset, and what could not be undone is refused.
// Skipped where /dev/kvm cannot be opened.
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { useLinuxDriver } from "./linux-hooks.js";
import { DriverFailure, type Op, type OpResult } from "../../spec/driver/contract.js";
import { loadSpec } from "../../spec/index.js";

const spec = loadSpec();
const K = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const PAGE = 4096n;

describe("linux driver: resource limits and capabilities", function () {
  this.timeout(30000);
  const driver = useLinuxDriver();
  const call = (op: Op): Promise<OpResult> => driver().call(op);
  const anon = async () => (await call({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: K("PROT_READ") | K("PROT_WRITE"), flags: K("MAP_PRIVATE") | K("MAP_ANONYMOUS"), fd: -1n, offset: 0n })).ret;

  it("reset restores RLIMIT_MEMLOCK and CAP_IPC_LOCK: mlock is refused inside the case and works after", async function () {
    if (!driver().handshake.features.includes("cap-ipc-lock")) this.skip();
    const before = await call({ op: "setrlimit", resource: K("RLIMIT_MEMLOCK"), cur: 0n });
    expect(await call({ op: "drop_capability", cap: K("CAP_IPC_LOCK") })).to.deep.equal({ ret: 0n });
    expect((await call({ op: "mlock", addr: await anon(), len: PAGE })).errno).to.equal("EPERM");
    await driver().reset();
    expect(readFileSync("/proc/self/status", "utf8")).to.match(/CapEff/); // the test process itself is untouched
    const after = await call({ op: "setrlimit", resource: K("RLIMIT_MEMLOCK"), cur: before.out!.cur as bigint });
    expect(after.out).to.deep.equal(before.out, "the soft and hard limits are back");
    expect(await call({ op: "mlock", addr: await anon(), len: PAGE })).to.deep.equal({ ret: 0n });
  });

  it("refuses what it could not undo or what could break it: other resources, capabilities but CAP_IPC_LOCK and CAP_SYS_RESOURCE, a lower hard limit without CAP_SYS_RESOURCE", async () => {
    const refused = async (op: Op) => {
      try {
        await call(op);
      } catch (err) {
        return err instanceof DriverFailure ? err.kind : String(err);
      }
      return "answered";
    };
    expect(await refused({ op: "setrlimit", resource: 7n, cur: 16n })).to.equal("unsupported"); // RLIMIT_NOFILE
    expect(await refused({ op: "drop_capability", cap: 21n })).to.equal("unsupported"); // CAP_SYS_ADMIN
    expect(await refused({ op: "setrlimit", resource: 16n, cur: 16n })).to.equal("answered"); // RLIM_NLIMITS: the kernel refuses it, nothing changes
    const sysResource = (BigInt("0x" + /CapEff:\s*([0-9a-f]+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) >> K("CAP_SYS_RESOURCE")) & 1n;
    expect(await refused({ op: "setrlimit", resource: K("RLIMIT_MEMLOCK"), cur: 0n, max: 0n })).to.equal(sysResource ? "answered" : "unsupported");
  });
});
