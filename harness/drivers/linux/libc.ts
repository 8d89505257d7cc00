// The libc functions the linux driver calls, through koffi (prebuilt, nothing is
// compiled). Addresses are plain integers (uint64) so the driver can do pointer
// arithmetic; struct arguments are Buffers whose bytes come from spec/codec.ts.
import koffi from "koffi";
import { O_CLOEXEC, O_RDONLY, SYS_GET_MEMPOLICY, SYS_MBIND } from "./uapi.js";
import { logIovec, withCallLog } from "./call-log.js";

// every call recorded for bench/replay.c when PRIVMEM_CTS_CALL_LOG is set (call-log.ts)
const lib = withCallLog(koffi.load("libc.so.6"));

/** A raw system call outcome: ret as the C function returned it, errno when it failed. */
export interface Sys {
  ret: bigint;
  errno: number;
}

type Int = bigint;
const s32 = (v: Int): bigint => BigInt.asIntN(32, v);
const u32 = (v: Int): bigint => BigInt.asUintN(32, v);
const s64 = (v: Int): bigint => BigInt.asIntN(64, v);
const u64 = (v: Int): bigint => BigInt.asUintN(64, v);

/** Run a libc call and pick up errno at once, before any other call can change it. */
function sys(call: () => unknown, failed: (ret: bigint) => boolean = (r) => r === -1n): Sys {
  const ret = BigInt(call() as number | bigint);
  return failed(ret) ? { ret: -1n, errno: koffi.errno() } : { ret, errno: 0 };
}

const fn = {
  open: lib.func("int open(const char *path, int flags, ...)"),
  close: lib.func("int close(int fd)"),
  dup: lib.func("int dup(int fd)"),
  fcntl: lib.func("int fcntl(int fd, int cmd, ...)"),
  read: lib.func("int64 read(int fd, void *buf, uint64 len)"),
  write: lib.func("int64 write(int fd, const void *buf, uint64 len)"),
  pread: lib.func("int64 pread(int fd, void *buf, uint64 len, int64 offset)"),
  pwrite: lib.func("int64 pwrite(int fd, const void *buf, uint64 len, int64 offset)"),
  lseek: lib.func("int64 lseek(int fd, int64 offset, int whence)"),
  fallocate: lib.func("int fallocate(int fd, int mode, int64 offset, int64 len)"),
  ftruncate: lib.func("int ftruncate(int fd, int64 length)"),
  fchmod: lib.func("int fchmod(int fd, uint32 mode)"),
  fstat: lib.func("int fstat(int fd, void *buf)"),
  fstatfs: lib.func("int fstatfs(int fd, void *buf)"),
  memfdCreate: lib.func("int memfd_create(const char *name, uint32 flags)"),
  syscall: lib.func("int64 syscall(int64 number, ...)"),
  ioctl: lib.func("int ioctl(int fd, uint64 request, ...)"),
  mmap: lib.func("uint64 mmap(uint64 addr, uint64 len, int prot, int flags, int fd, int64 offset)"),
  munmap: lib.func("int munmap(uint64 addr, uint64 len)"),
  mprotect: lib.func("int mprotect(uint64 addr, uint64 len, int prot)"),
  madvise: lib.func("int madvise(uint64 addr, uint64 len, int advice)"),
  preadAddr: lib.func("pread", "int64", ["int", "uint64", "uint64", "int64"]),
  pwriteAddr: lib.func("pwrite", "int64", ["int", "uint64", "uint64", "int64"]),
  fsync: lib.func("int fsync(int fd)"),
  fdatasync: lib.func("int fdatasync(int fd)"),
  msync: lib.func("int msync(uint64 addr, uint64 len, int flags)"),
  copyIn: lib.func("memcpy", "uint64", ["uint64", "const void *", "uint64"]),
  copyOut: lib.func("memcpy", "uint64", ["void *", "uint64", "uint64"]),
  sysconf: lib.func("long sysconf(int name)"),
  gettid: lib.func("int gettid(void)"),
};

