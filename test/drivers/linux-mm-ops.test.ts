// The linux driver's contract-1.3 memory operations against the real kernel, on memfd
// and anonymous mappings (guest_memfd ones run in suites/mm where the host has it).
// Skipped, with the reason printed, where /dev/kvm, io_uring or userfaultfd is missing.
import { expect } from "chai";
import { loadSpec } from "../../spec/index.js";
import { type Driver, type Op, type OpResult } from "../../spec/driver/contract.js";
import { kvmUnavailableReason, openLinux } from "../../harness/drivers/linux/index.js";

const unavailable = kvmUnavailableReason();
/** constants of the profile the driver picks on this kernel */
const named = (name: string): bigint => loadSpec().constant(name, "linux-6.18")!;
const [PAGE, PROT_RW, MAP_SHARED, MAP_ANON_PRIVATE] = [4096n, named("PROT_READ") | named("PROT_WRITE"), named("MAP_SHARED"), named("MAP_PRIVATE") | named("MAP_ANONYMOUS")];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("linux driver: mremap, mlock, mincore, io_uring buffers, userfaultfd", function () {
  this.timeout(30000);
  let driver: Driver;
  const call = (op: Op): Promise<OpResult> => driver.call(op);
  const ok = async (op: Op): Promise<OpResult> => {
    const r = await call(op);
    expect(r.errno, op.op).to.equal(undefined);
    return r;
  };
  const skipWithout = (ctx: Mocha.Context, feature: string, why: string): void => {
    if (!driver.handshake.features.includes(feature)) {
      console.log(`      SKIP: no ${feature} here (${why})`);
      ctx.skip();
    }
  };
  const anon = async (pages: bigint) => (await ok({ op: "mmap", addr: 0n, len: pages * PAGE, prot: PROT_RW, flags: MAP_ANON_PRIVATE, fd: -1n, offset: 0n })).ret;
  const memfdMap = async (pages: bigint, fill: number) => {
    const fd = (await ok({ op: "memfd_create", name: "mm-ops", flags: 0n })).ret;
    await ok({ op: "pwrite", fd, data: new Uint8Array(Number(pages * PAGE)).fill(fill), offset: 0n });
    const addr = (await ok({ op: "mmap", addr: 0n, len: pages * PAGE, prot: PROT_RW, flags: MAP_SHARED, fd, offset: 0n })).ret;
    return { fd, addr };
  };
  const residency = async (addr: bigint, pages: bigint) => hex((await ok({ op: "mincore", addr, len: pages * PAGE })).out!.data as Uint8Array);

  before(async function () {
    if (unavailable !== undefined) {
      console.log(`      SKIP linux driver: ${unavailable}`);
      this.skip();
    }
    driver = await openLinux({ guestTimeoutMs: 500 });
  });
  afterEach(async () => {
    if (driver) await driver.reset();
  });
  after(async () => {
    if (driver) await driver.close();
  });

  it("mremap moves a memfd mapping with its contents; the driver's table follows (a load at the old address is SIGSEGV)", async () => {
    const { addr } = await memfdMap(2n, 0x5a);
    const target = await anon(4n);
    const r = await ok({ op: "mremap", addr, old_len: 2n * PAGE, new_len: 4n * PAGE, flags: named("MREMAP_MAYMOVE") | named("MREMAP_FIXED"), new_addr: target });
    expect(r.ret).to.equal(target);
    expect(hex((await ok({ op: "load", addr: target + PAGE, len: 4n })).out!.data as Uint8Array)).to.equal("5a5a5a5a");
    expect((await call({ op: "load", addr, len: 1n })).signal).to.equal("SIGSEGV");
    // the grown part lies past the file's end: SIGBUS, as for any shared file mapping
    expect((await call({ op: "load", addr: target + 3n * PAGE, len: 1n })).signal).to.equal("SIGBUS");
  });

  it("mincore reports untouched anonymous pages 0 and touched ones 1", async () => {
    const a = await anon(4n);
    expect(await residency(a, 4n)).to.equal("00000000");
    await ok({ op: "store", addr: a + 2n * PAGE, data: Uint8Array.of(1) });
    expect(await residency(a, 4n)).to.equal("00000100");
    expect((await call({ op: "mincore", addr: a + 1n, len: PAGE })).errno).to.equal("EINVAL");
  });

  it("mlock faults pages in, mlock2(MLOCK_ONFAULT) does not, an unknown flag is EINVAL", async () => {
    const a = await anon(4n);
    await ok({ op: "mlock2", addr: a, len: 4n * PAGE, flags: named("MLOCK_ONFAULT") });
    expect(await residency(a, 4n)).to.equal("00000000");
    expect((await call({ op: "mlock2", addr: a, len: 4n * PAGE, flags: 2n })).errno).to.equal("EINVAL");
    await ok({ op: "mlock", addr: a, len: 4n * PAGE });
    expect(await residency(a, 4n)).to.equal("01010101");
    await ok({ op: "munlock", addr: a, len: 4n * PAGE });
    await ok({ op: "munmap", addr: a + 3n * PAGE, len: PAGE });
    expect((await call({ op: "mlock", addr: a, len: 4n * PAGE })).errno, "a hole").to.equal("ENOMEM");
  });

  it("io_uring registers a shared memfd mapping (a long-term pin) and unregisters it", async function () {
    skipWithout(this, "io-uring", "kernel.io_uring_disabled refuses io_uring_setup, or the kernel has no io_uring");
    const { addr } = await memfdMap(4n, 0x3c);
    const ring = (await ok({ op: "io_uring_register_buffers", addr, len: 4n * PAGE })).ret;
    expect(await residency(addr, 4n)).to.equal("01010101");
    await ok({ op: "io_uring_unregister_buffers", fd: ring });
    expect((await call({ op: "io_uring_unregister_buffers", fd: ring })).errno).to.equal("ENXIO");
    await ok({ op: "close", fd: ring });
    // a read-only buffer cannot be pinned for writing: EFAULT, and no ring is left behind
    const ro = await anon(1n);
    await ok({ op: "mprotect", addr: ro, len: PAGE, prot: named("PROT_READ") });
    expect((await call({ op: "io_uring_register_buffers", addr: ro, len: PAGE })).errno).to.equal("EFAULT");
  });

  it("userfaultfd registers anonymous and memfd memory and reports the range ioctls; MINOR on anonymous memory is EINVAL", async function () {
    skipWithout(this, "userfaultfd", "vm.unprivileged_userfaultfd refuses this user, or CONFIG_USERFAULTFD is off");
    const uffd = (await ok({ op: "userfaultfd", flags: named("O_CLOEXEC") })).ret;
    const a = await anon(2n);
    expect((await call({ op: "uffdio_register", fd: uffd, addr: a, len: 2n * PAGE, mode: 1n })).errno, "before UFFDIO_API").to.equal("EINVAL");
    const api = await ok({ op: "uffdio_api", fd: uffd, api: named("UFFD_API"), features: 0n });
    expect(api.out!.ioctls).to.equal((1n << 0n) | (1n << 1n) | (1n << 63n));
    const missing = await ok({ op: "uffdio_register", fd: uffd, addr: a, len: 2n * PAGE, mode: named("UFFDIO_REGISTER_MODE_MISSING") });
    expect(missing.out!.ioctls).to.equal(0x13cn);
    expect((await call({ op: "uffdio_register", fd: uffd, addr: a, len: 2n * PAGE, mode: named("UFFDIO_REGISTER_MODE_MINOR") })).errno).to.equal("EINVAL");
    const { addr } = await memfdMap(2n, 0x11);
    const minor = await ok({ op: "uffdio_register", fd: uffd, addr, len: 2n * PAGE, mode: named("UFFDIO_REGISTER_MODE_MINOR") });
    expect(minor.out!.ioctls).to.equal(0x1bcn);
    // the driver enabled UFFD_FEATURE_SIGBUS: a fault in the MISSING range is a signal, not a hang
    expect((await call({ op: "load", addr: a, len: 1n })).signal).to.equal("SIGBUS");
  });
});
