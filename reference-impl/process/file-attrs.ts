// fchown(2) and futimens(2): attribute changes through notify_change(), which calls the
// inode's setattr. guest_memfd's refuses every change (EINVAL), the anonymous inode of VM
// and vCPU files refuses them from 6.15 (EOPNOTSUPP), shmem applies them. Inode.setMode
// is the model's setattr: called with the mode unchanged, it is the same gate and
// updates ctime as a chown does. futimens with both times UTIME_OMIT returns 0 before
// anything is looked up (utimensat); invalid nanoseconds are EINVAL after the fd (vfs_utimes).
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { Inode, SyscallContext, TimeStamp } from "./file.js";

/** notify_change() -> inode setattr with nothing but ctime (and the times given) to change. */
function setattr(inode: Inode): void {
  inode.setMode(inode.mode & 0o7777);
}

export function sysFchown(ctx: SyscallContext, fd: bigint, owner: bigint, group: bigint): bigint {
  const inode = ctx.process.files.get(fd).inode;
  const keep = (id: bigint) => BigInt.asUintN(32, id) === 0xffffffffn;
  // the model runs as root and its files belong to root: other owners are not modelled
  if (!(keep(owner) || owner === 0n) || !(keep(group) || group === 0n)) throw new DriverFailure("unsupported", "fchown to an owner other than root (0) or -1 is not modelled");
  setattr(inode);
  return 0n;
}

export function sysFutimens(ctx: SyscallContext, fd: bigint, atime: TimeStamp, mtime: TimeStamp): bigint {
  const U = ctx.kernel.K.utime;
  const NOW = BigInt(U.NOW!);
  const OMIT = BigInt(U.OMIT!);
  if (atime.nsec === OMIT && mtime.nsec === OMIT) return 0n;
  const inode = ctx.process.files.get(fd).inode;
  const valid = (ns: bigint) => ns === NOW || ns === OMIT || (ns >= 0n && ns < 1_000_000_000n);
  if (!valid(atime.nsec) || !valid(mtime.nsec)) fail("EINVAL");
  setattr(inode);
  const now = ctx.kernel.now();
  const pick = (t: TimeStamp, old: TimeStamp) => (t.nsec === OMIT ? old : t.nsec === NOW ? now : t);
  inode.atime = pick(atime, inode.atime);
  inode.mtime = pick(mtime, inode.mtime);
  return 0n;
}
