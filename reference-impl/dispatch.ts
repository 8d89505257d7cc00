// From driver operations to kernel entry points: each operation runs as a system
// call (or a KVM_RUN) of one process; a SyscallError becomes ret -1 with its errno.
import { ioctlArgProblem } from "../spec/driver/ioctl-arg.js";
import { DriverFailure, type Op, type OpResult, type OutValue } from "../spec/driver/contract.js";
import { GmemFile } from "./guest_memfd/file.js";
import { SyscallError } from "./lib/errno.js";
import type { Kernel } from "./kernel.js";
import { pinUserPages, unpinUserPages } from "./mm/gup.js";
import { sysMincore } from "./mm/mincore.js";
import { sysMlock, sysMlock2, sysMunlock } from "./mm/mlock.js";
import { sysDropCapability, sysSetrlimit } from "./process/rlimit.js";
import { sysMremap } from "./mm/mremap.js";
import { sysIoUringRegisterBuffers, sysIoUringUnregisterBuffers } from "./process/io-uring.js";
import { sysUffdioApi, sysUffdioRegister, sysUserfaultfd } from "./process/userfaultfd.js";
import type { SyscallContext } from "./process/file.js";
import { sysGetMempolicy, sysMbind } from "./process/mempolicy.js";
import { cpuAccess, sysMadvise, sysMmap, sysMprotect, sysMunmap } from "./process/mman.js";
import * as vfs from "./process/vfs.js";
import { preadUser, pwriteUser } from "./process/direct-io.js";
import { sysPipe2, sysVmsplice } from "./process/pipe.js";
import { isProcFdPath, sysOpenProcFd } from "./process/proc-fd.js";
import { isProcMemPath, sysOpenProcMem } from "./process/proc-mem.js";
import { sysCopyFileRange, sysSendfile, sysSplice } from "./process/splice.js";
import { sysTmpfile } from "./process/tmpfile.js";
import { sysFsync, sysMsync } from "./process/sync.js";
import { sysProcessVmReadv, sysProcessVmWritev } from "./process/process-vm.js";
import { sysPreadv2, sysPwritev2, sysReadv, sysWritev } from "./process/vectored-io.js";
import { sysFadvise, sysReadahead, sysSyncFileRange, sysSyncfs } from "./process/file-advice.js";
import { sysFlock } from "./process/locks.js";
import { sysFcntlLock } from "./process/fcntl-lock.js";
import { sysFchown, sysFutimens } from "./process/file-attrs.js";
import { vfsIoctl } from "./process/vfs-ioctl.js";
import { sysMemfdRestricted } from "./restrictedmem/file.js";
import { UserIoctlArg } from "./system/ioctl-arg.js";
import { VcpuFile } from "./vcpu/vcpu.js";

const value = (ret: bigint): OpResult => ({ ret });
const withOut = (out: { [k: string]: OutValue }): OpResult => ({ ret: 0n, out });

export function dispatch(kernel: Kernel, op: Op): OpResult {
  const pid = op.process ?? 0n;
  const process = kernel.processes.get(pid);
  if (process === undefined) throw new DriverFailure("protocol", `no process ${pid}`);
  const ctx: SyscallContext = { kernel, process };
  kernel.tick();
  try {
    const r = execute(ctx, op);
    if (ctx.signal !== undefined) r.signal = ctx.signal;
    return r;
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    return ctx.signal === undefined ? { ret: -1n, errno: err.errno } : { ret: -1n, errno: err.errno, signal: ctx.signal };
  } finally {
    kernel.inject.endOperation();
  }
}

