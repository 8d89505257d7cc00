// The file operations of contract 1.3 in the linux driver, on a memfd (this host has
// no guest_memfd): what the kernel did, checked against what the calls should have
// changed (contents, position, times, locks), and the refusals that keep integers
// from being read as pointers. Skipped where /dev/kvm cannot be used.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import type { Driver, Op, OpResult } from "../../spec/driver/contract.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";
import { rejection } from "./refusal.js";

const unavailable = kvmUnavailableReason();
const spec = loadSpec();
const K = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (r: OpResult) => new TextDecoder().decode(r.out!.data as Uint8Array);

describe("linux driver: file operations of contract 1.3 on a memfd", function () {
  this.timeout(30000);
  let driver: Driver;
  let memfd: bigint;
  const call = (op: Op): Promise<OpResult> => driver.call(op);

  before(async function () {
    if (unavailable !== undefined) {
      console.log(`      SKIP linux driver: ${unavailable}`);
      this.skip();
    }
    driver = await openLinux({ guestTimeoutMs: 500 });
  });
  after(async () => driver?.close());
  beforeEach(async () => {
    if (driver === undefined) return;
    await driver.reset();
    memfd = (await call({ op: "memfd_create", name: "file-io", flags: 0n })).ret;
  });

  it("writev and readv move bytes through several iovecs at the file position", async () => {
    expect((await call({ op: "writev", fd: memfd, data: bytes("abcdefgh"), lens: [3n, 0n, 5n] })).ret).to.equal(8n);
    expect((await call({ op: "lseek", fd: memfd, offset: 0n, whence: K("SEEK_CUR") })).ret).to.equal(8n);
    await call({ op: "lseek", fd: memfd, offset: 2n, whence: K("SEEK_SET") });
    const r = await call({ op: "readv", fd: memfd, lens: [2n, 10n] });
    expect(r.ret).to.equal(6n);
    expect(text(r)).to.equal("cdefgh");
  });

  it("preadv2 and pwritev2 take an offset, or -1 for the file position, and RWF flags", async () => {
    expect((await call({ op: "pwritev2", fd: memfd, data: bytes("0123abcd"), offset: 4n, flags: K("RWF_HIPRI") })).ret).to.equal(8n);
    expect((await call({ op: "lseek", fd: memfd, offset: 0n, whence: K("SEEK_CUR") })).ret).to.equal(0n, "an offset leaves the position");
    const r = await call({ op: "preadv2", fd: memfd, lens: [4n, 4n], offset: -1n, flags: 0n });
    expect(r.out!.data).to.deep.equal(new Uint8Array([0, 0, 0, 0, 0x30, 0x31, 0x32, 0x33]));
    expect((await call({ op: "lseek", fd: memfd, offset: 0n, whence: K("SEEK_CUR") })).ret).to.equal(8n, "-1 advances the position");
    expect((await call({ op: "preadv2", fd: memfd, lens: [4n], offset: 0n, flags: K("RWF_NOWAIT") })).errno).to.equal("EOPNOTSUPP");
    expect((await call({ op: "preadv2", fd: memfd, lens: [4n], offset: 0n, flags: 1n << 30n })).errno).to.equal("EOPNOTSUPP");
    expect((await call({ op: "preadv2", fd: memfd, lens: [4n], offset: -2n, flags: 0n })).errno).to.equal("EINVAL");
  });

  it("advises, reads ahead and syncs a memfd without changing it; bad arguments are errnos, not return values", async () => {
    await call({ op: "pwrite", fd: memfd, data: bytes("keep"), offset: 0n });
    for (const advice of ["POSIX_FADV_WILLNEED", "POSIX_FADV_DONTNEED", "POSIX_FADV_NOREUSE"]) expect((await call({ op: "posix_fadvise", fd: memfd, offset: 0n, len: 0n, advice: K(advice) })).ret).to.equal(0n);
    expect(await call({ op: "posix_fadvise", fd: memfd, offset: 0n, len: 0n, advice: 99n })).to.deep.equal({ ret: -1n, errno: "EINVAL" });
    expect((await call({ op: "readahead", fd: memfd, offset: 0n, count: 4096n })).ret).to.equal(0n);
    expect((await call({ op: "syncfs", fd: memfd })).ret).to.equal(0n);
    expect((await call({ op: "sync_file_range", fd: memfd, offset: 0n, nbytes: 0n, flags: 7n })).ret).to.equal(0n);
    expect((await call({ op: "sync_file_range", fd: memfd, offset: 0n, nbytes: 0n, flags: 8n })).errno).to.equal("EINVAL");
    expect(text(await call({ op: "pread", fd: memfd, len: 4n, offset: 0n }))).to.equal("keep");
  });

  it("takes flock and record locks; F_OFD_GETLK sees the process's lock", async () => {
    expect((await call({ op: "flock", fd: memfd, operation: K("LOCK_EX") | K("LOCK_NB") })).ret).to.equal(0n);
    expect((await call({ op: "flock", fd: memfd, operation: K("LOCK_SH") | K("LOCK_EX") })).errno).to.equal("EINVAL");
    const lock = { l_type: K("F_WRLCK"), l_whence: K("SEEK_SET"), l_start: 4096n, l_len: 4096n };
    expect((await call({ op: "fcntl_lock", fd: memfd, cmd: K("F_SETLK"), lock })).ret).to.equal(0n);
    const seen = await call({ op: "fcntl_lock", fd: memfd, cmd: K("F_OFD_GETLK"), lock: { l_type: K("F_RDLCK"), l_start: 0n, l_len: 0n } });
    expect(seen.out).to.include({ l_type: K("F_WRLCK"), l_whence: K("SEEK_SET"), l_start: 4096n, l_len: 4096n });
    expect(seen.out!.l_pid).to.be.a("bigint").and.not.equal(-1n, "a process lock reports a pid, not -1");
    const mine = await call({ op: "fcntl_lock", fd: memfd, cmd: K("F_GETLK"), lock: { l_type: K("F_WRLCK") } });
    expect(mine.out!.l_type).to.equal(K("F_UNLCK"), "a process's own lock never conflicts with it");
    expect((await call({ op: "fcntl_lock", fd: memfd, cmd: K("F_OFD_GETLK"), lock: { l_type: K("F_RDLCK"), l_pid: 5n } })).errno).to.equal("EINVAL");
    expect((await call({ op: "fcntl_lock", fd: memfd, cmd: K("F_OFD_GETLK"), pointer: "invalid", lock: {} })).errno).to.equal("EFAULT");
  });

  it("refuses a struct flock command as an integer, and an integer as a struct flock", async () => {
    expect((await rejection(call({ op: "fcntl", fd: memfd, cmd: K("F_GETLK"), arg: 0x1000n }))).kind).to.equal("protocol");
    expect((await rejection(call({ op: "fcntl_lock", fd: memfd, cmd: K("F_SETLK"), lock: 0x1000n }))).kind).to.equal("protocol");
    expect((await rejection(call({ op: "fcntl_lock", fd: memfd, cmd: K("F_GETFD"), lock: {} }))).kind).to.equal("protocol");
  });

  it("changes a memfd's owner (to itself) and times; UTIME_OMIT keeps a time", async () => {
    expect((await call({ op: "fchown", fd: memfd, owner: -1n, group: -1n })).ret).to.equal(0n);
    expect((await call({ op: "futimens", fd: memfd, atime_sec: 5n, atime_nsec: 7n, mtime_sec: 9n, mtime_nsec: 11n })).ret).to.equal(0n);
    expect((await call({ op: "futimens", fd: memfd, atime_sec: 0n, atime_nsec: K("UTIME_OMIT"), mtime_sec: 1n, mtime_nsec: 2n })).ret).to.equal(0n);
    const st = await call({ op: "fstat", fd: memfd });
    expect(st.out).to.include({ atime_sec: 5n, atime_nsec: 7n, mtime_sec: 1n, mtime_nsec: 2n });
    expect((await call({ op: "futimens", fd: memfd, atime_sec: 0n, atime_nsec: 1_000_000_000n, mtime_sec: 0n, mtime_nsec: 0n })).errno).to.equal("EINVAL");
  });

  it("answers the VFS ioctls: FIGETBSZ, FIONREAD, FS_IOC_GETFLAGS, and FS_IOC_FIEMAP without fiemap", async () => {
    await call({ op: "write", fd: memfd, data: new Uint8Array(5000) });
    await call({ op: "lseek", fd: memfd, offset: 1000n, whence: K("SEEK_SET") });
    expect((await call({ op: "ioctl", fd: memfd, request: "FIGETBSZ", arg: {} })).out).to.deep.equal({ value: 4096n });
    expect((await call({ op: "ioctl", fd: memfd, request: "FIONREAD", arg: {} })).out).to.deep.equal({ value: 4000n });
    expect((await call({ op: "ioctl", fd: memfd, request: "FS_IOC_GETFLAGS", arg: {} })).out).to.deep.equal({ value: 0n });
    expect((await call({ op: "ioctl", fd: memfd, request: "FS_IOC_FIEMAP", arg: { fm_length: 8192n, fm_extent_count: 4n } })).errno).to.equal("EOPNOTSUPP");
    expect((await rejection(call({ op: "ioctl", fd: memfd, request: "FS_IOC_FIEMAP", arg: { fm_length: 8192n, fm_extent_count: 65n } }))).kind).to.equal("unsupported");
  });
});
