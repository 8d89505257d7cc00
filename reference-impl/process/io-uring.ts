// io_uring fixed buffers (io_uring/rsrc.c: io_sqe_buffers_register, io_buffer_validate,
// io_sqe_buffer_register; io_uring/register.c): a ring created with io_uring_setup(2)
// registers a user buffer with IORING_REGISTER_BUFFERS, which pins its pages with
// pin_user_pages(FOLL_WRITE | FOLL_LONGTERM) until IORING_UNREGISTER_BUFFERS or the
// ring's release. The pin is the long-term pin of mm/gup.ts: a page GUP cannot have
// (unmapped, read-only, a private guest_memfd page that faults with SIGBUS) fails the
// registration with EFAULT and pins nothing.
import { fail } from "../lib/errno.js";
import { pinUserPages, unpinUserPages } from "../mm/gup.js";
import { OpenFile, type SyscallContext } from "./file.js";

/** io_buffer_validate(): the largest buffer one iovec may register */
const MAX_BUFFER = 1n << 30n;

/** A ring's file (anon_inode:[io_uring]) with its one registered buffer. */
export class IoUringFile extends OpenFile {
  /** the long-term pin of the registered buffer, when one is registered */
  pin: bigint | null = null;
  registered = false;

  link(): string {
    return "anon_inode:[io_uring]";
  }

  /** io_ring_ctx_free(): the registered buffers are unpinned with the ring */
  protected override release(): void {
    this.unregister();
  }

  unregister(): void {
    if (this.pin !== null) unpinUserPages(this.kernel, this.pin);
    this.pin = null;
    this.registered = false;
  }
}

/** io_uring_setup(1, ...), then IORING_REGISTER_BUFFERS of [addr, addr+len); the ring is closed again on failure. */
export function sysIoUringRegisterBuffers(ctx: SyscallContext, addr: bigint, len: bigint): bigint {
  const { kernel } = ctx;
  ctx.process.files.ensureFree();
  const ring = new IoUringFile(kernel.anonInode, kernel.K.o.RDWR);
  const fd = BigInt(ctx.process.files.install(ring, true));
  try {
    registerBuffer(ctx, ring, BigInt.asUintN(64, addr), BigInt.asUintN(64, len));
  } catch (err) {
    ctx.process.files.close(fd);
    throw err;
  }
  return fd;
}

function registerBuffer(ctx: SyscallContext, ring: IoUringFile, base: bigint, len: bigint): void {
  const { page } = ctx.kernel;
  // io_buffer_validate(): a NULL base with no length is a sparse slot, pinned nothing
  if (base === 0n) {
    if (len !== 0n) fail("EFAULT");
    ring.registered = true;
    return;
  }
  if (len === 0n || len > MAX_BUFFER) fail("EFAULT");
  if (base + page.align64(len) > (1n << 64n) - 1n) fail("EOVERFLOW");
  // io_pin_pages(): every page the buffer touches
  const start = base & ~page.mask;
  const end = page.align64(base + len);
  if (end > ctx.kernel.host.taskSize) fail("EFAULT");
  ring.pin = pinUserPages(ctx.kernel, ctx.process, start, end - start);
  ring.registered = true;
}

/** IORING_UNREGISTER_BUFFERS: ENXIO when nothing is registered; EOPNOTSUPP on a file that is not a ring. */
export function sysIoUringUnregisterBuffers(ctx: SyscallContext, fd: bigint): bigint {
  const file = ctx.process.files.get(fd);
  if (!(file instanceof IoUringFile)) fail("EOPNOTSUPP");
  if (!file.registered) fail("ENXIO");
  file.unregister();
  return 0n;
}
