// Running guest programs on a case's vCPU: the driver's code memslot in the vCPU's
// VM, kvm_run mapped by the driver, CPUID, registers, KVM_RUN under a watchdog,
// and the exit decoded with the kvm_run layout from spec/.
import type { ProfileName, Spec } from "../../../spec/index.js";
import type { FieldMap } from "../../../spec/codec.js";
import { DriverFailure, type ExitInfo, type OutValue } from "../../../spec/driver/contract.js";
import { ExitDecoder } from "./exits.js";
import { DRIVER_GPA, DRIVER_REGION_SIZE, DRIVER_SLOT, toBytes, type GuestProgram, type Vendor } from "./guest-code.js";
import { stepsOut } from "./guest-program.js";
import * as libc from "./libc.js";
import { KVM_MAX_CPUID_ENTRIES, MAP_SHARED, MFD_CLOEXEC, PROT_RW, SIGUSR2 } from "./uapi.js";
import { WALL_CAP_FACTOR, Watchdog } from "./watchdog.js";

/** The watchdog's signal: the driver installs a no-op handler, so it only interrupts KVM_RUN. */
const WATCHDOG_SIGNAL = SIGUSR2;
const WATCHDOG_SIGNAL_NAME = "SIGUSR2";
/** The name of the memfd behind each VM's code region, as /proc/<pid>/maps shows it (memfd:<name>). */
export const CODE_REGION_NAME = "privmem-cts-guest-code";

/** A memslot the case created: the host range behind it. */
export interface CaseMemslot {
  slot: bigint;
  userspaceAddr: bigint;
  size: bigint;
}

interface VmState {
  fds: Set<number>;
  region?: bigint;
  installed: boolean;
  /** the case's memslots by slot (as_id << 16 | id), as the kernel accepted them */
  memslots: Map<bigint, CaseMemslot>;
}

interface VcpuState {
  fds: Set<number>;
  vm: VmState;
  run?: bigint;
  cpuid: "unset" | "set" | "failed";
  ran: boolean;
  /** the program the last run loaded (what `resume` continues) and the exit it last reported */
  loaded?: GuestProgram;
  lastExit?: ExitInfo;
}

/** What KVM_RUN reported; exit is absent only when the driver could not map kvm_run (not a vCPU it knows). */
export interface RunOutcome {
  ret: bigint;
  errno?: string;
  exit?: ExitInfo;
  out?: { [k: string]: OutValue };
}

export interface RunnerOptions {
  spec: Spec;
  profile: ProfileName;
  systemFd: number;
  /** how long (the thread's CPU time; wall time up to WALL_CAP_FACTOR times it) a guest program may run before the watchdog interrupts KVM_RUN */
  timeoutMs: number;
  /**
   * Called with the case's memslots of the VM before every KVM_RUN: a guest
   * write lands in their host ranges, so the driver refuses to run when its own
   * memory has appeared there since the slot was created.
   */
  guard?: (memslots: CaseMemslot[]) => void;
  /**
   * The probe saw a hypercall never complete (HOST-NOTES Q4): a program with hypercalls
   * runs in short slices and ends as soon as an interrupted slice finds the vCPU on one
   * of them, instead of at its watchdog.
   */
  hypercallsStall?: boolean;
}

/** The slice of a program that may stall on a hypercall (Q4): the guest's steps before it take microseconds. */
const STALL_SLICE_MS = 1;

export class GuestRunner {
  private readonly vms = new Map<number, VmState>();
  private readonly vcpus = new Map<number, VcpuState>();
  private readonly exits: ExitDecoder;
  private readonly runLayout: { exitReason: number; immediateExit: number; mmioData: number; hypercallRet: number; size: number };
  private readonly ioDirection: { IN: bigint | undefined; OUT: bigint | undefined };
  private supportedCpuid: Buffer | undefined;
  private watchdog: Watchdog | undefined;
  private runSize = 0;
  /** every mapping the runner made (code regions, kvm_run), address -> length, until it unmaps it */
  private readonly mapped = new Map<bigint, bigint>();