export const open = (path: string, flags: Int, mode: Int): Sys => sys(() => fn.open(path, Number(s32(flags)), "uint32", Number(u32(mode))));
export const close = (fd: Int): Sys => sys(() => fn.close(Number(s32(fd))));
export const dup = (fd: Int): Sys => sys(() => fn.dup(Number(s32(fd))));
/** fcntl with an integer argument (long, as the kernel reads it). */
export const fcntl = (fd: Int, cmd: Int, arg: Int): Sys => sys(() => fn.fcntl(Number(s32(fd)), Number(s32(cmd)), "int64", s64(arg)));
export const read = (fd: Int, buf: Buffer): Sys => sys(() => fn.read(Number(s32(fd)), buf, BigInt(buf.length)));
export const write = (fd: Int, data: Uint8Array): Sys => sys(() => fn.write(Number(s32(fd)), Buffer.from(data), BigInt(data.length)));
export const pread = (fd: Int, buf: Buffer, offset: Int): Sys => sys(() => fn.pread(Number(s32(fd)), buf, BigInt(buf.length), s64(offset)));
export const pwrite = (fd: Int, data: Uint8Array, offset: Int): Sys => sys(() => fn.pwrite(Number(s32(fd)), Buffer.from(data), BigInt(data.length), s64(offset)));
/** pread/pwrite with a buffer at a user address the caller has checked: the kernel copies to or from it. */
export const preadAddr = (fd: Int, addr: Int, len: Int, offset: Int): Sys => sys(() => fn.preadAddr(Number(s32(fd)), u64(addr), u64(len), s64(offset)));
export const pwriteAddr = (fd: Int, addr: Int, len: Int, offset: Int): Sys => sys(() => fn.pwriteAddr(Number(s32(fd)), u64(addr), u64(len), s64(offset)));
export const fsync = (fd: Int): Sys => sys(() => fn.fsync(Number(s32(fd))));
export const fdatasync = (fd: Int): Sys => sys(() => fn.fdatasync(Number(s32(fd))));
export const msync = (addr: Int, len: Int, flags: Int): Sys => sys(() => fn.msync(u64(addr), u64(len), Number(s32(flags))));
export const lseek = (fd: Int, offset: Int, whence: Int): Sys => sys(() => fn.lseek(Number(s32(fd)), s64(offset), Number(s32(whence))));
export const fallocate = (fd: Int, mode: Int, offset: Int, len: Int): Sys => sys(() => fn.fallocate(Number(s32(fd)), Number(s32(mode)), s64(offset), s64(len)));
export const ftruncate = (fd: Int, length: Int): Sys => sys(() => fn.ftruncate(Number(s32(fd)), s64(length)));
export const fchmod = (fd: Int, mode: Int): Sys => sys(() => fn.fchmod(Number(s32(fd)), Number(u32(mode))));
export const fstat = (fd: Int, buf: Buffer): Sys => sys(() => fn.fstat(Number(s32(fd)), buf));
export const fstatfs = (fd: Int, buf: Buffer): Sys => sys(() => fn.fstatfs(Number(s32(fd)), buf));
export const memfdCreate = (name: string, flags: Int): Sys => sys(() => fn.memfdCreate(name, Number(u32(flags))));
/**
 * A system call with one argument. The other five argument registers are zero, so
 * a kernel where `nr` is some other call with more arguments (451 became
 * cachestat) sees NULL pointers and zero flags, never whatever the registers held.
 */
export const syscall1 = (nr: Int, arg: Int): Sys => sys(() => fn.syscall(s64(nr), "uint64", u64(arg), "uint64", 0n, "uint64", 0n, "uint64", 0n, "uint64", 0n, "uint64", 0n));

/** Nodes 0-63: one unsigned long of mask; the kernel reads maxnode - 1 bits. */
const MAXNODE = 65n;

export const mbind = (addr: Int, len: Int, mode: Int, nodemask: Int, flags: Int): Sys => {
  const mask = Buffer.alloc(8);
  mask.writeBigUInt64LE(u64(nodemask));
  return sys(() => fn.syscall(SYS_MBIND, "uint64", u64(addr), "uint64", u64(len), "uint64", u64(mode), "void *", mask, "uint64", MAXNODE, "uint64", u64(flags)));
};

