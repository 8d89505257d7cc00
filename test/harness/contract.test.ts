// The driver contract decides verdicts (harness/protocol/CONTRACT.md): a driver offers
// a list of operations and the runner skips, naming the operation, every case that
// needs another; names on the wire come from spec/ (aliases refused); an integer
// argument to a struct request means the same (nothing: it is refused) in every driver.
import { expect } from "chai";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSpec } from "../../spec/index.js";
import { EXPECTATIONS_DIR, SUITES_DIR } from "../../spec/paths.js";
import { loadSuites } from "../../harness/case/load.js";
import { driverChoice } from "../../harness/drivers/index.js";
import { CONTRACT_VERSION, DriverFailure, offeredOperations, opSince, type Driver, type Handshake } from "../../spec/driver/contract.js";
import { OPS, type OpName } from "../../spec/driver/ops.js";
import { ChildProcessDriver } from "../../harness/protocol/child.js";
import { Expectations } from "../../harness/runner/expectations.js";
import { run, type DriverChoice } from "../../harness/runner/runner.js";
import { rejection } from "../drivers/refusal.js";

const spec = loadSpec();

/** The reference, offering only `operations`; `claims` are offered too but answered `unsupported`. */
function restricted(operations: OpName[], claims: OpName[] = []): DriverChoice {
  const inner = driverChoice("reference", { profile: "linux-6.18", host: "full" });
  return {
    label: "restricted-reference",
    reproArgs: [],
    open: async () => {
      const d = await inner.open();
      const handshake: Handshake = { ...d.handshake, operations: [...operations, ...claims] };
      const offered = new Set<string>(operations);
      const wrapped: Driver = {
        handshake,
        call: (op) => (offered.has(op.op) ? d.call(op) : Promise.reject(new DriverFailure("unsupported", `${op.op} is not implemented`))),
        reset: () => d.reset(),
        close: () => d.close(),
        abort: (r) => d.abort(r),
      };
      return wrapped;
    },
  };
}

async function runAll(driver: DriverChoice, filters: string[] = []) {
  const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
  return run({ spec, cases, driver, filters, timeoutMs: 20000, expectations: Expectations.forDriver(EXPECTATIONS_DIR, "reference"), reporters: [], suiteFiles: files });
}

