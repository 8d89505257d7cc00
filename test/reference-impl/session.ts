// A small driver for the model's unit tests: operations by value, constants by
// name, and helpers for the set-up most tests share. Invariants are checked after
// every operation.
import { expect } from "chai";
import { loadSpec, type ProfileName } from "../../spec/index.js";
import type { Op, OpResult } from "../../spec/driver/contract.js";
import { ReferenceKernel } from "../../reference-impl/index.js";

export const spec = loadSpec();
export const PAGE = 4096n;

/** Operations without the `op` key clutter: ("ioctl", {...}). */
type OpArgs<O extends Op["op"]> = Omit<Extract<Op, { op: O }>, "op">;

export class Session {
  readonly k: ReferenceKernel;

  constructor(
    readonly profile: ProfileName = "linux-7.2",
    readonly host = "full",
  ) {
    this.k = new ReferenceKernel(spec, { profile, host, checkInvariants: true });
  }

  c(name: string): bigint {
    const v = spec.constant(name, this.profile);
    if (v === undefined) throw new Error(`no constant ${name} in ${this.profile}`);
    return v;
  }

  call<O extends Op["op"]>(op: O, args: OpArgs<O>): OpResult {
    return this.k.call({ op, ...args } as unknown as Op);
  }

  /** The call must succeed; returns its result. */
  ok<O extends Op["op"]>(op: O, args: OpArgs<O>): OpResult {
    const r = this.call(op, args);
    expect(r.errno, `${op} ${JSON.stringify(args, big)} failed`).to.equal(undefined);
    expect(r.signal, `${op} raised a signal`).to.equal(undefined);
    return r;
  }

  /** The call must fail with errno. */
  err<O extends Op["op"]>(errno: string, op: O, args: OpArgs<O>): OpResult {
    const r = this.call(op, args);
    expect(r.errno, `${op} ${JSON.stringify(args, big)}`).to.equal(errno);
    expect(r.ret).to.equal(-1n);
    return r;
  }

  ioctl(fd: bigint, request: string, arg?: Extract<Op, { op: "ioctl" }>["arg"]): OpResult {
    return this.call("ioctl", arg === undefined ? { fd, request } : { fd, request, arg });
  }

  kvm(): bigint {
    return this.ok("open", { path: "/dev/kvm", flags: this.c("O_RDWR") }).ret;
  }

  vm(type = "KVM_X86_DEFAULT_VM"): bigint {
    const r = this.ioctl(this.kvm(), "KVM_CREATE_VM", this.c(type));
    expect(r.errno).to.equal(undefined);
    return r.ret;
  }

  gmem(vm: bigint, size: bigint, flags = 0n): bigint {
    const r = this.ioctl(vm, "KVM_CREATE_GUEST_MEMFD", { size, flags });
    expect(r.errno, "KVM_CREATE_GUEST_MEMFD").to.equal(undefined);
    return r.ret;
  }

  slot(vm: bigint, fields: Record<string, bigint>): OpResult {
    return this.ioctl(vm, "KVM_SET_USER_MEMORY_REGION2", fields);
  }

  vcpu(vm: bigint, id = 0n): bigint {
    const r = this.ioctl(vm, "KVM_CREATE_VCPU", id);
    expect(r.errno).to.equal(undefined);
    return r.ret;
  }

  /** KVM_MEMORY_ENCRYPT_OP with a SEV command (struct kvm_sev_cmd). */
  sevOp(vm: bigint, id: string, fields: Record<string, bigint> = {}): OpResult {
    return this.ioctl(vm, "KVM_MEMORY_ENCRYPT_OP", { id: this.c(id), ...fields });
  }

  /** KVM_MEMORY_ENCRYPT_OP with a TDX command (struct kvm_tdx_cmd), on a VM or vCPU fd. */
  tdxOp(fd: bigint, id: string, fields: Record<string, bigint> = {}): OpResult {
    return this.ioctl(fd, "KVM_MEMORY_ENCRYPT_OP_TDX", { id: this.c(id), ...fields });
  }

  /** A zeroed page holding struct kvm_tdx_init_vm with one CPUID entry: leaf 0x80000008 choosing a `gpaw`-bit address width. */
  tdParams(gpaw = 48n): bigint {
    const p = this.anon(1n);
    const entry = new Uint8Array(40);
    const view = new DataView(entry.buffer);
    view.setUint32(0, 0x80000008, true);
    view.setUint32(12, Number(gpaw) << 16, true);
    this.ok("store", { addr: p + 256n, data: new Uint8Array([1, 0, 0, 0]) });
    this.ok("store", { addr: p + 264n, data: entry });
    return p;
  }

