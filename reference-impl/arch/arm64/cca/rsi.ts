// What a realm's guest program meets: its RSI calls to the RMM (driver operation
// guest_arch, actions cca:ipa-state-set and cca:ipa-state-get) and the RMM's checks on
// its accesses to protected IPAs (driver operation guest, private = protected alias).
// Sources: RMM spec DEN0137 (RSI_IPA_STATE_SET/GET, the realm data-abort rules,
// hw-models.md 4.3-4.4); the v14 series' rec_exit_ripas_change() (patch 23) and
// gmem_abort() for realms (patch 29); RSI constants from arch/arm64/include/asm/rsi_smc.h.
//
// The guest program is resident, as a realm's must be (the host cannot set a REC's
// registers): each operation is one command to it. A KVM_RUN that resumes a vCPU whose
// RIPAS change was pending completes it at entry (kvm_rec_pre_enter); the same
// ipa-state-set command then receives its result, any other command discards it.
import type { OpResult } from "../../../../spec/driver/contract.js";
import { DriverFailure } from "../../../../spec/driver/contract.js";
import type { SyscallContext } from "../../../process/file.js";
import { completedExit, type GuestArchAction } from "../../../vcpu/run.js";
import { handleFault } from "../../../vcpu/fault.js";
import type { Vcpu } from "../../../vcpu/vcpu.js";
import { RIPAS_VALUES, type Realm, type RipasRequest } from "./realm.js";

/** The actions a realm's guest program performs (features guest-arch:cca:<action>). */
export const CCA_ACTIONS = ["cca:ipa-state-set", "cca:ipa-state-get"] as const;

function rsiConstant(ctx: SyscallContext, name: string): bigint {
  const v = ctx.kernel.K.arm64[name];
  if (v === undefined) throw new Error(`reference model: ${name} is not defined in profile ${ctx.kernel.revision.profile}`);
  return v;
}

/** The program ends (PSCI SYSTEM_OFF) after the RSI call returned these registers to it. */
function returned(ctx: SyscallContext, out: { [reg: string]: bigint }): OpResult {
  return { ret: 0n, exit: completedExit(ctx), out };
}

/** A RIPAS change (or data abort) that leaves KVM_RUN as KVM_EXIT_MEMORY_FAULT with -EFAULT. */
function memoryFaultExit(ctx: SyscallContext, gpa: bigint, size: bigint, isPrivate: boolean): OpResult {
  return { ret: -1n, errno: "EFAULT", exit: { reason: "KVM_EXIT_MEMORY_FAULT", memory_fault: { flags: isPrivate ? ctx.kernel.K.EXIT_FLAG_PRIVATE : 0n, gpa, size } } };
}

/** A command other than the one whose RIPAS change was pending: the old result is discarded. */
function settlePending(realm: Realm, vcpu: Vcpu, key: string): RipasRequest | undefined {
  const pending = realm.pendingRipas.get(vcpu.id);
  if (pending === undefined) return undefined;
  if (pending.done !== undefined && pending.key === key) {
    realm.pendingRipas.delete(vcpu.id);
    return pending;
  }
  realm.pendingRipas.delete(vcpu.id);
  return undefined;
}

/** The RMM's range checks of RSI_IPA_STATE_SET/GET: aligned, non-empty, inside the protected IPA space. */
function rangeOk(ctx: SyscallContext, realm: Realm, base: bigint, top: bigint): boolean {
  const page = ctx.kernel.page;
  return page.aligned(base) && page.aligned(top) && top > base && top <= BigInt(realm.protectedGfns) * page.size;
}

export function rsiCall(ctx: SyscallContext, vcpu: Vcpu, realm: Realm, action: GuestArchAction): OpResult {
  const page = ctx.kernel.page;
  const base = action.gpa;
  const top = action.gpa + action.len;
  const key = `${action.action}:${base}:${top}:${action.args.join(",")}`;
  const status = (name: string) => rsiConstant(ctx, name);
  switch (action.action) {
    case "cca:ipa-state-set": {
      const done = settlePending(realm, vcpu, key);
      if (done !== undefined)
        return returned(ctx, { status: status("RSI_SUCCESS"), new_base: BigInt(done.done!) * page.size, response: status("RSI_ACCEPT") });
      const [ripasArg = -1n, flags = 0n] = action.args;
      const ripas = RIPAS_VALUES.find((r) => status(`RSI_RIPAS_${r}`) === ripasArg);
      // The RMM answers a malformed request itself, without a REC exit.
      if (!rangeOk(ctx, realm, base, top) || (ripas !== "RAM" && ripas !== "EMPTY") || (flags !== status("RSI_NO_CHANGE_DESTROYED") && flags !== status("RSI_CHANGE_DESTROYED")))
        return returned(ctx, { status: status("RSI_ERROR_INPUT"), new_base: base });
      realm.pendingRipas.set(vcpu.id, { base: page.page(base), top: page.page(top), ripas, changeDestroyed: flags === status("RSI_CHANGE_DESTROYED"), key });
      // rec_exit_ripas_change(): the VMM sees the whole request, marked private iff it asks for RAM.
      return memoryFaultExit(ctx, base, top - base, ripas === "RAM");
    }
    case "cca:ipa-state-get": {
      settlePending(realm, vcpu, key);
      if (!rangeOk(ctx, realm, base, top)) return returned(ctx, { status: status("RSI_ERROR_INPUT") });
      const run = realm.ripasRun(page.page(base), page.page(top));
      return returned(ctx, { status: status("RSI_SUCCESS"), top: BigInt(run.top) * page.size, ripas: status(`RSI_RIPAS_${run.ripas}`) });
    }
  }
  throw new DriverFailure("unsupported", `a realm guest has no architecture action ${action.action} (it has ${CCA_ACTIONS.join(", ")})`);
}

/**
 * The RMM's view of a realm access to a protected IPA, before KVM's stage 2 is used
 * (undefined: go on as for any guest). EMPTY aborts inside the realm; RAM that is not yet
 * assigned exits to KVM, which maps a guest_memfd page (delegate + RTT_DATA_MAP) after
 * gmem_abort()'s attribute check; DESTROYED exits to KVM too.
 */
export function realmAccess(ctx: SyscallContext, vcpu: Vcpu, realm: Realm, gfn: number, isPrivate: boolean, write: boolean): OpResult | undefined {
  if (!isPrivate) return undefined;
  settlePending(realm, vcpu, "access");
  const vm = vcpu.vm;
  const page = ctx.kernel.page;
  if (gfn >= realm.protectedGfns) throw new DriverFailure("unsupported", "a protected access above the realm's protected IPA space");
  const entry = realm.entry(gfn);
  switch (entry.ripas) {
    case "EMPTY":
      // The RMM injects a synchronous external abort; the program's handler ends it.
      return returned(ctx, { sea: 1n });
    case "DESTROYED":
      // gmem_abort()'s attribute check comes first and is the VMM's to resolve.
      if (!vm.isPrivate(gfn)) return memoryFaultExit(ctx, page.address(gfn), page.size, true);
      throw new DriverFailure("unsupported", "a realm access to a DESTROYED IPA whose attribute is private (the RMM keeps exiting; KVM cannot make it usable)");
    case "RAM":
      if (entry.data !== undefined) return undefined;
      break;
  }
  const r = handleFault(vm, { gfn, write, isPrivate: true });
  if (r.kind !== "mapped") return undefined;
  // realm_map_protected(): delegate the page, then RMI_RTT_DATA_MAP (contents zero).
  realm.granules.delegate(r.spte.folio);
  realm.dataMap(gfn, r.spte.folio);
  return undefined;
}
