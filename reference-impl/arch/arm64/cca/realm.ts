// One realm as KVM and the RMM keep it (struct realm in arch/arm64/include/asm/kvm_rmi.h,
// the RMM's realm descriptor and RTT), reduced to what userspace can observe: the realm
// state (REALM_STATE_NONE/NEW/ACTIVE/DEAD), and per protected IPA the RTT entry (HIPAS
// UNASSIGNED or ASSIGNED, with its DATA granule) and the RIPAS (EMPTY, RAM, DESTROYED).
// The RMI commands below are the RMM v2.0 range commands the v14 series calls
// (RMI_RTT_INIT_RIPAS, RMI_RTT_DATA_MAP_INIT, RMI_RTT_DATA_MAP, RMI_RTT_DATA_UNMAP,
// RMI_RTT_SET_RIPAS), with the RMM v1.0 per-granule semantics (hw-models.md 4.3): they
// always succeed here except where a rule of the spec refuses them.
import { invariant } from "../../../lib/invariants.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import type { Folio } from "../../../mm/folio.js";
import { granulesOf, RmiError, type GranuleTable } from "./granules.js";

export type Ripas = "EMPTY" | "RAM" | "DESTROYED";
export const RIPAS_VALUES: readonly Ripas[] = ["EMPTY", "RAM", "DESTROYED"];

/** A protected RTT entry. Absent from the map: UNASSIGNED with RIPAS EMPTY (a new realm's state). */
export interface RttEntry {
  ripas: Ripas;
  /** HIPAS ASSIGNED: the DATA granule mapped there; undefined: UNASSIGNED */
  data?: Folio;
}

/** enum realm_state (kvm_rmi.h); DYING is transient in KVM and not kept */
export type RealmState = "NONE" | "NEW" | "ACTIVE" | "DEAD";

/** A RIPAS change the realm asked for (RMI_EXIT_RIPAS_CHANGE), completed at the REC's next entry. */
export interface RipasRequest {
  base: number;
  top: number;
  ripas: Ripas;
  changeDestroyed: boolean;
  /** the action and operands that asked, so the same guest program resumes */
  key: string;
  /** set at the REC's next entry: how far RMI_RTT_SET_RIPAS got (the realm's new_base) */
  done?: number;
}

let nextRealmId = 1;

export class Realm {
  readonly id = nextRealmId++;
  state: RealmState = "NONE";
  /** the RD granule, once created */
  rd: number | null = null;
  /** REC granules, one per vCPU id, created at activation */
  readonly recs = new Map<number, number>();
  /** protected RTT entries by gfn (below the IPA space's top bit) */
  readonly rtt = new IntervalMap<RttEntry>();
  /** RMI_EXIT_RIPAS_CHANGE requests not yet completed, per vCPU id */
  readonly pendingRipas = new Map<number, RipasRequest>();
  readonly granules: GranuleTable;

  constructor(
    kernel: object,
    /** the first unprotected gfn: the IPA's top bit (realm->ia_bits - 1) */
    readonly protectedGfns: number,
  ) {
    this.granules = granulesOf(kernel);
  }

  entry(gfn: number): RttEntry {
    return this.rtt.get(gfn)?.value ?? { ripas: "EMPTY" };
  }

  private setEntry(gfn: number, e: RttEntry): void {
    if (e.ripas === "EMPTY" && e.data === undefined) this.rtt.delete(gfn, gfn + 1);
    else this.rtt.set(gfn, gfn + 1, e);
  }

  /** realm_ensure_created(): the RD is made on first use (populate or first run). */
  ensureCreated(): "ok" | "ENXIO" | "EBUSY" {
    if (this.state === "NEW") return "ok";
    if (this.state === "DEAD") return "ENXIO";
    if (this.state === "ACTIVE") return "EBUSY";
    this.rd = this.granules.createMeta("RD", this.id);
    this.state = "NEW";
    return "ok";
  }

  /**
   * RMI_RTT_INIT_RIPAS over [start, end): a NEW realm's UNASSIGNED EMPTY entries become
   * RAM (measured); entries that populate already made RAM are left as they are.
   */
  initRipas(start: number, end: number): void {
    invariant(this.state === "NEW", () => `realm ${this.id}: RTT_INIT_RIPAS while ${this.state}`);
    const ram: RttEntry = { ripas: "RAM" };
    for (const [a, b] of this.rtt.gaps(start, end)) this.rtt.set(a, b, ram);
  }

