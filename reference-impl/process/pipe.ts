// Pipes (fs/pipe.c) and vmsplice(2) (fs/splice.c). A pipe holds a ring of buffers:
// write(2) and splice copy bytes into fresh ones, vmsplice queues the user's pages
// themselves (references taken with get_user_pages, no copy), so a store to such a page
// before the reader reads it is what the reader sees, and a page the file drops (a punched
// hole) stays readable through the pipe until the buffer is consumed.
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Folio } from "../mm/folio.js";
import { FMODE_READ, FMODE_WRITE, Inode, OpenFile, ST_VALID, type Filesystem, type SyscallContext } from "./file.js";
import { copyToUser } from "./uaccess.js";

/** PIPE_DEF_BUFFERS: a new pipe has 16 buffers of a page each */
const PIPE_DEF_BUFFERS = 16;
const MAX_VMSPLICE = 65536;
const PIPEFS_MAGIC = 0x50495045n;

/** One pipe_buffer: copied bytes, or a page referenced by vmsplice. */
interface PipeBuffer {
  data: Uint8Array | null;
  folio: Folio | null;
  offset: number;
  len: number;
}

const PIPEFS = new WeakMap<Kernel, Filesystem>();
function pipefs(kernel: Kernel): Filesystem {
  let fs = PIPEFS.get(kernel);
  if (fs === undefined) {
    fs = { name: "pipefs", magic: PIPEFS_MAGIC, statfsFlags: ST_VALID, dev: 14n, noexec: false };
    PIPEFS.set(kernel, fs);
  }
  return fs;
}

export class PipeInode extends Inode {
  readonly bufs: PipeBuffer[] = [];
  readers = 0;
  writers = 0;

  constructor(kernel: Kernel) {
    super(kernel, pipefs(kernel), kernel.nextIno(), kernel.K.s.IFIFO | 0o600);
  }

  /** pipe_full(): every buffer slot is in use */
  get full(): boolean {
    return this.bufs.length >= PIPE_DEF_BUFFERS;
  }

  get queued(): number {
    return this.bufs.reduce((n, b) => n + b.len, 0);
  }

  /** Bytes of copied data the free buffer slots hold (a page each). */
  room(): number {
    return (PIPE_DEF_BUFFERS - this.bufs.length) * this.kernel.page.bytes;
  }

  push(data: Uint8Array): void {
    const page = this.kernel.page.bytes;
    for (let at = 0; at < data.length; at += page) {
      const chunk = data.slice(at, at + page);
      this.bufs.push({ data: chunk, folio: null, offset: 0, len: chunk.length });
    }
  }

  /** Take up to len bytes from the front (pipe_read / splice_from_pipe). */
  take(len: number): Uint8Array {
    const out: Uint8Array[] = [];
    let want = len;
    while (want > 0 && this.bufs.length > 0) {
      const b = this.bufs[0]!;
      const n = Math.min(want, b.len);
      out.push(b.data !== null ? b.data.slice(b.offset, b.offset + n) : b.folio!.read(b.offset, n));
      b.offset += n;
      b.len -= n;
      want -= n;
      if (b.len === 0) this.bufs.shift();
    }
    return new Uint8Array(Buffer.concat(out));
  }
}

/** One end of a pipe. */
export class PipeFile extends OpenFile {
  constructor(
    override readonly inode: PipeInode,
    flags: number,
  ) {
    super(inode, flags);
    if (this.fmode & FMODE_READ) inode.readers++;
    if (this.fmode & FMODE_WRITE) inode.writers++;
  }

  link(): string {
    return `pipe:[${this.inode.ino}]`;
  }

  private get nonblock(): boolean {
    return (this.flags & this.kernel.K.o.NONBLOCK) !== 0;
  }

  /** A call that would sleep: EAGAIN with O_NONBLOCK (or SPLICE_F_NONBLOCK); the model cannot wait. */
  wouldBlock(nonblock: boolean, what: string): never {
    if (nonblock || this.nonblock) fail("EAGAIN");
    throw new DriverFailure("unsupported", `${what} would wait for the pipe (${this.inode.full ? "full" : "empty"}); the model cannot block`);
  }

  override read(len: number): Uint8Array {
    if (len === 0) return new Uint8Array(0);
    if (this.inode.bufs.length === 0) {
      if (this.inode.writers === 0) return new Uint8Array(0);
      this.wouldBlock(false, "read");
    }
    this.inode.modified();
    return this.inode.take(len);
  }

