// splice(2), sendfile(2) and copy_file_range(2): the kernel moves bytes between files
// through a pipe (fs/splice.c: do_splice, splice_file_to_pipe, do_splice_direct;
// fs/read_write.c: do_sendfile, vfs_copy_file_range). A file takes part only through its
// splice_read / splice_write methods: the model treats a file with a read (write) method
// as having them. guest_memfd has neither (kvm_gmem_fops: mmap, open, release,
// fallocate), nor FMODE_PREAD/FMODE_PWRITE/FMODE_LSEEK (no llseek), so every path refuses it.
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import { FMODE_READ, FMODE_WRITE, type OpenFile, type SyscallContext } from "./file.js";
import { pipeOf, spliceFlagsOk, type PipeFile, type PipeInode } from "./pipe.js";

/** MAX_RW_COUNT */
const MAX_RW_COUNT = 0x7ffff000;

type Offsets = { [k: string]: bigint };
export interface MoveResult {
  ret: bigint;
  out?: Offsets;
}

const hasSpliceRead = (f: OpenFile): boolean => pipeOf(f) === null && (f.read !== undefined || f.readAt !== undefined);
const hasSpliceWrite = (f: OpenFile): boolean => pipeOf(f) === null && (f.write !== undefined || f.writeAt !== undefined);
const isRegular = (ctx: SyscallContext, f: OpenFile): boolean => (f.inode.mode & 0o170000) === ctx.kernel.K.s.IFREG;

function cap(len: bigint): number {
  return Number(len < BigInt(MAX_RW_COUNT) ? len : BigInt(MAX_RW_COUNT));
}

/** rw_verify_area(): a negative position is refused. */
function verifyArea(pos: bigint | undefined): void {
  if (pos !== undefined && asS64(pos) < 0n) fail("EINVAL");
}

/** ->splice_read at `pos` (the file position when undefined, which advances). */
function readFrom(f: OpenFile, pos: bigint | undefined, len: number): Uint8Array {
  if (pos === undefined) return f.read!(len);
  return f.readAt!(len, pos);
}

function writeTo(f: OpenFile, pos: bigint | undefined, data: Uint8Array): number {
  if (pos === undefined) return f.write!(data);
  return f.writeAt!(data, pos);
}

function fdPair(ctx: SyscallContext, fdIn: bigint, fdOut: bigint): [OpenFile, OpenFile] {
  return [ctx.process.files.get(fdIn), ctx.process.files.get(fdOut)];
}

/** splice(2) */
export function sysSplice(ctx: SyscallContext, fdIn: bigint, offIn: bigint | undefined, fdOut: bigint, offOut: bigint | undefined, len: bigint, flags: bigint): MoveResult {
  if (len === 0n) return { ret: 0n };
  if (!spliceFlagsOk(ctx.kernel, flags)) fail("EINVAL");
  const [inF, outF] = fdPair(ctx, fdIn, fdOut);
  const ipipe = pipeOf(inF);
  const opipe = pipeOf(outF);
  // __do_splice: an offset on a pipe's side
  if ((ipipe && offIn !== undefined) || (opipe && offOut !== undefined)) fail("ESPIPE");
  if (!(inF.fmode & FMODE_READ) || !(outF.fmode & FMODE_WRITE)) fail("EBADF");
  const nonblock = (flags & BigInt(ctx.kernel.K.splice.NONBLOCK!)) !== 0n;
  const n = cap(len);
  if (ipipe && opipe) {
    if (ipipe === opipe) fail("EINVAL");
    if (ipipe.bufs.length === 0) return ipipe.writers === 0 ? { ret: 0n } : (inF as PipeFile).wouldBlock(nonblock, "splice");
    if (opipe.full) (outF as PipeFile).wouldBlock(nonblock, "splice");
    const data = ipipe.take(Math.min(n, opipe.room()));
    opipe.push(data);
    return { ret: BigInt(data.length) };
  }
  if (ipipe) return spliceFromPipe(ctx, ipipe, inF as PipeFile, outF, offOut, n, nonblock);
  if (opipe) return spliceToPipe(inF, offIn, opipe, outF as PipeFile, n, nonblock);
  return fail("EINVAL");
}

/** The pipe -> file half of do_splice: do_splice_from. */
function spliceFromPipe(ctx: SyscallContext, ipipe: PipeInode, inF: PipeFile, outF: OpenFile, offOut: bigint | undefined, n: number, nonblock: boolean): MoveResult {
  if (offOut !== undefined && !outF.positional) fail("EINVAL");
  if (outF.flags & ctx.kernel.K.o.APPEND) fail("EINVAL");
  verifyArea(offOut);
  if (!hasSpliceWrite(outF)) fail("EINVAL");
  if (ipipe.bufs.length === 0) return ipipe.writers === 0 ? { ret: 0n } : inF.wouldBlock(nonblock, "splice");
  const data = ipipe.take(n);
  const written = writeTo(outF, offOut, data);
  return offOut === undefined ? { ret: BigInt(written) } : { ret: BigInt(written), out: { off_out: offOut + BigInt(written) } };
}