describe("contract: the operations a driver offers", function () {
  this.timeout(300000);

  it("a driver offering only open, close, ioctl and fstat runs the whole suite with 0 ERROR; every other case is a SKIP naming what is missing", async () => {
    const r = await runAll(restricted(["open", "close", "ioctl", "fstat"]));
    const bad = r.results.filter((x) => !["PASS", "SKIP", "XFAIL"].includes(x.outcome));
    expect(bad.map((x) => `${x.id}: ${x.outcome} ${x.message ?? ""}`)).to.deep.equal([]);
    const skips = r.results.filter((x) => x.outcome === "SKIP");
    for (const s of skips) expect(s.message, s.id).to.match(/^needs operations? |^needs feature |^needs .* to be absent|^the case is (written for|for profiles)|does not exist in profile|states no expectation/);
    const byOp = skips.filter((s) => /^needs operations? /.test(s.message ?? ""));
    // step lists are skipped before they run, scenarios at their first absent operation
    expect(byOp.some((s) => s.kind === "steps" && /needs operations? .*\bmmap\b/.test(s.message!))).to.equal(true);
    expect(byOp.some((s) => s.kind === "scenario")).to.equal(true);
    for (const s of byOp) for (const op of s.message!.replace(/^needs operations? /, "").replace(/, the driver.*$/, "").split(", ")) expect(["open", "close", "ioctl", "fstat"]).not.to.include(op);
    // the cases it can run, it runs: the same verdicts as the full reference
    const passed = r.results.filter((x) => x.outcome === "PASS");
    expect(passed.length).to.be.greaterThan(20);
    const full = await runAll(driverChoice("reference", { profile: "linux-6.18", host: "full" }), passed.map((p) => `=${p.id}`));
    expect(full.results.every((x) => x.outcome === "PASS")).to.equal(true);
  });

  it("control: the same driver offering every operation skips no case for an operation", async () => {
    const r = await runAll(restricted(Object.keys(OPS) as OpName[]));
    expect(r.results.filter((x) => /^needs operations? /.test(x.message ?? ""))).to.deep.equal([]);
    expect(r.summary.ERROR).to.equal(0);
  });

  it("a driver that offers an operation and answers unsupported for it is an ERROR", async () => {
    const others = (Object.keys(OPS) as OpName[]).filter((op) => op !== "mmap");
    const lying = await runAll(restricted(others, ["mmap"]), ["gmem:mmap"]);
    const errors = lying.results.filter((x) => x.outcome === "ERROR");
    expect(errors.length).to.be.greaterThan(5);
    for (const e of errors) expect(e.message).to.match(/driver unsupported: mmap is not implemented/);
    // control: not offering it makes the same cases SKIPs naming it
    const honest = await runAll(restricted(others), errors.map((e) => `=${e.id}`));
    expect(honest.results.map((x) => [x.outcome, x.message])).to.deep.equal(errors.map(() => ["SKIP", "needs operation mmap, the driver does not offer it"]));
  });

  it("a 1.0 driver (no operations listed) has the cases that need 1.1 operations skipped, naming them; the reference runs them (control)", async () => {
    const inner = driverChoice("reference", { profile: "linux-6.18", host: "full" });
    const old: DriverChoice = {
      label: "reference-as-1.0",
      reproArgs: [],
      open: async () => {
        const d = await inner.open();
        const { operations: _none, ...hs } = d.handshake;
        return { handshake: { ...hs, contractVersion: "1.0" }, call: (op) => d.call(op), reset: () => d.reset(), close: () => d.close(), abort: (r) => d.abort(r) };
      },
    };
    // uio:proc_mem uses only 1.0 operations (open, pread, pwrite) behind a feature the handshake copied from the reference offers
    const suites = ["uio:pread_pwrite*", "uio:process_vm*", "sync"];
    const r = await runAll(old, suites);
    expect(r.results.length).to.be.greaterThan(5);
    for (const x of r.results) expect([x.outcome, x.message], x.id).to.satisfy(([o, m]: [string, string]) => o === "SKIP" && /^needs operations? .*\b(pread_user|pwrite_user|fsync|fdatasync|msync|process_vm_readv|process_vm_writev)\b/.test(m));
    const current = await runAll(inner, suites);
    expect(current.results.map((x) => x.outcome)).to.deep.equal(r.results.map(() => "PASS"));
  });

  it("a handshake without operations offers its contract version's vocabulary", () => {
    const hs = (v: string, operations?: OpName[]): Handshake => ({ contractVersion: v, name: "t", version: "1", profile: "linux-6.18", features: [], host: { kernel: "t", arch: "x86_64", pageSize: 4096 }, ...(operations ? { operations } : {}) });
    // the operations of 1.3 and later are absent from every older vocabulary
    const all = Object.keys(OPS).sort().filter((op) => Number(opSince(op as OpName).split(".")[1]) < 3);
    expect([...offeredOperations(hs(CONTRACT_VERSION))].sort()).to.deep.equal(Object.keys(OPS).sort());
    expect([...offeredOperations(hs("1.2"))].sort()).to.deep.equal(all);
    // a 1.0 driver never heard of the operations 1.1 added
    expect([...offeredOperations(hs("1.0"))].sort()).to.deep.equal(all.filter((op) => !["pread_user", "pwrite_user", "fsync", "fdatasync", "msync", "process_vm_readv", "process_vm_writev", "pin_user_pages", "unpin_user_pages", "guest_arch", ...SINCE_1_3].includes(op)));
    // a 1.1 driver never heard of guest_arch
    expect([...offeredOperations(hs("1.1"))].sort()).to.deep.equal(all.filter((op) => op !== "guest_arch" && !SINCE_1_3.includes(op)));
    // a 1.2 driver never heard of the operations 1.3 added
    expect(SINCE_1_3).to.include.members(["readv", "fcntl_lock", "guest_program", "resume", "pipe", "tmpfile", "mremap", "io_uring_register_buffers", "uffdio_register"]);
    expect([...offeredOperations(hs("1.2"))].sort()).to.deep.equal(all.filter((op) => !SINCE_1_3.includes(op)));
    expect([...offeredOperations(hs(CONTRACT_VERSION, ["open", "fstat"]))]).to.deep.equal(["open", "fstat"]);
  });

  it("a 1.3 driver is never offered the operations 1.4 added (setrlimit, drop_capability)", () => {
    const hs = (v: string): Handshake => ({ contractVersion: v, name: "t", version: "1", profile: "linux-6.18", features: [], host: { kernel: "t", arch: "x86_64", pageSize: 4096 } });
    const since14 = Object.keys(OPS).filter((op) => opSince(op as OpName) === "1.4");
    expect(since14).to.include.members(["setrlimit", "drop_capability"]);
    const upTo13 = Object.keys(OPS).filter((op) => Number(opSince(op as OpName).split(".")[1]) <= 3).sort();
    expect([...offeredOperations(hs("1.3"))].sort()).to.deep.equal(upTo13);
    for (const op of since14) expect([...offeredOperations(hs(CONTRACT_VERSION))]).to.include(op);
  });
});