/** get_mempolicy(&mode, &nodemask, 65, addr, flags): returns the mode and the mask as well. */
export const getMempolicy = (addr: Int, flags: Int): Sys & { mode: bigint; nodemask: bigint } => {
  const mode = Buffer.alloc(4);
  const mask = Buffer.alloc(8);
  const r = sys(() => fn.syscall(SYS_GET_MEMPOLICY, "void *", mode, "void *", mask, "uint64", MAXNODE, "uint64", u64(addr), "uint64", u64(flags)));
  return { ...r, mode: BigInt(mode.readInt32LE(0)), nodemask: mask.readBigUInt64LE(0) };
};

/** ioctl with an integer argument (by value, or an address such as an invalid pointer). */
export const ioctlValue = (fd: Int, request: number, arg: Int): Sys => sys(() => fn.ioctl(Number(s32(fd)), BigInt(request), "uint64", u64(arg)));
/** ioctl with a pointer to a buffer the kernel reads and/or writes in place. */
export const ioctlBuffer = (fd: Int, request: number, buf: Buffer): Sys => sys(() => fn.ioctl(Number(s32(fd)), BigInt(request), "void *", buf));

const MAP_FAILED = (1n << 64n) - 1n;
export const mmap = (addr: Int, len: Int, prot: Int, flags: Int, fd: Int, offset: Int): Sys =>
  sys(
    () => fn.mmap(u64(addr), u64(len), Number(s32(prot)), Number(s32(flags)), Number(s32(fd)), s64(offset)),
    (r) => r === MAP_FAILED,
  );
export const munmap = (addr: Int, len: Int): Sys => sys(() => fn.munmap(u64(addr), u64(len)));
export const mprotect = (addr: Int, len: Int, prot: Int): Sys => sys(() => fn.mprotect(u64(addr), u64(len), Number(s32(prot))));
export const madvise = (addr: Int, len: Int, advice: Int): Sys => sys(() => fn.madvise(u64(addr), u64(len), Number(s32(advice))));

/** process_vm_readv/writev(2) numbers: they are not in spec/ (no case names them) */
const SYS_PROCESS_VM_READV = process.arch === "s390x" ? 340n : 310n;
const SYS_PROCESS_VM_WRITEV = process.arch === "s390x" ? 341n : 311n;

/** process_vm_readv/writev on this process: one local iovec at `local`, one remote at `remote`, `len` bytes each. */
export const processVm = (write: boolean, local: bigint, remote: Int, len: bigint): Sys => {
  const iov = (base: bigint) => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(base, 0);
    b.writeBigUInt64LE(len, 8);
    return b;
  };
  return sys(() => fn.syscall(write ? SYS_PROCESS_VM_WRITEV : SYS_PROCESS_VM_READV, "int64", BigInt(process.pid), "void *", iov(local), "uint64", 1n, "void *", iov(u64(remote)), "uint64", 1n, "uint64", 0n));
};

/** Copy bytes into process memory at addr. The caller has checked that this cannot fault. */
export function copyToAddress(addr: bigint, data: Uint8Array): void {
  if (data.length > 0) fn.copyIn(addr, Buffer.from(data.buffer, data.byteOffset, data.byteLength), BigInt(data.length));
}

/**
 * Read process memory through /proc/self/mem, as a debugger would (the kernel
 * faults the pages in with FOLL_FORCE, so a mapping without PROT_READ can be read,
 * and a page that cannot be faulted in ends the read instead of raising a signal).
 * Returns the bytes read: fewer than len where the rest could not be read.
 */
export function readProcessMemory(addr: bigint, len: number): Buffer {
  const fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC, 0n);
  if (fd.ret < 0n) return Buffer.alloc(0);
  try {
    const buf = Buffer.alloc(len);
    let done = 0;
    while (done < len) {
      const r = sys(() => fn.pread(Number(fd.ret), buf.subarray(done), BigInt(len - done), s64(addr + BigInt(done))));
      if (r.ret <= 0n) break;
      done += Number(r.ret);
    }
    return buf.subarray(0, done);
  } finally {
    close(fd.ret);
  }
}

/** Copy bytes out of process memory at addr. The caller has checked that this cannot fault. */
export function copyFromAddress(addr: bigint, len: number): Buffer {
  const buf = Buffer.alloc(len);
  if (len > 0) fn.copyOut(buf, addr, BigInt(len));
  return buf;
}

