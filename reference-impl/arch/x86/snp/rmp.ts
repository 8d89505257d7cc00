// The SEV-SNP reverse map table (RMP): one entry per 4 KiB system page, saying whether
// the page is assigned to a guest, to which ASID and at which GPA, at what page size,
// whether the guest validated it, and whether only the firmware may change it. Kept as
// ranges of page frame numbers: a run of consecutive frames assigned to consecutive GPAs
// with the same fields is one interval; a 2 MiB entry is one interval of 512 frames.
// An absent frame is in the Hypervisor state (an all-zero entry).
//
// Sources: AMD64 APM vol. 2 "Secure Nested Paging" (RMPUPDATE, PSMASH, PVALIDATE) and
// the Linux wrappers in arch/x86/virt/svm/sev.c (rmp_make_private, rmp_make_shared,
// psmash, snp_lookup_rmpentry) at torvalds/linux 0097f9df996f.
import { IntervalMap } from "../../../lib/interval-map.js";
import { invariant } from "../../../lib/invariants.js";
import type { Folio } from "../../../mm/folio.js";
import { GuestPlaintext } from "./plaintext.js";

/** 4 KiB entries a 2 MiB entry covers (PTRS_PER_PMD) */
export const PAGES_PER_2M = 512;

export type RmpLevel = "4K" | "2M";

/** RMPUPDATE / PSMASH return codes (APM; arch/x86/include/asm/sev.h RMPUPDATE_FAIL_OVERLAP, PSMASH_FAIL_INUSE) */
export const RMP_RET = { SUCCESS: 0, FAIL_INPUT: 1, FAIL_PERMISSION: 2, FAIL_INUSE: 3, FAIL_OVERLAP: 4 } as const;

/** An assigned entry (assigned = 1). */
export interface RmpEntry {
  readonly asid: number;
  /** gfn - pfn: each frame of the interval is assigned at GPA (pfn + delta) << 12 */
  readonly delta: number;
  readonly validated: boolean;
  /** pagesize = 2M: the interval is one aligned 512-frame entry */
  readonly huge: boolean;
  /** only the firmware may change the entry (Pre-Guest, firmware pages) */
  readonly immutable: boolean;
}

export interface RmpLookup {
  entry: RmpEntry | undefined;
  level: RmpLevel;
  /** first frame of the 2 MiB entry, or the frame itself */
  base: number;
}

/** Where guest_memfd's page frames start; the number is the model's choice (4 GiB). */
const FIRST_PFN = 0x100000;

function sameEntry(a: RmpEntry, b: RmpEntry): boolean {
  return !a.huge && !b.huge && a.asid === b.asid && a.delta === b.delta && a.validated === b.validated && a.immutable === b.immutable;
}

export class ReverseMapTable {
  readonly table = new IntervalMap<RmpEntry>({ same: sameEntry });
  /** what each guest can read back from its pages (not RMP state: the memory encryption's effect) */
  readonly plaintext = new GuestPlaintext();
  /** the frames guest_memfd folios occupy (only they can be assigned in this model) */
  readonly frames = new Map<number, Folio>();
  private readonly pfns = new WeakMap<Folio, number>();
  /** freed frames, reused last-freed first as the page allocator's per-CPU lists do */
  private readonly freeFrames: number[] = [];
  private nextPfn = FIRST_PFN;
  private nextAsid = 1;

  /** sev_asid_new(): an ASID for a new SEV guest (the model never runs out). */
  newAsid(): number {
    return this.nextAsid++;
  }

  /** The frame a folio occupies, given one on first use. */
  pfnOf(folio: Folio): number {
    let pfn = this.pfns.get(folio);
    if (pfn === undefined) {
      pfn = this.freeFrames.pop() ?? this.nextPfn++;
      this.pfns.set(folio, pfn);
      this.frames.set(pfn, folio);
    }
    return pfn;
  }

  /** The folio's frame, if it was given one. */
  framedPfn(folio: Folio): number | undefined {
    return this.pfns.get(folio);
  }

  /** The folio went back to the page allocator: its frame may back the next folio. */
  releaseFrame(folio: Folio): void {
    const pfn = this.pfns.get(folio);
    if (pfn === undefined) return;
    this.pfns.delete(folio);
    this.frames.delete(pfn);
    this.freeFrames.push(pfn);
  }

  /** snp_lookup_rmpentry(): the entry in force for pfn (a 2M entry's, when one covers it). */
  lookup(pfn: number): RmpLookup {
    const hit = this.table.get(pfn);
    if (hit === undefined) return { entry: undefined, level: "4K", base: pfn };
    return { entry: hit.value, level: hit.value.huge ? "2M" : "4K", base: hit.value.huge ? hit.start : pfn };
  }

  /** The GPA frame number pfn is assigned at, if assigned. */
  gfnOf(pfn: number): number | undefined {
    const e = this.table.get(pfn)?.value;
    return e === undefined ? undefined : pfn + e.delta;
  }