  constructor(private readonly o: RunnerOptions) {
    this.exits = new ExitDecoder(o.spec, o.profile);
    const run = o.spec.codec.get("kvm_run");
    const offsetOf = (f: string) => run.fields.find((x) => x.name === f)!.offset;
    const mmioData = o.spec.codec.get("kvm_run_mmio").fields.find((x) => x.name === "data")!.offset;
    const hypercallRet = o.spec.codec.get("kvm_run_hypercall").fields.find((x) => x.name === "ret")!.offset;
    this.runLayout = { exitReason: offsetOf("exit_reason"), immediateExit: offsetOf("immediate_exit"), mmioData: offsetOf("mmio") + mmioData, hypercallRet: offsetOf("hypercall") + hypercallRet, size: run.size };
    this.ioDirection = { IN: o.spec.constant("KVM_EXIT_IO_IN", o.profile), OUT: o.spec.constant("KVM_EXIT_IO_OUT", o.profile) };
  }

  private request(name: string): number {
    const def = this.o.spec.ioctl(name, this.o.profile);
    if (!def) throw new DriverFailure("unsupported", `${name} is not defined in profile ${this.o.profile}; the driver needs it to run guest code`);
    return def.request;
  }

  // ---- bookkeeping ---------------------------------------------------------

  trackVm(fd: number): void {
    this.vms.set(fd, { fds: new Set([fd]), installed: false, memslots: new Map() });
  }

  /** A memslot request on a VM fd that the kernel accepted: memory_size 0 deleted the slot. */
  noteMemslot(vmFd: number, slot: bigint, userspaceAddr: bigint, size: bigint): void {
    const vm = this.vms.get(vmFd);
    if (!vm) return;
    if (size === 0n) vm.memslots.delete(slot);
    else vm.memslots.set(slot, { slot, userspaceAddr, size });
  }

  /** Every memslot the case created in any VM the runner knows. */
  private allMemslots(): CaseMemslot[] {
    const vms = new Set([...this.vms.values(), ...[...this.vcpus.values()].map((v) => v.vm)]);
    return [...vms].flatMap((vm) => [...vm.memslots.values()]);
  }

  trackVcpu(fd: number, vmFd: number): void {
    const vm = this.vms.get(vmFd);
    if (!vm) return;
    this.vcpus.set(fd, { fds: new Set([fd]), vm, cpuid: "unset", ran: false });
  }

  /** A dup of a VM or vCPU fd names the same object. */
  trackDup(newFd: number, oldFd: number): void {
    const vcpu = this.vcpus.get(oldFd);
    if (vcpu) {
      vcpu.fds.add(newFd);
      this.vcpus.set(newFd, vcpu);
    }
    const vm = this.vms.get(oldFd);
    if (vm) {
      vm.fds.add(newFd);
      this.vms.set(newFd, vm);
    }
  }

  /** The case closed fd: drop the driver's kvm_run mapping with the last fd of a vCPU so the vCPU can go away. */
  forgetFd(fd: number): void {
    const vcpu = this.vcpus.get(fd);
    if (vcpu) {
      vcpu.fds.delete(fd);
      this.vcpus.delete(fd);
      if (vcpu.fds.size === 0 && vcpu.run !== undefined) {
        this.unmap(vcpu.run);
        vcpu.run = undefined;
      }
    }
    const vm = this.vms.get(fd);
    if (vm) {
      vm.fds.delete(fd);
      this.vms.delete(fd);
    }
  }

  /**
   * Unmap everything the driver mapped for guests (the fds are closed by the
   * session), whether or not the case still holds an fd of its VM or vCPU.
   */
  releaseAll(): void {
    for (const addr of [...this.mapped.keys()]) this.unmap(addr);
    this.vcpus.clear();
    this.vms.clear();
  }

  /** The mappings the runner holds now (code regions and kvm_run), for tests. */
  mappings(): { start: bigint; end: bigint }[] {
    return [...this.mapped].map(([start, len]) => ({ start, end: start + len }));
  }

  private unmap(addr: bigint): void {
    const len = this.mapped.get(addr);
    if (len === undefined) return;
    libc.munmap(addr, len);
    this.mapped.delete(addr);
  }

  /**
   * mmap for the driver's own use, never inside the host range of a case memslot
   * (a guest write there would land in the driver's mapping): a mapping that
   * lands there is kept until one lands elsewhere, then dropped.
   */
  private mapOwn(len: bigint, map: () => libc.Sys, what: string): bigint {
    const slots = this.allMemslots();
    const inSlot = (a: bigint) => slots.some((s) => a < s.userspaceAddr + s.size && s.userspaceAddr < a + len);
    const rejected: bigint[] = [];
    try {
      for (let attempt = 0; attempt < 16; attempt++) {
        const m = map();
        if (m.ret < 0n) throw new DriverFailure("internal", `${what} failed: ${this.o.spec.errnoName(m.errno)}`);
        if (!inSlot(m.ret)) {
          this.mapped.set(m.ret, len);
          return m.ret;
        }
        rejected.push(m.ret);
      }
      throw new DriverFailure("unsupported", `${what}: every address the kernel offered lies inside the host memory of a case memslot`);
    } finally {
      for (const r of rejected) libc.munmap(r, len);
    }
  }