function execute(ctx: SyscallContext, op: Op): OpResult {
  const { kernel } = ctx;
  switch (op.op) {
    case "open":
      if (isProcMemPath(op.path)) return value(sysOpenProcMem(ctx, op.flags));
      return value(isProcFdPath(op.path) ? sysOpenProcFd(ctx, op.path, op.flags) : vfs.sysOpen(ctx, op.path, op.flags));
    case "close":
      return value(vfs.sysClose(ctx, op.fd));
    case "dup":
      return value(vfs.sysDup(ctx, op.fd));
    case "fcntl":
      return value(vfs.sysFcntl(ctx, op.fd, op.cmd, op.arg ?? 0n));
    case "read":
      return vfs.sysRead(ctx, op.fd, op.len);
    case "pread":
      return vfs.sysRead(ctx, op.fd, op.len, op.offset);
    case "write":
      return value(vfs.sysWrite(ctx, op.fd, op.data));
    case "pwrite":
      return value(vfs.sysWrite(ctx, op.fd, op.data, op.offset));
    case "lseek":
      return value(vfs.sysLseek(ctx, op.fd, op.offset, op.whence));
    case "fallocate":
      return value(vfs.sysFallocate(ctx, op.fd, op.mode, op.offset, op.len));
    case "ftruncate":
      return value(vfs.sysFtruncate(ctx, op.fd, op.length));
    case "fchmod":
      return value(vfs.sysFchmod(ctx, op.fd, op.mode));
    case "fstat":
      return withOut(vfs.sysFstat(ctx, op.fd));
    case "fstatfs":
      return withOut(vfs.sysFstatfs(ctx, op.fd));
    case "fdinfo":
      return withOut(vfs.sysFdinfo(ctx, op.fd));
    case "memfd_create":
      return value(vfs.sysMemfdCreate(ctx, op.name, op.flags));
    case "memfd_restricted":
      if (kernel.revision.restrictedmem === undefined) throw new DriverFailure("unsupported", `memfd_restricted does not exist in ${kernel.revision.profile}`);
      return value(sysMemfdRestricted(ctx, op.flags));
    case "mmap":
      return value(sysMmap(ctx, op.addr, op.len, op.prot, op.flags, op.fd, op.offset));
    case "munmap":
      return value(sysMunmap(ctx, op.addr, op.len));
    case "mprotect":
      return value(sysMprotect(ctx, op.addr, op.len, op.prot));
    case "madvise":
      return value(sysMadvise(ctx, op.addr, op.len, op.advice));
    case "mbind":
      return value(sysMbind(ctx, op.addr, op.len, op.mode, op.nodemask, op.flags));
    case "get_mempolicy":
      return withOut(sysGetMempolicy(ctx, op.addr));
    case "pread_user":
      return value(preadUser(ctx, op.fd, op.addr, op.len, op.offset));
    case "pwrite_user":
      return value(pwriteUser(ctx, op.fd, op.addr, op.len, op.offset));
    case "fsync":
    case "fdatasync":
      return value(sysFsync(ctx, op.fd));
    case "msync":
      return value(sysMsync(ctx, op.addr, op.len, op.flags));
    case "process_vm_readv":
      return sysProcessVmReadv(ctx, op.addr, op.len);
    case "process_vm_writev":
      return value(sysProcessVmWritev(ctx, op.addr, op.data));
    case "load":
      return cpuAccess(ctx, op.addr, Number(op.len), null);
    case "store":
      return cpuAccess(ctx, op.addr, op.data.length, op.data);
    case "fork":
      return value(kernel.spawn(ctx.process).pid);
    case "ioctl":
      return ioctl(ctx, op);
    case "guest":
      return run(ctx, op.vcpu, { kind: "access", access: op.access, gpa: BigInt.asUintN(64, op.gpa), len: Number(op.len ?? 1n), data: op.data, private: op.private ?? false });
    case "hypercall":
      return run(ctx, op.vcpu, { kind: "hypercall", nr: BigInt.asUintN(64, op.nr), args: op.args ?? [] });
    case "guest_arch":
      return run(ctx, op.vcpu, { kind: "arch", action: op.action, gpa: BigInt.asUintN(64, op.gpa), len: op.len ?? kernel.page.size, args: op.args ?? [] });
    case "guest_program":
      return run(ctx, op.vcpu, { kind: "steps", steps: op.steps });
    case "resume":
      return run(ctx, op.vcpu, { kind: "resume", data: op.data });
    case "memory_failure":
      return value(memoryFailure(ctx, op.fd, op.offset));
    case "inject":
      kernel.inject.arm(op.fault, Number(op.after ?? 0n));
      return value(0n);
    case "pin_user_pages":
      return value(pinUserPages(kernel, ctx.process, op.addr, op.len));
    case "unpin_user_pages":
      unpinUserPages(kernel, op.pin);
      return value(0n);
    case "readv":
      return sysReadv(ctx, op.fd, op.lens);
    case "writev":
      return value(sysWritev(ctx, op.fd, op.data, op.lens));
    case "preadv2":
      return sysPreadv2(ctx, op.fd, op.lens, op.offset, op.flags);
    case "pwritev2":
      return value(sysPwritev2(ctx, op.fd, op.data, op.lens, op.offset, op.flags));
    case "posix_fadvise":
      return value(sysFadvise(ctx, op.fd, op.offset, op.len, op.advice));
    case "readahead":
      return value(sysReadahead(ctx, op.fd, op.offset, op.count));
    case "syncfs":
      return value(sysSyncfs(ctx, op.fd));
    case "sync_file_range":
      return value(sysSyncFileRange(ctx, op.fd, op.offset, op.nbytes, op.flags));
    case "flock":
      return value(sysFlock(ctx, op.fd, op.operation));
    case "fcntl_lock":
      return sysFcntlLock(ctx, op);
    case "fchown":
      return value(sysFchown(ctx, op.fd, op.owner, op.group));
    case "futimens":
      return value(sysFutimens(ctx, op.fd, { sec: op.atime_sec, nsec: op.atime_nsec }, { sec: op.mtime_sec, nsec: op.mtime_nsec }));
    case "pipe":
      return sysPipe2(ctx, op.flags);
    case "vmsplice":
      return value(sysVmsplice(ctx, op.fd, op.addr, op.len, op.flags));
    case "splice":
      return sysSplice(ctx, op.fd_in, op.off_in, op.fd_out, op.off_out, op.len, op.flags);
    case "sendfile":
      return sysSendfile(ctx, op.out_fd, op.in_fd, op.offset, op.count);
    case "copy_file_range":
      return sysCopyFileRange(ctx, op.fd_in, op.off_in, op.fd_out, op.off_out, op.len, op.flags);
    case "tmpfile":
      return value(sysTmpfile(ctx, op.dir, op.flags));
    case "mremap":
      return value(sysMremap(ctx, op.addr, op.old_len, op.new_len, op.flags, op.new_addr ?? 0n));
    case "mlock":
      return value(sysMlock(ctx, op.addr, op.len));
    case "mlock2":
      return value(sysMlock2(ctx, op.addr, op.len, op.flags));
    case "munlock":
      return value(sysMunlock(ctx, op.addr, op.len));
    case "mincore":
      return sysMincore(ctx, op.addr, op.len);
    case "io_uring_register_buffers":
      return value(sysIoUringRegisterBuffers(ctx, op.addr, op.len));
    case "io_uring_unregister_buffers":
      return value(sysIoUringUnregisterBuffers(ctx, op.fd));
    case "userfaultfd":
      return value(sysUserfaultfd(ctx, op.flags));
    case "uffdio_api":
      return sysUffdioApi(ctx, op.fd, op.api, op.features);
    case "uffdio_register":
      return sysUffdioRegister(ctx, op.fd, op.addr, op.len, op.mode);
    case "setrlimit":
      return sysSetrlimit(ctx, op.resource, op.cur, op.max);
    case "drop_capability":
      return value(sysDropCapability(ctx, op.cap));
  }
  throw new DriverFailure("unsupported", `operation ${(op as { op: string }).op}`);
}

