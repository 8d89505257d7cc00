// The linux driver's pipe, vmsplice, splice, sendfile, copy_file_range, tmpfile and
// /proc/self/fd operations against this machine's kernel, on memfds, tmpfs and disk
// files (no guest_memfd needed). Skipped where /dev/kvm cannot be opened.
import { expect } from "chai";
import { useLinuxDriver } from "./linux-hooks.js";
import { DriverFailure, type Op, type OpResult } from "../../spec/driver/contract.js";
import { loadSpec } from "../../spec/index.js";

const spec = loadSpec();
const K = (name: string): bigint => spec.constant(name, "linux-6.18")!;
const PAGE = 4096n;

describe("linux driver: pipes, splice and temporary files", function () {
  this.timeout(30000);
  const driver = useLinuxDriver();
  const call = (op: Op): Promise<OpResult> => driver().call(op);

  /** A 2-page memfd whose first page is 0x5a, mapped shared over `pages` pages. */
  async function memfd(pages = 2n): Promise<{ fd: bigint; map: bigint }> {
    const fd = (await call({ op: "memfd_create", name: "t", flags: K("MFD_CLOEXEC") })).ret;
    await call({ op: "ftruncate", fd, length: 2n * PAGE });
    await call({ op: "pwrite", fd, data: new Uint8Array(Number(PAGE)).fill(0x5a), offset: 0n });
    const map = (await call({ op: "mmap", addr: 0n, len: pages * PAGE, prot: K("PROT_READ") | K("PROT_WRITE"), flags: K("MAP_SHARED"), fd, offset: 0n })).ret;
    return { fd, map };
  }

  it("pipe: the write end's bytes come out of the read end; out.write_fd is the write end", async () => {
    const p = await call({ op: "pipe", flags: K("O_CLOEXEC") });
    const w = p.out!.write_fd as bigint;
    expect(p.ret > 2n).to.equal(true);
    expect(w).to.not.equal(p.ret);
    expect(await call({ op: "write", fd: w, data: new Uint8Array([1, 2, 3]) })).to.deep.equal({ ret: 3n });
    expect((await call({ op: "read", fd: p.ret, len: 8n })).out!.data).to.deep.equal(new Uint8Array([1, 2, 3]));
    expect(await call({ op: "pipe", flags: K("O_APPEND") })).to.deep.equal({ ret: -1n, errno: "EINVAL" });
  });

  it("refuses a read or a vmsplice that would wait on a pipe, and answers EAGAIN where the case asked not to wait", async () => {
    const p = await call({ op: "pipe", flags: 0n });
    const { map } = await memfd();
    for (const op of [{ op: "read", fd: p.ret, len: 1n }, { op: "vmsplice", fd: p.ret, addr: map, len: 1n, flags: 0n }] as Op[]) {
      const err = await call(op).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(DriverFailure);
      expect((err as DriverFailure).message).to.match(/would wait/);
    }
    expect(await call({ op: "vmsplice", fd: p.ret, addr: map, len: 1n, flags: K("SPLICE_F_NONBLOCK") })).to.deep.equal({ ret: -1n, errno: "EAGAIN" });
  });

  it("vmsplice from a memfd mapping queues the page itself: a later store is what the pipe returns; past the file's end it is EFAULT", async () => {
    const p = await call({ op: "pipe", flags: 0n });
    const w = p.out!.write_fd as bigint;
    const { map } = await memfd(4n);
    expect(await call({ op: "vmsplice", fd: w, addr: map, len: 64n, flags: 0n })).to.deep.equal({ ret: 64n });
    await call({ op: "store", addr: map, data: new Uint8Array(64).fill(0x33) });
    expect((await call({ op: "read", fd: p.ret, len: 64n })).out!.data).to.deep.equal(new Uint8Array(64).fill(0x33));
    expect(await call({ op: "vmsplice", fd: w, addr: map + 2n * PAGE, len: 64n, flags: 0n })).to.deep.equal({ ret: -1n, errno: "EFAULT" });
  });

  it("splice memfd -> pipe -> tmpfs file, sendfile memfd -> disk file, copy_file_range memfd -> memfd (and EXDEV to a tmpfile)", async () => {
    const p = await call({ op: "pipe", flags: 0n });
    const w = p.out!.write_fd as bigint;
    const { fd } = await memfd();
    const shm = (await call({ op: "tmpfile", dir: "tmpfs", flags: K("O_RDWR") })).ret;
    const disk = (await call({ op: "tmpfile", dir: "disk", flags: K("O_RDWR") })).ret;
    expect(await call({ op: "splice", fd_in: fd, off_in: 100n, fd_out: w, len: 32n, flags: 0n })).to.deep.equal({ ret: 32n, out: { off_in: 132n } });
    expect(await call({ op: "splice", fd_in: p.ret, fd_out: shm, off_out: 8n, len: 32n, flags: 0n })).to.deep.equal({ ret: 32n, out: { off_out: 40n } });
    expect((await call({ op: "pread", fd: shm, len: 40n, offset: 0n })).out!.data).to.deep.equal(new Uint8Array([...new Uint8Array(8), ...new Uint8Array(32).fill(0x5a)]));
    expect(await call({ op: "sendfile", out_fd: disk, in_fd: fd, offset: 0n, count: 100n })).to.deep.equal({ ret: 100n, out: { offset: 100n } });
    expect((await call({ op: "fstat", fd: disk })).out!.size).to.equal(100n);
    const m2 = (await call({ op: "memfd_create", name: "u", flags: 0n })).ret;
    expect(await call({ op: "copy_file_range", fd_in: fd, off_in: 0n, fd_out: m2, off_out: 0n, len: 50n, flags: 0n })).to.deep.equal({ ret: 50n, out: { off_in: 50n, off_out: 50n } });
    expect(await call({ op: "copy_file_range", fd_in: fd, off_in: 0n, fd_out: shm, off_out: 0n, len: 50n, flags: 0n })).to.deep.equal({ ret: -1n, errno: "EXDEV" });
  });

  it("tmpfile: an unnamed regular file; O_RDONLY is EINVAL", async () => {
    for (const dir of ["tmpfs", "disk"] as const) {
      const t = (await call({ op: "tmpfile", dir, flags: K("O_RDWR") })).ret;
      const st = (await call({ op: "fstat", fd: t })).out!;
      expect([st.nlink, (st.mode as bigint) & K("S_IFMT"), (st.mode as bigint) & 0o777n]).to.deep.equal([0n, K("S_IFREG"), 0o600n]);
      expect(await call({ op: "tmpfile", dir, flags: K("O_RDONLY") })).to.deep.equal({ ret: -1n, errno: "EINVAL" });
    }
  });

  it("O_DIRECT on the disk directory, where the probe found it: pwrite_user/pread_user move whole blocks, an odd length is EINVAL", async function () {
    if (!driver().handshake.features.includes("o-direct:disk")) {
      console.log("      skipped: the disk tmpfile directory refuses O_DIRECT here (o-direct:disk not probed)");
      this.skip();
    }
    const t = (await call({ op: "tmpfile", dir: "disk", flags: K("O_RDWR") | K("O_DIRECT") })).ret;
    const buf = (await call({ op: "mmap", addr: 0n, len: 2n * PAGE, prot: K("PROT_READ") | K("PROT_WRITE"), flags: K("MAP_PRIVATE") | K("MAP_ANONYMOUS"), fd: -1n, offset: 0n })).ret;
    await call({ op: "store", addr: buf, data: new Uint8Array(Number(PAGE)).fill(0x61) });
    expect(await call({ op: "pwrite_user", fd: t, addr: buf, len: PAGE, offset: 0n })).to.deep.equal({ ret: PAGE });
    expect(await call({ op: "pread_user", fd: t, addr: buf + PAGE, len: PAGE, offset: 0n })).to.deep.equal({ ret: PAGE });
    expect((await call({ op: "load", addr: buf + PAGE, len: 16n })).out!.data).to.deep.equal(new Uint8Array(16).fill(0x61));
    expect(await call({ op: "pwrite_user", fd: t, addr: buf, len: 100n, offset: 0n })).to.deep.equal({ ret: -1n, errno: "EINVAL" });
  });

  it("/proc/self/fd/N reopens the case's memfd (ENXIO for a VM); a descriptor of the driver's is refused", async () => {
    const { fd } = await memfd();
    const again = await call({ op: "open", path: `/proc/self/fd/${fd}`, flags: K("O_RDWR") });
    expect(again.ret > fd).to.equal(true);
    expect((await call({ op: "pread", fd: again.ret, len: 2n, offset: 0n })).out!.data).to.deep.equal(new Uint8Array([0x5a, 0x5a]));
    const kvm = (await call({ op: "open", path: "/dev/kvm", flags: K("O_RDWR") })).ret;
    const vm = (await call({ op: "ioctl", fd: kvm, request: "KVM_CREATE_VM", arg: 0n })).ret;
    expect(await call({ op: "open", path: `/proc/self/fd/${vm}`, flags: K("O_RDWR") })).to.deep.equal({ ret: -1n, errno: "ENXIO" });
    const err = await call({ op: "open", path: "/proc/self/fd/0", flags: K("O_RDONLY") }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(DriverFailure);
  });
});
