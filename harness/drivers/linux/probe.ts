// What this kernel offers, found the way spec/features.json says: capabilities at
// system scope, VM types, flags, and guest programs that must really halt.
import { readFileSync, readlinkSync, readdirSync } from "node:fs";
import { machine, release, version } from "node:os";
import type { ProfileName, Spec } from "../../../spec/index.js";
import { isProfileName } from "../../../spec/profiles.js";
import type { HostFacts } from "../../../spec/driver/contract.js";
import { accessProgram, DRIVER_SLOT, haltProgram, hypercallProgram, FOUR_GIB } from "./guest-code.js";
import * as libc from "./libc.js";
import { probeMmFeatures } from "./mm-ops.js";
import { GUEST_MEMFD_FLAG_INIT_SHARED, GUEST_MEMFD_FLAG_MMAP, KVM_HC_MAP_GPA_RANGE, KVM_MEMORY_ATTRIBUTE_PRIVATE, MAP_PRIVATE_ANONYMOUS, PROT_RW } from "./uapi.js";
import { GuestRunner, type RunOutcome } from "./vcpu.js";

/** The capabilities whose raw values the handshake reports as host facts. */
const REPORTED_CAPS = [
  "KVM_CAP_USER_MEMORY2",
  "KVM_CAP_GUEST_MEMFD",
  "KVM_CAP_GUEST_MEMFD_FLAGS",
  "KVM_CAP_MEMORY_ATTRIBUTES",
  "KVM_CAP_MEMORY_FAULT_INFO",
  "KVM_CAP_PRE_FAULT_MEMORY",
  "KVM_CAP_VM_TYPES",
  "KVM_CAP_READONLY_MEM",
  "KVM_CAP_MULTI_ADDRESS_SPACE",
  "KVM_CAP_EXIT_HYPERCALL",
  "KVM_CAP_NR_MEMSLOTS",
  "KVM_CAP_NR_VCPUS",
  "KVM_CAP_PRIVATE_MEM",
  "KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES",
];

const VM_TYPE_FEATURES: [string, string][] = [
  ["KVM_X86_DEFAULT_VM", "vm-type:default"],
  ["KVM_X86_SW_PROTECTED_VM", "vm-type:sw-protected"],
  ["KVM_X86_SEV_VM", "vm-type:sev"],
  ["KVM_X86_SEV_ES_VM", "vm-type:sev-es"],
  ["KVM_X86_SNP_VM", "vm-type:snp"],
  ["KVM_X86_TDX_VM", "vm-type:tdx"],
];

function versionOf(text: string): number[] {
  return (/(\d+)\.(\d+)/.exec(text) ?? ["", "0", "0"]).slice(1, 3).map(Number);
}

/**
 * The uAPI revision whose documented behaviour applies: the newest "release"
 * profile whose version is not newer than the running kernel. This is the only
 * place a kernel version is used, and only to choose which rules to expect;
 * every feature is still probed.
 */
export function defaultProfile(spec: Spec, kernelRelease: string): ProfileName {
  const [major, minor] = versionOf(kernelRelease) as [number, number];
  let best: { name: ProfileName; v: number[] } | undefined;
  for (const p of spec.profiles) {
    if (p.kind !== "release") continue;
    const v = versionOf(p.name) as [number, number];
    const notNewer = v[0] < major || (v[0] === major && v[1] <= minor);
    if (notNewer && (!best || v[0] > best.v[0]! || (v[0] === best.v[0] && v[1] > best.v[1]!))) best = { name: p.name, v };
  }
  if (!best) throw new Error(`no release profile is as old as kernel ${kernelRelease}`);
  return best.name;
}

export function parseProfileOption(value: string | undefined, spec: Spec): ProfileName {
  if (value === undefined) return defaultProfile(spec, release());
  if (!isProfileName(value)) throw new Error(`unknown profile ${value}`);
  return value;
}