/** The file -> pipe half of do_splice: splice_file_to_pipe -> do_splice_read. */
function spliceToPipe(inF: OpenFile, offIn: bigint | undefined, opipe: PipeInode, outF: PipeFile, n: number, nonblock: boolean): MoveResult {
  if (offIn !== undefined && !inF.positional) fail("EINVAL");
  verifyArea(offIn);
  const data = fileToPipe(inF, offIn, opipe, outF, n, nonblock);
  return offIn === undefined ? { ret: BigInt(data) } : { ret: BigInt(data), out: { off_in: offIn + BigInt(data) } };
}

/** wait_for_space, then do_splice_read: at most what the pipe has room for. */
function fileToPipe(inF: OpenFile, pos: bigint | undefined, opipe: PipeInode, outF: PipeFile, n: number, nonblock: boolean): number {
  if (opipe.readers === 0) fail("EPIPE");
  if (opipe.full) outF.wouldBlock(nonblock, "splice");
  if (n === 0) return 0;
  if (!hasSpliceRead(inF)) fail("EINVAL");
  const data = readFrom(inF, pos, Math.min(n, opipe.room()));
  opipe.push(data);
  return data.length;
}

/**
 * do_splice_direct: file -> file through the task's internal pipe. The source must be
 * seekable (FMODE_LSEEK); the destination needs splice_write. Nothing moves when either fails.
 */
function spliceDirect(ctx: SyscallContext, inF: OpenFile, posIn: bigint | undefined, outF: OpenFile, posOut: bigint | undefined, n: number): number {
  if (!(outF.fmode & FMODE_WRITE)) fail("EBADF");
  if (outF.flags & ctx.kernel.K.o.APPEND) fail("EINVAL");
  if (inF.llseek === undefined) fail("EINVAL");
  if (n === 0) return 0;
  if (!hasSpliceRead(inF) || !hasSpliceWrite(outF)) fail("EINVAL");
  return writeTo(outF, posOut, readFrom(inF, posIn, n));
}

/** sendfile(2): do_sendfile. */
export function sysSendfile(ctx: SyscallContext, outFd: bigint, inFd: bigint, offset: bigint | undefined, count: bigint): MoveResult {
  const inF = ctx.process.files.get(inFd);
  if (!(inF.fmode & FMODE_READ)) fail("EBADF");
  if (offset !== undefined && !inF.positional) fail("ESPIPE");
  verifyArea(offset);
  const outF = ctx.process.files.get(outFd);
  if (!(outF.fmode & FMODE_WRITE)) fail("EBADF");
  const n = cap(count);
  const opipe = pipeOf(outF);
  const moved = opipe !== null ? fileToPipe(inF, offset, opipe, outF as PipeFile, n, false) : spliceDirect(ctx, inF, offset, outF, undefined, n);
  return offset === undefined ? { ret: BigInt(moved) } : { ret: BigInt(moved), out: { offset: offset + BigInt(moved) } };
}

/** copy_file_range(2): vfs_copy_file_range with generic_copy_file_checks. */
export function sysCopyFileRange(ctx: SyscallContext, fdIn: bigint, offIn: bigint | undefined, fdOut: bigint, offOut: bigint | undefined, len: bigint, flags: bigint): MoveResult {
  const [inF, outF] = fdPair(ctx, fdIn, fdOut);
  if (flags !== 0n) fail("EINVAL");
  if (!isRegular(ctx, inF) || !isRegular(ctx, outF)) fail("EINVAL");
  if (!(inF.fmode & FMODE_READ) || !(outF.fmode & FMODE_WRITE) || outF.flags & ctx.kernel.K.o.APPEND) fail("EBADF");
  const posIn = offIn ?? inF.pos;
  const posOut = offOut ?? outF.pos;
  verifyArea(posIn);
  verifyArea(posOut);
  // Shorten the copy to the source's end; no overlapping copy within one file.
  const size = inF.inode.size;
  let count = BigInt(cap(len));
  count = posIn >= size ? 0n : count < size - posIn ? count : size - posIn;
  if (inF.inode === outF.inode && posOut + count > posIn && posOut < posIn + count) fail("EINVAL");
  if (count === 0n) return withOffsets(0n, offIn, offOut);
  // Neither file has its own copy_file_range or remap: a splice within one filesystem only.
  if (inF.inode.fs !== outF.inode.fs) fail("EXDEV");
  const copied = BigInt(spliceDirect(ctx, inF, posIn, outF, posOut, Number(count)));
  if (offIn === undefined) inF.pos = posIn + copied;
  if (offOut === undefined) outF.pos = posOut + copied;
  return withOffsets(copied, offIn, offOut);
}

function withOffsets(ret: bigint, offIn: bigint | undefined, offOut: bigint | undefined): MoveResult {
  const out: Offsets = {};
  if (offIn !== undefined) out.off_in = offIn + ret;
  if (offOut !== undefined) out.off_out = offOut + ret;
  return Object.keys(out).length === 0 ? { ret } : { ret, out };
}
