// The RMM's granule state per physical page (RMM spec DEN0137 "Granule"; TF-RMM
// lib/granule/include/granule_types.h), kept as ranges of page frame numbers. Only the
// states guest_memfd pages drive are modelled: a guest_memfd folio becomes DELEGATED
// then DATA when a realm maps or populates it, and goes back through DELEGATED to
// UNDELEGATED (Non-secure) when KVM unmaps it. The RMM's own metadata granules (the
// realm descriptor RD, one REC per vCPU) are tracked with frame numbers of their own;
// RTT granules are not modelled (KVM creates and folds them out of sight of userspace).
// Folio ids serve as frame numbers; metadata granules use negative numbers so they never
// meet a folio.
import { invariant } from "../../../lib/invariants.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import type { Folio } from "../../../mm/folio.js";

export type GranuleKind = "DELEGATED" | "RD" | "REC" | "DATA";

/** A granule in the Realm PAS. Absent from the table: UNDELEGATED (Non-secure, the host's). */
export interface Granule {
  kind: GranuleKind;
  /** the realm that owns it (RD, REC, DATA) */
  realm?: number;
  /** DATA: the protected IPA (gfn) whose RTT entry maps it */
  gfn?: number;
  /** the guest_memfd page, for granules that are one */
  folio?: Folio;
}

/** What a failed RMI command reports (RMI_ERROR_INPUT: the granule is in the wrong state). */
export class RmiError extends Error {
  constructor(readonly command: string, pfn: number, state: string) {
    super(`${command} refused for granule ${pfn} in state ${state}`);
  }
}

export class GranuleTable {
  private readonly states = new IntervalMap<Granule>();
  /** next frame number handed to an RMM metadata granule */
  private nextMeta = -1;

  state(pfn: number): Granule | undefined {
    return this.states.get(pfn)?.value;
  }

  kindOf(pfn: number): GranuleKind | "UNDELEGATED" {
    return this.state(pfn)?.kind ?? "UNDELEGATED";
  }

  /**
   * RMI_GRANULE_DELEGATE: UNDELEGATED -> DELEGATED (the EL3 monitor moves it to the Realm
   * PAS; its contents are scrubbed). A granule already in the Realm PAS is refused.
   */
  delegate(folio: Folio): void {
    const s = this.state(folio.id);
    if (s !== undefined) throw new RmiError("RMI_GRANULE_DELEGATE", folio.id, s.kind);
    folio.clear();
    this.states.set(folio.id, folio.id + 1, { kind: "DELEGATED", folio });
  }

  /** RMI_GRANULE_UNDELEGATE: DELEGATED -> UNDELEGATED (zeroed), the page is the host's again. */
  undelegate(folio: Folio): void {
    const s = this.state(folio.id);
    if (s?.kind !== "DELEGATED") throw new RmiError("RMI_GRANULE_UNDELEGATE", folio.id, s?.kind ?? "UNDELEGATED");
    folio.clear();
    this.states.delete(folio.id, folio.id + 1);
  }

  /** DATA_CREATE / RTT_DATA_MAP: DELEGATED -> DATA of realm at gfn. */
  toData(folio: Folio, realm: number, gfn: number): void {
    const s = this.state(folio.id);
    if (s?.kind !== "DELEGATED") throw new RmiError("RMI_RTT_DATA_MAP", folio.id, s?.kind ?? "UNDELEGATED");
    this.states.set(folio.id, folio.id + 1, { kind: "DATA", realm, gfn, folio });
  }

  /** DATA_DESTROY / RTT_DATA_UNMAP: DATA -> DELEGATED; the RMM scrubs the contents. */
  dataDestroyed(folio: Folio): void {
    const s = this.state(folio.id);
    if (s?.kind !== "DATA") throw new RmiError("RMI_RTT_DATA_UNMAP", folio.id, s?.kind ?? "UNDELEGATED");
    folio.clear();
    this.states.set(folio.id, folio.id + 1, { kind: "DELEGATED", folio });
  }

  /** An RD or REC granule for realm: delegated and created in one step. */
  createMeta(kind: "RD" | "REC", realm: number): number {
    const pfn = this.nextMeta--;
    this.states.set(pfn, pfn + 1, { kind, realm });
    return pfn;
  }

  /** RMI_REALM_DESTROY / RMI_REC_DESTROY, then undelegate. */
  destroyMeta(pfn: number): void {
    this.states.delete(pfn, pfn + 1);
  }

  /** Every granule in the Realm PAS, for invariant checks. */
  all(): { pfn: number; granule: Granule }[] {
    return this.states.all().flatMap((iv) => Array.from({ length: iv.end - iv.start }, (_, i) => ({ pfn: iv.start + i, granule: iv.value })));
  }

  /**
   * RMM invariants (granule_types.h): a DELEGATED granule holds only zeroes; a DATA granule
   * names its realm and IPA.
   */
  checkInvariants(): void {
    this.states.checkInvariants();
    for (const { pfn, granule } of this.all()) {
      if (granule.kind === "DATA") invariant(granule.realm !== undefined && granule.gfn !== undefined, () => `granule ${pfn}: DATA without its realm and IPA`);
      const folio = granule.folio;
      if (granule.kind === "DELEGATED" && folio !== undefined)
        invariant(folio.read(0, folio.size).every((b) => b === 0), () => `granule ${pfn}: DELEGATED but not zero`);
    }
  }
}

const TABLES = new WeakMap<object, GranuleTable>();

/** The machine's granule table (one per modelled kernel: granules are physical). */
export function granulesOf(kernel: object): GranuleTable {
  let t = TABLES.get(kernel);
  if (t === undefined) TABLES.set(kernel, (t = new GranuleTable()));
  return t;
}
