// readv(2), writev(2), preadv2(2) and pwritev2(2) (fs/read_write.c). The VFS checks
// come first: a position below -1 (EINVAL), a file without FMODE_PREAD for an explicit
// offset (ESPIPE), the access mode (EBADF), a file with no read or write method (EINVAL:
// guest_memfd). A transfer of 0 bytes ends there; then the RWF_* flags are checked
// (kiocb_set_rw_flags: an unknown flag, or RWF_NOWAIT on a file without FMODE_NOWAIT,
// is EOPNOTSUPP) and the file's method moves the bytes.
import { DriverFailure, type OutValue } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import { iovecTotal } from "../../spec/driver/iovec.js";
import { FMODE_READ, FMODE_WRITE, type OpenFile, type SyscallContext } from "./file.js";

/** kiocb_set_rw_flags() for the files the model has: none sets FMODE_NOWAIT (shmem does not, observed on 6.18). */
function checkRwFlags(ctx: SyscallContext, flags: bigint, write: boolean): { append: boolean } {
  const R = ctx.kernel.K.rwf;
  const f = Number(BigInt.asUintN(32, flags));
  const known = R.HIPRI! | R.DSYNC! | R.SYNC! | R.NOWAIT! | R.APPEND!;
  // RWF_NOAPPEND (6.9), RWF_ATOMIC (6.11) and RWF_DONTCACHE (6.14) exist in some releases only
  if (f & 0xe0) throw new DriverFailure("unsupported", `RWF flags 0x${(f & 0xe0).toString(16)} are not modelled`);
  if (f & ~known) fail("EOPNOTSUPP");
  if (f & R.NOWAIT!) fail("EOPNOTSUPP");
  return { append: write && (f & R.APPEND!) !== 0 };
}

/** The file a positioned (offset >= 0) or positionless (-1) vectored call reaches, after the checks before the transfer. */
function vectoredFile(ctx: SyscallContext, fd: bigint, offset: bigint | undefined, write: boolean): OpenFile {
  if (offset !== undefined && offset < 0n) fail("EINVAL");
  const f = ctx.process.files.get(fd);
  if (offset !== undefined && !f.positional) fail("ESPIPE");
  if (!(f.fmode & (write ? FMODE_WRITE : FMODE_READ))) fail("EBADF");
  if ((write ? f.write : f.read) === undefined) fail("EINVAL");
  return f;
}

/** -1 reads or writes at the file position (do_readv/do_writev); any other value is an offset (do_preadv/do_pwritev). */
function position(offset: bigint): bigint | undefined {
  const off = asS64(offset);
  return off === -1n ? undefined : off;
}

export function sysPreadv2(ctx: SyscallContext, fd: bigint, lens: readonly bigint[], offset: bigint, flags: bigint): { ret: bigint; out?: { [k: string]: OutValue } } {
  const at = position(offset);
  const f = vectoredFile(ctx, fd, at, false);
  const total = iovecTotal("preadv2", lens);
  if (total === 0) return { ret: 0n, out: { data: new Uint8Array(0) } };
  checkRwFlags(ctx, flags, false);
  const data = at === undefined ? f.read!(total) : f.readAt!(total, at);
  return { ret: BigInt(data.length), out: { data } };
}

export function sysReadv(ctx: SyscallContext, fd: bigint, lens: readonly bigint[]): { ret: bigint; out?: { [k: string]: OutValue } } {
  return sysPreadv2(ctx, fd, lens, -1n, 0n);
}

export function sysPwritev2(ctx: SyscallContext, fd: bigint, data: Uint8Array, lens: readonly bigint[] | undefined, offset: bigint, flags: bigint): bigint {
  const at = position(offset);
  const f = vectoredFile(ctx, fd, at, true);
  const total = iovecTotal("pwritev2", lens ?? [BigInt(data.length)]);
  if (total !== data.length) throw new DriverFailure("protocol", `pwritev2: the iovec lengths add up to ${total}, the data has ${data.length} bytes`);
  if (total === 0) return 0n;
  const { append } = checkRwFlags(ctx, flags, true);
  if (append) return BigInt(f.writeAt!(data, f.inode.size));
  return BigInt(at === undefined ? f.write!(data) : f.writeAt!(data, at));
}

export function sysWritev(ctx: SyscallContext, fd: bigint, data: Uint8Array, lens: readonly bigint[] | undefined): bigint {
  return sysPwritev2(ctx, fd, data, lens, -1n, 0n);
}