function ioctl(ctx: SyscallContext, op: Extract<Op, { op: "ioctl" }>): OpResult {
  // "NAME@profile" issues another revision's request number and struct.
  const def = op.request.includes("@") ? ctx.kernel.config.spec.request(op.request, ctx.kernel.revision.profile) : ctx.kernel.config.ioctls.get(op.request);
  if (def === undefined) throw new DriverFailure("unsupported", `${op.request} is not a request of ${ctx.kernel.revision.profile}`);
  const argProblem = ioctlArgProblem(def, op.arg);
  if (argProblem !== undefined) throw new DriverFailure("protocol", argProblem);
  const file = ctx.process.files.get(op.fd);
  const arg = new UserIoctlArg(ctx.kernel.config.spec, def, op.arg, op.pointer === "invalid");
  try {
    const ret = vfsIoctl(ctx, file, def.name, arg) ?? file.ioctl(ctx, arg);
    return arg.out === undefined ? { ret } : { ret, out: arg.out };
  } catch (err) {
    if (err instanceof SyscallError && arg.out !== undefined) return { ret: -1n, errno: err.errno, out: arg.out };
    throw err;
  }
}

/** memory_failure() on the pfn of a guest_memfd page: the page is poisoned, guest mappings of it zapped. */
function memoryFailure(ctx: SyscallContext, fd: bigint, offset: bigint): bigint {
  const file = ctx.process.files.get(fd);
  if (!(file instanceof GmemFile)) throw new DriverFailure("unsupported", "memory_failure on a page that is not guest_memfd memory");
  const folio = offset < 0n || offset >= file.inode.sizeBytes ? undefined : file.inode.cachedPage(ctx.kernel.page.page(offset));
  if (folio === undefined) throw new DriverFailure("protocol", `memory_failure: no page is allocated at offset ${offset} of fd ${fd}`);
  file.inode.poison(folio);
  return 0n;
}

/** KVM_RUN on the descriptor: a vCPU runs the program, other files refuse the request. */
function run(ctx: SyscallContext, fd: bigint, program: Parameters<VcpuFile["run"]>[1]): OpResult {
  const file = ctx.process.files.get(fd);
  if (file instanceof VcpuFile) return file.run(ctx, program);
  const def = ctx.kernel.config.ioctls.get("KVM_RUN")!;
  return value(file.ioctl(ctx, new UserIoctlArg(ctx.kernel.config.spec, def, undefined, false)));
}
