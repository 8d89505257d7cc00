// KVM_RUN on a guest program of several steps (driver operations guest_program and
// resume). The program is loaded into the vCPU and stays there: after an exit the
// vCPU's state says where it stopped, and the next KVM_RUN continues from there, as
// kvm_arch_vcpu_ioctl_run() (arch/x86/kvm/x86.c) does:
//
// - an I/O or MMIO exit left the instruction half done (vcpu->arch.complete_userspace_io):
//   the next KVM_RUN first completes it (an IN or MMIO read takes its value from kvm_run),
//   then checks for a pending signal, then lets the guest go on;
// - a KVM_EXIT_MEMORY_FAULT left nothing pending and RIP on the faulting instruction:
//   the next KVM_RUN executes it again, and the fault path looks at the attributes anew.
import type { OpResult, OutValue } from "../../spec/driver/contract.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import type { SyscallContext } from "../process/file.js";
import { HLT, runAccess, runHypercall } from "./run.js";
import type { Vcpu } from "./vcpu.js";

/** A step as the operation gives it (every field optional). */
export interface GuestStepArgs {
  access?: "read" | "write";
  gpa?: bigint;
  len?: bigint;
  private?: boolean;
  pio?: "in" | "out";
  port?: bigint;
  size?: bigint;
  data?: Uint8Array;
  hypercall?: bigint;
  args?: bigint[];
}

type Step =
  | { kind: "access"; write: boolean; gpa: bigint; len: number; data: Uint8Array; private: boolean }
  | { kind: "pio"; in: boolean; port: bigint; size: number; data: Uint8Array }
  | { kind: "hypercall"; nr: bigint; args: bigint[] };

/** What the last exit left half done: the next KVM_RUN completes it before the guest goes on. */
interface Pending {
  /** an IN, an MMIO read or a hypercall takes its value from kvm_run; an OUT or an MMIO write takes nothing */
  takesData: boolean;
  len: number;
}

/** The guest program loaded in a vCPU: its steps, how many completed, and what the reads returned. */
export interface ProgramState {
  steps: Step[];
  next: number;
  reads: Map<number, Uint8Array>;
  pending: Pending | undefined;
}

export const MAX_STEPS = 8;

function u64Bytes(v: bigint): Uint8Array {
  return Uint8Array.from({ length: 8 }, (_, i) => Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));
}

function protocol(message: string): never {
  throw new DriverFailure("protocol", message);
}

function sized(n: bigint | undefined, allowed: number[], what: string): number {
  const v = Number(n ?? 1n);
  if (!allowed.includes(v)) throw new DriverFailure("unsupported", `guest_program: ${what} of ${v} bytes (${allowed.join(", ")})`);
  return v;
}

function bytes(data: Uint8Array | undefined, len: number, what: string): Uint8Array {
  if (data === undefined) return new Uint8Array(len);
  if (data.length !== len) protocol(`guest_program: ${what} of ${len} bytes with ${data.length} bytes of data`);
  return data;
}

function parseStep(s: GuestStepArgs, i: number): Step {
  const what = `step ${i}`;
  if ([s.access, s.pio, s.hypercall].filter((k) => k !== undefined).length !== 1) protocol(`guest_program: ${what} needs exactly one of access, pio and hypercall`);
  if (s.hypercall !== undefined) {
    if ((s.args ?? []).length > 4) throw new DriverFailure("unsupported", `guest_program: ${what}: at most 4 hypercall arguments`);
    return { kind: "hypercall", nr: BigInt.asUintN(64, s.hypercall), args: s.args ?? [] };
  }
  if (s.access !== undefined) {
    if (s.gpa === undefined) protocol(`guest_program: ${what} (an access) needs gpa`);
    const len = sized(s.len, [1, 2, 4, 8], `${what}: an access`);
    const gpa = BigInt.asUintN(64, s.gpa);
    return { kind: "access", write: s.access === "write", gpa, len, data: bytes(s.access === "write" ? s.data : undefined, len, `${what}: a write`), private: s.private ?? false };
  }
  if (s.port === undefined) protocol(`guest_program: ${what} (port I/O) needs port`);
  if (s.port < 0n || s.port > 0xffffn) protocol(`guest_program: ${what}: port ${s.port} is not a 16-bit port`);
  const size = sized(s.size, [1, 2, 4], `${what}: port I/O`);
  return { kind: "pio", in: s.pio === "in", port: s.port, size, data: bytes(s.pio === "out" ? s.data : undefined, size, `${what}: an OUT`) };
}