  /**
   * RMPUPDATE: replace the entry of pfn at level with `value` (null: the Hypervisor
   * state). Every update clears validated. An immutable entry is refused; a 2M update
   * needs an aligned frame and no 4K assignment inside; a 4K update inside a 2M entry
   * overlaps it (callers PSMASH first).
   */
  update(pfn: number, level: RmpLevel, value: Omit<RmpEntry, "validated" | "huge"> | null): number {
    const end = level === "2M" ? pfn + PAGES_PER_2M : pfn + 1;
    if (level === "2M" && pfn % PAGES_PER_2M !== 0) return RMP_RET.FAIL_INPUT;
    const inside = this.table.overlapping(pfn, end);
    if (inside.some((iv) => iv.value.immutable)) return RMP_RET.FAIL_PERMISSION;
    if (level === "4K" && inside.some((iv) => iv.value.huge)) return RMP_RET.FAIL_OVERLAP;
    if (level === "2M" && inside.some((iv) => !iv.value.huge || iv.start !== pfn)) return RMP_RET.FAIL_OVERLAP;
    this.table.delete(pfn, end);
    if (value !== null) this.table.set(pfn, end, { ...value, validated: false, huge: level === "2M" });
    return RMP_RET.SUCCESS;
  }

  /** rmp_make_private(): assign pfn (at level) to asid at gfn. */
  makePrivate(pfn: number, gfn: number, level: RmpLevel, asid: number, immutable: boolean): number {
    return this.update(pfn, level, { asid, delta: gfn - pfn, immutable });
  }

  /** rmp_make_shared(): back to the Hypervisor state. */
  makeShared(pfn: number, level: RmpLevel): number {
    const rc = this.update(pfn, level, null);
    // Whatever the page holds is no longer plaintext to any guest.
    if (rc === RMP_RET.SUCCESS) for (let f = pfn; f < pfn + (level === "2M" ? PAGES_PER_2M : 1); f++) this.forgetFrame(f);
    return rc;
  }

  private forgetFrame(pfn: number): void {
    const folio = this.frames.get(pfn);
    if (folio !== undefined) this.plaintext.forget(folio);
  }

  /**
   * snp_page_reclaim(): the firmware's SNP_PAGE_RECLAIM takes back a page it owns
   * (immutable), then KVM's rmp_make_shared() returns it to the Hypervisor state.
   */
  reclaim(pfn: number): void {
    const { entry } = this.lookup(pfn);
    if (entry?.immutable) this.table.set(pfn, pfn + 1, { ...entry, immutable: false });
    this.makeShared(pfn, "4K");
  }

  /** PSMASH: split the 2M entry covering pfn into 512 4K entries with the same fields, validated kept. */
  psmash(pfn: number): number {
    const base = pfn - (pfn % PAGES_PER_2M);
    const hit = this.table.get(base);
    // Only an assigned 2M entry can be smashed (APM: FAIL_INPUT otherwise).
    if (hit === undefined || !hit.value.huge) return RMP_RET.FAIL_INPUT;
    this.table.set(hit.start, hit.end, { ...hit.value, huge: false });
    return RMP_RET.SUCCESS;
  }

  /** Set or clear validated on the entry in force for pfn (PVALIDATE's effect, or the firmware's at launch). */
  setValidated(pfn: number, validated: boolean, clearImmutable = false): void {
    const { entry, level, base } = this.lookup(pfn);
    invariant(entry !== undefined, () => `RMP: validating frame ${pfn}, which is not assigned`);
    const end = level === "2M" ? base + PAGES_PER_2M : base + 1;
    this.table.set(base, end, { ...entry, validated, immutable: clearImmutable ? false : entry.immutable });
  }

  /**
   * The RMP's own invariants (hw-models.md 1.8, items 6-8): an entry has an owner; a 2M
   * entry is one aligned 512-frame range at an aligned GPA; a validated entry is no longer
   * firmware-only (LAUNCH_UPDATE clears immutable as it validates); an assigned frame backs
   * a live page (a freed page must have been given back first, 1.8 item 2).
   */
  checkInvariants(): void {
    this.table.checkInvariants();
    for (const iv of this.table.all()) {
      const e = iv.value;
      const where = `RMP frames [${iv.start}, ${iv.end}) (ASID ${e.asid})`;
      invariant(e.asid > 0, () => `${where}: assigned without an ASID`);
      invariant(!(e.validated && e.immutable), () => `${where}: validated and still immutable`);
      if (e.huge) {
        invariant(iv.start % PAGES_PER_2M === 0 && iv.end - iv.start === PAGES_PER_2M, () => `${where}: a 2M entry that is not one aligned 2M frame range`);
        invariant((iv.start + e.delta) % PAGES_PER_2M === 0, () => `${where}: a 2M entry at an unaligned GPA`);
      }
      for (let pfn = iv.start; pfn < iv.end; pfn++) {
        const folio = this.frames.get(pfn);
        invariant(folio !== undefined, () => `${where}: frame ${pfn} is assigned but holds no page (freed without going back to the hypervisor)`);
        invariant(!folio.freed, () => `${where}: frame ${pfn} is assigned but its page ${folio.id} was freed`);
      }
    }
  }
}
