// The linux driver: every operation of spec/driver/ops.ts that a single Node
// process can perform, executed against the real kernel through libc. It reports
// what the kernel did; it never adjusts an answer to what the uAPI documents.
import { readFileSync, readlinkSync } from "node:fs";
import { loadSpec, type ProfileName, type Spec } from "../../../spec/index.js";
import { DriverFailure, type Driver, type Handshake, type Op, type OpOf, type OpResult, type ResetReport } from "../../../spec/driver/contract.js";
import { CONTRACT_VERSION } from "../../../spec/driver/contract.js";
import { OPS, type OpName } from "../../../spec/driver/ops.js";
import { MAX_BATCH_STEPS, runBatch, type BatchReply, type BatchStep } from "../../../spec/driver/batch.js";
import { accessProgram, checkLength, hypercallProgram, littleEndian } from "./guest-code.js";
import { guestProgram, resume } from "./program-ops.js";
import { doIoctl, type IoctlContext } from "./ioctl.js";
import { fileIoOperation, isFileIoOp } from "./file-io.js";
import { limitsFeatures, limitsOperation, restoreLimits } from "./limits.js";
import { fcntlArgProblem } from "../../../spec/driver/fcntl-arg.js";
import { checkAccess } from "./memory.js";
import { MmOperations, type MmOp } from "./mm-ops.js";
import { HYPERCALL_BOUND_MS, Prober, parseProfileOption } from "./probe.js";
import { DEFAULT_LIMITS, kernelFd, Session, type Limits } from "./session.js";
import { GuestRunner } from "./vcpu.js";
import { ioFeatures, isProcFdPath, pipeOperation, refuseWait, reopen, type PipeContext } from "./pipes.js";
import { procMemFeatures, procMemOperation, type ProcMemContext } from "./proc-mem.js";
import { numaFeatures, numaOperation } from "./numa.js";
import * as libc from "./libc.js";
import { flushCallLog, logCaseStart, logNodeCall } from "./call-log.js";
import { Ballast } from "./ballast.js";
import { F_DUPFD, F_DUPFD_CLOEXEC, FALLOC_FL_PUNCH_HOLE, MADV_HWPOISON, MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_SOFT_OFFLINE, MADV_WILLNEED, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_POPULATE, MAP_PRIVATE_ANONYMOUS, MAP_SHARED, MPOL_F_ADDR, O_RDWR_CLOEXEC, PROT_READ, PROT_WRITE } from "./uapi.js";

export const LINUX_DRIVER_VERSION = "0.1.0";
const MAX_ACCESS = 65536;

export interface LinuxDriverOptions {
  /** the uAPI revision whose rules apply; default: the newest release not newer than the kernel */
  profile?: string;
  /** how long a guest program may run before the watchdog stops KVM_RUN (ms) */
  guestTimeoutMs?: number;
  limits?: Partial<Limits>;
}

/**
 * A real kernel cannot fork under Node, fail on purpose, poison a page it does not map, or
 * hand out long-term pins on request (models only): every other operation is offered.
 */
const NOT_OFFERED: ReadonlySet<OpName> = new Set<OpName>(["fork", "memory_failure", "inject", "pin_user_pages", "unpin_user_pages"]);
export const LINUX_OPERATIONS: OpName[] = (Object.keys(OPS) as OpName[]).filter((op) => !NOT_OFFERED.has(op));

export class LinuxDriver implements Driver {
  readonly handshake: Handshake;
  private readonly session: Session;
  private readonly runner: GuestRunner;
  private readonly ioctlContext: IoctlContext;
  private readonly pipeContext: PipeContext;
  private readonly procMemContext: ProcMemContext;
  private broken: string | undefined;
  private readonly hypercallTimeoutMs: number;
  private readonly mm: MmOperations;
  /** an idle VM and vCPU held for the driver's life, so KVM's static keys do not flip at every case (ballast.ts) */
  private ballast: Ballast | undefined;

