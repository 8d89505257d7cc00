// Runs abstract steps on one driver: resolves the objects a step names (by index) to this
// driver's fds and addresses, issues the operation and reduces the result to what two
// drivers must agree on (fd numbers and addresses are each driver's own).
import type { Driver, Op, OpResult, ResetReport } from "../../spec/driver/contract.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import type { ProfileName, Spec } from "../../spec/index.js";
import { GPA_BASE, type Step } from "./vocab.js";

/** What a step did, as two drivers are compared: handles and addresses left out. */
export interface Outcome {
  ok: boolean;
  ret?: string;
  errno?: string;
  signal?: string;
  exit?: string;
  data?: string;
  out?: string;
}

/** A driver that also answers synchronously (the in-process reference): no promise per step. */
export interface SyncDriver extends Driver {
  callSync(op: Op): OpResult;
  resetSync(): ResetReport;
}

export function isSync(d: Driver): d is SyncDriver {
  const s = d as Partial<SyncDriver>;
  return typeof s.callSync === "function" && typeof s.resetSync === "function";
}

/** Step kinds whose return value is an fd or an address: each driver's own, never compared. */
const HANDLE_KINDS: ReadonlySet<string> = new Set(["vm", "gmem", "anon", "mapGmem", "vcpu"]);

export type StepResult = { kind: "done"; op: Op | null; outcome: Outcome } | { kind: "unsupported"; op: Op; why: string };