const SC_PAGESIZE = 30;
export const pageSize = (): number => Number(fn.sysconf(SC_PAGESIZE));
export const gettid = (): number => Number(fn.gettid());

// A per-thread timer that interrupts KVM_RUN (a guest that never halts). These are
// libc structures, not uAPI, so koffi lays them out.
const SigEventThread = koffi.struct("privmem_sigevent_thread", {
  value: "uint64",
  signo: "int",
  notify: "int",
  tid: "int",
  pad: koffi.array("uint8", 44),
});
const ITimerSpec = koffi.struct("privmem_itimerspec", { intervalSec: "int64", intervalNsec: "int64", valueSec: "int64", valueNsec: "int64" });
const timerCreate = lib.func("timer_create", "int", ["int", koffi.pointer(SigEventThread), koffi.out(koffi.pointer("uint64"))]);
const timerSettime = lib.func("timer_settime", "int", ["uint64", "int", koffi.pointer(ITimerSpec), "void *"]);
const timerDelete = lib.func("timer_delete", "int", ["uint64"]);

const CLOCK_MONOTONIC = 1;
const CLOCK_THREAD_CPUTIME_ID = 3;
const SIGEV_THREAD_ID = 4;

const clockGettime = lib.func("int clock_gettime(int clock, void *tp)");
const timespec = Buffer.alloc(16);
/** The calling thread's CPU time in milliseconds (user and system, the guest's time in KVM_RUN included). */
export function threadCpuMs(): number {
  clockGettime(CLOCK_THREAD_CPUTIME_ID, timespec);
  return Number(timespec.readBigInt64LE(0)) * 1000 + Number(timespec.readBigInt64LE(8)) / 1e6;
}

export class ThreadTimer {
  private constructor(private readonly id: bigint) {}

  /** A timer that sends `signal` to the calling thread only, counting wall time (monotonic) or the thread's CPU time. */
  static create(signal: number, clock: "monotonic" | "thread-cpu" = "monotonic"): ThreadTimer {
    const out: bigint[] = [0n];
    const r = timerCreate(clock === "monotonic" ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, { value: 0n, signo: signal, notify: SIGEV_THREAD_ID, tid: gettid(), pad: new Array<number>(44).fill(0) }, out);
    if (r !== 0) throw new Error(`timer_create failed with errno ${koffi.errno()}`);
    return new ThreadTimer(BigInt(out[0]!));
  }

  /**
   * Fire after ms milliseconds, and every ms milliseconds after that until disarmed; 0
   * disarms. The repeats matter: a signal that lands before the thread has entered
   * KVM_RUN (preempted between arming and the ioctl, as happens on a loaded machine) is
   * handled in user space and leaves nothing pending, so a guest that never halts
   * would run on; the next signal stops it.
   */
  arm(ms: number): void {
    const sec = Math.floor(ms / 1000);
    const nsec = (ms % 1000) * 1_000_000;
    timerSettime(this.id, 0, { intervalSec: sec, intervalNsec: nsec, valueSec: sec, valueNsec: nsec }, null);
  }

  disarm(): void {
    this.arm(0);
  }

  delete(): void {
    timerDelete(this.id);
  }
}

// The file calls of contract 1.3 (vectored I/O, advice, sync, locks, attributes).
// iovecs are built here from Buffers that stay referenced for the whole call.
const fileFn = {
  readv: lib.func("int64 readv(int fd, const void *iov, int iovcnt)"),
  writev: lib.func("int64 writev(int fd, const void *iov, int iovcnt)"),
  preadv2: lib.func("int64 preadv2(int fd, const void *iov, int iovcnt, int64 offset, int flags)"),
  pwritev2: lib.func("int64 pwritev2(int fd, const void *iov, int iovcnt, int64 offset, int flags)"),
  fadvise: lib.func("int posix_fadvise(int fd, int64 offset, int64 len, int advice)"),
  readahead: lib.func("int64 readahead(int fd, int64 offset, uint64 count)"),
  syncfs: lib.func("int syncfs(int fd)"),
  syncFileRange: lib.func("int sync_file_range(int fd, int64 offset, int64 nbytes, uint32 flags)"),
  flock: lib.func("int flock(int fd, int operation)"),
  fchown: lib.func("int fchown(int fd, uint32 owner, uint32 group)"),
  futimens: lib.func("int futimens(int fd, const void *times)"),
  fcntlPointer: lib.func("fcntl", "int", ["int", "int", "uint64"]),
  fcntlBuffer: lib.func("fcntl", "int", ["int", "int", "void *"]),
};

