// KVM_RUN for the two guest programs of the driver contract: one memory access
// that then halts, or one hypercall. Existing stage-2 mappings are used as the
// hardware would use them, without consulting attributes again; only a missing
// (or too weak) mapping goes through the fault path.
import type { ExitInfo, OpResult } from "../../spec/driver/contract.js";
import { DriverFailure } from "../../spec/driver/contract.js";
import { KVM_EINVAL, KVM_ENOSYS, type Errno } from "../lib/errno.js";
import { U64_MAX } from "../lib/u64.js";
import type { Kernel } from "../kernel.js";
import type { SyscallContext } from "../process/file.js";
import type { Spte } from "../vm/mmu.js";
import { accessIsPrivate, handleFault } from "./fault.js";
import { guestOnlyAccess } from "./guest-only-access.js";
import type { Vcpu } from "./vcpu.js";

export type GuestProgram =
  | { kind: "access"; access: "read" | "write" | "fetch"; gpa: bigint; len: number; data: Uint8Array | undefined; private: boolean }
  | { kind: "hypercall"; nr: bigint; args: bigint[] }
  | GuestArchAction;

/** One architecture action of a confidential guest (driver operation guest_arch); the VM type's hardware layer performs it. */
export interface GuestArchAction {
  kind: "arch";
  /** <arch>:<action>, e.g. snp:pvalidate */
  action: string;
  gpa: bigint;
  len: bigint;
  args: bigint[];
}

/** KVM_EXIT_HYPERCALL_LONG_MODE: the driver's guests run in 64-bit mode */
export const HYPERCALL_LONG_MODE = 1n;
/** KVM_HC_VAPIC_POLL_IRQ: a hypercall that just returns 0 */
const HC_VAPIC_POLL_IRQ = 1n;
/** KVM_INTERNAL_ERROR_EMULATION: the instruction could not be emulated (e.g. fetched from MMIO) */
const INTERNAL_ERROR_EMULATION = 1n;

export const HLT: ExitInfo = { reason: "KVM_EXIT_HLT" };

/**
 * How a guest program that completed stops. x86 halts (KVM_EXIT_HLT). An arm64 WFI never
 * leaves the kernel, so arm64 programs end with PSCI SYSTEM_OFF, which KVM hands to
 * userspace as KVM_EXIT_SYSTEM_EVENT of type KVM_SYSTEM_EVENT_SHUTDOWN (kvm_psci_system_off).
 */
export function completedExit(ctx: SyscallContext): ExitInfo {
  if (ctx.kernel.host.arch !== "aarch64") return HLT;
  return { reason: "KVM_EXIT_SYSTEM_EVENT", system_event: { type: ctx.kernel.K.arm64.SYSTEM_EVENT_SHUTDOWN!, ndata: 0n } };
}

export function runGuest(ctx: SyscallContext, vcpu: Vcpu, program: GuestProgram): OpResult {
  // A pending signal stops KVM_RUN before the guest is entered.
  if (ctx.kernel.inject.pagesBeforeSignal(1) < 1) return { ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } };
  if (program.kind === "access") return runAccess(ctx, vcpu, program);
  if (program.kind === "hypercall") return runHypercall(ctx, vcpu, program);
  const arch = vcpu.vm.type.guestArch;
  if (arch === undefined) throw new DriverFailure("unsupported", `a ${vcpu.vm.type.name} guest has no architecture action ${program.action}`);
  return arch.call(vcpu.vm.type, ctx, vcpu, program);
}


