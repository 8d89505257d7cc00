// File locks (fs/locks.c): flock(2) locks, held by an open file description, and
// POSIX record locks set with fcntl(F_SETLK) (held by the process) or
// fcntl(F_OFD_SETLK) (held by the open file description). Both kinds live on the
// inode and work on any file, guest_memfd included: no file operation takes part.
// When they go: a process's POSIX locks on an inode whenever the process closes any
// descriptor of that inode (filp_flush -> locks_remove_posix), flock and OFD locks when
// the last reference to their open file goes (__fput -> locks_remove_file: here, a lock
// whose file is released no longer counts). Not modelled: waiting (a blocking request
// that would wait is refused as unsupported).
import type { Decoded } from "../../spec/codec.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { asS64, S64_MAX } from "../lib/u64.js";
import { FMODE_READ, FMODE_WRITE, type Inode, type OpenFile, type SyscallContext } from "./file.js";
import type { Process } from "./process.js";

type LockType = "read" | "write";
type Owner = OpenFile | Process;

interface FlockLock {
  file: OpenFile;
  type: LockType;
}

interface RecordLock {
  owner: Owner;
  ofd: boolean;
  type: LockType;
  /** inclusive byte range; end S64_MAX means "to the end of the file, whatever it becomes" */
  start: bigint;
  end: bigint;
}

const flockLocks = new WeakMap<Inode, FlockLock[]>();
const recordLocks = new WeakMap<Inode, RecordLock[]>();

const conflicts = (a: LockType, b: LockType) => a === "write" || b === "write";

/** locks_remove_file(): the locks of a released open file are gone with it. */
const flocksOf = (inode: Inode): FlockLock[] => (flockLocks.get(inode) ?? []).filter((l) => !l.file.released);
const recordsOf = (inode: Inode): RecordLock[] => (recordLocks.get(inode) ?? []).filter((l) => !(l.ofd && (l.owner as OpenFile).released));

/** locks_remove_posix(): close(2) of any descriptor of `inode` drops the process's POSIX locks on it. */
export function locksRemovePosix(process: Process, inode: Inode): void {
  const locks = recordLocks.get(inode);
  if (locks !== undefined) recordLocks.set(inode, locks.filter((l) => l.owner !== process));
}

export function sysFlock(ctx: SyscallContext, fd: bigint, operation: bigint): bigint {
  const L = ctx.kernel.K.lock;
  const op = Number(BigInt.asIntN(32, operation));
  const base = op & ~L.NB!;
  const type = base === L.SH ? "read" : base === L.EX ? "write" : base === L.UN ? null : fail("EINVAL");
  const f = ctx.process.files.get(fd);
  if (type !== null && !(f.fmode & (FMODE_READ | FMODE_WRITE))) fail("EBADF");
  const held = flocksOf(f.inode).filter((l) => l.file !== f);
  if (type !== null) {
    if (held.some((l) => conflicts(l.type, type))) {
      if (op & L.NB!) fail("EAGAIN");
      throw new DriverFailure("unsupported", "flock would wait for another open file's lock: waiting is not modelled");
    }
    held.push({ file: f, type });
  }
  flockLocks.set(f.inode, held);
  return 0n;
}

/** flock_to_posix_lock(): the byte range a struct flock names, or EINVAL / EOVERFLOW. */
function lockRange(ctx: SyscallContext, f: OpenFile, l: { [k: string]: Decoded }): { start: bigint; end: bigint } {
  const S = ctx.kernel.K.seek;
  const whence = Number(l.l_whence as bigint);
  let start = whence === S.SET ? 0n : whence === S.CUR ? f.pos : whence === S.END ? f.inode.size : fail("EINVAL");
  start += l.l_start as bigint;
  if (start < 0n) fail("EINVAL");
  const len = l.l_len as bigint;
  if (len > 0n) {
    if (len - 1n > S64_MAX - start) fail("EOVERFLOW");
    return { start, end: start + len - 1n };
  }
  if (len < 0n) {
    if (start + len < 0n) fail("EINVAL");
    return { start: start + len, end: start - 1n };
  }
  return { start, end: S64_MAX };
}

function lockType(ctx: SyscallContext, v: bigint): LockType | "unlock" {
  const L = ctx.kernel.K.lock;
  const t = Number(v);
  return t === L.RDLCK ? "read" : t === L.WRLCK ? "write" : t === L.UNLCK ? "unlock" : fail("EINVAL");
}

/** The part of `locks` outside [start, end] (locks straddling it are split). */
function without(locks: RecordLock[], start: bigint, end: bigint): RecordLock[] {
  return locks.flatMap((l) => {
    if (l.end < start || l.start > end) return [l];
    const parts: RecordLock[] = [];
    if (l.start < start) parts.push({ ...l, end: start - 1n });
    if (l.end > end) parts.push({ ...l, start: end + 1n });
    return parts;
  });
}

/**
 * fcntl(F_GETLK / F_SETLK / F_SETLKW / F_OFD_*) on the struct flock `user` (the caller's copy,
 * already read: EFAULT is the caller's). Returns fcntl's value and the struct as the kernel leaves it.
 */
export function fcntlRecordLock(ctx: SyscallContext, fd: bigint, command: string, user: { [k: string]: Decoded }): { [k: string]: Decoded } {
  const f = ctx.process.files.get(fd);
  const ofd = command.startsWith("OFD_");
  const type = lockType(ctx, user.l_type as bigint);
  const getting = command.endsWith("GETLK");
  if (getting && type === "unlock") fail("EINVAL");
  const { start, end } = lockRange(ctx, f, user);
  if (ofd && (user.l_pid as bigint) !== 0n) fail("EINVAL");
  const owner: Owner = ofd ? f : ctx.process;
  const locks = recordsOf(f.inode);
  const blocker = type === "unlock" ? undefined : locks.find((l) => l.owner !== owner && l.end >= start && l.start <= end && conflicts(l.type, type));
  if (getting) {
    if (blocker === undefined) return { ...user, l_type: BigInt(ctx.kernel.K.lock.UNLCK!) };
    const L = ctx.kernel.K.lock;
    return {
      l_type: BigInt(blocker.type === "write" ? L.WRLCK! : L.RDLCK!),
      l_whence: BigInt(ctx.kernel.K.seek.SET!),
      l_start: blocker.start,
      l_len: blocker.end === S64_MAX ? 0n : blocker.end - blocker.start + 1n,
      // an OFD lock has no process; a process's lock reports its pid (the model's process id)
      l_pid: blocker.ofd ? -1n : asS64((blocker.owner as Process).pid),
    };
  }
  if (type === "read" && !(f.fmode & FMODE_READ)) fail("EBADF");
  if (type === "write" && !(f.fmode & FMODE_WRITE)) fail("EBADF");
  if (blocker !== undefined) {
    if (!command.endsWith("LKW")) fail("EAGAIN");
    throw new DriverFailure("unsupported", `fcntl F_${command} would wait for a conflicting lock: waiting is not modelled`);
  }
  const others = locks.filter((l) => l.owner !== owner);
  const mine = without(locks.filter((l) => l.owner === owner), start, end);
  recordLocks.set(f.inode, [...others, ...mine, ...(type === "unlock" ? [] : [{ owner, ofd, type, start, end }])]);
  return user;
}