  private constructor(
    private readonly spec: Spec,
    private readonly profile: ProfileName,
    private readonly systemFd: number,
    private readonly pageSize: number,
    handshake: Handshake,
    options: LinuxDriverOptions,
    hypercallsHang = false,
  ) {
    this.handshake = handshake;
    const timeout = options.guestTimeoutMs ?? 500;
    // Q4 (probed): a hypercall program that can only end at the watchdog ends at a short one; the outcome is the same.
    this.hypercallTimeoutMs = hypercallsHang ? Math.min(timeout, HYPERCALL_BOUND_MS) : timeout;
    const session = new Session({ ...DEFAULT_LIMITS, ...options.limits }, BigInt(pageSize));
    this.session = session;
    // Before every KVM_RUN: the host memory behind the case's memslots is still the case's (or unmapped).
    const guard = (slots: { slot: bigint; userspaceAddr: bigint; size: bigint }[]) =>
      session.requireOwnedRanges(slots.map((s) => ({ addr: s.userspaceAddr, len: s.size, what: `KVM_RUN: memslot ${s.slot}'s host memory` })));
    this.runner = new GuestRunner({ spec, profile, systemFd, timeoutMs: timeout, guard, hypercallsStall: hypercallsHang });
    this.ioctlContext = { spec, profile, session: this.session, runner: this.runner, pageSize };
    this.pipeContext = { spec, session: this.session };
    this.procMemContext = { ...this.pipeContext, readBytes: session.limits.readBytes };
    this.mm = new MmOperations(spec, session, pageSize);
  }

  /** Open /dev/kvm, probe the features and build the handshake. Throws with the reason when /dev/kvm cannot be used. */
  static open(options: LinuxDriverOptions = {}): LinuxDriver {
    const spec = loadSpec();
    const profile = parseProfileOption(options.profile, spec);
    const kvm = libc.open("/dev/kvm", O_RDWR_CLOEXEC, 0n);
    if (kvm.ret < 0n) throw new Error(`/dev/kvm cannot be opened read-write: ${spec.errnoName(kvm.errno)}`);
    const systemFd = Number(kvm.ret);
    const timeout = options.guestTimeoutMs ?? 500;
    const { features, host, hypercallsHang } = new Prober(spec, profile, systemFd).probe(timeout);
    features.push(...ioFeatures(spec), ...procMemFeatures(), ...limitsFeatures(spec), ...numaFeatures());
    const handshake: Handshake = { contractVersion: CONTRACT_VERSION, name: "linux", version: LINUX_DRIVER_VERSION, profile, features, operations: LINUX_OPERATIONS, host, batch: { maxSteps: MAX_BATCH_STEPS } };
    const driver = new LinuxDriver(spec, profile, systemFd, host.pageSize, handshake, options, hypercallsHang);
    driver.ballast = Ballast.create(spec, profile, systemFd);
    logCaseStart();
    return driver;
  }

  async call(op: Op): Promise<OpResult> {
    if (this.broken) throw new DriverFailure("crash", this.broken);
    if (op.process !== undefined && op.process !== 0n) throw new DriverFailure("unsupported", "the linux driver cannot fork (Node cannot fork safely), so there is only process 0");
    return this.execute(op);
  }

  /** Batched calls (contract 1.4): the steps in order, each as `call` would run it. */
  batch(steps: BatchStep[]): Promise<BatchReply> {
    return runBatch((op) => this.call(op), steps);
  }

  private result(r: libc.Sys): OpResult {
    return r.ret < 0n ? { ret: -1n, errno: this.spec.errnoName(r.errno) } : { ret: r.ret };
  }

  /** The fd the kernel will see, refused when it belongs to the driver. */
  private fd(fd: bigint, what: string): bigint {
    return this.session.usableFd(fd, what);
  }

