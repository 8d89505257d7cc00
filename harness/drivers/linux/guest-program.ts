// x86 machine code for the guest_program operation: several memory accesses and
// port I/O instructions in 64-bit mode, then a halt loop. Plain data, unit-tested.
//
// The program keeps its own bookkeeping in the driver's scratch page, so the driver
// can tell how far the guest got without decoding RIP (whether RIP is already past an
// OUT at its exit differs between KVM's fast and emulated I/O paths):
// after each step it stores the number of steps completed in a progress byte, and
// each read, IN or hypercall stores its bytes in a slot of its own. RDI holds the
// scratch page's address throughout (no step clobbers it; KVM's hypercall ABI takes
// rax, rbx, rcx, rdx and rsi).
//
// After the last step the guest halts; `hlt; jmp .-1` so that KVM_RUN after the
// halt exit (which leaves RIP after the hlt) halts again instead of running on.
import {
  CANONICAL_LIMIT,
  DRIVER_GPA,
  HIGH_WINDOW,
  HLT,
  HYPERCALL_ARG_REGISTERS,
  LONG_READ,
  LONG_WRITE,
  SCRATCH_OFFSET,
  littleEndian,
  longModeImage,
  longModeProgram,
  type GuestProgram,
  type StepRecord,
  type Vendor,
} from "./guest-code.js";

export type ProgramStep =
  | { kind: "access"; write: boolean; gpa: bigint; len: number; data: Uint8Array }
  | { kind: "pio"; in: boolean; port: number; size: number; data: Uint8Array }
  | { kind: "hypercall"; nr: bigint; args: bigint[] };

export const MAX_STEPS = 8;
const PAGE = 0x1000n;
/** scratch layout: the progress byte, then one 8-byte slot per step for what a read or IN returned */
const PROGRESS = 0x00;
const SLOTS = 0x40;
/** non-canonical GPAs are reached through windows 8 KiB apart, one per step */
const WINDOW_STRIDE = 0x2000n;

const imm = (v: bigint, n: number): number[] => [...Array(n).keys()].map((i) => Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn));
const MOV_RAX = (v: bigint) => [0x48, 0xb8, ...imm(v, 8)];
const MOV_RBX = (v: bigint) => [0x48, 0xbb, ...imm(v, 8)];
const MOV_EDX = (v: number) => [0xba, ...imm(BigInt(v), 4)];
/** mov [rdi + disp32], al / ax / eax / rax */
const STORE_RDI: Record<number, number[]> = { 1: [0x88, 0x87], 2: [0x66, 0x89, 0x87], 4: [0x89, 0x87], 8: [0x48, 0x89, 0x87] };
/** mov rbx / rcx / rdx / rsi, imm64: the hypercall argument registers */
const MOV_ARG: Record<(typeof HYPERCALL_ARG_REGISTERS)[number], number> = { rbx: 0xbb, rcx: 0xb9, rdx: 0xba, rsi: 0xbe };
const HYPERCALL_INSN: Record<Vendor, number[]> = { amd: [0x0f, 0x01, 0xd9], intel: [0x0f, 0x01, 0xc1] };
const OUT_DX: Record<number, number[]> = { 1: [0xee], 2: [0x66, 0xef], 4: [0xef] };
const IN_DX: Record<number, number[]> = { 1: [0xec], 2: [0x66, 0xed], 4: [0xed] };
/** mov byte [rdi], imm8 */
const PROGRESS_STORE = (n: number) => [0xc6, 0x07, n];
const HALT_LOOP = [HLT, 0xeb, 0xfd];

/** Where step i addresses its GPA: the GPA itself where it is canonical, else its own window. */
function linearOf(gpa: bigint, len: number, i: number): bigint {
  return gpa + BigInt(len) <= CANONICAL_LIMIT ? gpa : HIGH_WINDOW + BigInt(i) * WINDOW_STRIDE + (gpa & (PAGE - 1n));
}