  override write(data: Uint8Array): number {
    if (this.inode.readers === 0) fail("EPIPE");
    if (data.length > this.inode.room()) this.wouldBlock(false, "write");
    this.inode.push(data);
    this.inode.modified();
    return data.length;
  }

  protected override release(): void {
    if (this.fmode & FMODE_READ) this.inode.readers--;
    if (this.fmode & FMODE_WRITE) this.inode.writers--;
  }
}

/** get_pipe_info(): the pipe behind a file, or null. */
export function pipeOf(file: OpenFile): PipeInode | null {
  return file instanceof PipeFile ? file.inode : null;
}

/** pipe2(2): the read end's fd (the write end's in out.write_fd). */
export function sysPipe2(ctx: SyscallContext, flags: bigint): { ret: bigint; out: { write_fd: bigint } } {
  const O = ctx.kernel.K.o;
  const f = Number(BigInt.asUintN(32, flags));
  const notification = ctx.kernel.K.splice.O_NOTIFICATION_PIPE!;
  if (f & ~(O.CLOEXEC | O.NONBLOCK | O.DIRECT! | notification)) fail("EINVAL");
  if (f & notification) throw new DriverFailure("unsupported", "notification pipes (O_NOTIFICATION_PIPE) are not modelled");
  ctx.process.files.ensureFree();
  const inode = new PipeInode(ctx.kernel);
  const status = f & (O.NONBLOCK | O.DIRECT!);
  const cloexec = (f & O.CLOEXEC) !== 0;
  // create_pipe_files(): packet mode (O_DIRECT) is a property of the write end only
  const reader = ctx.process.files.install(new PipeFile(inode, O.RDONLY | (f & O.NONBLOCK)), cloexec);
  const writer = ctx.process.files.install(new PipeFile(inode, O.WRONLY | status), cloexec);
  return { ret: BigInt(reader), out: { write_fd: BigInt(writer) } };
}

/** SPLICE_F_ALL */
export function spliceFlagsOk(kernel: Kernel, flags: bigint): boolean {
  const S = kernel.K.splice;
  return (BigInt.asUintN(32, flags) & ~BigInt(S.MOVE! | S.NONBLOCK! | S.MORE! | S.GIFT!)) === 0n;
}

/**
 * vmsplice(2) with one iovec. Write end: vmsplice_to_pipe -> iter_to_pipe, which takes
 * references on the pages with get_user_pages (read access, no FOLL_LONGTERM) page by page
 * in address order and stops at the first page GUP cannot return: a short count, or
 * EFAULT when no byte was queued. Read end: the pipe's bytes are copied to the user.
 */
export function sysVmsplice(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, flags: bigint): bigint {
  const { kernel } = ctx;
  if (len < 0n || len > BigInt(MAX_VMSPLICE)) throw new DriverFailure("protocol", `vmsplice of ${len} bytes (at most ${MAX_VMSPLICE})`);
  if (!spliceFlagsOk(kernel, flags)) fail("EINVAL");
  const file = ctx.process.files.get(fd);
  const pipe = pipeOf(file);
  if (pipe === null) fail("EBADF");
  const end = file as PipeFile;
  const nonblock = (flags & BigInt(kernel.K.splice.NONBLOCK!)) !== 0n;
  if (end.fmode & FMODE_WRITE) {
    if (len === 0n) return 0n;
    if (pipe.readers === 0) fail("EPIPE");
    if (pipe.full) end.wouldBlock(nonblock, "vmsplice");
    return BigInt(queueUserPages(ctx, pipe, addr, Number(len)));
  }
  if (!(end.fmode & FMODE_READ)) fail("EBADF");
  if (len === 0n) return 0n;
  if (pipe.bufs.length === 0) {
    if (pipe.writers === 0) return 0n;
    end.wouldBlock(nonblock, "vmsplice");
  }
  const data = pipe.take(Number(len));
  copyToUser(ctx, addr, data);
  return BigInt(data.length);
}

function queueUserPages(ctx: SyscallContext, pipe: PipeInode, addr: bigint, len: number): number {
  const { page } = ctx.kernel;
  let done = 0;
  while (done < len && !pipe.full) {
    const at = BigInt.asUintN(64, addr) + BigInt(done);
    if (at >= ctx.kernel.host.taskSize) break;
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const r = ctx.process.mm.getUserPage(page.page(at), false);
    if (typeof r === "string") break;
    pipe.bufs.push({ data: null, folio: r.folio, offset, len: n });
    done += n;
  }
  if (done === 0) fail("EFAULT");
  pipe.modified();
  return done;
}