  private execute(op: Op): OpResult {
    // /proc/self/mem reaches the driver's own memory: only checked pread/pwrite go through (proc-mem.ts)
    const procMem = procMemOperation(this.procMemContext, op);
    if (procMem !== undefined) return procMem;
    if (isFileIoOp(op)) return fileIoOperation(this.ioctlContext, op);
    switch (op.op) {
      case "mmap":
      case "munmap":
      case "mprotect":
      case "madvise":
      case "mbind":
      case "get_mempolicy":
      case "load":
      case "store":
        return this.memoryOperation(op);
      case "ioctl":
      case "guest":
      case "hypercall":
      case "guest_arch":
        return this.kvmOperation(op);
      case "setrlimit":
      case "drop_capability":
        return limitsOperation(this.spec, op);
      case "move_pages":
      case "get_mempolicy_node":
        return numaOperation(this.spec, this.session, this.profile, op);
      case "guest_program":
        return guestProgram(this.runner, this.fd(op.vcpu, op.op), op, this.hypercallTimeoutMs);
      case "resume":
        return resume(this.runner, this.fd(op.vcpu, op.op), op);
      case "fork":
        throw new DriverFailure("unsupported", "fork: Node cannot fork safely, so the linux driver does not offer process:fork");
      case "memory_failure":
        throw new DriverFailure("unsupported", "memory_failure: a private guest_memfd page has no pfn userspace can learn (memory-failure:pfn is not offered)");
      case "inject":
        throw new DriverFailure("unsupported", "inject: fault injection needs a model; a real kernel cannot fail on purpose (fault-injection is not offered)");
      case "mremap":
      case "mlock":
      case "mlock2":
      case "munlock":
      case "mincore":
      case "io_uring_register_buffers":
      case "io_uring_unregister_buffers":
      case "userfaultfd":
      case "uffdio_api":
      case "uffdio_register":
        return this.mm.run(op satisfies MmOp);
      case "pin_user_pages":
      case "unpin_user_pages":
        throw new DriverFailure("unsupported", `${op.op}: long-term pins need VFIO, io_uring fixed buffers or CONFIG_GUP_TEST, which this driver does not use (gup-pin is not offered)`);
      case "pipe":
      case "vmsplice":
      case "splice":
      case "sendfile":
      case "copy_file_range":
      case "tmpfile":
        return pipeOperation(this.pipeContext, op);
      default:
        return this.fileOperation(op);
    }
  }

