// struct mm_struct: the VMAs of a process, its private (anonymous and copied-on-
// write) pages, its page tables, host page faults, get_user_pages for KVM, and the
// MMU notifiers that tell KVM when a host mapping changes.
import { invariant } from "../lib/invariants.js";
import { IntervalMap } from "../lib/interval-map.js";
import { Folio, type FolioOwner } from "../mm/folio.js";
import { inheritGuestOnly, isGuestOnly } from "../mm/guest-only.js";
import type { Kernel } from "../kernel.js";
import { PROT_NONE, Vma, type HostFault } from "./vma.js";

/** mmu_notifier_ops.invalidate_range_start, as KVM registers it. */
export interface MmuNotifier {
  invalidateRange(startPage: number, endPage: number): void;
}

/** What KVM's hva_to_pfn() got for a host virtual page. */
export type GupResult = { folio: Folio; writable: boolean } | "fault" | "hwpoison";

/** A host page-table entry: the page a CPU access through this virtual page reaches. */
export interface Pte {
  readonly folio: Folio;
  /** a write may use it without a fault (no copy-on-write pending) */
  readonly writable: boolean;
}

export class AddressSpace {
  readonly vmas = new IntervalMap<Vma>();
  /** private pages by virtual page number: anonymous memory and copies of file pages */
  readonly privatePages = new IntervalMap<Folio>();
  /**
   * The page tables: filled by faults, used by later accesses without re-checking the
   * mapping, and cleared wherever the kernel zaps PTEs (every MMU notifier invalidation
   * here; mprotect drops them too instead of changing them). A zap that is missing shows up
   * as a stale host access, and as an invariant violation.
   */
  readonly ptes = new IntervalMap<Pte>();
  readonly notifiers = new Set<MmuNotifier>();
  readonly anonOwner: FolioOwner;

  constructor(
    readonly kernel: Kernel,
    pid: bigint,
  ) {
    this.anonOwner = { kind: "anon", ino: -Number(pid) - 1 };
  }

  get pageSize(): number {
    return this.kernel.page.bytes;
  }

  /** Zap the PTEs of [start, end) and tell every MMU notifier (mmu_notifier_invalidate_range_start). */
  notify(start: number, end: number): void {
    if (start < end) this.ptes.delete(start, end);
    for (const n of this.notifiers) n.invalidateRange(start, end);
  }

  /** split_vma at a page boundary, so later changes apply to whole VMAs. */
  splitAt(page: number): void {
    const hit = this.vmas.get(page);
    if (hit === undefined || hit.start === page) return;
    const vma = hit.value;
    const right = vma.piece(page, vma.end);
    vma.end = page;
    this.vmas.set(vma.start, page, vma);
    this.vmas.set(page, right.end, right);
  }

  /** The VMAs covering parts of [start, end), split so that each lies inside it. */
  vmasIn(start: number, end: number): Vma[] {
    this.splitAt(start);
    this.splitAt(end);
    return this.vmas.overlapping(start, end).map((iv) => iv.value);
  }

  /** Remove [start, end) from the address space: notify, drop private pages, drop file references. */
  unmap(start: number, end: number): number {
    const doomed = this.vmasIn(start, end);
    if (doomed.length === 0) return 0;
    this.notify(start, end);
    for (const vma of doomed) {
      this.vmas.delete(vma.start, vma.end);
      this.dropPrivatePages(vma.start, vma.end);
      vma.file?.put();
    }
    return doomed.length;
  }

  dropPrivatePages(start: number, end: number): void {
    for (const piece of this.privatePages.delete(start, end)) piece.value.freed = true;
  }

  /**
   * A CPU access to a virtual page: through its PTE if it allows the access, else handle_mm_fault.
   * `force` is GUP's FOLL_FORCE (check_vma_flags): past PROT_NONE for reads, and past a missing
   * PROT_WRITE for writes to a private (COW) mapping, whose page is then copied; the PTE stays read-only.
   */
  fault(page: number, write: boolean, force = false): HostFault {
    const vma = this.vmas.get(page)?.value;
    if (vma === undefined) return "SIGSEGV";
    const canWrite = (vma.prot & this.kernel.K.prot.WRITE) !== 0;
    // x86 pages are readable whenever they are mapped at all.
    if (!force && (vma.prot === PROT_NONE || (write && !canWrite))) return "SIGSEGV";
    if (force && write && !canWrite && vma.shared) return "SIGSEGV";
    const pte = this.ptes.get(page)?.value;
    if (pte !== undefined && (!write || pte.writable)) return pte.folio;
    const found = this.handleFault(vma, page, write);
    if (typeof found === "string") return found;
    // A guest-only page (poison-rfc-v2) faults as a hardware-poisoned one.
    if (isGuestOnly(found)) return "HWPOISON";
    // A page the process owns, or a shared one, is mapped writable at once; a file page of a
    // private mapping stays read-only until a write copies it.
    const writable = canWrite && (vma.shared || found.owner === this.anonOwner);
    this.ptes.set(page, page + 1, { folio: found, writable });
    return found;
  }

