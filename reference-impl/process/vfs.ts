// The file system calls: the VFS checks that come before (or instead of) a file's
// own operations, with the errnos Linux gives (fs/read_write.c, fs/open.c,
// fs/fcntl.c, fs/stat.c, fs/statfs.c).
import { DriverFailure, type OutValue } from "../../spec/driver/contract.js";
import { fcntlArgProblem } from "../../spec/driver/fcntl-arg.js";
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import { openSevDevice } from "../arch/x86/sev-snp.js";
import { KvmDeviceFile } from "../system/kvm-device.js";
import { NullFile } from "./devices.js";
import { FMODE_READ, FMODE_WRITE, type OpenFile, type SyscallContext } from "./file.js";
import { ShmemFile, ShmemInode } from "./shmem.js";
import { locksRemovePosix } from "./locks.js";

/** MAX_RW_COUNT: one read or write moves at most this much */
const MAX_RW_COUNT = 0x7ffff000;
const MFD_NAME_MAX = 249;

function file(ctx: SyscallContext, fd: bigint): OpenFile {
  return ctx.process.files.get(fd);
}

export function sysOpen(ctx: SyscallContext, path: string, flags: bigint): bigint {
  const { kernel } = ctx;
  const o = kernel.K.o;
  const f = Number(BigInt.asUintN(32, flags));
  const fileFlags = (f & ~(o.CREAT | o.EXCL | o.TRUNC | o.CLOEXEC)) | o.LARGEFILE;
  let opened: OpenFile;
  if (path === "/dev/kvm") opened = new KvmDeviceFile(kernel.devKvm, fileFlags);
  else if (path === "/dev/null") opened = new NullFile(kernel.devNull, fileFlags);
  else if (path === "/dev/sev") opened = openSevDevice(kernel, fileFlags);
  else throw new DriverFailure("unsupported", `the reference model has no file ${path} (only /dev/kvm, /dev/null and /dev/sev)`);
  return BigInt(ctx.process.files.install(opened, (f & o.CLOEXEC) !== 0));
}

export function sysClose(ctx: SyscallContext, fd: bigint): bigint {
  const { inode } = ctx.process.files.get(fd);
  ctx.process.files.close(fd);
  locksRemovePosix(ctx.process, inode);
  return 0n;
}

export function sysDup(ctx: SyscallContext, fd: bigint): bigint {
  return BigInt(ctx.process.files.install(file(ctx, fd), false));
}

export function sysFcntl(ctx: SyscallContext, fd: bigint, cmd: bigint, arg: bigint): bigint {
  const pointerCommand = fcntlArgProblem(ctx.kernel.config.spec, ctx.kernel.revision.profile, cmd);
  if (pointerCommand !== undefined) throw new DriverFailure("protocol", pointerCommand);
  const F = ctx.kernel.K.f;
  const O = ctx.kernel.K.o;
  const entry = ctx.process.files.entry(fd);
  switch (Number(cmd)) {
    case F.DUPFD:
    case F.DUPFD_CLOEXEC:
      if (arg < 0n || arg >= 1024n) fail("EINVAL");
      return BigInt(ctx.process.files.install(entry.file, Number(cmd) === F.DUPFD_CLOEXEC, Number(arg)));
    case F.GETFD:
      return entry.cloexec ? BigInt(F.FD_CLOEXEC) : 0n;
    case F.SETFD:
      entry.cloexec = (arg & BigInt(F.FD_CLOEXEC)) !== 0n;
      return 0n;
    case F.GETFL:
      return BigInt(entry.file.flags);
    case F.SETFL: {
      // Only the status flags may change (setfl()).
      const changeable = O.APPEND | O.NONBLOCK;
      entry.file.flags = (entry.file.flags & ~changeable) | (Number(BigInt.asUintN(32, arg)) & changeable);
      return 0n;
    }
    case F.GET_SEALS:
      if (!(entry.file instanceof ShmemFile)) fail("EINVAL");
      return BigInt(entry.file.seals);
  }
  throw new DriverFailure("unsupported", `fcntl command ${cmd} is not modelled`);
}