/** guest_program: load the steps into the vCPU (replacing any program) and run. */
export function startProgram(ctx: SyscallContext, vcpu: Vcpu, args: GuestStepArgs[]): OpResult {
  if (ctx.kernel.host.arch !== "x86_64") throw new DriverFailure("unsupported", `guest_program is an x86 program (on ${ctx.kernel.host.arch})`);
  if (args.length === 0 || args.length > MAX_STEPS) protocol(`guest_program: 1 to ${MAX_STEPS} steps (got ${args.length})`);
  const steps = args.map(parseStep);
  if (vcpu.vm.type.hasProtectedState && steps.some((s) => s.kind === "pio"))
    throw new DriverFailure("unsupported", `port I/O from a ${vcpu.vm.type.name} guest goes through the GHCB or TDVMCALL, which the reference model does not model`);
  vcpu.program = { steps, next: 0, reads: new Map(), pending: undefined };
  return proceed(ctx, vcpu, vcpu.program);
}

/** resume: KVM_RUN again on the loaded program, completing what the last exit left pending. */
export function resumeProgram(ctx: SyscallContext, vcpu: Vcpu, data: Uint8Array | undefined): OpResult {
  const st = vcpu.program;
  if (st === undefined) throw new DriverFailure("unsupported", "resume: the vCPU has no guest_program loaded (resume continues a guest_program after an exit)");
  const pending = st.pending;
  if (pending === undefined || !pending.takesData) {
    if (data !== undefined) protocol("resume: data completes a pending IN, MMIO read or hypercall, and none is pending");
  } else st.reads.set(st.next, bytes(data, pending.len, "resume: the pending read"));
  // complete_userspace_io(): the half-done instruction retires.
  st.pending = undefined;
  if (pending !== undefined) st.next++;
  return proceed(ctx, vcpu, st);
}

function proceed(ctx: SyscallContext, vcpu: Vcpu, st: ProgramState): OpResult {
  const { kernel } = ctx;
  // A pending signal stops KVM_RUN before the guest is entered (after completing the pending exit).
  if (kernel.inject.pagesBeforeSignal(1) < 1) return report(st, { ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } });
  for (; st.next < st.steps.length; st.next++) {
    const step = st.steps[st.next]!;
    if (step.kind === "hypercall") {
      const r = runHypercall(ctx, vcpu, { kind: "hypercall", nr: step.nr, args: step.args });
      if (r.exit?.reason !== HLT.reason) {
        // KVM_EXIT_HYPERCALL: the next KVM_RUN returns kvm_run.hypercall.ret to the guest (complete_hypercall_exit()).
        if (r.exit?.reason === "KVM_EXIT_HYPERCALL") st.pending = { takesData: true, len: 8 };
        return report(st, { ...r, out: {} });
      }
      st.reads.set(st.next, u64Bytes(r.out!.hypercall_ret as bigint));
      continue;
    }
    if (step.kind === "pio") {
      // kvm_fast_pio(): no in-kernel device is modelled on any port, so every IN and OUT exits.
      st.pending = { takesData: step.in, len: step.size };
      const io: { [k: string]: OutValue } = {
        direction: step.in ? kernel.K.exitIo.IN : kernel.K.exitIo.OUT,
        size: BigInt(step.size),
        port: step.port,
        count: 1n,
        data_offset: kernel.K.exitIo.pioPageOffset * kernel.page.size,
      };
      if (!step.in) io.data = step.data;
      return report(st, { ret: 0n, exit: { reason: "KVM_EXIT_IO", io } });
    }
    const r = runAccess(ctx, vcpu, { kind: "access", access: step.write ? "write" : "read", gpa: step.gpa, len: step.len, data: step.data, private: step.private });
    if (r.exit?.reason !== HLT.reason) {
      // An MMIO exit is completed by the next KVM_RUN; any other exit leaves RIP on the access, which runs again.
      if (r.exit?.reason === "KVM_EXIT_MMIO") st.pending = { takesData: !step.write, len: step.len };
      return report(st, r);
    }
    if (!step.write) st.reads.set(st.next, r.out!.data as Uint8Array);
  }
  return report(st, { ret: 0n, exit: HLT });
}

/** The run's result with out.step (steps completed) and, once halted, out.data (what the reads returned, in step order). */
function report(st: ProgramState, r: OpResult): OpResult {
  const out: { [k: string]: OutValue } = { ...(r.out ?? {}), step: BigInt(st.next) };
  delete out.data;
  const readers = st.steps.map((s, i) => [s, i] as const).filter(([s]) => (s.kind === "access" ? !s.write : s.kind === "pio" ? s.in : true));
  if (st.next === st.steps.length && readers.length > 0) out.data = new Uint8Array(Buffer.concat(readers.map(([, i]) => st.reads.get(i)!)));
  return { ...r, out };
}