  /** What a confidential VM needs before its vCPUs exist: SNP KVM_SEV_INIT2; TDX KVM_TDX_INIT_VM and a split irqchip. */
  initConfidential(vm: bigint, type: string): void {
    if (type === "KVM_X86_SNP_VM") expect(this.sevOp(vm, "KVM_SEV_INIT2", { data_u64: this.anon(1n) }).errno).to.equal(undefined);
    if (type === "KVM_X86_TDX_VM") {
      expect(this.tdxOp(vm, "KVM_TDX_INIT_VM", { data_u64: this.tdParams() }).errno).to.equal(undefined);
      this.ok("ioctl", { fd: vm, request: "KVM_ENABLE_CAP", arg: { cap: this.c("KVM_CAP_SPLIT_IRQCHIP"), args: [24n] } });
    }
  }

  /** The launch that lets the given vCPUs run: SNP LAUNCH_START and LAUNCH_FINISH; TDX KVM_TDX_INIT_VCPU and KVM_TDX_FINALIZE_VM. */
  launchConfidential(vm: bigint, type: string, vcpus: bigint[]): void {
    if (type === "KVM_X86_SNP_VM") {
      const sev = this.ok("open", { path: "/dev/sev", flags: this.c("O_RDWR") }).ret;
      const start = this.anon(1n);
      this.ok("store", { addr: start + 2n, data: new Uint8Array([3]) });
      expect(this.sevOp(vm, "KVM_SEV_SNP_LAUNCH_START", { data_u64: start, sev_fd: sev }).errno).to.equal(undefined);
      expect(this.sevOp(vm, "KVM_SEV_SNP_LAUNCH_FINISH", { data_u64: this.anon(1n), sev_fd: sev }).errno).to.equal(undefined);
    }
    if (type === "KVM_X86_TDX_VM") {
      for (const v of vcpus) expect(this.tdxOp(v, "KVM_TDX_INIT_VCPU").errno).to.equal(undefined);
      expect(this.tdxOp(vm, "KVM_TDX_FINALIZE_VM").errno).to.equal(undefined);
    }
  }

  anon(pages: bigint, prot = this.c("PROT_READ") | this.c("PROT_WRITE")): bigint {
    return this.ok("mmap", { addr: 0n, len: pages * PAGE, prot, flags: this.c("MAP_PRIVATE") | this.c("MAP_ANONYMOUS"), fd: -1n, offset: 0n }).ret;
  }

  mapShared(fd: bigint, pages: bigint, prot = this.c("PROT_READ") | this.c("PROT_WRITE")): OpResult {
    return this.call("mmap", { addr: 0n, len: pages * PAGE, prot, flags: this.c("MAP_SHARED"), fd, offset: 0n });
  }

  read(vcpu: bigint, gpa: bigint, extra: { private?: boolean; len?: bigint } = {}): OpResult {
    return this.call("guest", { vcpu, access: "read", gpa, ...extra });
  }

  write(vcpu: bigint, gpa: bigint, byte: number, extra: { private?: boolean } = {}): OpResult {
    return this.call("guest", { vcpu, access: "write", gpa, data: new Uint8Array([byte]), ...extra });
  }

  load(addr: bigint, len = 1n): OpResult {
    return this.call("load", { addr, len });
  }

  store(addr: bigint, byte: number): OpResult {
    return this.call("store", { addr, data: new Uint8Array([byte]) });
  }
}

export function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

/** The byte a completed guest or host read returned. */
export function byte(r: OpResult): number {
  expect(r.out?.data, `no data in ${JSON.stringify(r, big)}`).to.be.instanceOf(Uint8Array);
  return (r.out!.data as Uint8Array)[0]!;
}

export function exitOf(r: OpResult): { reason: string; [k: string]: unknown } {
  expect(r.exit, `no exit in ${JSON.stringify(r, big)}`).to.not.equal(undefined);
  return r.exit!;
}

export function memoryFault(r: OpResult): { flags: bigint; gpa: bigint; size: bigint } {
  expect(exitOf(r).reason).to.equal("KVM_EXIT_MEMORY_FAULT");
  return r.exit!.memory_fault as { flags: bigint; gpa: bigint; size: bigint };
}