export function runAccess(ctx: SyscallContext, vcpu: Vcpu, p: Extract<GuestProgram, { kind: "access" }>): OpResult {
  const { kernel } = ctx;
  const vm = vcpu.vm;
  const page = kernel.page;
  const write = p.access === "write";
  if (![1, 2, 4, 8].includes(p.len)) throw new DriverFailure("unsupported", `a guest access of ${p.len} bytes (1, 2, 4 or 8)`);
  if (p.gpa + BigInt(p.len) - 1n > U64_MAX) throw new DriverFailure("unsupported", "a guest access that wraps around the address space");
  const data = p.data ?? new Uint8Array(p.len);
  if (write && data.length !== p.len) throw new DriverFailure("protocol", `guest write of ${p.len} bytes with ${data.length} bytes of data`);
  if (p.private && kernel.revision.guestOnlyPages) {
    const r = guestOnlyAccess(ctx, vcpu, p);
    if (r !== undefined) return r;
  }

  const first = page.page(p.gpa);
  const last = page.page(p.gpa + BigInt(p.len) - 1n);
  const sptes: Spte[] = [];
  for (let gfn = first; gfn <= last; gfn++) {
    const isPrivate = accessIsPrivate(vm, gfn, p.private);
    const hw = vm.type.guestAccessBeforeStage2?.(ctx, vcpu, gfn, isPrivate, write);
    if (hw !== undefined) return hw;
    let spte = vm.mmu.lookup(0, gfn, isPrivate);
    // SNP: the page's private/shared state must match the access (RMP check).
    const usable = spte !== undefined && (!write || spte.writable) && (vm.type.privateAccess !== "guest" || spte.isPrivate === isPrivate);
    if (!usable) {
      const r = handleFault(vm, { gfn, write, isPrivate });
      if (r.kind === "mapped") spte = r.spte;
      else if (r.kind === "memory-fault") return memoryFaultResult(kernel, gfn, isPrivate, r.errno);
      else if (r.kind === "host-fault")
        // No exit is prepared: exit_reason keeps whatever it held, so none is reported.
        return { ret: -1n, errno: "EFAULT" };
      else if (r.kind === "hwpoison") {
        ctx.signal = "SIGBUS";
        return { ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } };
      } else if (first !== last)
        // The instruction emulator splits such accesses; it is not modelled.
        throw new DriverFailure("unsupported", "a guest access crossing a page boundary into emulated MMIO");
      else if (p.access === "fetch" && kernel.host.arch === "aarch64")
        // kvm_handle_guest_abort() injects a prefetch abort into the guest: what its program does next is not modelled.
        throw new DriverFailure("unsupported", "an arm64 instruction fetch outside any memslot (KVM injects a prefetch abort into the guest)");
      else if (p.access === "fetch")
        return { ret: 0n, exit: { reason: "KVM_EXIT_INTERNAL_ERROR", internal: { suberror: INTERNAL_ERROR_EMULATION } } };
      else
        return {
          ret: 0n,
          exit: { reason: "KVM_EXIT_MMIO", mmio: { phys_addr: p.gpa, len: BigInt(p.len), is_write: write ? 1n : 0n, ...(write ? { data } : {}) } },
        };
    }
    sptes.push(spte!);
  }

  // Perform the access page by page, after the hardware's own checks of each page (SNP: the RMP; TDX: #VE on a PENDING page).
  const pieces = sptes.map((spte, i) => {
    const start = i === 0 ? Number(p.gpa & page.mask) : 0;
    const before = i === 0 ? 0 : page.bytes - Number(p.gpa & page.mask) + (i - 1) * page.bytes;
    return { spte, start, before, n: Math.min(p.len - before, page.bytes - start) };
  });
  for (const [i, piece] of pieces.entries()) {
    const gfn = first + i;
    const stop = vm.type.guestAccess?.(vcpu, gfn, piece.spte, { gpa: page.address(gfn) + BigInt(piece.start), write, offset: piece.start, len: piece.n });
    if (stop !== undefined) return stop;
  }
  const out = new Uint8Array(p.len);
  for (const { spte, start, before, n } of pieces) {
    if (write) spte.folio.write(start, data.subarray(before, before + n));
    else out.set(spte.folio.read(start, n), before);
  }
  const stop = completedExit(ctx);
  return p.access === "read" ? { ret: 0n, exit: stop, out: { data: out } } : { ret: 0n, exit: stop };
}

/** KVM_EXIT_MEMORY_FAULT for gfn: KVM_RUN fails with errno; x86 always reports one page. */
export function memoryFaultResult(kernel: Kernel, gfn: number, isPrivate: boolean, errno: Errno): OpResult {
  const page = kernel.page;
  const exit: ExitInfo = { reason: "KVM_EXIT_MEMORY_FAULT", memory_fault: { flags: isPrivate ? kernel.K.EXIT_FLAG_PRIVATE : 0n, gpa: page.address(gfn), size: page.size } };
  // UPM: RET_PF_USER, so KVM_RUN returns 0 with the exit (RMEM-012); later, -1 with EFAULT (or the errno).
  return kernel.revision.restrictedmem ? { ret: 0n, exit } : { ret: -1n, errno, exit };
}