export interface ProbeResult {
  features: string[];
  host: HostFacts;
  /** true when a hypercall program never completed within HYPERCALL_PROBE_MS (quirk Q4): the driver bounds hypercall programs by HYPERCALL_BOUND_MS */
  hypercallsHang: boolean;
}

/** How long (the thread's CPU time, watchdog.ts) the probe lets its hypercall program run: a hypercall that completes takes microseconds. */
export const HYPERCALL_PROBE_MS = 10;
/**
 * The watchdog for hypercall programs on a host whose probe saw a hypercall never
 * complete (Q4): the guest makes no progress, so the outcome (EINTR,
 * KVM_EXIT_INTR) is the same as with the full guest timeout, only sooner.
 */
export const HYPERCALL_BOUND_MS = 20;

type GuestProbe = { low: boolean; high: boolean; detail: string; hypercall: string; hypercallsHang: boolean };

export class Prober {
  private readonly caps = new Map<string, bigint>();

  constructor(
    private readonly spec: Spec,
    private readonly profile: ProfileName,
    private readonly systemFd: number,
  ) {}

  private req(name: string): number | undefined {
    return this.spec.ioctl(name, this.profile)?.request;
  }

  /** KVM_CHECK_EXTENSION at system scope; undefined where the profile has no such capability. */
  cap(name: string): bigint | undefined {
    if (this.caps.has(name)) return this.caps.get(name);
    const number = this.spec.constant(name, this.profile);
    const request = this.req("KVM_CHECK_EXTENSION");
    if (number === undefined || request === undefined) return undefined;
    const r = libc.ioctlValue(BigInt(this.systemFd), request, number);
    const value = r.ret < 0n ? 0n : r.ret;
    this.caps.set(name, value);
    return value;
  }

  /** Whether the capability's value has every bit of `mask` (a flag value from spec/). */
  private has(name: string, mask: bigint): boolean {
    const v = this.cap(name);
    return v !== undefined && (v & mask) === mask;
  }

  private positive(name: string): boolean {
    return (this.cap(name) ?? 0n) > 0n;
  }

  /** Create a VM of the given type; the caller closes it. */
  private createVm(type: bigint): number | undefined {
    const request = this.req("KVM_CREATE_VM");
    if (request === undefined) return undefined;
    const r = libc.ioctlValue(BigInt(this.systemFd), request, type);
    return r.ret < 0n ? undefined : Number(r.ret);
  }

  private vmTypes(): string[] {
    const found: string[] = [];
    const types = this.cap("KVM_CAP_VM_TYPES") ?? 0n;
    for (const [constant, feature] of VM_TYPE_FEATURES) {
      const type = this.spec.constant(constant, this.profile);
      if (type !== undefined && ((types >> type) & 1n) === 1n) found.push(feature);
    }
    // Without KVM_CAP_VM_TYPES the default type is probed by creating it.
    if (types === 0n) {
      const vm = this.createVm(0n);
      if (vm !== undefined) {
        found.push("vm-type:default");
        libc.close(BigInt(vm));
      }
    }
    return found;
  }

  /** KVM_PRE_FAULT_MEMORY on a vCPU with size 0: anything but ENOTTY means the request is known. */
  private preFaultIoctl(): boolean {
    const request = this.req("KVM_PRE_FAULT_MEMORY");
    const createVcpu = this.req("KVM_CREATE_VCPU");
    if (request === undefined || createVcpu === undefined) return false;
    const vm = this.createVm(0n);
    if (vm === undefined) return false;
    try {
      const vcpu = libc.ioctlValue(BigInt(vm), createVcpu, 0n);
      if (vcpu.ret < 0n) return false;
      const arg = Buffer.from(this.spec.codec.encode("kvm_pre_fault_memory", { gpa: 0, size: 0 }));
      const r = libc.ioctlBuffer(vcpu.ret, request, arg);
      libc.close(vcpu.ret);
      return !(r.ret < 0n && this.spec.errnoName(r.errno) === "ENOTTY");
    } finally {
      libc.close(BigInt(vm));
    }
  }