export function sysRead(ctx: SyscallContext, fd: bigint, len: bigint, offset?: bigint): { ret: bigint; out?: { [k: string]: OutValue } } {
  if (offset !== undefined && asS64(offset) < 0n) fail("EINVAL");
  const f = file(ctx, fd);
  if (offset !== undefined && !f.positional) fail("ESPIPE");
  if (!(f.fmode & FMODE_READ)) fail("EBADF");
  if (f.read === undefined) fail("EINVAL");
  const n = Number(len < BigInt(MAX_RW_COUNT) ? len : BigInt(MAX_RW_COUNT));
  const data = offset === undefined ? f.read(n) : f.readAt!(n, offset);
  return { ret: BigInt(data.length), out: { data } };
}

export function sysWrite(ctx: SyscallContext, fd: bigint, data: Uint8Array, offset?: bigint): bigint {
  if (offset !== undefined && asS64(offset) < 0n) fail("EINVAL");
  const f = file(ctx, fd);
  if (offset !== undefined && !f.positional) fail("ESPIPE");
  if (!(f.fmode & FMODE_WRITE)) fail("EBADF");
  if (f.write === undefined) fail("EINVAL");
  return BigInt(offset === undefined ? f.write(data) : f.writeAt!(data, offset));
}

export function sysLseek(ctx: SyscallContext, fd: bigint, offset: bigint, whence: bigint): bigint {
  const f = file(ctx, fd);
  if (whence < 0n || whence > BigInt(ctx.kernel.K.seek.HOLE)) fail("EINVAL");
  if (f.llseek === undefined) fail("ESPIPE");
  return f.llseek(asS64(offset), Number(whence));
}

/** vfs_fallocate(): mode and argument checks, then the file's fallocate. */
export function sysFallocate(ctx: SyscallContext, fd: bigint, mode: bigint, offset: bigint, len: bigint): bigint {
  vfsFallocate(ctx, file(ctx, fd), Number(BigInt.asIntN(32, mode)), offset, len);
  return 0n;
}

export function vfsFallocate(ctx: SyscallContext, f: OpenFile, m: number, offset: bigint, len: bigint): void {
  const FL = ctx.kernel.K.falloc;
  const off = asS64(offset);
  const n = asS64(len);
  if (off < 0n || n <= 0n) fail("EINVAL");
  if (ctx.kernel.revision.fallocateModesExclusive) checkModesExclusive(FL, m);
  else checkModesLegacy(FL, m);
  if (!(f.fmode & FMODE_WRITE)) fail("EBADF");
  if ((f.inode.mode & 0o170000) !== ctx.kernel.K.s.IFREG) fail("ENODEV");
  if (off + n > (1n << 63n) - 1n) fail("EFBIG");
  if (f.fallocate === undefined) fail("EOPNOTSUPP");
  f.fallocate(ctx, m, off, n);
}

type FallocModes = SyscallContext["kernel"]["K"]["falloc"];

/** 6.12+: the modes are exclusive and every bad combination is EOPNOTSUPP. */
function checkModesExclusive(FL: FallocModes, m: number): void {
  // FALLOC_FL_WRITE_ZEROES joined the exclusive modes in 6.17.
  const modeMask = FL.PUNCH_HOLE | FL.COLLAPSE_RANGE | FL.ZERO_RANGE | FL.INSERT_RANGE | FL.UNSHARE_RANGE | FL.WRITE_ZEROES;
  if (m & ~(modeMask | FL.KEEP_SIZE)) fail("EOPNOTSUPP");
  switch (m & modeMask) {
    case 0:
    case FL.UNSHARE_RANGE:
    case FL.ZERO_RANGE:
      return;
    case FL.PUNCH_HOLE:
      if (!(m & FL.KEEP_SIZE)) fail("EOPNOTSUPP");
      return;
    case FL.COLLAPSE_RANGE:
    case FL.INSERT_RANGE:
    case FL.WRITE_ZEROES:
      if (m & FL.KEEP_SIZE) fail("EOPNOTSUPP");
      return;
    default:
      fail("EOPNOTSUPP");
  }
}