/** struct iovec[] over `parts` (each a Buffer the caller keeps alive during the call). */
function iovecs(parts: Buffer[]): Buffer {
  const iov = Buffer.alloc(16 * Math.max(parts.length, 1));
  parts.forEach((p, i) => {
    iov.writeBigUInt64LE(p.length > 0 ? BigInt(koffi.address(p) as bigint) : 0n, 16 * i);
    iov.writeBigUInt64LE(BigInt(p.length), 16 * i + 8);
  });
  logIovec(iov, parts);
  return iov;
}

/** preadv2 (offset -1: at the file position) into fresh buffers of `lens` bytes; readv when flags and offset are absent. */
export const preadv2 = (fd: Int, parts: Buffer[], offset: Int | undefined, flags: Int): Sys => {
  const iov = iovecs(parts);
  if (offset === undefined) return sys(() => fileFn.readv(Number(s32(fd)), iov, parts.length));
  return sys(() => fileFn.preadv2(Number(s32(fd)), iov, parts.length, s64(offset), Number(s32(flags))));
};
/** pwritev2 (offset -1: at the file position) from `parts`; writev when flags and offset are absent. */
export const pwritev2 = (fd: Int, parts: Buffer[], offset: Int | undefined, flags: Int): Sys => {
  const iov = iovecs(parts);
  if (offset === undefined) return sys(() => fileFn.writev(Number(s32(fd)), iov, parts.length));
  return sys(() => fileFn.pwritev2(Number(s32(fd)), iov, parts.length, s64(offset), Number(s32(flags))));
};
/** posix_fadvise returns the error number instead of setting errno: reported as errno here. */
export const fadvise = (fd: Int, offset: Int, len: Int, advice: Int): Sys => {
  const r = Number(fileFn.fadvise(Number(s32(fd)), s64(offset), s64(len), Number(s32(advice))));
  return r === 0 ? { ret: 0n, errno: 0 } : { ret: -1n, errno: r };
};
export const readahead = (fd: Int, offset: Int, count: Int): Sys => sys(() => fileFn.readahead(Number(s32(fd)), s64(offset), u64(count)));
export const syncfs = (fd: Int): Sys => sys(() => fileFn.syncfs(Number(s32(fd))));
export const syncFileRange = (fd: Int, offset: Int, nbytes: Int, flags: Int): Sys => sys(() => fileFn.syncFileRange(Number(s32(fd)), s64(offset), s64(nbytes), Number(u32(flags))));
export const flock = (fd: Int, operation: Int): Sys => sys(() => fileFn.flock(Number(s32(fd)), Number(s32(operation))));
export const fchown = (fd: Int, owner: Int, group: Int): Sys => sys(() => fileFn.fchown(Number(s32(fd)), Number(u32(owner)), Number(u32(group))));
/** futimens with times[2] = {atime, mtime} as two struct timespec. */
export const futimens = (fd: Int, atime: [Int, Int], mtime: [Int, Int]): Sys => {
  const ts = Buffer.alloc(32);
  [atime[0], atime[1], mtime[0], mtime[1]].forEach((v, i) => ts.writeBigInt64LE(s64(v), 8 * i));
  return sys(() => fileFn.futimens(Number(s32(fd)), ts));
};
/** fcntl with a pointer to a struct flock the kernel reads and may write in place. */
export const fcntlStruct = (fd: Int, cmd: Int, buf: Buffer): Sys => sys(() => fileFn.fcntlBuffer(Number(s32(fd)), Number(s32(cmd)), buf));
/** fcntl with an address (an invalid pointer) as its argument. */
export const fcntlAddress = (fd: Int, cmd: Int, addr: Int): Sys => sys(() => fileFn.fcntlPointer(Number(s32(fd)), Number(s32(cmd)), u64(addr)));