  /** releaseAll() and stop the watchdog timer for good (a runner used only for probing). */
  dispose(): void {
    this.releaseAll();
    this.watchdog?.delete();
    this.watchdog = undefined;
  }

  // ---- set-up --------------------------------------------------------------

  private mapRun(vcpu: VcpuState, fd: number): bigint {
    if (vcpu.run !== undefined) return vcpu.run;
    if (this.runSize === 0) {
      const r = libc.ioctlValue(BigInt(this.o.systemFd), this.request("KVM_GET_VCPU_MMAP_SIZE"), 0n);
      if (r.ret < 0n) throw new DriverFailure("internal", `KVM_GET_VCPU_MMAP_SIZE failed: ${this.o.spec.errnoName(r.errno)}`);
      this.runSize = Number(r.ret);
    }
    const size = BigInt(this.runSize);
    vcpu.run = this.mapOwn(size, () => libc.mmap(0n, size, PROT_RW, MAP_SHARED, BigInt(fd), 0n), "mmap of kvm_run");
    return vcpu.run;
  }

  /** KVM_SET_CPUID2 with what KVM supports, once, before the vCPU first runs (MAXPHYADDR, PAE and LM come from it). */
  private setCpuid(vcpu: VcpuState, fd: number): void {
    if (vcpu.cpuid !== "unset") return;
    const cpuid = this.supportedCpuidBuffer();
    const r = cpuid ? libc.ioctlBuffer(BigInt(fd), this.request("KVM_SET_CPUID2"), Buffer.from(cpuid)) : { ret: -1n, errno: 0 };
    vcpu.cpuid = r.ret === 0n ? "set" : "failed";
  }

  private supportedCpuidBuffer(): Buffer | undefined {
    if (this.supportedCpuid) return this.supportedCpuid;
    const codec = this.o.spec.codec;
    const header = codec.get("kvm_cpuid2").size;
    const buf = Buffer.alloc(header + Number(KVM_MAX_CPUID_ENTRIES) * codec.get("kvm_cpuid_entry2").size);
    Buffer.from(codec.encode("kvm_cpuid2", { nent: KVM_MAX_CPUID_ENTRIES })).copy(buf, 0);
    const r = libc.ioctlBuffer(BigInt(this.o.systemFd), this.request("KVM_GET_SUPPORTED_CPUID"), buf);
    if (r.ret < 0n) return undefined;
    this.supportedCpuid = buf;
    return buf;
  }

  /** The CPU vendor KVM reports in CPUID leaf 0: it decides which hypercall instruction is native. */
  vendor(): Vendor {
    const buf = this.supportedCpuidBuffer();
    if (!buf) return "intel";
    const codec = this.o.spec.codec;
    const header = codec.get("kvm_cpuid2").size;
    const entry = codec.get("kvm_cpuid_entry2").size;
    const nent = Number(codec.decode("kvm_cpuid2", buf).nent as bigint);
    for (let i = 0; i < nent; i++) {
      const e = codec.decode("kvm_cpuid_entry2", buf, header + i * entry);
      if (e.function === 0n) return e.ebx === 0x68747541n ? "amd" : "intel"; // "Auth"
    }
    return "intel";
  }

  private installRegion(vm: VmState): bigint {
    if (vm.installed && vm.region !== undefined) return vm.region;
    const vmFd = [...vm.fds][0];
    if (vmFd === undefined) throw new DriverFailure("unsupported", "the driver installs its code memslot through the VM fd, and the case has closed it");
    if (vm.region === undefined) vm.region = this.mapCodeRegion();
    const def = this.o.spec.ioctl("KVM_SET_USER_MEMORY_REGION", this.o.profile);
    if (!def || def.arg === null || def.arg === "value" || def.arg === "u64") throw new DriverFailure("unsupported", `KVM_SET_USER_MEMORY_REGION is not usable in profile ${this.o.profile}`);
    const arg = this.o.spec.codec.encode(def.arg, { slot: DRIVER_SLOT, guest_phys_addr: DRIVER_GPA, memory_size: DRIVER_REGION_SIZE, userspace_addr: vm.region });
    const r = libc.ioctlBuffer(BigInt(vmFd), def.request, Buffer.from(arg));
    if (r.ret < 0n) throw new DriverFailure("unsupported", `the driver's code memslot (slot ${DRIVER_SLOT} at 0x${DRIVER_GPA.toString(16)}) could not be added: ${this.o.spec.errnoName(r.errno)}`);
    vm.installed = true;
    return vm.region;
  }