interface Objects {
  vms: bigint[];
  gmems: { fd: bigint; pages: number }[];
  maps: { addr: bigint; pages: number }[];
  vcpus: bigint[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

export class Executor {
  private objs: Objects = { vms: [], gmems: [], maps: [], vcpus: [] };
  private kvm: bigint | undefined;
  readonly page: bigint;

  constructor(
    readonly driver: Driver,
    private readonly spec: Spec,
  ) {
    this.page = BigInt(driver.handshake.host.pageSize);
  }

  get profile(): ProfileName {
    return this.driver.handshake.profile;
  }

  private readonly constants = new Map<string, bigint>();

  /** A constant of this driver's profile; a flag a newer revision added keeps its bit in older ones (where it is refused). */
  c(name: string): bigint {
    const known = this.constants.get(name);
    if (known !== undefined) return known;
    const v = this.spec.constant(name, this.profile) ?? this.spec.constant(name, "linux-7.2");
    if (v === undefined) throw new Error(`fuzz: constant ${name} is not defined in ${this.profile}`);
    this.constants.set(name, v);
    return v;
  }

  private readonly openKvm = (): Op => ({ op: "open", path: "/dev/kvm", flags: this.c("O_RDWR") });

  private opened(r: OpResult): void {
    if (r.ret < 0n) throw new Error(`fuzz: ${this.driver.handshake.name} cannot open /dev/kvm (${r.errno})`);
    this.kvm = r.ret;
  }

  /** A new sequence: the driver releases everything, and /dev/kvm is opened again. */
  async restart(): Promise<void> {
    await this.driver.reset();
    this.objs = { vms: [], gmems: [], maps: [], vcpus: [] };
    this.opened(await this.driver.call(this.openKvm()));
  }

  /** restart() on a driver that answers synchronously. */
  restartSync(d: SyncDriver): void {
    d.resetSync();
    this.objs = { vms: [], gmems: [], maps: [], vcpus: [] };
    this.opened(d.callSync(this.openKvm()));
  }

  /** The operation for a step on this driver, or null when it names an object that does not exist (both drivers skip it alike). */
  private opFor(s: Step): Op | null {
    const P = this.page;
    const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);
    switch (s.k) {
      case "vm":
        return { op: "ioctl", fd: this.kvm!, request: "KVM_CREATE_VM", arg: this.c(s.type === "default" ? "KVM_X86_DEFAULT_VM" : "KVM_X86_SW_PROTECTED_VM") };
      case "gmem": {
        const vm = pick(this.objs.vms, s.vm);
        if (vm === undefined) return null;
        const M = this.c("GUEST_MEMFD_FLAG_MMAP");
        const S = this.c("GUEST_MEMFD_FLAG_INIT_SHARED");
        const flags = { none: 0n, mmap: M, mmap_shared: M | S, shared_only: S, bad: 1n << 7n }[s.flags];
        return { op: "ioctl", fd: vm, request: "KVM_CREATE_GUEST_MEMFD", arg: { size: BigInt(s.pages) * P, flags } };
      }
      case "anon":
        return { op: "mmap", addr: 0n, len: BigInt(s.pages) * P, prot: this.c("PROT_READ") | this.c("PROT_WRITE"), flags: this.c("MAP_PRIVATE") | this.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n };
      case "mapGmem": {
        const g = pick(this.objs.gmems, s.gmem);
        if (g === undefined) return null;
        const flags = this.c(s.shared ? "MAP_SHARED" : "MAP_PRIVATE");
        return { op: "mmap", addr: 0n, len: BigInt(s.pages) * P, prot: this.c("PROT_READ") | this.c("PROT_WRITE"), flags, fd: g.fd, offset: 0n };
      }
      case "slot": {
        const vm = pick(this.objs.vms, s.vm);
        if (vm === undefined) return null;
        const g = s.gmem === null ? undefined : pick(this.objs.gmems, s.gmem);
        const m = s.map === null ? undefined : pick(this.objs.maps, s.map);
        let flags = s.logDirty ? this.c("KVM_MEM_LOG_DIRTY_PAGES") : 0n;
        if (g !== undefined) flags |= this.c("KVM_MEM_GUEST_MEMFD");
        const arg = {
          slot: BigInt(s.id),
          flags,
          guest_phys_addr: GPA_BASE + BigInt(s.gpaPage) * P,
          memory_size: BigInt(s.pages) * P,
          userspace_addr: m === undefined ? 0n : m.addr + BigInt(s.mapPage) * P,
          guest_memfd_offset: BigInt(s.gmemOffPage) * P,
          guest_memfd: g === undefined ? 0n : g.fd,
        };
        return { op: "ioctl", fd: vm, request: "KVM_SET_USER_MEMORY_REGION2", arg };
      }
      case "falloc": {
        const g = pick(this.objs.gmems, s.gmem);
        if (g === undefined) return null;
        const mode = (s.keepSize ? this.c("FALLOC_FL_KEEP_SIZE") : 0n) | (s.punch ? this.c("FALLOC_FL_PUNCH_HOLE") : 0n);
        return { op: "fallocate", fd: g.fd, mode, offset: BigInt(s.offPage) * P + (s.unaligned ? 1n : 0n), len: BigInt(s.lenPages) * P };
      }
      case "attr": {
        const vm = pick(this.objs.vms, s.vm);
        if (vm === undefined) return null;
        const arg = { address: GPA_BASE + BigInt(s.gpaPage) * P, size: BigInt(s.pages) * P, attributes: s.private ? this.c("KVM_MEMORY_ATTRIBUTE_PRIVATE") : 0n, flags: 0n };
        return { op: "ioctl", fd: vm, request: "KVM_SET_MEMORY_ATTRIBUTES", arg };
      }
      case "vcpu": {
        const vm = pick(this.objs.vms, s.vm);
        if (vm === undefined) return null;
        return { op: "ioctl", fd: vm, request: "KVM_CREATE_VCPU", arg: BigInt(this.objs.vcpus.length) };
      }
      case "guest": {
        const v = pick(this.objs.vcpus, s.vcpu);
        if (v === undefined) return null;
        const gpa = GPA_BASE + BigInt(s.gpaPage) * P + 8n;
        return s.write
          ? { op: "guest", vcpu: v, access: "write", gpa, len: 8n, data: new Uint8Array(8).fill(s.value), private: s.private }
          : { op: "guest", vcpu: v, access: "read", gpa, len: 8n, private: s.private };
      }
      case "load":
      case "store": {
        const m = pick(this.objs.maps, s.map);
        if (m === undefined) return null;
        const addr = m.addr + BigInt(s.page % m.pages) * P + 16n;
        return s.k === "load" ? { op: "load", addr, len: 8n } : { op: "store", addr, data: new Uint8Array(8).fill(s.value) };
      }
      case "munmap":
      case "madvise": {
        const m = pick(this.objs.maps, s.map);
        if (m === undefined) return null;
        const addr = m.addr + BigInt(s.page % m.pages) * P;
        const len = BigInt(s.pages) * P;
        return s.k === "munmap" ? { op: "munmap", addr, len } : { op: "madvise", addr, len, advice: this.c(s.advice === "dontneed" ? "MADV_DONTNEED" : "MADV_REMOVE") };
      }
      case "close":
      case "fstat": {
        const g = pick(this.objs.gmems, s.gmem);
        if (g === undefined) return null;
        return { op: s.k, fd: g.fd };
      }
    }
  }

  async run(s: Step): Promise<StepResult> {
    const op = this.opFor(s);
    if (op === null) return SKIPPED;
    let r: OpResult;
    try {
      r = await this.driver.call(op);
    } catch (err) {
      return unsupported(op, err);
    }
    return this.finish(s, op, r);
  }

  /** run() on a driver that answers synchronously. */
  runSync(d: SyncDriver, s: Step): StepResult {
    const op = this.opFor(s);
    if (op === null) return SKIPPED;
    let r: OpResult;
    try {
      r = d.callSync(op);
    } catch (err) {
      return unsupported(op, err);
    }
    return this.finish(s, op, r);
  }

  private finish(s: Step, op: Op, r: OpResult): StepResult {
    const failed = r.errno !== undefined || r.signal !== undefined;
    if (!failed) this.remember(s, r);
    return { kind: "done", op, outcome: this.outcome(s, r, failed) };
  }

  private remember(s: Step, r: OpResult): void {
    if (s.k === "vm") this.objs.vms.push(r.ret);
    else if (s.k === "gmem") this.objs.gmems.push({ fd: r.ret, pages: s.pages });
    else if (s.k === "anon" || s.k === "mapGmem") this.objs.maps.push({ addr: r.ret, pages: s.pages });
    else if (s.k === "vcpu") this.objs.vcpus.push(r.ret);
  }

  private outcome(s: Step, r: OpResult, failed: boolean): Outcome {
    const o: Outcome = { ok: !failed };
    if (r.errno !== undefined) o.errno = r.errno;
    if (r.signal !== undefined) o.signal = r.signal;
    // fds and addresses are each driver's own; every other return value is compared.
    if (!failed && !HANDLE_KINDS.has(s.k)) o.ret = r.ret.toString();
    if (r.exit !== undefined) {
      const mf = r.exit.memory_fault as { flags?: bigint; gpa?: bigint; size?: bigint } | undefined;
      o.exit = r.exit.reason + (mf ? ` flags=${mf.flags} gpa=${mf.gpa} size=${mf.size}` : "");
    }
    const data = r.out?.data;
    if (data instanceof Uint8Array) o.data = hex(data);
    if (s.k === "fstat" && r.out) o.out = `size=${String(r.out.size)} blocks=${String(r.out.blocks)} mode=${String(r.out.mode)}`;
    return o;
  }
}

const SKIPPED: StepResult = { kind: "done", op: null, outcome: { ok: true } };

/** A step the driver refuses as unsupported; any other failure goes on up. */
function unsupported(op: Op, err: unknown): StepResult {
  if (err instanceof DriverFailure && err.kind === "unsupported") return { kind: "unsupported", op, why: err.message };
  throw err;
}

export function sameOutcome(a: Outcome, b: Outcome): boolean {
  return a.ok === b.ok && a.ret === b.ret && a.errno === b.errno && a.signal === b.signal && a.exit === b.exit && a.data === b.data && a.out === b.out;
}

export function describeOutcome(o: Outcome): string {
  if (!o.ok) return [o.errno && `errno ${o.errno}`, o.signal && `signal ${o.signal}`, o.exit && `exit ${o.exit}`].filter(Boolean).join(", ");
  return ["ok", o.ret !== undefined && `ret ${o.ret}`, o.exit && `exit ${o.exit}`, o.data && `data ${o.data}`, o.out].filter(Boolean).join(", ");
}