export function checkSteps(steps: ProgramStep[]): void {
  if (steps.length === 0 || steps.length > MAX_STEPS) throw new RangeError(`a guest program has 1 to ${MAX_STEPS} steps (got ${steps.length})`);
  for (const [i, s] of steps.entries()) {
    if (s.kind === "access" && ![1, 2, 4, 8].includes(s.len)) throw new RangeError(`step ${i}: access length must be 1, 2, 4 or 8 (got ${s.len})`);
    if (s.kind === "access" && (s.gpa < 0n || s.gpa + BigInt(s.len) > 1n << 64n)) throw new RangeError(`step ${i}: gpa 0x${s.gpa.toString(16)} is out of range`);
    if (s.kind === "pio" && ![1, 2, 4].includes(s.size)) throw new RangeError(`step ${i}: port I/O size must be 1, 2 or 4 (got ${s.size})`);
    if (s.kind === "pio" && (s.port < 0 || s.port > 0xffff)) throw new RangeError(`step ${i}: port ${s.port} is not a 16-bit port`);
    if (s.kind === "hypercall" && s.args.length > HYPERCALL_ARG_REGISTERS.length) throw new RangeError(`step ${i}: at most ${HYPERCALL_ARG_REGISTERS.length} hypercall arguments`);
  }
}

/** The long-mode program for `steps`; `vendor` picks the hypercall instruction. */
export function stepsProgram(steps: ProgramStep[], vendor: Vendor = "intel"): GuestProgram {
  checkSteps(steps);
  const { image, tables } = longModeImage();
  const code: number[] = [];
  const reads: StepRecord["reads"] = [];
  const hypercalls: number[] = [];
  for (const [i, s] of steps.entries()) {
    const slot = SLOTS + 8 * i;
    if (s.kind === "hypercall") {
      const args = s.args.flatMap((a, n) => [0x48, MOV_ARG[HYPERCALL_ARG_REGISTERS[n]!], ...imm(a, 8)]);
      code.push(...MOV_RAX(s.nr), ...args);
      hypercalls.push(code.length);
      code.push(...HYPERCALL_INSN[vendor], ...STORE_RDI[8]!, ...imm(BigInt(slot), 4));
      reads.push({ step: i, offset: SCRATCH_OFFSET + slot, len: 8 });
    } else if (s.kind === "access") {
      const linear = linearOf(s.gpa, s.len, i);
      for (let page = linear & ~(PAGE - 1n); page < linear + BigInt(s.len); page += PAGE) tables.map(page, (s.gpa & ~(PAGE - 1n)) + (page - (linear & ~(PAGE - 1n))));
      if (s.write) code.push(...MOV_RAX(littleEndian(s.data)), ...MOV_RBX(linear), ...LONG_WRITE[s.len]!);
      else {
        code.push(...MOV_RBX(linear), ...LONG_READ[s.len]!, ...STORE_RDI[s.len]!, ...imm(BigInt(slot), 4));
        reads.push({ step: i, offset: SCRATCH_OFFSET + slot, len: s.len });
      }
    } else if (s.in) {
      code.push(...MOV_EDX(s.port), ...IN_DX[s.size]!, ...STORE_RDI[s.size]!, ...imm(BigInt(slot), 4));
      reads.push({ step: i, offset: SCRATCH_OFFSET + slot, len: s.size });
    } else code.push(...MOV_RAX(littleEndian(s.data)), ...MOV_EDX(s.port), ...OUT_DX[s.size]!);
    code.push(...PROGRESS_STORE(i + 1));
  }
  code.push(...HALT_LOOP);
  const program = longModeProgram(image, tables, code, { rdi: DRIVER_GPA + BigInt(SCRATCH_OFFSET) });
  return { ...program, steps: { count: steps.length, progressOffset: SCRATCH_OFFSET + PROGRESS, reads }, hypercallRips: hypercalls.map((at) => program.regs.rip! + BigInt(at)) };
}

/** out.step and, once the program halted after its last step, out.data, from the driver region's bytes. */
export function stepsOut(record: StepRecord, halted: boolean, region: (offset: number, len: number) => Uint8Array): { step: bigint; data?: Uint8Array } {
  const done = region(record.progressOffset, 1)[0]!;
  if (!halted || done !== record.count || record.reads.length === 0) return { step: BigInt(done) };
  return { step: BigInt(done), data: new Uint8Array(Buffer.concat(record.reads.map((r) => region(r.offset, r.len)))) };
}