  /**
   * The 64 KiB a VM's guest programs run from: a shared mapping of a memfd named
   * CODE_REGION_NAME (closed at once; the mapping keeps it), so the region is
   * recognisable in /proc/<pid>/maps and never merges with a neighbour.
   */
  private mapCodeRegion(): bigint {
    const size = BigInt(DRIVER_REGION_SIZE);
    const memfd = libc.memfdCreate(CODE_REGION_NAME, MFD_CLOEXEC);
    if (memfd.ret < 0n) throw new DriverFailure("internal", `memfd_create for the guest code region failed: ${this.o.spec.errnoName(memfd.errno)}`);
    try {
      const t = libc.ftruncate(memfd.ret, size);
      if (t.ret < 0n) throw new DriverFailure("internal", `ftruncate of the guest code region failed: ${this.o.spec.errnoName(t.errno)}`);
      return this.mapOwn(size, () => libc.mmap(0n, size, PROT_RW, MAP_SHARED, memfd.ret, 0n), "mmap of the guest code region");
    } finally {
      libc.close(memfd.ret);
    }
  }

  // ---- running -------------------------------------------------------------

  /** A budget of `cpuMs` of the thread's CPU time (capped in wall time), or with `cpuMs` undefined a slice of `wallMs`. */
  private armWatchdog(cpuMs: number | undefined, wallMs: number): Watchdog {
    if (!this.watchdog) {
      if (process.listenerCount(WATCHDOG_SIGNAL_NAME) === 0) process.on(WATCHDOG_SIGNAL_NAME, () => {});
      this.watchdog = Watchdog.create(WATCHDOG_SIGNAL);
    }
    this.watchdog.arm(cpuMs, wallMs);
    return this.watchdog;
  }

  /**
   * KVM_RUN once under the watchdog (a budget of timeoutMs, or a wall-time slice of
   * sliceMs); exit_reason is cleared first so a stale reason is never reported.
   */
  private kvmRun(fd: number, run: bigint | undefined, arg = 0n, timeoutMs = this.o.timeoutMs, sliceMs?: number): { ret: bigint; errno: number } {
    if (run !== undefined) libc.copyToAddress(run + BigInt(this.runLayout.exitReason), new Uint8Array(4));
    const watchdog = sliceMs === undefined ? this.armWatchdog(timeoutMs, timeoutMs * WALL_CAP_FACTOR) : this.armWatchdog(undefined, sliceMs);
    try {
      return libc.ioctlValue(BigInt(fd), this.request("KVM_RUN"), arg);
    } finally {
      watchdog.disarm();
    }
  }

  /**
   * KVM_RUN of a loaded program. On a host where hypercalls stall (Q4) a program with
   * hypercalls runs in slices: an interrupted slice that left the vCPU on a hypercall
   * instruction ends the run there, with the same outcome (EINTR, KVM_EXIT_INTR) the full
   * watchdog would give, since the guest makes no progress past it; otherwise the guest
   * goes on until the program's time is up.
   */
  private kvmRunProgram(fd: number, run: bigint, program: GuestProgram, timeoutMs = this.o.timeoutMs): { ret: bigint; errno: number } {
    const rips = this.o.hypercallsStall ? program.hypercallRips : undefined;
    if (rips === undefined || rips.length === 0) return this.kvmRun(fd, run, 0n, timeoutMs);
    // the budget in the thread's CPU time, as the watchdog counts it, capped in wall time
    const cpuEnd = libc.threadCpuMs() + timeoutMs;
    const wallEnd = performance.now() + timeoutMs * WALL_CAP_FACTOR;
    for (;;) {
      const r = this.kvmRun(fd, run, 0n, timeoutMs, STALL_SLICE_MS);
      if (r.ret >= 0n || this.o.spec.errnoName(r.errno) !== "EINTR") return r;
      if (rips.includes(this.getRegister(fd, "rip"))) return r;
      if (libc.threadCpuMs() >= cpuEnd || performance.now() >= wallEnd) return r;
    }
  }

  private guard(vcpu: VcpuState | undefined): void {
    if (vcpu && this.o.guard) this.o.guard([...vcpu.vm.memslots.values()]);
  }

