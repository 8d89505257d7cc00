// The pages of a file (struct address_space): ranges of allocated pages that were
// never touched are kept as one range each, and a page gets its own Folio only
// when something maps or writes it. Allocating 2^50 pages costs one range.
import { IntervalMap } from "../lib/interval-map.js";
import { invariant } from "../lib/invariants.js";
import { Folio, type FolioOwner } from "./folio.js";

/** Marker value: allocated pages that have no Folio object yet, by the NUMA node they are on. */
interface Allocated {
  readonly kind: "allocated";
  readonly node: number;
}
type Slot = Folio | Allocated;
const isAllocated = (s: Slot): s is Allocated => !(s instanceof Folio);

export class PageCache {
  private readonly pages = new IntervalMap<Slot>({ same: (a, b) => a === b && isAllocated(a) });
  /** one marker per node, so that adjacent allocated ranges on a node are one range (per cache, not module state that outlives a model) */
  private readonly markers: Allocated[] = [];
  /** number of allocated pages (st_blocks) */
  private allocated = 0;

  constructor(
    readonly owner: FolioOwner,
    readonly pageSize: number,
  ) {}

  get allocatedPages(): number {
    return this.allocated;
  }

  /** The folio at index, creating the Folio object for an allocated page; undefined for a hole. */
  find(index: number): Folio | undefined {
    const hit = this.pages.get(index);
    if (hit === undefined) return undefined;
    if (!isAllocated(hit.value)) return hit.value;
    const folio = new Folio(this.owner, index, this.pageSize);
    folio.node = hit.value.node;
    this.pages.set(index, index + 1, folio);
    return folio;
  }

  has(index: number): boolean {
    return this.pages.get(index) !== undefined;
  }

  /** Allocate the page at index on `node` if it is a hole (filemap_grab_folio); the caller accounts for allocation failure. */
  findOrCreate(index: number, node = 0): Folio {
    const found = this.find(index);
    if (found) return found;
    const folio = new Folio(this.owner, index, this.pageSize);
    folio.node = node;
    this.pages.set(index, index + 1, folio);
    this.allocated++;
    return folio;
  }

  /** Holes of [start, end), in order. */
  holes(start: number, end: number): [number, number][] {
    return this.pages.gaps(start, end);
  }

  /** Mark [start, end) allocated on `node` where it is a hole. */
  fill(start: number, end: number, node = 0): void {
    for (const [s, e] of this.pages.gaps(start, end)) {
      this.pages.set(s, e, (this.markers[node] ??= { kind: "allocated", node }));
      this.allocated += e - s;
    }
  }

  /** Drop [start, end) (truncate_inode_pages_range); returns the folios that were materialized, now freed. */
  remove(start: number, end: number): Folio[] {
    const freed: Folio[] = [];
    for (const piece of this.pages.delete(start, end)) {
      this.allocated -= piece.end - piece.start;
      if (!isAllocated(piece.value)) {
        piece.value.freed = true;
        freed.push(piece.value);
      }
    }
    return freed;
  }

  /** First allocated index >= from, or undefined. */
  nextAllocated(from: number): number | undefined {
    const [first] = this.pages.overlapping(from, Number.MAX_SAFE_INTEGER);
    return first === undefined ? undefined : Math.max(first.start, from);
  }

  checkInvariants(): void {
    this.pages.checkInvariants();
    // The count is kept apart from the ranges (st_blocks reads it): both must agree.
    let total = 0;
    for (const iv of this.pages.all()) total += iv.end - iv.start;
    invariant(total === this.allocated, () => `page cache ${this.owner.ino}: allocated count ${this.allocated} != ${total}`);
  }
}
