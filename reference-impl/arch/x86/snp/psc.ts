// GHCB page-state-change requests of an SNP guest, and how KVM turns them into
// KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE) exits: snp_begin_psc_msr(),
// snp_complete_psc_msr(), snp_begin_psc(), snp_complete_one_psc() and snp_complete_psc()
// in arch/x86/kvm/svm/sev.c at torvalds/linux 0097f9df996f. KVM changes no page state
// itself: the VMM converts the range (KVM_SET_MEMORY_ATTRIBUTES) and writes
// kvm_run.hypercall.ret, which the completion on the next KVM_RUN reads.
//
// Values: GHCB_MSR_PSC_RESP 0x015 (sev-common.h); GHCB_MSR_PSC_RESP_ERROR is bit 63 |
// 0x015; VMGEXIT_PSC_ERROR_GENERIC 0x100 << 32, _INVALID_HDR 1 << 32 | 1, _INVALID_ENTRY
// 1 << 32 | 2; VMGEXIT_PSC_MAX_COUNT 253; struct psc_entry {cur_page:12, gfn:40,
// operation:4, pagesize:1}; operations 1 PRIVATE, 2 SHARED (3 PSMASH, 4 UNSMASH are
// treated as done).
import { DriverFailure, type OpResult } from "../../../../spec/driver/contract.js";
import type { SyscallContext } from "../../../process/file.js";
import type { GuestArchAction } from "../../../vcpu/run.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import type { Vm } from "../../../vm/vm.js";
import type { SevState } from "../sev-snp.js";

export const GHCB_MSR_PSC_RESP = 0x015n;
export const GHCB_MSR_PSC_RESP_ERROR = (1n << 63n) | GHCB_MSR_PSC_RESP;
export const PSC_ERROR = { GENERIC: 0x100n << 32n, INVALID_HDR: (1n << 32n) | 1n, INVALID_ENTRY: (1n << 32n) | 2n } as const;
const PSC_MAX_COUNT = 253;
const OP_PRIVATE = 1;
const OP_SHARED = 2;

interface PscEntry {
  curPage: number;
  gfn: bigint;
  operation: number;
  huge: boolean;
}

/** The guest's PSC buffer (struct snp_psc_desc) and KVM's in-flight bookkeeping (psc_idx, psc_inflight). */
interface PscBuffer {
  kind: "buffer";
  curEntry: number;
  endEntry: number;
  entries: PscEntry[];
  idx: number;
  inflight: number;
}

/** A request waiting for the VMM's answer on the next KVM_RUN (vcpu->arch.complete_userspace_io). */
export type PendingPsc = { kind: "msr" } | PscBuffer;

const HLT = { reason: "KVM_EXIT_HLT" } as const;

function decodeEntry(raw: bigint): PscEntry {
  const v = BigInt.asUintN(64, raw);
  return { curPage: Number(v & 0xfffn), gfn: (v >> 12n) & ((1n << 40n) - 1n), operation: Number((v >> 52n) & 0xfn), huge: ((v >> 56n) & 1n) === 1n };
}

function encodeEntry(e: PscEntry): bigint {
  return BigInt(e.curPage) | (e.gfn << 12n) | (BigInt(e.operation) << 52n) | ((e.huge ? 1n : 0n) << 56n);
}

/** KVM_EXIT_HYPERCALL as the SNP paths fill it: nr, args[0..2] and ret = 0 (flags and args[3..5] are left as they were). */
function mapGpaRangeExit(ctx: SyscallContext, gpa: bigint, npages: bigint, toPrivate: boolean, huge: boolean): OpResult {
  const c = (name: string): bigint => ctx.kernel.config.spec.constant(name, ctx.kernel.revision.profile)!;
  const attrs = c(toPrivate ? "KVM_MAP_GPA_RANGE_ENCRYPTED" : "KVM_MAP_GPA_RANGE_DECRYPTED") | c(huge ? "KVM_MAP_GPA_RANGE_PAGE_SZ_2M" : "KVM_MAP_GPA_RANGE_PAGE_SZ_4K");
  return { ret: 0n, exit: { reason: "KVM_EXIT_HYPERCALL", hypercall: { nr: ctx.kernel.K.hcMapGpaRange, args: [gpa, npages, attrs], ret: 0n } } };
}

function exitEnabled(ctx: SyscallContext, vm: Vm): boolean {
  return (vm.hypercallExitMask & (1n << ctx.kernel.K.hcMapGpaRange)) !== 0n;
}

/** snp:psc-msr (gpa: the page, args[0]: the operation): the GHCB MSR protocol's one-page request. */
export function snpPscMsr(ctx: SyscallContext, vcpu: Vcpu, vm: Vm, sev: SevState, a: GuestArchAction): OpResult {
  const op = Number((a.args[0] ?? 0n) & 0xfn);
  const gfn = (a.gpa >> ctx.kernel.page.shift) & ((1n << 40n) - 1n);
  if ((op !== OP_PRIVATE && op !== OP_SHARED) || !exitEnabled(ctx, vm)) return { ret: 0n, exit: HLT, out: { status: GHCB_MSR_PSC_RESP_ERROR } };
  sev.pendingPsc.set(vcpu, { kind: "msr" });
  return mapGpaRangeExit(ctx, gfn << ctx.kernel.page.shift, 1n, op === OP_PRIVATE, false);
}

