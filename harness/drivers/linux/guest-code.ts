// x86 guest programs for the `guest` and `hypercall` operations: machine code,
// page tables and register state, as plain data (no KVM needed, unit-tested).
//
// Each program makes exactly one access of len bytes at the GPA and halts. Below
// 4 GiB it runs in real mode with DS.base = gpa (the segment cache holds any
// 32-bit base), so no page tables are involved; from 4 GiB up it runs in long mode
// with 4 KiB identity-mapped pages (a fixed window when the GPA is not a canonical
// linear address). Everything the program needs lives in the driver's own region.

/** The driver's memslot, out of the cases' way (CONTRACT.md: slots 32000+, GPAs 0xFFE00000+). */
export const DRIVER_SLOT = 32000;
export const DRIVER_GPA = 0xffe00000n;
export const DRIVER_REGION_SIZE = 0x10000;

const PAGE = 0x1000;
const CODE_OFFSET = 0x0000;
/** operands of 8-byte real-mode accesses, the long-mode GDT/TSS and the stack */
export const SCRATCH_OFFSET = 0x1000;
const GDT_OFFSET = SCRATCH_OFFSET + 0x800;
const TSS_OFFSET = SCRATCH_OFFSET + 0x900;
const STACK_TOP = SCRATCH_OFFSET + PAGE;
const TABLE_POOL_OFFSET = 0x2000;
/** linear address where a non-canonical GPA is mapped */
export const HIGH_WINDOW = 0x0000_4000_0000_0000n;
export const CANONICAL_LIMIT = 1n << 47n;
export const FOUR_GIB = 1n << 32n;

export type Access = "read" | "write" | "fetch";
export type Mode = "real" | "long";
export type Vendor = "amd" | "intel";

