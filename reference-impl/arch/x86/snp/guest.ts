// What an SNP guest's own instructions meet in the RMP: a private (C=1) access to a page
// KVM mapped, and PVALIDATE. The hardware checks the RMP entry of the page (assigned to
// this ASID at this GPA, page size, validated); KVM only sees the nested page faults
// (npf_interception() -> kvm_mmu_page_fault(), then sev_handle_rmp_fault(); svm.c and
// sev.c at torvalds/linux 0097f9df996f). Status codes: AMD64 APM vol. 3, PVALIDATE;
// arch/x86/include/asm/sev.h (PVALIDATE_FAIL_INPUT 1, PVALIDATE_FAIL_SIZEMISMATCH 6, and
// Linux's PVALIDATE_FAIL_NOUPDATE 255 for "CF set: the bit already had that value").
import { DriverFailure, type OpResult } from "../../../../spec/driver/contract.js";
import type { SyscallContext } from "../../../process/file.js";
import { handleFault } from "../../../vcpu/fault.js";
import { memoryFaultResult, type GuestArchAction } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Spte } from "../../../vm/mmu.js";
import type { Vm } from "../../../vm/vm.js";
import type { SevState } from "../sev-snp.js";
import { rmpCheck, smashAndZap } from "./gmem.js";
import { PAGES_PER_2M, type ReverseMapTable } from "./rmp.js";

/** X86_TRAP_VC: the VMM Communication exception an SNP guest takes for an unvalidated private page */
export const X86_TRAP_VC = 29n;
/** PVALIDATE's rAX */
export const PVALIDATE_RET = { SUCCESS: 0n, FAIL_INPUT: 1n, FAIL_SIZEMISMATCH: 6n } as const;

const HLT = { reason: "KVM_EXIT_HLT" } as const;

/** The guest's #VC handler records the vector and halts. */
export function vcTaken(): OpResult {
  return { ret: 0n, exit: HLT, out: { exception: X86_TRAP_VC } };
}

/**
 * An RMP #NPF that sev_handle_rmp_fault() leaves as it is: the guest retries the same
 * access forever. KVM_RUN returns only when a signal stops it (the contract's "does not
 * halt within the driver's time limit").
 */
export function rmpFaultLoop(): OpResult {
  return { ret: -1n, errno: "EINTR", exit: { reason: "KVM_EXIT_INTR" } };
}

/**
 * The RMP side of a guest access through spte (hook guestAccess): a private access to an
 * unvalidated page raises #VC, one the RMP does not allow spins on #NPF, and a read of
 * bytes the guest never wrote under its key is not modelled (they are the hardware's
 * decryption of what the host left there). Undefined: the access goes ahead.
 */
export function snpGuestAccess(rmp: ReverseMapTable, vm: Vm, sev: SevState, gfn: number, spte: Spte, access: { write: boolean; offset: number; len: number }): OpResult | undefined {
  if (!spte.isPrivate) return undefined;
  const check = rmpCheck(rmp, vm, sev, gfn, spte.folio);
  if (check.kind === "rmp-violation") return rmpFaultLoop();
  if (check.kind === "not-validated") return vcTaken();
  if (access.write) rmp.plaintext.mark(spte.folio, sev.asid, access.offset, access.len);
  else if (!rmp.plaintext.readable(spte.folio, sev.asid, access.offset, access.len))
    throw new DriverFailure("unsupported", "a private read of bytes the SNP guest never wrote under its key: what it reads is the hardware's decryption of host-written memory, which the reference model does not model");
  return undefined;
}

/** The private mapping of gfn, faulting it in as a C=1 access would (#NPF with the ENC bit). */
function privateSpte(ctx: SyscallContext, vm: Vm, gfn: number): Spte | OpResult {
  const spte = vm.mmu.lookup(0, gfn, true);
  if (spte?.isPrivate) return spte;
  const r = handleFault(vm, { gfn, write: false, isPrivate: true });
  if (r.kind === "mapped") return r.spte;
  if (r.kind === "memory-fault") return memoryFaultResult(ctx.kernel, gfn, true, r.errno);
  throw new DriverFailure("unsupported", `PVALIDATE of gfn ${gfn}: a private fault that ends in ${r.kind}`);
}

/**
 * snp:pvalidate (gpa, len 4 KiB or 2 MiB, args[0] = 1 validate / 0 rescind): PVALIDATE on
 * the guest's identity mapping of gpa. out.status is rAX, out.carry is CF (1: the
 * validated bit already had the value asked for, so nothing changed).
 */
export function snpPvalidate(ctx: SyscallContext, _vcpu: Vcpu, rmp: ReverseMapTable, vm: Vm, sev: SevState, a: GuestArchAction): OpResult {
  const { page } = ctx.kernel;
  if (a.len !== page.size && a.len !== page.size * BigInt(PAGES_PER_2M))
    throw new DriverFailure("protocol", `snp:pvalidate takes len ${page.size} (4 KiB) or ${page.size * 512n} (2 MiB), not ${a.len}`);
  const huge = a.len !== page.size;
  const validate = ((a.args[0] ?? 1n) & 1n) === 1n;
  const done = (status: bigint, carry = 0n): OpResult => ({ ret: 0n, exit: HLT, out: { status, carry } });
  if (a.gpa % a.len !== 0n) return done(PVALIDATE_RET.FAIL_INPUT);
  const gfn = page.page(a.gpa);
  // At most one PSMASH-and-retry: the second pass finds 4K entries.
  for (let attempt = 0; attempt < 2; attempt++) {
    const spte = privateSpte(ctx, vm, gfn);
    if (!("folio" in spte)) return spte;
    const pfn = rmp.pfnOf(spte.folio);
    const { entry, level, base } = rmp.lookup(pfn);
    const entryGfn = entry === undefined ? undefined : base + entry.delta;
    if (entry === undefined || entry.asid !== sev.asid || entryGfn !== (level === "2M" ? gfn - (gfn % PAGES_PER_2M) : gfn)) return rmpFaultLoop();
    if (huge && level === "4K") return done(PVALIDATE_RET.FAIL_SIZEMISMATCH);
    if (!huge && level === "2M") {
      // #NPF with SIZEM: sev_handle_rmp_fault() PSMASHes the entry and zaps the 2M range.
      smashAndZap(rmp, vm, pfn, gfn);
      continue;
    }
    if (entry.validated === validate) return done(PVALIDATE_RET.SUCCESS, 1n);
    rmp.setValidated(pfn, validate);
    return done(PVALIDATE_RET.SUCCESS);
  }
  throw new Error("reference model: PVALIDATE still met a 2M entry after PSMASH");
}