  /** File descriptors and the I/O on them. */
  private fileOperation(op: Op): OpResult {
    const s = this.session;
    switch (op.op) {
      case "open": {
        if (isProcFdPath(op.path)) return reopen(this.pipeContext, op);
        Session.checkOpen(op.path);
        const r = libc.open(op.path, op.flags, op.mode ?? 0n);
        if (r.ret >= 0n) s.addFd(r.ret, op.path === "/dev/kvm" ? "system" : "file");
        return this.result(r);
      }
      case "close": {
        const fd = this.fd(op.fd, "close");
        const r = libc.close(fd);
        if (r.ret === 0n) this.forget(fd);
        return this.result(r);
      }
      case "dup": {
        const fd = this.fd(op.fd, "dup");
        return this.duplicated(fd, libc.dup(fd));
      }
      case "fcntl": {
        const fd = this.fd(op.fd, "fcntl");
        const pointerCommand = fcntlArgProblem(this.spec, this.profile, op.cmd);
        if (pointerCommand !== undefined) throw new DriverFailure("protocol", pointerCommand);
        const r = libc.fcntl(fd, op.cmd, op.arg ?? 0n);
        return op.cmd === F_DUPFD || op.cmd === F_DUPFD_CLOEXEC ? this.duplicated(fd, r) : this.result(r);
      }
      case "read":
      case "pread":
        return this.read(op);
      case "pread_user":
      case "pwrite_user":
        return this.userIo(op);
      case "process_vm_readv":
      case "process_vm_writev":
        return this.processVm(op);
      case "fsync":
        return this.result(libc.fsync(this.fd(op.fd, "fsync")));
      case "fdatasync":
        return this.result(libc.fdatasync(this.fd(op.fd, "fdatasync")));
      case "msync":
        // msync writes no memory: at worst it syncs the file behind a shared mapping
        return this.result(libc.msync(op.addr, op.len, op.flags));
      case "write": {
        const fd = this.fd(op.fd, "write");
        this.session.chargeWrite(fd, BigInt(op.data.length), undefined, "write");
        return this.result(libc.write(fd, op.data));
      }
      case "pwrite": {
        const fd = this.fd(op.fd, "pwrite");
        this.session.chargeWrite(fd, BigInt(op.data.length), op.offset, "pwrite");
        return this.result(libc.pwrite(fd, op.data, op.offset));
      }
      case "lseek":
        return this.result(libc.lseek(this.fd(op.fd, "lseek"), op.offset, op.whence));
      case "fallocate": {
        const fd = this.fd(op.fd, "fallocate");
        this.chargeFallocate(fd, op);
        return this.result(libc.fallocate(fd, op.mode, op.offset, op.len));
      }
      case "ftruncate":
        return this.result(libc.ftruncate(this.fd(op.fd, "ftruncate"), op.length));
      case "fchmod":
        return this.result(libc.fchmod(this.fd(op.fd, "fchmod"), op.mode));
      case "fstat":
      case "fstatfs": {
        const struct = op.op === "fstat" ? "stat" : "statfs";
        const buf = Buffer.alloc(this.spec.codec.get(struct).size);
        const r = (op.op === "fstat" ? libc.fstat : libc.fstatfs)(kernelFd(op.fd), buf);
        return r.ret < 0n ? this.result(r) : { ret: 0n, out: this.spec.codec.decode(struct, buf) as OpResult["out"] };
      }
      case "fdinfo":
        return this.fdinfo(op.fd);
      case "memfd_create": {
        const r = libc.memfdCreate(op.name, op.flags);
        if (r.ret >= 0n) s.addFd(r.ret, "memfd");
        return this.result(r);
      }
      case "memfd_restricted": {
        // Only where the probe found it: elsewhere the number belongs to another call (451 is cachestat).
        const nr = this.spec.constant("SYS_memfd_restricted", this.profile);
        if (nr === undefined) throw new DriverFailure("unsupported", `memfd_restricted has no system call number in profile ${this.profile}`);
        if (!this.handshake.features.includes("restrictedmem"))
          throw new DriverFailure("unsupported", `memfd_restricted: this kernel has no such system call (the probe found no restrictedmem; number ${nr} is another call here)`);
        const r = libc.syscall1(nr, op.flags);
        if (r.ret >= 0n) s.addFd(r.ret, "restrictedmem");
        return this.result(r);
      }
    }
    throw new DriverFailure("internal", `operation ${op.op} reached the file operations`);
  }

  /** Mappings and what the CPU does through them. */
  private memoryOperation(op: Op): OpResult {
    const s = this.session;
    switch (op.op) {
      case "mmap":
        return this.mmap(op);
      case "munmap": {
        s.requireOwnedRange(op.addr, op.len, "munmap");
        const r = libc.munmap(op.addr, op.len);
        if (r.ret === 0n) s.removeMapping(op.addr, op.len);
        else s.resyncMappings();
        return this.result(r);
      }
      case "mprotect": {
        s.requireOwnedRange(op.addr, op.len, "mprotect");
        const r = libc.mprotect(op.addr, op.len, op.prot);
        // a failed mprotect may have changed the VMAs before the hole it stopped at
        if (r.ret === 0n) s.protectMapping(op.addr, op.len, op.prot);
        else s.resyncMappings();
        return this.result(r);
      }
      case "madvise":
        return this.madvise(op);
      case "mbind":
        s.requireOwnedRange(op.addr, op.len, "mbind");
        return this.result(libc.mbind(op.addr, op.len, op.mode, op.nodemask, op.flags));
      case "get_mempolicy": {
        const r = libc.getMempolicy(op.addr, MPOL_F_ADDR);
        return r.ret < 0n ? this.result(r) : { ret: r.ret, out: { mode: r.mode, nodemask: r.nodemask } };
      }
      case "load":
        return this.load(op);
      case "store":
        return this.store(op);
    }
    throw new DriverFailure("internal", `operation ${op.op} reached the memory operations`);
  }