/** The operations contract 1.3 added. */
const SINCE_1_3: string[] = Object.keys(OPS).filter((op) => opSince(op as OpName) === "1.3");

/** A remote driver in a few lines: its hello and the result it gives every call are the test's. */
function scriptDriver(hello: Record<string, unknown>, result: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "privmem-cts-contract-"));
  const file = join(dir, "driver.mjs");
  writeFileSync(
    file,
    `import { createInterface } from "node:readline";
const hello = ${JSON.stringify(hello)}, result = ${JSON.stringify(result)};
const send = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
createInterface({ input: process.stdin }).on("line", (line) => {
  const m = JSON.parse(line);
  if (m.type === "hello") send({ type: "hello", id: m.id, ...hello });
  else if (m.type === "call") send({ type: "result", id: m.id, result });
  else if (m.type === "reset") send({ type: "reset", id: m.id, released: { fds: 0, mappings: 0, processes: 0 } });
  else { send({ type: "bye", id: m.id }); process.exit(0); }
});
`,
  );
  return file;
}

const HELLO = { contractVersion: CONTRACT_VERSION, name: "script", version: "1", profile: "linux-6.18", features: ["kvm", "guest-memfd"], operations: ["open", "close"], host: { kernel: "x", arch: "x86_64", pageSize: 4096 } };

async function start(hello: Record<string, unknown>, result: Record<string, unknown> = { ret: 0 }) {
  return ChildProcessDriver.start({ command: process.execPath, args: [scriptDriver(hello, result)] });
}

