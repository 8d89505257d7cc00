// The linux driver's /proc/self/mem: a case may pread and pwrite its own mappings through
// it (control), but never the driver's memory, whatever copy of the descriptor it uses
// (attack). Skipped where /dev/kvm cannot be opened.
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { expect } from "chai";
import { useLinuxDriver } from "./linux-hooks.js";
import type { Op, OpResult } from "../../spec/driver/contract.js";
import { loadSpec } from "../../spec/index.js";
import { rejection } from "./refusal.js";

const spec = loadSpec();
const K = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const PAGE = 4096n;

/** 16 bytes of this process's memory at `addr`, read by the test itself (not through the driver). */
function bytesAt(addr: bigint): Buffer {
  const fd = openSync("/proc/self/mem", "r");
  try {
    const buf = Buffer.alloc(16);
    readSync(fd, buf, 0, 16, Number(addr));
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** The start of the driver process's first mapping (its executable): memory no case owns. */
function driverAddress(): bigint {
  return BigInt(`0x${readFileSync("/proc/self/maps", "utf8").split("-")[0]}`);
}

describe("linux driver: /proc/self/mem", function () {
  this.timeout(30000);
  const driver = useLinuxDriver();
  const call = (op: Op): Promise<OpResult> => driver().call(op);

  /** /proc/self/mem opened read-write, and a 2-page memfd of 0x5a mapped shared. */
  async function setUp(): Promise<{ mem: bigint; fd: bigint; map: bigint }> {
    const mem = (await call({ op: "open", path: "/proc/self/mem", flags: K("O_RDWR") })).ret;
    expect(mem >= 0n).to.equal(true);
    const fd = (await call({ op: "memfd_create", name: "pm", flags: K("MFD_CLOEXEC") })).ret;
    await call({ op: "pwrite", fd, data: new Uint8Array(Number(2n * PAGE)).fill(0x5a), offset: 0n });
    const map = (await call({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: K("PROT_READ") | K("PROT_WRITE"), flags: K("MAP_SHARED"), fd, offset: 0n })).ret;
    return { mem, fd, map };
  }

  it("offers open:proc-self-mem", () => {
    expect(driver().handshake.features).to.include("open:proc-self-mem");
  });

  it("control: pread and pwrite reach the case's memfd mapping; loads and the file see the write", async () => {
    const { mem, fd, map } = await setUp();
    expect(await call({ op: "pread", fd: mem, len: 16n, offset: map + 8n })).to.deep.equal({ ret: 16n, out: { data: new Uint8Array(16).fill(0x5a) } });
    expect(await call({ op: "pwrite", fd: mem, data: new Uint8Array(16).fill(0x77), offset: map + PAGE })).to.deep.equal({ ret: 16n });
    expect((await call({ op: "load", addr: map + PAGE, len: 20n })).out!.data).to.deep.equal(new Uint8Array([...new Array<number>(16).fill(0x77), 0x5a, 0x5a, 0x5a, 0x5a]));
    expect((await call({ op: "pread", fd, len: 16n, offset: PAGE })).out!.data).to.deep.equal(new Uint8Array(16).fill(0x77));
  });

  it("attack: pread or pwrite of the driver's own memory is a protocol error and the memory is untouched", async () => {
    const { mem, map } = await setUp();
    const target = driverAddress();
    const before = bytesAt(target);
    expect((await rejection(call({ op: "pread", fd: mem, len: 16n, offset: target }))).kind).to.equal("protocol");
    expect((await rejection(call({ op: "pwrite", fd: mem, data: new Uint8Array(16).fill(0xcc), offset: target }))).kind).to.equal("protocol");
    // a range that starts in the case's mapping and runs past it
    expect((await rejection(call({ op: "pwrite", fd: mem, data: new Uint8Array(Number(PAGE) + 1), offset: map + PAGE }))).kind).to.equal("protocol");
    expect((await rejection(call({ op: "pwrite", fd: mem, data: new Uint8Array(1), offset: -1n }))).kind).to.equal("protocol");
    expect(bytesAt(target).equals(before)).to.equal(true);
  });

  it("attack: copies of the descriptor (dup, F_DUPFD, /proc/self/fd/N) are held to the same ranges", async () => {
    const { mem } = await setUp();
    const target = driverAddress();
    const copies = [
      (await call({ op: "dup", fd: mem })).ret,
      (await call({ op: "fcntl", fd: mem, cmd: K("F_DUPFD_CLOEXEC"), arg: 0n })).ret,
      (await call({ op: "open", path: `/proc/self/fd/${mem}`, flags: K("O_RDWR") })).ret,
    ];
    for (const fd of copies) {
      expect(fd >= 0n).to.equal(true);
      expect((await rejection(call({ op: "pread", fd, len: 8n, offset: target }))).kind).to.equal("protocol");
      expect((await rejection(call({ op: "pwrite", fd, data: new Uint8Array(8), offset: target }))).kind).to.equal("protocol");
    }
  });

  it("attack: read and write at a position in the driver's memory, pread_user and sendfile through the descriptor are refused", async () => {
    const { mem, fd, map } = await setUp();
    expect(await call({ op: "lseek", fd: mem, offset: driverAddress(), whence: 0n })).to.have.property("ret");
    const ops: Op[] = [
      { op: "read", fd: mem, len: 8n },
      { op: "write", fd: mem, data: new Uint8Array(8) },
      { op: "pread_user", fd: mem, addr: map, len: 8n, offset: driverAddress() },
      { op: "sendfile", out_fd: fd, in_fd: mem, count: 8n },
    ];
    for (const op of ops) expect((await rejection(call(op))).kind, op.op).to.equal("protocol");
  });

  it("mmap of the descriptor reaches the kernel, which has no mmap for it: EPERM with PROT_EXEC (procfs is noexec), else ENODEV", async () => {
    const { mem } = await setUp();
    const mmap = (prot: bigint): Op => ({ op: "mmap", addr: 0n, len: PAGE, prot, flags: K("MAP_SHARED"), fd: mem, offset: 0n });
    expect(await call(mmap(K("PROT_READ")))).to.deep.equal({ ret: -1n, errno: "ENODEV" });
    expect(await call(mmap(K("PROT_READ") | K("PROT_EXEC")))).to.deep.equal({ ret: -1n, errno: "EPERM" });
  });

  it("other /proc paths to the driver's memory stay closed", async () => {
    for (const path of [`/proc/${process.pid}/mem`, "/proc/thread-self/mem", `/proc/self/task/${process.pid}/mem`]) await rejection(call({ op: "open", path, flags: K("O_RDWR") }));
  });
});