  /** KVM ioctls and guest runs. */
  private kvmOperation(op: Op): OpResult {
    switch (op.op) {
      case "ioctl":
        return doIoctl(this.ioctlContext, op);
      case "guest":
        return this.guest(op);
      case "hypercall":
        return this.hypercall(op);
      case "guest_arch":
        throw new DriverFailure("unsupported", `guest_arch ${op.action}: the linux driver's guests are not confidential guests (no guest-arch feature is offered)`);
    }
    throw new DriverFailure("internal", `operation ${op.op} reached the KVM operations`);
  }

  private forget(fd: bigint): void {
    this.session.dropFd(fd);
    this.runner.forgetFd(Number(fd));
  }

  private duplicated(oldFd: bigint, r: libc.Sys): OpResult {
    if (r.ret >= 0n) {
      this.session.addFd(r.ret, this.session.kindOf(oldFd) ?? "file");
      this.runner.trackDup(Number(r.ret), Number(oldFd));
    }
    return this.result(r);
  }

  private read(op: OpOf<"read"> | OpOf<"pread">): OpResult {
    if (op.len < 0n || op.len > BigInt(this.session.limits.readBytes))
      throw new DriverFailure("unsupported", `${op.op}: the linux driver reads at most ${this.session.limits.readBytes} bytes at once (asked for ${op.len})`);
    const buf = Buffer.alloc(Number(op.len));
    const fd = this.fd(op.fd, op.op);
    if (op.op === "read" && op.len > 0n) refuseWait(this.pipeContext, fd, "in", op.op);
    const r = op.op === "read" ? libc.read(fd, buf) : libc.pread(fd, buf, op.offset);
    return r.ret < 0n ? this.result(r) : { ret: r.ret, out: { data: new Uint8Array(buf.subarray(0, Number(r.ret))) } };
  }

  /** The kernel copies to or from the case's buffer: it must be the case's memory or not mapped at all (then EFAULT). */
  private userIo(op: OpOf<"pread_user"> | OpOf<"pwrite_user">): OpResult {
    if (op.len < 0n || op.len > BigInt(MAX_ACCESS)) throw new DriverFailure("protocol", `${op.op} of ${op.len} bytes (at most ${MAX_ACCESS})`);
    const fd = this.fd(op.fd, op.op);
    this.session.requireOwnedRange(op.addr, op.len, `${op.op} buffer 0x${op.addr.toString(16)} (+${op.len} bytes)`);
    if (op.op === "pwrite_user") this.session.chargeWrite(fd, op.len, op.offset, op.op);
    return this.result((op.op === "pread_user" ? libc.preadAddr : libc.pwriteAddr)(fd, op.addr, op.len, op.offset));
  }

