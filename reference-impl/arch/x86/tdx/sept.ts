// The Secure EPT of one TD, as the TDX module keeps it: per private gfn (shared bit
// clear) a leaf state and the page it maps. KVM never reads it; it only issues the
// SEAMCALLs that move it (tdx_mem_page_aug, tdx_gmem_post_populate's TDH.MEM.PAGE.ADD,
// tdx_sept_zap_private_spte's TDH.MEM.RANGE.BLOCK, tdx_track's TDH.MEM.TRACK,
// tdx_sept_drop_private_spte's TDH.MEM.PAGE.REMOVE in arch/x86/kvm/vmx/tdx.c), and the
// guest moves PENDING to MAPPED with TDG.MEM.PAGE.ACCEPT (intel/tdx-module
// src/td_dispatcher/vm_exits/tdg_mem_page_accept.c). States are the module's (sept state names): a leaf that is
// absent is FREE; REMOVE makes a leaf FREE again (the model counts removals, the module
// keeps no REMOVED state). Mainline maps private memory at 4K only
// (tdx_gmem_private_max_mapping_level), so every leaf covers one gfn.
import { invariant } from "../../../lib/invariants.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import type { Folio } from "../../../mm/folio.js";

export type SeptState = "pending" | "mapped" | "blocked" | "pending-blocked";

export interface SeptLeaf {
  readonly state: SeptState;
  /** the page the leaf maps (its HPA) */
  readonly folio: Folio;
  /** TD epoch when the leaf was blocked (TLB tracking must move past it before REMOVE) */
  readonly blockedEpoch?: number;
}

/** What TDG.MEM.PAGE.ACCEPT found (check_tdaccept_failure). */
export type AcceptOutcome = "accepted" | "already-accepted" | "size-mismatch" | "violation";

export class SecureEpt {
  readonly leaves = new IntervalMap<SeptLeaf>();
  /** TD epoch, incremented by TDH.MEM.TRACK */
  epoch = 0;
  /** TDH.MEM.PAGE.REMOVE calls that succeeded */
  removals = 0;

  leaf(gfn: number): SeptLeaf | undefined {
    return this.leaves.get(gfn)?.value;
  }

  /** TDH.MEM.PAGE.AUG: a FREE leaf becomes PENDING (no guest access until ACCEPT). */
  aug(gfn: number, folio: Folio): void {
    invariant(this.leaf(gfn) === undefined, () => `TDH.MEM.PAGE.AUG of gfn ${gfn}: the leaf is not FREE`);
    this.leaves.set(gfn, gfn + 1, { state: "pending", folio });
  }

  /** TDH.MEM.PAGE.ADD: the module copies src into the page (encrypting it with the TD's key); the leaf is MAPPED, accepted already. */
  add(gfn: number, folio: Folio, src: Uint8Array): void {
    invariant(this.leaf(gfn) === undefined, () => `TDH.MEM.PAGE.ADD of gfn ${gfn}: the leaf is not FREE`);
    folio.clear();
    folio.write(0, src);
    this.leaves.set(gfn, gfn + 1, { state: "mapped", folio });
  }

  /**
   * TDG.MEM.PAGE.ACCEPT of the leaf at gfn at 4K (level 0) or of the 2M range starting
   * at gfn (level 1). 2M: KVM maps 4K leaves only, so a 2M range with any leaf under it
   * is a non-leaf entry (SIZE_MISMATCH); an empty one has no leaf to accept (violation).
   * 4K: PENDING is zeroed and MAPPED; a guest-accessible leaf is already accepted; a
   * FREE or blocked leaf is an EPT violation the host must resolve.
   */
  accept(gfn: number, level: 0 | 1): AcceptOutcome {
    if (level === 1) return this.leaves.intersects(gfn, gfn + 512) ? "size-mismatch" : "violation";
    const leaf = this.leaf(gfn);
    if (leaf === undefined || leaf.state === "blocked" || leaf.state === "pending-blocked") return "violation";
    if (leaf.state === "mapped") return "already-accepted";
    // init_sept_4k_page(): the page is zeroed with the TD's private key.
    leaf.folio.clear();
    this.leaves.set(gfn, gfn + 1, { state: "mapped", folio: leaf.folio });
    return "accepted";
  }

  /** TDH.MEM.RANGE.BLOCK: no new translations of the leaf (MAPPED -> BLOCKED, PENDING -> PENDING_BLOCKED). */
  block(gfn: number): SeptLeaf {
    const leaf = this.leaf(gfn);
    invariant(leaf !== undefined && (leaf.state === "mapped" || leaf.state === "pending"), () => `TDH.MEM.RANGE.BLOCK of gfn ${gfn}: leaf is ${leaf?.state ?? "FREE"}`);
    const blocked: SeptLeaf = { state: leaf.state === "mapped" ? "blocked" : "pending-blocked", folio: leaf.folio, blockedEpoch: this.epoch };
    this.leaves.set(gfn, gfn + 1, blocked);
    return blocked;
  }

  /** TDH.MEM.TRACK: a new TD epoch; once every vCPU has exited (KVM kicks them), older translations are gone. */
  track(): void {
    this.epoch++;
  }

  /**
   * TDH.MEM.PAGE.REMOVE: the blocked leaf becomes FREE once TLB tracking passed the
   * epoch it was blocked in, if the TD has run (TDX_GPA_RANGE_NOT_BLOCKED,
   * TDX_TLB_TRACKING_NOT_DONE otherwise, which KVM treats as a bug). Returns the page,
   * which KVM then writes back (TDH.PHYMEM.PAGE.WBINVD) and clears.
   */
  remove(gfn: number, tdHasRun: boolean): Folio {
    const leaf = this.leaf(gfn);
    invariant(leaf !== undefined && leaf.blockedEpoch !== undefined, () => `TDH.MEM.PAGE.REMOVE of gfn ${gfn}: leaf is ${leaf?.state ?? "FREE"}, not blocked`);
    invariant(!tdHasRun || this.epoch > leaf.blockedEpoch, () => `TDH.MEM.PAGE.REMOVE of gfn ${gfn}: TLB tracking not done since it was blocked`);
    this.leaves.delete(gfn, gfn + 1);
    this.removals++;
    return leaf.folio;
  }

  checkInvariants(): void {
    this.leaves.checkInvariants();
    for (const { start, end, value } of this.leaves.all()) {
      invariant(end === start + 1, () => `S-EPT leaf [${start}, ${end}) is not 4K`);
      // A leaf blocked outside a zap is one KVM forgot to remove (a zap is BLOCK + TRACK + REMOVE in one go).
      invariant(value.state === "pending" || value.state === "mapped", () => `S-EPT leaf of gfn ${start} left ${value.state}`);
    }
  }
}