  /** The guard, for another request that makes the vCPU fault guest memory in (KVM_PRE_FAULT_MEMORY). */
  guardVcpu(fd: number): void {
    this.guard(this.vcpus.get(fd));
  }

  /** Complete whatever exit the last run left pending (MMIO, I/O, hypercall) without running the guest. */
  private settle(vcpu: VcpuState, fd: number, run: bigint): void {
    if (!vcpu.ran) return;
    const at = run + BigInt(this.runLayout.immediateExit);
    libc.copyToAddress(at, Uint8Array.of(1));
    try {
      this.kvmRun(fd, run);
    } finally {
      libc.copyToAddress(at, Uint8Array.of(0));
    }
  }

  /**
   * A KVM_RUN the case issued itself. With argument 0 it runs under the watchdog
   * and the exit is decoded when kvm_run is mapped. KVM refuses any other argument
   * (EINVAL) before running: it is passed through, and there is no exit to report
   * (the watchdog is armed all the same, in case a kernel ran the vCPU anyway).
   */
  rawRun(fd: number, arg = 0n): RunOutcome {
    const vcpu = this.vcpus.get(fd);
    if (arg !== 0n) {
      const r = this.kvmRun(fd, undefined, arg);
      return { ret: r.ret, ...(r.ret < 0n ? { errno: this.o.spec.errnoName(r.errno) } : {}) };
    }
    this.guard(vcpu);
    const run = vcpu ? this.mapRun(vcpu, fd) : undefined;
    const r = this.kvmRun(fd, run);
    if (vcpu) vcpu.ran = true;
    const base = { ret: r.ret, ...(r.ret < 0n ? { errno: this.o.spec.errnoName(r.errno) } : {}) };
    if (run === undefined) return base;
    const exit = this.decodeExit(run);
    // the case ran the loaded program on: what a later resume completes is this exit
    if (vcpu) vcpu.lastExit = exit;
    return { ...base, exit };
  }

  /**
   * Run a program under the watchdog: `timeoutMs` (default: the runner's) bounds
   * this one program, e.g. a hypercall on a host where the probe saw hypercalls
   * never complete.
   */
  run(fd: number, program: GuestProgram, timeoutMs = this.o.timeoutMs): RunOutcome {
    const vcpu = this.vcpus.get(fd);
    if (!vcpu) return this.rawRun(fd);
    this.guard(vcpu);
    const run = this.mapRun(vcpu, fd);
    if (!vcpu.ran) this.setCpuid(vcpu, fd);
    const region = this.installRegion(vcpu.vm);
    this.settle(vcpu, fd, run);
    libc.copyToAddress(region, program.image);
    this.setRegisters(fd, program);
    const r = this.kvmRunProgram(fd, run, program, timeoutMs);
    vcpu.ran = true;
    vcpu.loaded = program;
    return this.outcome(fd, vcpu, run, region, r);
  }

  /**
   * KVM_RUN again on the guest_program the vCPU ran last, loading nothing: what its
   * last exit left pending is completed by KVM first. For an IN or an MMIO read the
   * value comes from kvm_run, where `data` (default zeros) is put first.
   */
  resume(fd: number, data: Uint8Array | undefined): RunOutcome {
    const vcpu = this.vcpus.get(fd);
    if (!vcpu?.loaded?.steps || vcpu.run === undefined || vcpu.vm.region === undefined)
      throw new DriverFailure("unsupported", "resume: the vCPU has no guest_program loaded (resume continues a guest_program after an exit)");
    this.guard(vcpu);
    this.fillPendingRead(vcpu.run, vcpu.lastExit, data);
    const r = this.kvmRunProgram(fd, vcpu.run, vcpu.loaded, vcpu.loaded.timeoutMs);
    return this.outcome(fd, vcpu, vcpu.run, vcpu.vm.region, r);
  }