// Pipes and the calls that move pages or bytes through them (harness/drivers/linux/pipes.ts).
const pipeFn = {
  pipe2: lib.func("int pipe2(void *fds, int flags)"),
  vmsplice: lib.func("int64 vmsplice(int fd, const void *iov, uint64 nr, uint32 flags)"),
  splice: lib.func("int64 splice(int fd_in, void *off_in, int fd_out, void *off_out, uint64 len, uint32 flags)"),
  sendfile: lib.func("int64 sendfile(int out_fd, int in_fd, void *offset, uint64 count)"),
  copyFileRange: lib.func("int64 copy_file_range(int fd_in, void *off_in, int fd_out, void *off_out, uint64 len, uint32 flags)"),
  poll: lib.func("int poll(void *fds, uint64 nfds, int timeout)"),
};

/** An loff_t the kernel reads and writes back, or NULL. */
function offsetCell(v: Int | undefined): Buffer | null {
  if (v === undefined) return null;
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(s64(v));
  return b;
}
const cellValue = (b: Buffer | null): bigint | undefined => (b === null ? undefined : b.readBigInt64LE(0));

/** pipe2(2): the two fds (read end, write end). */
export const pipe2 = (flags: Int): Sys & { fds: [bigint, bigint] } => {
  const fds = Buffer.alloc(8);
  const r = sys(() => pipeFn.pipe2(fds, Number(s32(flags))));
  return { ...r, fds: [BigInt(fds.readInt32LE(0)), BigInt(fds.readInt32LE(4))] };
};

/** vmsplice(2) with one iovec {addr, len}; the caller has checked the range is the case's memory. */
export const vmsplice = (fd: Int, addr: Int, len: Int, flags: Int): Sys => {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(u64(addr), 0);
  iov.writeBigUInt64LE(u64(len), 8);
  return sys(() => pipeFn.vmsplice(Number(s32(fd)), iov, 1n, Number(u32(flags))));
};

export interface Moved extends Sys {
  offIn?: bigint;
  offOut?: bigint;
}

export const splice = (fdIn: Int, offIn: Int | undefined, fdOut: Int, offOut: Int | undefined, len: Int, flags: Int): Moved => {
  const a = offsetCell(offIn);
  const b = offsetCell(offOut);
  const r = sys(() => pipeFn.splice(Number(s32(fdIn)), a, Number(s32(fdOut)), b, u64(len), Number(u32(flags))));
  return { ...r, offIn: cellValue(a), offOut: cellValue(b) };
};

export const sendfile = (outFd: Int, inFd: Int, offset: Int | undefined, count: Int): Moved => {
  const a = offsetCell(offset);
  const r = sys(() => pipeFn.sendfile(Number(s32(outFd)), Number(s32(inFd)), a, u64(count)));
  return { ...r, offIn: cellValue(a) };
};

export const copyFileRange = (fdIn: Int, offIn: Int | undefined, fdOut: Int, offOut: Int | undefined, len: Int, flags: Int): Moved => {
  const a = offsetCell(offIn);
  const b = offsetCell(offOut);
  const r = sys(() => pipeFn.copyFileRange(Number(s32(fdIn)), a, Number(s32(fdOut)), b, u64(len), Number(u32(flags))));
  return { ...r, offIn: cellValue(a), offOut: cellValue(b) };
};

const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLHUP = 0x10;

/** poll(2) with a zero timeout: whether a read (`in`) or a write (`out`) on fd would proceed at once. */
export function ready(fd: Int, dir: "in" | "out"): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(Number(s32(fd)), 0);
  pfd.writeInt16LE(dir === "in" ? POLLIN : POLLOUT, 4);
  const n = Number(pipeFn.poll(pfd, 1n, 0));
  const revents = pfd.readInt16LE(6);
  return n > 0 && (revents & (dir === "in" ? POLLIN | POLLHUP : POLLOUT | POLLHUP)) !== 0;
}

