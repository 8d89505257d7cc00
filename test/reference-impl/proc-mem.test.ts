// The model's /proc/self/mem beyond what the suites state: the file position, mem_lseek,
// and the FOLL_FORCE accesses past the protection (PROT_NONE reads, read-only private writes).
import { expect } from "chai";
import { PAGE, Session } from "./session.js";

describe("reference-impl process: /proc/self/mem", () => {
  function setUp() {
    const s = new Session("linux-6.18", "pvm");
    const mem = s.ok("open", { path: "/proc/self/mem", flags: s.c("O_RDWR") }).ret;
    const anon = (prot: bigint, flags = s.c("MAP_PRIVATE") | s.c("MAP_ANONYMOUS")) => s.ok("mmap", { addr: 0n, len: PAGE, prot, flags, fd: -1n, offset: 0n }).ret;
    return { s, mem, anon };
  }

  it("read and write use and advance the position; lseek takes SEEK_SET and SEEK_CUR only", () => {
    const { s, mem, anon } = setUp();
    const buf = anon(s.c("PROT_READ") | s.c("PROT_WRITE"));
    s.ok("store", { addr: buf, data: new Uint8Array([1, 2, 3, 4]) });
    expect(s.ok("lseek", { fd: mem, offset: buf, whence: 0n }).ret).to.equal(buf);
    expect(s.ok("read", { fd: mem, len: 2n }).out!.data).to.deep.equal(new Uint8Array([1, 2]));
    expect(s.ok("write", { fd: mem, data: new Uint8Array([9]) }).ret).to.equal(1n);
    expect(s.ok("lseek", { fd: mem, offset: 0n, whence: 1n }).ret).to.equal(buf + 3n);
    expect(s.ok("load", { addr: buf, len: 4n }).out!.data).to.deep.equal(new Uint8Array([1, 2, 9, 4]));
    expect(s.call("lseek", { fd: mem, offset: 0n, whence: 2n }).errno).to.equal("EINVAL");
    expect(s.ok("fdinfo", { fd: mem }).out!.link).to.equal("/proc/0/mem");
  });

  it("FOLL_FORCE: reads PROT_NONE memory, writes read-only private memory (the CPU still faults); a read-only shared mapping is EIO", () => {
    const { s, mem, anon } = setUp();
    const none = anon(s.c("PROT_NONE"));
    expect(s.ok("pread", { fd: mem, len: 8n, offset: none }).out!.data).to.deep.equal(new Uint8Array(8));
    expect(s.call("load", { addr: none, len: 1n }).signal).to.equal("SIGSEGV");
    const ro = anon(s.c("PROT_READ"));
    expect(s.ok("pwrite", { fd: mem, data: new Uint8Array(8).fill(7), offset: ro }).ret).to.equal(8n);
    expect(s.ok("pread", { fd: mem, len: 8n, offset: ro }).out!.data).to.deep.equal(new Uint8Array(8).fill(7));
    expect(s.ok("load", { addr: ro, len: 8n }).out!.data).to.deep.equal(new Uint8Array(8).fill(7));
    expect(s.call("store", { addr: ro, data: new Uint8Array(1) }).signal).to.equal("SIGSEGV");
    const shared = anon(s.c("PROT_READ"), s.c("MAP_SHARED") | s.c("MAP_ANONYMOUS"));
    expect(s.call("pwrite", { fd: mem, data: new Uint8Array(8), offset: shared }).errno).to.equal("EIO");
  });

  it("an O_RDONLY descriptor cannot write (EBADF)", () => {
    const { s } = setUp();
    const ro = s.ok("open", { path: "/proc/self/mem", flags: s.c("O_RDONLY") }).ret;
    expect(s.call("pwrite", { fd: ro, data: new Uint8Array(1), offset: 0x10000n }).errno).to.equal("EBADF");
  });
});