/**
 * Hypercalls whose answer depends on what the model does not keep: KVM_HC_KICK_CPU (5),
 * KVM_HC_SEND_IPI (10) and KVM_HC_SCHED_YIELD (11) return -KVM_ENOSYS unless the guest's
 * CPUID advertises the matching KVM PV feature (guest_pv_has()), and KVM_HC_CLOCK_PAIRING
 * (9) depends on the host clocksource and writes into guest memory.
 */
const HC_UNMODELLED = new Map<bigint, string>([
  [5n, "KVM_HC_KICK_CPU (depends on KVM_FEATURE_PV_UNHALT in the guest's CPUID)"],
  [9n, "KVM_HC_CLOCK_PAIRING (depends on the host clocksource and writes guest memory)"],
  [10n, "KVM_HC_SEND_IPI (depends on KVM_FEATURE_PV_SEND_IPI in the guest's CPUID)"],
  [11n, "KVM_HC_SCHED_YIELD (depends on KVM_FEATURE_PV_SCHED_YIELD in the guest's CPUID)"],
]);

/**
 * __kvm_emulate_hypercall() (arch/x86/kvm/x86.c): only KVM_HC_MAP_GPA_RANGE leaves the
 * kernel. The driver contract's guest runs in 64-bit mode at CPL 0, so the CPL check
 * (-KVM_EPERM) and the 32-bit truncation never apply; a guest with protected state
 * (SEV-ES, SNP, TDX) does not reach this path with VMCALL/VMMCALL (GHCB and TDVMCALL
 * are other ABIs), so it is not modelled.
 */
export function runHypercall(ctx: SyscallContext, vcpu: Vcpu, p: Extract<GuestProgram, { kind: "hypercall" }>): OpResult {
  const { kernel } = ctx;
  // arm64 guests call the hypervisor through HVC and the SMC calling convention (PSCI, pKVM's
  // vendor calls); the contract's hypercall operation is x86's KVM hypercall ABI.
  if (kernel.host.arch !== "x86_64") throw new DriverFailure("unsupported", `the hypercall operation (the x86 KVM hypercall ABI) on ${kernel.host.arch}`);
  if (vcpu.vm.type.hasProtectedState)
    throw new DriverFailure("unsupported", `a hypercall from a ${vcpu.vm.type.name} guest goes through the GHCB or TDVMCALL, which the reference model does not model`);
  const unmodelled = HC_UNMODELLED.get(p.nr);
  if (unmodelled !== undefined) throw new DriverFailure("unsupported", `the reference model does not model hypercall ${unmodelled}`);
  const [a0 = 0n, a1 = 0n, a2 = 0n] = p.args.map((a) => BigInt.asUintN(64, a));
  const back = (rax: bigint): OpResult => ({ ret: 0n, exit: HLT, out: { hypercall_ret: BigInt.asUintN(64, rax) } });
  if (p.nr === HC_VAPIC_POLL_IRQ) return back(0n);
  if (p.nr !== kernel.K.hcMapGpaRange) return back(-KVM_ENOSYS);
  // user_exit_on_hypercall(): only with KVM_CAP_EXIT_HYPERCALL enabled for this number.
  if (!(vcpu.vm.hypercallExitMask & (1n << kernel.K.hcMapGpaRange))) return back(-KVM_ENOSYS);
  const gfn = a0 >> kernel.page.shift;
  // !PAGE_ALIGNED(gpa) || !npages || gfn + npages wraps
  if (!kernel.page.aligned(a0) || a1 === 0n || gfn + a1 > U64_MAX) return back(-KVM_EINVAL);
  // kvm_run.hypercall carries nr, args[0..2] and flags; args[3..5] are not written (0 here).
  return {
    ret: 0n,
    exit: { reason: "KVM_EXIT_HYPERCALL", hypercall: { nr: p.nr, args: [a0, a1, a2, 0n, 0n, 0n], flags: HYPERCALL_LONG_MODE } },
  };
}