  /**
   * The kernel pins the case's pages (GUP) and copies between them and a scratch mapping of the
   * driver's, made for the call and unmapped after it.
   */
  private processVm(op: OpOf<"process_vm_readv"> | OpOf<"process_vm_writev">): OpResult {
    const len = op.op === "process_vm_readv" ? op.len : BigInt(op.data.length);
    if (len < 0n || len > BigInt(MAX_ACCESS)) throw new DriverFailure("protocol", `${op.op} of ${len} bytes (at most ${MAX_ACCESS})`);
    this.session.requireOwnedRange(op.addr, len, `${op.op} of 0x${op.addr.toString(16)} (+${len} bytes)`);
    const size = BigInt(Math.max(this.pageSize, Number(len)));
    const scratch = libc.mmap(0n, size, PROT_READ | PROT_WRITE, MAP_PRIVATE_ANONYMOUS, -1n, 0n);
    if (scratch.ret < 0n) throw new DriverFailure("internal", `${op.op}: no scratch buffer (${this.spec.errnoName(scratch.errno)})`);
    try {
      if (op.op === "process_vm_writev") libc.copyToAddress(scratch.ret, op.data);
      const r = libc.processVm(op.op === "process_vm_writev", scratch.ret, op.addr, len);
      if (r.ret < 0n || op.op === "process_vm_writev") return this.result(r);
      return { ret: r.ret, out: { data: new Uint8Array(libc.copyFromAddress(scratch.ret, Number(r.ret))) } };
    } finally {
      libc.munmap(scratch.ret, size);
    }
  }

  /** Allocation (no PUNCH_HOLE) counts against the populate budget where the kernel would really allocate. */
  private chargeFallocate(fd: bigint, op: OpOf<"fallocate">): void {
    if ((op.mode & FALLOC_FL_PUNCH_HOLE) !== 0n || op.len <= 0n || op.offset < 0n) return;
    let bytes = op.len;
    if (this.session.kindOf(fd) === "guest_memfd") {
      const page = BigInt(this.pageSize);
      const buf = Buffer.alloc(this.spec.codec.get("stat").size);
      const st = libc.fstat(fd, buf);
      const size = st.ret === 0n ? (this.spec.codec.decode("stat", buf).size as bigint) : 0n;
      // guest_memfd refuses unaligned ranges and ranges past its end before allocating anything
      if (op.offset % page !== 0n || op.len % page !== 0n || op.offset + op.len > size) bytes = 0n;
    }
    this.session.chargePopulate(bytes, "fallocate");
  }

  private fdinfo(fd: bigint): OpResult {
    try {
      logNodeCall("readlink", `/proc/self/fd/${fd}`);
      const link = readlinkSync(`/proc/self/fd/${fd}`);
      logNodeCall("readfile", `/proc/self/fdinfo/${fd}`);
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      const flags = /^flags:\s*([0-7]+)$/m.exec(info)?.[1] ?? "0";
      const pos = /^pos:\s*(\d+)$/m.exec(info)?.[1] ?? "0";
      return { ret: 0n, out: { link, flags: BigInt("0o" + flags), pos: BigInt(pos) } };
    } catch {
      return { ret: -1n, errno: "EBADF" };
    }
  }

  private mmap(op: OpOf<"mmap">): OpResult {
    const s = this.session;
    const fd = kernelFd(op.fd) >= 0n ? this.fd(op.fd, "mmap") : kernelFd(op.fd);
    if ((op.flags & MAP_FIXED) !== 0n && (op.flags & MAP_FIXED_NOREPLACE) === 0n) s.requireOwnedRange(op.addr, op.len, "mmap MAP_FIXED");
    if ((op.flags & MAP_POPULATE) !== 0n) s.chargePopulate(s.roundUp(op.len), "mmap MAP_POPULATE");
    const r = libc.mmap(op.addr, op.len, op.prot, op.flags, fd, op.offset);
    if (r.ret >= 0n) s.addMapping(r.ret, op.len, op.prot, (op.flags & MAP_SHARED) !== 0n);
    else if ((op.flags & MAP_FIXED) !== 0n) s.resyncMappings(); // a failed MAP_FIXED may have unmapped the old range
    return this.result(r);
  }

  private madvise(op: OpOf<"madvise">): OpResult {
    const s = this.session;
    if (op.advice === MADV_HWPOISON || op.advice === MADV_SOFT_OFFLINE)
      throw new DriverFailure("unsupported", "madvise: MADV_HWPOISON and MADV_SOFT_OFFLINE would poison or offline real host pages (memory-failure is not offered)");
    s.requireOwnedRange(op.addr, op.len, "madvise");
    if (op.advice === MADV_POPULATE_READ || op.advice === MADV_POPULATE_WRITE || op.advice === MADV_WILLNEED) s.chargePopulate(s.roundUp(op.len), "madvise");
    return this.result(libc.madvise(op.addr, op.len, op.advice));
  }