  /** memfd_restricted exists only where the profile names its syscall; a real one returns a new fd. */
  private restrictedmem(): boolean {
    const nr = this.spec.constant("SYS_memfd_restricted", this.profile);
    if (nr === undefined) return false;
    const r = libc.syscall1(nr, 0n);
    if (r.ret <= 0n) return false;
    let link = "";
    try {
      link = readlinkSync(`/proc/self/fd/${r.ret}`);
    } catch {
      /* not an fd: some other system call has this number */
    }
    if (link !== "") libc.close(r.ret);
    return link.includes("restricted");
  }

  /** Run a program that halts (and, for high GPAs, reads a value through a memslot at 4 GiB). */
  private guestRuns(timeoutMs: number): GuestProbe {
    const none = { hypercall: "not run", hypercallsHang: false };
    const vm = this.createVm(0n);
    const createVcpu = this.req("KVM_CREATE_VCPU");
    if (vm === undefined || createVcpu === undefined) return { low: false, high: false, detail: "cannot create a VM", ...none };
    const runner = new GuestRunner({ spec: this.spec, profile: this.profile, systemFd: this.systemFd, timeoutMs });
    const pageSize = BigInt(libc.pageSize());
    const fds: bigint[] = [BigInt(vm)];
    let mem: bigint | undefined;
    try {
      runner.trackVm(vm);
      const vcpu = libc.ioctlValue(BigInt(vm), createVcpu, 0n);
      if (vcpu.ret < 0n) return { low: false, high: false, detail: `KVM_CREATE_VCPU: ${this.spec.errnoName(vcpu.errno)}`, ...none };
      fds.push(vcpu.ret);
      runner.trackVcpu(Number(vcpu.ret), vm);
      const halted = (r: RunOutcome) => r.ret === 0n && r.exit?.reason === "KVM_EXIT_HLT";
      const low = halted(runner.run(Number(vcpu.ret), haltProgram("real")));
      const page = libc.mmap(0n, pageSize, PROT_RW, MAP_PRIVATE_ANONYMOUS, -1n, 0n);
      if (page.ret < 0n) return { low, high: false, detail: "mmap failed", ...none };
      mem = page.ret;
      libc.copyToAddress(mem, Uint8Array.of(0xa5));
      const region = this.spec.ioctl("KVM_SET_USER_MEMORY_REGION", this.profile);
      const slot = Buffer.from(this.spec.codec.encode("kvm_userspace_memory_region", { slot: DRIVER_SLOT + 1, guest_phys_addr: FOUR_GIB, memory_size: pageSize, userspace_addr: mem }));
      const added = region ? libc.ioctlBuffer(BigInt(vm), region.request, slot) : { ret: -1n, errno: 0 };
      const read = added.ret === 0n ? runner.run(Number(vcpu.ret), accessProgram(FOUR_GIB, "read", 1)) : undefined;
      const high = read !== undefined && halted(read) && (read.out?.data as Uint8Array | undefined)?.[0] === 0xa5;
      // Q4: KVM_HC_MAP_GPA_RANGE without KVM_CAP_EXIT_HYPERCALL enabled returns -KVM_ENOSYS
      // to the guest and halts at once on mainline; on some hosts the vCPU never gets past it.
      let hypercall = "not run (no long-mode guest)";
      let hypercallsHang = false;
      if (high) {
        const h = runner.run(Number(vcpu.ret), hypercallProgram(KVM_HC_MAP_GPA_RANGE, [0n, 0n, 0n], runner.vendor()), HYPERCALL_PROBE_MS);
        hypercallsHang = h.ret < 0n && h.errno === "EINTR" && h.exit?.reason === "KVM_EXIT_INTR";
        hypercall = hypercallsHang
          ? `KVM_HC_MAP_GPA_RANGE did not complete within ${HYPERCALL_PROBE_MS} ms (EINTR, KVM_EXIT_INTR): hypercall programs are bounded by ${HYPERCALL_BOUND_MS} ms`
          : `KVM_HC_MAP_GPA_RANGE: ${h.exit?.reason ?? h.errno ?? "no exit"}`;
      }
      return { low, high, detail: `real-mode halt: ${low ? "KVM_EXIT_HLT" : "failed"}; long-mode read at 4 GiB: ${read?.exit?.reason ?? read?.errno ?? "not run"}`, hypercall, hypercallsHang };
    } catch (err) {
      return { low: false, high: false, detail: err instanceof Error ? err.message : String(err), ...none };
    } finally {
      runner.dispose();
      for (const fd of fds.reverse()) libc.close(fd);
      if (mem !== undefined) libc.munmap(mem, pageSize);
    }
  }