// mremap, mlock2, mincore, io_uring and userfaultfd (contract 1.3): raw system calls, so no
// libc version decides which mremap arguments reach the kernel. io_uring's numbers are the
// same on every architecture (the unified table from 425 up); the others are per architecture.
const SYS_MM_OPS: Record<string, Record<"mremap" | "mincore" | "mlock" | "munlock" | "mlock2" | "userfaultfd", bigint>> = {
  x64: { mremap: 25n, mincore: 27n, mlock: 149n, munlock: 150n, mlock2: 325n, userfaultfd: 323n },
  arm64: { mremap: 216n, mincore: 232n, mlock: 228n, munlock: 229n, mlock2: 284n, userfaultfd: 282n },
};
const SYS_IO_URING_SETUP = 425n;
const SYS_IO_URING_REGISTER = 427n;

function mmSyscall(name: keyof (typeof SYS_MM_OPS)["x64"]): bigint {
  const nr = SYS_MM_OPS[process.arch]?.[name];
  if (nr === undefined) throw new Error(`no ${name} system call number for ${process.arch}`);
  return nr;
}

export const mremap = (addr: Int, oldLen: Int, newLen: Int, flags: Int, newAddr: Int): Sys =>
  sys(() => fn.syscall(mmSyscall("mremap"), "uint64", u64(addr), "uint64", u64(oldLen), "uint64", u64(newLen), "uint64", u64(flags), "uint64", u64(newAddr)));
export const mlock = (addr: Int, len: Int): Sys => sys(() => fn.syscall(mmSyscall("mlock"), "uint64", u64(addr), "uint64", u64(len)));
export const munlock = (addr: Int, len: Int): Sys => sys(() => fn.syscall(mmSyscall("munlock"), "uint64", u64(addr), "uint64", u64(len)));
export const mlock2 = (addr: Int, len: Int, flags: Int): Sys => sys(() => fn.syscall(mmSyscall("mlock2"), "uint64", u64(addr), "uint64", u64(len), "int", Number(s32(flags))));
/** mincore into `vec` (one byte per page of the range). */
export const mincore = (addr: Int, len: Int, vec: Buffer): Sys => sys(() => fn.syscall(mmSyscall("mincore"), "uint64", u64(addr), "uint64", u64(len), "void *", vec));
export const userfaultfd = (flags: Int): Sys => sys(() => fn.syscall(mmSyscall("userfaultfd"), "int", Number(s32(flags))));
/** io_uring_setup(entries, params): `params` is struct io_uring_params (120 bytes), zeroed by the caller. */
export const ioUringSetup = (entries: number, params: Buffer): Sys => sys(() => fn.syscall(SYS_IO_URING_SETUP, "uint32", entries, "void *", params));
/** io_uring_register(fd, opcode, arg, nr_args) */
export const ioUringRegister = (fd: Int, opcode: number, arg: Buffer | null, nrArgs: number): Sys =>
  sys(() => fn.syscall(SYS_IO_URING_REGISTER, "int", Number(s32(fd)), "uint32", opcode, "void *", arg, "uint32", nrArgs));

// Resource limits and capabilities of the driver's own process (harness/drivers/linux/limits.ts).
const credFn = {
  prlimit: lib.func("int prlimit(int pid, int resource, const void *new_limit, void *old_limit)"),
  capget: lib.func("int capget(void *hdrp, void *datap)"),
  capset: lib.func("int capset(void *hdrp, const void *datap)"),
};
/** prlimit(0, resource, new, old): `next` (16 bytes: rlim_cur, rlim_max) or null, `old` filled in. */
export const prlimit = (resource: Int, next: Buffer | null, old: Buffer): Sys => sys(() => credFn.prlimit(0, Number(s32(resource)), next, old));
/** capget/capset with a _LINUX_CAPABILITY_VERSION_3 header (8 bytes) and two struct __user_cap_data_struct (24 bytes). */
export const capget = (header: Buffer, data: Buffer): Sys => sys(() => credFn.capget(header, data));
export const capset = (header: Buffer, data: Buffer): Sys => sys(() => credFn.capset(header, data));
/** move_pages(0, count, pages, nodes, status, flags): `pages` holds count u64 addresses, `nodes` count ints or NULL, `status` count ints. */
export const movePages = (nr: Int, count: number, pages: Buffer, nodes: Buffer | null, status: Buffer, flags: Int): Sys =>
  sys(() => fn.syscall(s64(nr), "int", 0, "uint64", BigInt(count), "void *", pages, "void *", nodes, "void *", status, "int", Number(s32(flags))));