  private load(op: OpOf<"load">): OpResult {
    if (op.len < 0n || op.len > BigInt(MAX_ACCESS)) throw new DriverFailure("unsupported", `load: at most ${MAX_ACCESS} bytes (asked for ${op.len})`);
    const len = Number(op.len);
    this.session.chargeAccess(len, "load");
    const check = checkAccess(op.addr, len, false, this.pageSize, this.session.accessVmas(op.addr, len, "load"));
    if ("refuse" in check) throw new DriverFailure("unsupported", `load: ${check.refuse}`);
    if (!check.ok) return { ret: -1n, signal: this.spec.signalName(check.signal) };
    return { ret: 0n, out: { data: new Uint8Array(libc.copyFromAddress(op.addr, len)) } };
  }

  private store(op: OpOf<"store">): OpResult {
    const len = op.data.length;
    if (len > MAX_ACCESS) throw new DriverFailure("unsupported", `store: at most ${MAX_ACCESS} bytes (got ${len})`);
    this.session.chargeAccess(len, "store");
    const check = checkAccess(op.addr, len, true, this.pageSize, this.session.accessVmas(op.addr, len, "store"));
    if ("refuse" in check) throw new DriverFailure("unsupported", `store: ${check.refuse}`);
    if (!check.ok) return { ret: -1n, signal: this.spec.signalName(check.signal) };
    libc.copyToAddress(op.addr, op.data);
    return { ret: 0n };
  }

  private guest(op: OpOf<"guest">): OpResult {
    const vcpu = this.fd(op.vcpu, "guest");
    const len = Number(op.len ?? BigInt(op.data?.length ?? 1));
    try {
      checkLength(len);
    } catch (err) {
      throw new DriverFailure("unsupported", `guest: ${(err as Error).message}`);
    }
    if (op.access === "write" && op.data !== undefined && op.data.length !== len) throw new DriverFailure("protocol", `guest: len ${len} but ${op.data.length} bytes of data`);
    const program = accessProgram(op.gpa, op.access, len, op.data ?? new Uint8Array(len));
    const r = this.runner.run(Number(vcpu), program);
    return { ret: r.ret, ...(r.errno ? { errno: r.errno } : {}), ...(r.exit ? { exit: r.exit } : {}), ...(r.out ? { out: r.out } : {}) };
  }

  private hypercall(op: OpOf<"hypercall">): OpResult {
    const vcpu = this.fd(op.vcpu, "hypercall");
    let program;
    try {
      program = hypercallProgram(op.nr, op.args ?? [], this.runner.vendor());
    } catch (err) {
      throw new DriverFailure("unsupported", `hypercall: ${(err as Error).message}`);
    }
    const r = this.runner.run(Number(vcpu), program, this.hypercallTimeoutMs);
    const data = r.out?.data as Uint8Array | undefined;
    // After HLT, rax holds what the hypercall returned to the guest.
    return { ret: r.ret, ...(r.errno ? { errno: r.errno } : {}), ...(r.exit ? { exit: r.exit } : {}), ...(data ? { out: { hypercall_ret: littleEndian(data) } } : {}) };
  }

  async reset(): Promise<ResetReport> {
    if (this.broken) throw new DriverFailure("crash", this.broken);
    this.runner.releaseAll();
    restoreLimits();
    const released = this.session.release();
    logCaseStart();
    return { released: { ...released, processes: 0 } };
  }

  async close(): Promise<void> {
    if (this.broken) return;
    await this.reset();
    this.ballast?.release();
    libc.close(BigInt(this.systemFd));
    flushCallLog();
    this.broken = "closed";
  }

  abort(reason = "aborted"): void {
    this.broken = reason;
  }
}