/**
 * snp:psc (args: cur_entry, end_entry, then the raw 64-bit entries; entries not given are
 * zero): the GHCB buffer request (VMGEXIT PSC). Each run of adjacent entries with the same
 * operation and size is one exit.
 */
export function snpPscBuffer(ctx: SyscallContext, vcpu: Vcpu, vm: Vm, sev: SevState, a: GuestArchAction): OpResult {
  const [cur = 0n, end = 0n, ...raw] = a.args;
  const psc: PscBuffer = { kind: "buffer", curEntry: Number(cur & 0xffffn), endEntry: Number(end & 0xffffn), entries: raw.map(decodeEntry), idx: 0, inflight: 0 };
  if (!exitEnabled(ctx, vm)) return finish(psc, PSC_ERROR.GENERIC);
  return beginPsc(ctx, vcpu, sev, psc);
}

function entryAt(psc: PscBuffer, idx: number): PscEntry {
  return psc.entries[idx] ?? (psc.entries[idx] = { curPage: 0, gfn: 0n, operation: 0, huge: false });
}

/** snp_complete_psc(): the guest sees SW_EXITINFO2 = status and its buffer as KVM left it. */
function finish(psc: PscBuffer, status: bigint): OpResult {
  return { ret: 0n, exit: HLT, out: { status, cur_entry: BigInt(psc.curEntry), entries: psc.entries.map(encodeEntry) } };
}

/** __snp_complete_one_psc(): the in-flight entries are done. */
function completeInflight(psc: PscBuffer): void {
  let idx = psc.idx;
  for (; psc.inflight > 0; psc.inflight--, idx++) {
    const e = entryAt(psc, idx);
    e.curPage = e.huge ? 512 : 1;
  }
  psc.curEntry = idx;
}

/** snp_begin_psc() from `next_range` on. */
function beginPsc(ctx: SyscallContext, vcpu: Vcpu, sev: SevState, psc: PscBuffer): OpResult {
  for (;;) {
    if (psc.endEntry >= PSC_MAX_COUNT) return finish(psc, PSC_ERROR.INVALID_HDR);
    let idx = psc.curEntry;
    let start: PscEntry | undefined;
    let gfn = 0n;
    let npages = 0;
    let huge = false;
    // Skip entries already done; the first with pages left starts the range.
    for (; idx <= psc.endEntry; idx++, psc.curEntry++) {
      start = entryAt(psc, idx);
      gfn = start.gfn;
      huge = start.huge;
      npages = huge ? 512 : 1;
      if (start.curPage > npages || gfn % BigInt(npages) !== 0n) return finish(psc, PSC_ERROR.INVALID_ENTRY);
      if (start.curPage > 0) {
        // A partly done 2M entry goes on as 4K pages.
        npages -= start.curPage;
        gfn += BigInt(start.curPage);
        huge = false;
      }
      if (npages > 0) break;
    }
    if (idx > psc.endEntry) return finish(psc, 0n);
    psc.idx = idx;
    psc.inflight = 1;
    // Coalesce following entries that continue the range with the same operation and size.
    while (++idx <= psc.endEntry) {
      const e = entryAt(psc, idx);
      if (e.operation !== start!.operation || e.gfn !== start!.gfn + BigInt(npages) || e.curPage !== 0 || e.huge !== huge) break;
      psc.inflight++;
      npages += huge ? 512 : 1;
    }
    if (start!.operation === OP_PRIVATE || start!.operation === OP_SHARED) {
      sev.pendingPsc.set(vcpu, psc);
      // The size bit of the exit is the first entry's, even when a partly done 2M entry goes on as 4K.
      return mapGpaRangeExit(ctx, gfn << ctx.kernel.page.shift, BigInt(npages), start!.operation === OP_PRIVATE, start!.huge);
    }
    // PSMASH, UNSMASH and unknown operations: counted as done, no exit.
    completeInflight(psc);
  }
}

/** snp:resume (args[0]: kvm_run.hypercall.ret as the VMM wrote it): KVM_RUN after a page-state-change exit. */
export function snpPscResume(ctx: SyscallContext, vcpu: Vcpu, vm: Vm, sev: SevState, a: GuestArchAction): OpResult {
  const psc = sev.pendingPsc.get(vcpu);
  if (psc === undefined) throw new DriverFailure("protocol", "snp:resume on a vCPU with no page-state change waiting for userspace");
  sev.pendingPsc.delete(vcpu);
  const ret = a.args[0] ?? 0n;
  if (psc.kind === "msr") return { ret: 0n, exit: HLT, out: { status: ret !== 0n ? GHCB_MSR_PSC_RESP_ERROR : GHCB_MSR_PSC_RESP } };
  if (ret !== 0n) return finish(psc, PSC_ERROR.GENERIC);
  completeInflight(psc);
  // The next range is looked at afresh, with the exit still enabled or not.
  if (!exitEnabled(ctx, vm)) return finish(psc, PSC_ERROR.GENERIC);
  return beginPsc(ctx, vcpu, sev, psc);
}