/** Before 6.12: FALLOC_FL_SUPPORTED_MASK, then pairwise rules, some of them EINVAL. */
function checkModesLegacy(FL: FallocModes, m: number): void {
  const supported = FL.KEEP_SIZE | FL.PUNCH_HOLE | FL.NO_HIDE_STALE | FL.COLLAPSE_RANGE | FL.ZERO_RANGE | FL.INSERT_RANGE | FL.UNSHARE_RANGE;
  if (m & ~supported) fail("EOPNOTSUPP");
  if ((m & (FL.PUNCH_HOLE | FL.ZERO_RANGE)) === (FL.PUNCH_HOLE | FL.ZERO_RANGE)) fail("EOPNOTSUPP");
  if (m & FL.PUNCH_HOLE && !(m & FL.KEEP_SIZE)) fail("EOPNOTSUPP");
  if (m & FL.COLLAPSE_RANGE && m & ~FL.COLLAPSE_RANGE) fail("EINVAL");
  if (m & FL.INSERT_RANGE && m & ~FL.INSERT_RANGE) fail("EINVAL");
  if (m & FL.UNSHARE_RANGE && m & ~(FL.UNSHARE_RANGE | FL.KEEP_SIZE)) fail("EINVAL");
}

export function sysFtruncate(ctx: SyscallContext, fd: bigint, length: bigint): bigint {
  const size = asS64(length);
  if (size < 0n) fail("EINVAL");
  const f = file(ctx, fd);
  if ((f.inode.mode & 0o170000) !== ctx.kernel.K.s.IFREG || !(f.fmode & FMODE_WRITE)) fail("EINVAL");
  f.inode.setSize(size);
  return 0n;
}

export function sysFchmod(ctx: SyscallContext, fd: bigint, mode: bigint): bigint {
  file(ctx, fd).inode.setMode(Number(mode & 0o7777n));
  return 0n;
}

export function sysFstat(ctx: SyscallContext, fd: bigint): { [k: string]: OutValue } {
  const i = file(ctx, fd).inode;
  const t = (s: { sec: bigint; nsec: bigint }) => [s.sec, s.nsec] as const;
  const [as, an] = t(i.atime);
  const [ms, mn] = t(i.mtime);
  const [cs, cn] = t(i.ctime);
  return {
    dev: i.fs.dev,
    ino: BigInt(i.ino),
    nlink: i.nlink,
    mode: BigInt(i.mode),
    uid: 0n,
    gid: 0n,
    rdev: i.rdev,
    size: i.size,
    blksize: ctx.kernel.page.size,
    blocks: i.blocks,
    atime_sec: as,
    atime_nsec: an,
    mtime_sec: ms,
    mtime_nsec: mn,
    ctime_sec: cs,
    ctime_nsec: cn,
  };
}

export function sysFstatfs(ctx: SyscallContext, fd: bigint): { [k: string]: OutValue } {
  const fs = file(ctx, fd).inode.fs;
  const bsize = ctx.kernel.page.size;
  return { type: fs.magic, bsize, blocks: 0n, bfree: 0n, bavail: 0n, files: 0n, ffree: 0n, fsid: [0n, 0n], namelen: 255n, frsize: bsize, flags: fs.statfsFlags };
}

export function sysFdinfo(ctx: SyscallContext, fd: bigint): { [k: string]: OutValue } {
  const e = ctx.process.files.entry(fd);
  return { link: e.file.link(), flags: BigInt(e.file.flags | (e.cloexec ? ctx.kernel.K.o.CLOEXEC : 0)) };
}

export function sysMemfdCreate(ctx: SyscallContext, name: string, flags: bigint): bigint {
  const { kernel } = ctx;
  const M = kernel.K.mfd;
  const f = Number(BigInt.asUintN(32, flags));
  if (f & ~(M.CLOEXEC | M.ALLOW_SEALING | M.HUGETLB | M.NOEXEC_SEAL | M.EXEC)) fail("EINVAL");
  if (f & M.HUGETLB) throw new DriverFailure("unsupported", "hugetlbfs memfds are not modelled");
  if ((f & M.NOEXEC_SEAL) && (f & M.EXEC)) fail("EINVAL");
  if (Buffer.byteLength(name) > MFD_NAME_MAX) fail("EINVAL");
  ctx.process.files.ensureFree();
  const perm = f & M.NOEXEC_SEAL ? 0o666 : 0o777;
  const sealed = f & M.ALLOW_SEALING || f & M.NOEXEC_SEAL ? 0 : kernel.K.f.SEAL_SEAL;
  const memfd = new ShmemFile(new ShmemInode(kernel, 0n, perm), kernel.K.o.RDWR | kernel.K.o.LARGEFILE, `/memfd:${name}`, sealed);
  return BigInt(ctx.process.files.install(memfd, (f & M.CLOEXEC) !== 0));
}