  /**
   * RMI_RTT_DATA_MAP_INIT (DATA_CREATE): while the realm is NEW, the delegated page gets the
   * source's contents and maps gfn with RIPAS RAM. The entry must be UNASSIGNED.
   */
  dataMapInit(gfn: number, folio: Folio, contents: Uint8Array): void {
    if (this.state !== "NEW") throw new RmiError("RMI_RTT_DATA_MAP_INIT", folio.id, `realm ${this.state}`);
    if (this.entry(gfn).data !== undefined) throw new RmiError("RMI_RTT_DATA_MAP_INIT", folio.id, "entry ASSIGNED");
    this.granules.toData(folio, this.id, gfn);
    folio.write(0, contents);
    this.setEntry(gfn, { ripas: "RAM", data: folio });
  }

  /**
   * RMI_RTT_DATA_MAP (DATA_CREATE_UNKNOWN) at fault time: the zeroed delegated page maps
   * gfn; the RIPAS is left as it is.
   */
  dataMap(gfn: number, folio: Folio): void {
    const e = this.entry(gfn);
    if (e.data !== undefined) throw new RmiError("RMI_RTT_DATA_MAP", folio.id, "entry ASSIGNED");
    this.granules.toData(folio, this.id, gfn);
    this.setEntry(gfn, { ripas: e.ripas, data: folio });
  }

  /**
   * RMI_RTT_DATA_UNMAP (DATA_DESTROY) of gfn: the entry becomes UNASSIGNED and RIPAS RAM
   * becomes DESTROYED; the granule is scrubbed and DELEGATED. Returns the page, or undefined
   * when nothing was assigned.
   */
  dataUnmap(gfn: number): Folio | undefined {
    const e = this.entry(gfn);
    if (e.data === undefined) return undefined;
    this.granules.dataDestroyed(e.data);
    this.setEntry(gfn, { ripas: e.ripas === "RAM" ? "DESTROYED" : e.ripas });
    return e.data;
  }

  /**
   * RMI_RTT_SET_RIPAS for the REC's pending request, over [base, top): to RAM, EMPTY and
   * (with CHANGE_DESTROYED) DESTROYED entries become RAM; to EMPTY, every entry becomes
   * EMPTY. Without CHANGE_DESTROYED the command stops at the first DESTROYED entry. Returns
   * how far it got (out_top).
   */
  setRipas(req: RipasRequest, base: number): number {
    for (let gfn = base; gfn < req.top; gfn++) {
      const e = this.entry(gfn);
      if (req.ripas === "RAM" && e.ripas === "DESTROYED" && !req.changeDestroyed) return gfn;
      this.setEntry(gfn, { ...e, ripas: req.ripas });
    }
    return req.top;
  }

  /** RIPAS of gfn and the end of the run of IPAs from gfn below end that share it (RSI_IPA_STATE_GET). */
  ripasRun(gfn: number, end: number): { ripas: Ripas; top: number } {
    const ripas = this.entry(gfn).ripas;
    let top = gfn + 1;
    while (top < end && this.entry(top).ripas === ripas) top++;
    return { ripas, top };
  }

  /** kvm_destroy_realm(): everything is unmapped and undelegated, the RD and RECs destroyed. */
  destroy(): Folio[] {
    const freed: Folio[] = [];
    for (const iv of this.rtt.all())
      for (let gfn = iv.start; gfn < iv.end; gfn++) {
        const page = this.dataUnmap(gfn);
        if (page !== undefined) freed.push(page);
      }
    this.rtt.clear();
    for (const pfn of this.recs.values()) this.granules.destroyMeta(pfn);
    this.recs.clear();
    if (this.rd !== null) this.granules.destroyMeta(this.rd);
    this.rd = null;
    this.state = "DEAD";
    return freed;
  }

  /**
   * hw-models.md 4.6: a DATA granule is mapped by exactly one entry, of this realm, at its
   * own IPA (1, 3); nothing is assigned before the realm exists; entries lie in the protected
   * half of the IPA space.
   */
  checkInvariants(): void {
    this.rtt.checkInvariants();
    for (const iv of this.rtt.all()) {
      invariant(iv.end <= this.protectedGfns, () => `realm ${this.id}: RTT entry at gfn ${iv.start} above the protected IPA space`);
      for (let gfn = iv.start; gfn < iv.end; gfn++) {
        const data = iv.value.data;
        if (data === undefined) continue;
        invariant(this.state !== "NONE", () => `realm ${this.id}: gfn ${gfn} ASSIGNED before the realm was created`);
        const g = this.granules.state(data.id);
        invariant(g?.kind === "DATA" && g.realm === this.id && g.gfn === gfn, () => `realm ${this.id}: gfn ${gfn} maps granule ${data.id}, which is ${g?.kind ?? "UNDELEGATED"} (realm ${g?.realm}, gfn ${g?.gfn})`);
      }
    }
  }
}