  probe(timeoutMs: number): ProbeResult {
    const features = ["kvm"];
    const add = (cond: boolean, name: string) => cond && features.push(name);
    add(this.positive("KVM_CAP_USER_MEMORY2"), "user-memory2");
    add(this.positive("KVM_CAP_GUEST_MEMFD"), "guest-memfd");
    add(this.has("KVM_CAP_GUEST_MEMFD_FLAGS", GUEST_MEMFD_FLAG_MMAP), "gmem-flag:mmap");
    add(this.has("KVM_CAP_GUEST_MEMFD_FLAGS", GUEST_MEMFD_FLAG_INIT_SHARED), "gmem-flag:init-shared");
    add(this.has("KVM_CAP_MEMORY_ATTRIBUTES", KVM_MEMORY_ATTRIBUTE_PRIVATE), "memory-attributes");
    add(this.positive("KVM_CAP_MEMORY_FAULT_INFO"), "memory-fault-info");
    add(this.positive("KVM_CAP_PRE_FAULT_MEMORY"), "pre-fault-memory");
    add(this.preFaultIoctl(), "pre-fault-ioctl");
    add(this.positive("KVM_CAP_READONLY_MEM"), "readonly-mem");
    add((this.cap("KVM_CAP_MULTI_ADDRESS_SPACE") ?? 0n) > 1n, "multi-address-space");
    add(this.has("KVM_CAP_EXIT_HYPERCALL", 1n << KVM_HC_MAP_GPA_RANGE), "exit-hypercall");
    features.push(...this.vmTypes());
    const guest = this.guestRuns(timeoutMs);
    add(guest.low, "guest-run");
    add(guest.high, "guest-run:high-gpa");
    add(this.restrictedmem(), "restrictedmem");
    features.push(...probeMmFeatures());
    // Not offered: process:fork (Node cannot fork), memory-failure (MADV_HWPOISON
    // would poison real host pages), fault-injection (only a model can do it).

    const capabilities: Record<string, number | string> = {};
    for (const name of REPORTED_CAPS) {
      const v = this.cap(name);
      if (v !== undefined) capabilities[name] = Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    }
    const host: HostFacts = {
      kernel: release(),
      // uname -v: the build's own stamp, beside the release string that names it
      build: version(),
      arch: machine(),
      pageSize: libc.pageSize(),
      capabilities,
      kvmModules: kvmModules(),
      cpu: cpuModel(),
      guestProbe: guest.detail,
      hypercallProbe: guest.hypercall,
    };
    return { features, host, hypercallsHang: guest.hypercallsHang };
  }
}

/** Which KVM modules are loaded (e.g. kvm_intel, kvm_amd, kvm_pvm): a fact that explains host quirks. */
function kvmModules(): string[] {
  try {
    return readdirSync("/sys/module").filter((m) => m === "kvm" || m.startsWith("kvm_")).sort();
  } catch {
    return [];
  }
}

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}