  /** handle_mm_fault(): the page behind a virtual page, allocating or copying as needed. */
  private handleFault(vma: Vma, page: number, write: boolean): HostFault {
    if (!vma.shared) {
      const own = this.privatePages.get(page)?.value;
      if (own !== undefined) return own;
      if (vma.backing === null) return this.newPrivatePage(page, undefined);
    }
    const found = vma.backing!.userFault(vma.indexOf(page));
    if (typeof found === "string" || vma.shared || !write) return found;
    // Write to a private file mapping: copy on write, which changes the PTE.
    this.notify(page, page + 1);
    return this.newPrivatePage(page, found);
  }

  private newPrivatePage(page: number, from: Folio | undefined): Folio {
    const folio = from ? from.copy(this.anonOwner, page) : new Folio(this.anonOwner, page, this.pageSize);
    folio.uptodate = true;
    this.privatePages.set(page, page + 1, folio);
    return folio;
  }

  /** The page a host access would reach now, without faulting anything in. */
  currentPage(page: number): Folio | undefined {
    const vma = this.vmas.get(page)?.value;
    if (vma === undefined) return undefined;
    if (!vma.shared) {
      const own = this.privatePages.get(page)?.value;
      if (own !== undefined || vma.backing === null) return own;
    }
    return vma.backing!.cachedPage(vma.indexOf(page));
  }

  /** hva_to_pfn: the page behind a host virtual page for a guest fault, writable when its PTE is. */
  getUserPage(page: number, write: boolean, force = false): GupResult {
    const r = this.fault(page, write, force);
    if (r === "HWPOISON") return "hwpoison";
    if (typeof r === "string") return "fault";
    return { folio: r, writable: this.ptes.get(page)!.value.writable };
  }

  /** fork: the child's copy (private pages copied, shared ones shared, MADV_DONTFORK ranges left out). */
  cloneFor(child: AddressSpace): void {
    for (const { value: vma } of this.vmas.all()) {
      if (vma.dontFork) continue;
      child.vmas.set(vma.start, vma.end, vma.piece(vma.start, vma.end));
      for (const { start, value } of this.privatePages.overlapping(vma.start, vma.end))
        child.privatePages.set(start, start + 1, inheritGuestOnly(value, value.copy(child.anonOwner, start)));
    }
  }

  teardown(): number {
    const all = this.vmas.all();
    for (const { value: vma } of all) this.unmap(vma.start, vma.end);
    return all.length;
  }

  checkInvariants(): void {
    this.vmas.checkInvariants();
    this.privatePages.checkInvariants();
    for (const iv of this.vmas.all()) {
      const vma = iv.value;
      invariant(vma.start === iv.start && vma.end === iv.end, () => `VMA [${vma.start}, ${vma.end}) stored as [${iv.start}, ${iv.end})`);
      invariant(vma.file === null || (!vma.file.released && vma.file.refs > 0), () => `VMA at page ${vma.start} maps a released file`);
    }
    for (const iv of this.privatePages.all()) {
      invariant(!iv.value.freed, () => `freed private page mapped at page ${iv.start}`);
      const vma = this.vmas.get(iv.start)?.value;
      invariant(vma !== undefined && !vma.shared, () => `private page at page ${iv.start} outside a private mapping`);
    }
    this.ptes.checkInvariants();
    for (const { start, end, value: pte } of this.ptes.all()) {
      invariant(end === start + 1, () => `PTE [${start}, ${end}) spans several pages`);
      invariant(this.vmas.get(start) !== undefined, () => `PTE at page ${start} outside every VMA`);
      invariant(!pte.folio.freed && !pte.folio.hwpoison, () => `PTE at page ${start} maps a ${pte.folio.freed ? "freed" : "poisoned"} page`);
      invariant(this.currentPage(start) === pte.folio, () => `PTE at page ${start} is not the page its mapping holds now`);
    }
  }
}