  /** Put what an IN (at io.data_offset), an MMIO read (mmio.data) or a hypercall (hypercall.ret) returns into kvm_run. */
  private fillPendingRead(run: bigint, exit: ExitInfo | undefined, data: Uint8Array | undefined): void {
    const io = exit?.reason === "KVM_EXIT_IO" ? (exit.io as { [k: string]: bigint }) : undefined;
    const mmio = exit?.reason === "KVM_EXIT_MMIO" ? (exit.mmio as { [k: string]: bigint }) : undefined;
    let at: bigint, len: number;
    if (io !== undefined && io.direction === this.ioDirection.IN) [at, len] = [run + io.data_offset!, Number(io.size! * io.count!)];
    else if (mmio !== undefined && mmio.is_write === 0n) [at, len] = [run + BigInt(this.runLayout.mmioData), Number(mmio.len!)];
    else if (exit?.reason === "KVM_EXIT_HYPERCALL") [at, len] = [run + BigInt(this.runLayout.hypercallRet), 8];
    else {
      if (data !== undefined) throw new DriverFailure("protocol", "resume: data completes a pending IN, MMIO read or hypercall, and none is pending");
      return;
    }
    if (data !== undefined && data.length !== len) throw new DriverFailure("protocol", `resume: the pending read takes ${len} bytes, not ${data.length}`);
    if (at + BigInt(len) > run + BigInt(this.runSize)) throw new DriverFailure("internal", "resume: the pending read's data lies outside the kvm_run mapping");
    libc.copyToAddress(at, data ?? new Uint8Array(len));
  }

  /** What a run of `vcpu.loaded` reported: the exit, and the program's results. */
  private outcome(fd: number, vcpu: VcpuState, run: bigint, region: bigint, r: { ret: bigint; errno: number }): RunOutcome {
    const program = vcpu.loaded!;
    const exit = this.decodeExit(run);
    vcpu.lastExit = exit;
    const outcome: RunOutcome = { ret: r.ret, exit, ...(r.ret < 0n ? { errno: this.o.spec.errnoName(r.errno) } : {}) };
    const halted = r.ret === 0n && exit.reason === "KVM_EXIT_HLT";
    if (program.steps) outcome.out = stepsOut(program.steps, halted, (offset, len) => new Uint8Array(libc.copyFromAddress(region + BigInt(offset), len)));
    else if (halted && program.result) {
      const res = program.result;
      const bytes = "register" in res ? toBytes(this.getRegister(fd, res.register), res.len) : libc.copyFromAddress(region + BigInt(res.scratchOffset), res.len);
      outcome.out = { data: new Uint8Array(bytes) };
    }
    return outcome;
  }

  private setRegisters(fd: number, program: GuestProgram): void {
    const codec = this.o.spec.codec;
    const sregsBuf = Buffer.alloc(codec.get("kvm_sregs").size);
    const got = libc.ioctlBuffer(BigInt(fd), this.request("KVM_GET_SREGS"), sregsBuf);
    if (got.ret < 0n) throw new DriverFailure("internal", `KVM_GET_SREGS failed: ${this.o.spec.errnoName(got.errno)}`);
    const current = codec.decode("kvm_sregs", sregsBuf) as FieldMap;
    const sregs = Buffer.from(codec.encode("kvm_sregs", { ...current, ...(program.sregs as unknown as FieldMap) }));
    const s = libc.ioctlBuffer(BigInt(fd), this.request("KVM_SET_SREGS"), sregs);
    if (s.ret < 0n) throw new DriverFailure("internal", `KVM_SET_SREGS (${program.mode} mode) failed: ${this.o.spec.errnoName(s.errno)}`);
    const regs = Buffer.from(codec.encode("kvm_regs", program.regs));
    const g = libc.ioctlBuffer(BigInt(fd), this.request("KVM_SET_REGS"), regs);
    if (g.ret < 0n) throw new DriverFailure("internal", `KVM_SET_REGS failed: ${this.o.spec.errnoName(g.errno)}`);
  }

  private getRegister(fd: number, name: string): bigint {
    const codec = this.o.spec.codec;
    const buf = Buffer.alloc(codec.get("kvm_regs").size);
    const r = libc.ioctlBuffer(BigInt(fd), this.request("KVM_GET_REGS"), buf);
    if (r.ret < 0n) throw new DriverFailure("internal", `KVM_GET_REGS failed: ${this.o.spec.errnoName(r.errno)}`);
    return codec.decode("kvm_regs", buf)[name] as bigint;
  }

  /** The exit in kvm_run; an OUT's bytes are read from io.data_offset (the page after kvm_run proper on x86). */
  private decodeExit(run: bigint): ExitInfo {
    const exit = this.exits.decode(libc.copyFromAddress(run, this.runLayout.size));
    const io = exit.reason === "KVM_EXIT_IO" ? (exit.io as { [k: string]: bigint }) : undefined;
    if (io !== undefined && io.direction === this.ioDirection.OUT) {
      const len = io.size! * io.count!;
      if (io.data_offset! + len <= BigInt(this.runSize)) (exit.io as { [k: string]: OutValue }).data = new Uint8Array(libc.copyFromAddress(run + io.data_offset!, Number(len)));
    }
    return exit;
  }
}