export type SegmentFields = { base: bigint; limit: bigint; selector: bigint; type: bigint; present: bigint; dpl: bigint; db: bigint; s: bigint; l: bigint; g: bigint; avl: bigint; unusable: bigint };
/** The kvm_sregs fields a program sets; apic_base, cr2, cr8 and the interrupt bitmap are kept from the vCPU. */
export interface SregsPatch {
  cs: SegmentFields;
  ds: SegmentFields;
  es: SegmentFields;
  fs: SegmentFields;
  gs: SegmentFields;
  ss: SegmentFields;
  tr: SegmentFields;
  ldt: SegmentFields;
  gdt: { base: bigint; limit: bigint };
  idt: { base: bigint; limit: bigint };
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

export interface GuestProgram {
  mode: Mode;
  /** the driver region's contents (DRIVER_REGION_SIZE bytes, loaded at DRIVER_GPA) */
  image: Uint8Array;
  sregs: SregsPatch;
  /** kvm_regs fields; the ones not named are 0 */
  regs: Record<string, bigint>;
  /** where a completed read leaves its bytes */
  result?: { register: "rax"; len: number } | { scratchOffset: number; len: number };
  /** a guest_program's bookkeeping in scratch memory (guest-program.ts) */
  steps?: StepRecord;
  /** how long KVM_RUN may run this program (and resume it) before the watchdog stops it, when not the runner's default */
  timeoutMs?: number;
  /** guest addresses (RIP) of the program's hypercall instructions: where a vCPU stalls on a host with quirk Q4 */
  hypercallRips?: bigint[];
}

/** Where a guest_program records its progress: a byte counting completed steps, and each read's bytes. */
export interface StepRecord {
  count: number;
  progressOffset: number;
  reads: { step: number; offset: number; len: number }[];
}

const seg = (f: Partial<SegmentFields>): SegmentFields => ({ base: 0n, limit: 0xffffn, selector: 0n, type: 3n, present: 1n, dpl: 0n, db: 0n, s: 1n, l: 0n, g: 0n, avl: 0n, unusable: 0n, ...f });

const CR0_PE = 1n << 0n, CR0_MP = 1n << 1n, CR0_ET = 1n << 4n, CR0_NE = 1n << 5n, CR0_WP = 1n << 16n, CR0_PG = 1n << 31n;
const CR0_RESET = 0x60000010n; // CD | NW | ET, the value after RESET
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n, EFER_LMA = 1n << 10n;
const PTE_PRESENT_WRITABLE = 3n;

export function checkLength(len: number): void {
  if (![1, 2, 4, 8].includes(len)) throw new RangeError(`access length must be 1, 2, 4 or 8 (got ${len})`);
}

/** Real mode suffices when the whole access lies below 4 GiB; fetch too (CS.base = gpa). */
export function modeFor(gpa: bigint, len: number): Mode {
  return gpa + BigInt(len) <= FOUR_GIB ? "real" : "long";
}

// ---- real mode ---------------------------------------------------------------

export const HLT = 0xf4;
const REAL_READ: Record<number, number[]> = {
  1: [0xa0, 0x00, 0x00], // mov al, [0]
  2: [0xa1, 0x00, 0x00], // mov ax, [0]
  4: [0x66, 0xa1, 0x00, 0x00], // mov eax, [0]
  8: [0x0f, 0x6f, 0x06, 0x00, 0x00, 0x26, 0x0f, 0x7f, 0x06, 0x00, 0x00], // movq mm0, [0]; movq es:[0], mm0
};
const REAL_WRITE: Record<number, number[]> = {
  1: [0xa2, 0x00, 0x00], // mov [0], al
  2: [0xa3, 0x00, 0x00], // mov [0], ax
  4: [0x66, 0xa3, 0x00, 0x00], // mov [0], eax
  8: [0x26, 0x0f, 0x6f, 0x06, 0x00, 0x00, 0x0f, 0x7f, 0x06, 0x00, 0x00], // movq mm0, es:[0]; movq [0], mm0
};

function realModeSregs(csBase: bigint, dsBase: bigint): SregsPatch {
  const scratch = DRIVER_GPA + BigInt(SCRATCH_OFFSET);
  return {
    cs: seg({ base: csBase, type: 11n }),
    ds: seg({ base: dsBase }),
    es: seg({ base: scratch }),
    fs: seg({}),
    gs: seg({}),
    ss: seg({ base: scratch }),
    tr: seg({ type: 11n, s: 0n }),
    ldt: seg({ type: 2n, s: 0n }),
    gdt: { base: 0n, limit: 0xffffn },
    idt: { base: 0n, limit: 0xffffn },
    cr0: CR0_RESET,
    cr3: 0n,
    cr4: 0n,
    efer: 0n,
  };
}

/** 8-byte accesses go through MMX (16-bit code has no 64-bit register); the operand sits in scratch. */
function realModeAccess(gpa: bigint, access: Access, len: number, data: Uint8Array): GuestProgram {
  const image = new Uint8Array(DRIVER_REGION_SIZE);
  const regs: Record<string, bigint> = { rflags: 2n, rsp: BigInt(PAGE - 16) };
  if (access === "fetch") return { mode: "real", image, sregs: realModeSregs(gpa, 0n), regs: { ...regs, rip: 0n } };
  const code = access === "read" ? REAL_READ[len]! : REAL_WRITE[len]!;
  image.set([...code, HLT], CODE_OFFSET);
  if (access === "write") {
    if (len === 8) image.set(data, SCRATCH_OFFSET);
    else regs.rax = littleEndian(data);
  }
  const result = access === "read" ? (len === 8 ? { scratchOffset: SCRATCH_OFFSET, len } : { register: "rax" as const, len }) : undefined;
  return { mode: "real", image, sregs: realModeSregs(DRIVER_GPA + BigInt(CODE_OFFSET), gpa), regs: { ...regs, rip: 0n }, ...(result ? { result } : {}) };
}

// ---- long mode ---------------------------------------------------------------

export const LONG_READ: Record<number, number[]> = { 1: [0x8a, 0x03], 2: [0x66, 0x8b, 0x03], 4: [0x8b, 0x03], 8: [0x48, 0x8b, 0x03] }; // mov {al,ax,eax,rax}, [rbx]
export const LONG_WRITE: Record<number, number[]> = { 1: [0x88, 0x03], 2: [0x66, 0x89, 0x03], 4: [0x89, 0x03], 8: [0x48, 0x89, 0x03] }; // mov [rbx], {al,ax,eax,rax}
const JMP_RBX = [0xff, 0xe3];
const VMMCALL = [0x0f, 0x01, 0xd9];
const VMCALL = [0x0f, 0x01, 0xc1];

/** Builds 4-level page tables in the image's table pool. */
export class PageTables {
  private next = TABLE_POOL_OFFSET;
  private readonly children = new Map<string, number>();
  readonly root: number;