describe("contract: names on the wire come from spec/", function () {
  this.timeout(30000);

  for (const [alias, name] of [["ENOTSUP", "EOPNOTSUPP"], ["EDEADLOCK", "EDEADLK"]] as const) {
    it(`refuses the alias ${alias} with the name the contract uses; accepts ${name} (control)`, async () => {
      const d = await start(HELLO, { ret: -1, errno: alias });
      try {
        const err = await rejection(d.call({ op: "close", fd: 3n }));
        expect(err.kind).to.equal("protocol");
        expect(err.message).to.contain(`result.errno: ${alias} is an alias; the contract spells it ${name}`);
      } finally {
        d.abort();
      }
      const ok = await start(HELLO, { ret: -1, errno: name });
      try {
        expect(await ok.call({ op: "close", fd: 3n })).to.deep.equal({ ret: -1n, errno: name });
      } finally {
        await ok.close();
      }
    });
  }

  it("refuses a signal alias and an unknown errno name; accepts E#<n> for a number spec/ does not name (control)", async () => {
    for (const [result, message] of [
      [{ ret: -1, signal: "SIGIOT" }, "result.signal: SIGIOT is an alias; the contract spells it SIGABRT"],
      [{ ret: -1, errno: "EWHATEVER" }, "result.errno: EWHATEVER is not an errno name of spec/constants.json"],
    ] as const) {
      const d = await start(HELLO, result);
      try {
        expect((await rejection(d.call({ op: "close", fd: 3n }))).message).to.contain(message);
      } finally {
        d.abort();
      }
    }
    const ok = await start(HELLO, { ret: -1, errno: "E#200", signal: "SIGBUS" });
    try {
      expect(await ok.call({ op: "close", fd: 3n })).to.deep.equal({ ret: -1n, errno: "E#200", signal: "SIGBUS" });
    } finally {
      await ok.close();
    }
  });

  it("refuses at start a handshake with an unknown feature or operation; starts with known ones (control)", async () => {
    const typo = await rejection(start({ ...HELLO, features: ["kvm", "gmem-flag:mmapp"] }));
    expect(typo.message).to.contain(`handshake.features: "gmem-flag:mmapp" is not a feature of spec/features.json`);
    const op = await rejection(start({ ...HELLO, operations: ["open", "splice_into_nowhere"] }));
    expect(op.message).to.contain(`handshake.operations: "splice_into_nowhere" is not an operation of the contract`);
    // a driver of a later minor version may offer operations this runner does not know yet
    const later = await start({ ...HELLO, contractVersion: "1.99", operations: ["open", "splice_into_nowhere"] });
    expect(later.handshake.operations).to.deep.equal(["open", "splice_into_nowhere"]);
    await later.close();
    const ok = await start(HELLO);
    expect(ok.handshake.features).to.deep.equal(["kvm", "guest-memfd"]);
    await ok.close();
  });

  it("the runner refuses to start a run on a driver whose handshake names an unknown feature", async () => {
    const file = scriptDriver({ ...HELLO, features: ["kvm", "guest_memfd"] }, { ret: 0 });
    const { cases, files } = await loadSuites(spec, [SUITES_DIR]);
    const err = await run({ spec, cases, driver: driverChoice(`remote:${process.execPath} ${file}`), filters: [], timeoutMs: 5000, expectations: Expectations.none(), reporters: [], suiteFiles: files }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/could not start: .*"guest_memfd" is not a feature of spec\/features.json/);
  });
});

describe("contract: an integer argument to a struct request is refused by every driver", function () {
  it("the reference refuses it as a protocol error; takes the field map (control)", async () => {
    const d = await driverChoice("reference", { profile: "linux-6.18", host: "full" }).open();
    try {
      const kvm = (await d.call({ op: "open", path: "/dev/kvm", flags: 2n })).ret;
      const vm = (await d.call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
      const err = await rejection(d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg: 0n }));
      expect([err.kind, err.message]).to.deep.equal([
        "protocol",
        `KVM_SET_USER_MEMORY_REGION2 takes a struct kvm_userspace_memory_region2 as a field map, not an integer (an integer is never a pointer; pointer: "invalid" passes one the kernel cannot read)`,
      ]);
      expect((await d.call({ op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", pointer: "invalid" })).errno).to.equal("EFAULT");
      const gmem = (await d.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: 4096n } })).ret;
      expect(gmem > 2n, `a guest_memfd fd, got ${gmem}`).to.equal(true);
      expect((await rejection(d.call({ op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: 4096n }))).kind).to.equal("protocol");
    } finally {
      await d.close();
    }
  });
});
