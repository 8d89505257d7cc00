// The guest_program and resume operations of the linux driver: the steps become
// machine code (guest-program.ts) run on the case's vCPU by the GuestRunner.
import { DriverFailure, type OpOf, type OpResult } from "../../../spec/driver/contract.js";
import { stepsProgram, type ProgramStep } from "./guest-program.js";
import type { GuestRunner, RunOutcome } from "./vcpu.js";

function result(r: RunOutcome): OpResult {
  return { ret: r.ret, ...(r.errno ? { errno: r.errno } : {}), ...(r.exit ? { exit: r.exit } : {}), ...(r.out ? { out: r.out } : {}) };
}

function bytes(data: Uint8Array | undefined, len: number, what: string): Uint8Array {
  if (data === undefined) return new Uint8Array(len);
  if (data.length !== len) throw new DriverFailure("protocol", `guest_program: ${what} of ${len} bytes with ${data.length} bytes of data`);
  return data;
}

/** The operation's steps as the code generator takes them; malformed steps are protocol errors, unsupported sizes unsupported. */
function parseSteps(op: OpOf<"guest_program">): ProgramStep[] {
  return op.steps.map((s, i) => {
    if ([s.access, s.pio, s.hypercall].filter((k) => k !== undefined).length !== 1) throw new DriverFailure("protocol", `guest_program: step ${i} needs exactly one of access, pio and hypercall`);
    if (s.hypercall !== undefined) return { kind: "hypercall", nr: BigInt.asUintN(64, s.hypercall), args: (s.args ?? []).map((a) => BigInt.asUintN(64, a)) };
    if (s.access !== undefined) {
      if (s.gpa === undefined) throw new DriverFailure("protocol", `guest_program: step ${i} (an access) needs gpa`);
      const len = Number(s.len ?? 1n);
      return { kind: "access", write: s.access === "write", gpa: BigInt.asUintN(64, s.gpa), len, data: bytes(s.access === "write" ? s.data : undefined, len, `step ${i}: a write`) };
    }
    if (s.port === undefined) throw new DriverFailure("protocol", `guest_program: step ${i} (port I/O) needs port`);
    if (s.port < 0n || s.port > 0xffffn) throw new DriverFailure("protocol", `guest_program: step ${i}: port ${s.port} is not a 16-bit port`);
    const size = Number(s.size ?? 1n);
    return { kind: "pio", in: s.pio === "in", port: Number(s.port), size, data: bytes(s.pio === "out" ? s.data : undefined, size, `step ${i}: an OUT`) };
  });
}

/** `hypercallTimeoutMs` bounds a program with a hypercall step (HOST-NOTES Q4: a host where hypercalls never complete). */
export function guestProgram(runner: GuestRunner, vcpu: bigint, op: OpOf<"guest_program">, hypercallTimeoutMs: number): OpResult {
  let program;
  try {
    const steps = parseSteps(op);
    program = stepsProgram(steps, runner.vendor());
    if (steps.some((s) => s.kind === "hypercall")) program.timeoutMs = hypercallTimeoutMs;
  } catch (err) {
    if (err instanceof DriverFailure) throw err;
    throw new DriverFailure("unsupported", `guest_program: ${(err as Error).message}`);
  }
  return result(runner.run(Number(vcpu), program, program.timeoutMs));
}

export function resume(runner: GuestRunner, vcpu: bigint, op: OpOf<"resume">): OpResult {
  return result(runner.resume(Number(vcpu), op.data));
}