  constructor(private readonly image: Uint8Array) {
    this.root = this.allocate();
  }

  private allocate(): number {
    if (this.next + PAGE > DRIVER_REGION_SIZE) throw new RangeError("guest page-table pool exhausted");
    const at = this.next;
    this.next += PAGE;
    return at;
  }

  private child(table: number, index: number): number {
    const key = `${table}:${index}`;
    let at = this.children.get(key);
    if (at === undefined) {
      at = this.allocate();
      this.children.set(key, at);
      writeU64(this.image, table + index * 8, (DRIVER_GPA + BigInt(at)) | PTE_PRESENT_WRITABLE);
    }
    return at;
  }

  /** Map the 4 KiB page at linear address `linear` to guest physical `phys`. */
  map(linear: bigint, phys: bigint): void {
    const idx = (shift: bigint) => Number((linear >> shift) & 511n);
    const pt = this.child(this.child(this.child(this.root, idx(39n)), idx(30n)), idx(21n));
    writeU64(this.image, pt + idx(12n) * 8, (phys & ~0xfffn) | PTE_PRESENT_WRITABLE);
  }
}

/** Where the program addresses the GPA: itself where it is canonical, else a window. */
export function linearFor(gpa: bigint, len: number): bigint {
  return gpa + BigInt(Math.max(len, 16)) <= CANONICAL_LIMIT ? gpa : HIGH_WINDOW + (gpa & 0xfffn);
}

function longModeSregs(cr3: bigint): SregsPatch {
  const flat = { base: 0n, limit: 0xffffffffn, present: 1n, s: 1n, g: 1n };
  return {
    cs: seg({ ...flat, selector: 0x08n, type: 11n, l: 1n }),
    ds: seg({ ...flat, selector: 0x10n, type: 3n, db: 1n }),
    es: seg({ ...flat, selector: 0x10n, type: 3n, db: 1n }),
    fs: seg({ ...flat, selector: 0x10n, type: 3n, db: 1n }),
    gs: seg({ ...flat, selector: 0x10n, type: 3n, db: 1n }),
    ss: seg({ ...flat, selector: 0x10n, type: 3n, db: 1n }),
    tr: seg({ base: DRIVER_GPA + BigInt(TSS_OFFSET), limit: 0x67n, selector: 0x18n, type: 11n, s: 0n }),
    ldt: seg({ limit: 0n, type: 2n, s: 0n, present: 0n, unusable: 1n }),
    gdt: { base: DRIVER_GPA + BigInt(GDT_OFFSET), limit: 0x27n },
    idt: { base: 0n, limit: 0n },
    cr0: CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
    cr3,
    cr4: CR4_PAE,
    efer: EFER_LME | EFER_LMA,
  };
}

/** A long-mode image with the driver's own pages mapped and a GDT matching the segment registers. */
export function longModeImage(): { image: Uint8Array; tables: PageTables } {
  const image = new Uint8Array(DRIVER_REGION_SIZE);
  const tables = new PageTables(image);
  for (const off of [CODE_OFFSET, SCRATCH_OFFSET]) tables.map(DRIVER_GPA + BigInt(off), DRIVER_GPA + BigInt(off));
  writeU64(image, GDT_OFFSET + 0x08, 0x00af9a000000ffffn); // 64-bit code
  writeU64(image, GDT_OFFSET + 0x10, 0x00cf92000000ffffn); // data
  const tss = DRIVER_GPA + BigInt(TSS_OFFSET);
  const low = 0x67n | ((tss & 0xffffffn) << 16n) | (0x8bn << 40n) | (((tss >> 24n) & 0xffn) << 56n);
  writeU64(image, GDT_OFFSET + 0x18, low); // 64-bit busy TSS (16 bytes)
  writeU64(image, GDT_OFFSET + 0x20, tss >> 32n);
  return { image, tables };
}

export function longModeProgram(image: Uint8Array, tables: PageTables, code: number[], regs: Record<string, bigint>): GuestProgram {
  image.set(code, CODE_OFFSET);
  const sregs = longModeSregs(DRIVER_GPA + BigInt(tables.root));
  return { mode: "long", image, sregs, regs: { rflags: 2n, rsp: DRIVER_GPA + BigInt(STACK_TOP), rip: DRIVER_GPA + BigInt(CODE_OFFSET), ...regs } };
}

function longModeAccess(gpa: bigint, access: Access, len: number, data: Uint8Array): GuestProgram {
  const { image, tables } = longModeImage();
  const linear = linearFor(gpa, len);
  // the access (or an instruction fetched there) may cross into the next page
  const span = access === "fetch" ? 16 : len;
  const firstPage = linear & ~0xfffn;
  const lastPage = (linear + BigInt(span) - 1n) & ~0xfffn;
  for (let page = firstPage; page <= lastPage; page += BigInt(PAGE)) tables.map(page, (gpa & ~0xfffn) + (page - firstPage));
  if (access === "fetch") return longModeProgram(image, tables, [...JMP_RBX, HLT], { rbx: linear });
  const code = access === "read" ? LONG_READ[len]! : LONG_WRITE[len]!;
  const program = longModeProgram(image, tables, [...code, HLT], { rbx: linear, ...(access === "write" ? { rax: littleEndian(data) } : {}) });
  return access === "read" ? { ...program, result: { register: "rax", len } } : program;
}

// ---- entry points ------------------------------------------------------------

/** The program for one guest access. `data` is the bytes a write stores (len bytes). */
export function accessProgram(gpa: bigint, access: Access, len: number, data: Uint8Array = new Uint8Array(len)): GuestProgram {
  checkLength(len);
  if (access === "write" && data.length !== len) throw new RangeError(`a ${len}-byte write needs ${len} bytes of data (got ${data.length})`);
  if (gpa < 0n || gpa + BigInt(len) > 1n << 64n) throw new RangeError(`gpa 0x${gpa.toString(16)} is out of range`);
  return modeFor(gpa, access === "fetch" ? 1 : len) === "real" ? realModeAccess(gpa, access, len, data) : longModeAccess(gpa, access, len, data);
}

/** KVM's hypercall ABI: nr in rax, up to four arguments in rbx, rcx, rdx, rsi; the vendor's instruction at CPL 0. */
export const HYPERCALL_ARG_REGISTERS = ["rbx", "rcx", "rdx", "rsi"] as const;

export function hypercallProgram(nr: bigint, args: bigint[], vendor: Vendor): GuestProgram {
  if (args.length > HYPERCALL_ARG_REGISTERS.length) throw new RangeError(`at most ${HYPERCALL_ARG_REGISTERS.length} hypercall arguments (got ${args.length})`);
  const { image, tables } = longModeImage();
  const regs: Record<string, bigint> = { rax: BigInt.asUintN(64, nr) };
  args.forEach((a, i) => (regs[HYPERCALL_ARG_REGISTERS[i]!] = BigInt.asUintN(64, a)));
  const program = longModeProgram(image, tables, [...(vendor === "amd" ? VMMCALL : VMCALL), HLT], regs);
  return { ...program, result: { register: "rax", len: 8 }, hypercallRips: [program.regs.rip!] };
}

/** The smallest program: halt at once (probing). */
export function haltProgram(mode: Mode): GuestProgram {
  if (mode === "real") {
    const image = new Uint8Array(DRIVER_REGION_SIZE);
    image[CODE_OFFSET] = HLT;
    return { mode, image, sregs: realModeSregs(DRIVER_GPA, 0n), regs: { rflags: 2n, rip: 0n } };
  }
  const { image, tables } = longModeImage();
  return longModeProgram(image, tables, [HLT], {});
}

// ---- helpers -----------------------------------------------------------------

export function littleEndian(bytes: Uint8Array): bigint {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  return v;
}

export function toBytes(value: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let v = BigInt.asUintN(64, value);
  for (let i = 0; i < len; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function writeU64(image: Uint8Array, at: number, value: bigint): void {
  image.set(toBytes(value, 8), at);
}

/** Walk the program's page tables as the MMU would: the physical address a linear address maps to, if any. */
export function translate(program: GuestProgram, linear: bigint): bigint | undefined {
  if (program.mode === "real") return linear;
  let table = program.sregs.cr3;
  for (const shift of [39n, 30n, 21n, 12n]) {
    const off = Number(table - DRIVER_GPA) + Number((linear >> shift) & 511n) * 8;
    if (off < 0 || off + 8 > program.image.length) return undefined;
    const entry = littleEndian(program.image.subarray(off, off + 8));
    if ((entry & 1n) === 0n) return undefined;
    table = entry & 0x000ffffffffff000n;
  }
  return table | (linear & 0xfffn);
}
