// The pKVM hypervisor's page ownership (arch/arm64/kvm/hyp/nvhe/mem_protect.c, states of
// arch/arm64/kvm/hyp/include/nvhe/memory.h enum pkvm_page_state). Each component keeps its
// own state of a page: the host in hyp_vmemmap (per physical page), each guest in its
// stage-2 software bits (per IPA page). Both are kept here as ranges: the host's over the
// pages of each guest_memfd inode (the model's physical memory of protected guests), a
// guest's over its gfns. The host stage-2 is an identity map: it maps exactly the pages
// whose host state is OWNED or SHARED_BORROWED; a page another component owns is an
// invalid entry annotated with its owner.
import type { GmemInode } from "../../../guest_memfd/inode.js";
import { IntervalMap } from "../../../lib/interval-map.js";
import { invariant } from "../../../lib/invariants.js";
import type { Folio } from "../../../mm/folio.js";
import type { Vm } from "../../../vm/vm.js";

/** enum pkvm_page_state */
export const PageState = { OWNED: 0, SHARED_OWNED: 1, SHARED_BORROWED: 2, NOPAGE: 3 } as const;
export type PageState = (typeof PageState)[keyof typeof PageState];

/**
 * The host's state of a run of pages of one inode; absent = OWNED. `vm`: the guest that owns
 * or lends them; `gfnDelta`: gfn - index (relative, so a cut range keeps its value).
 */
interface HostPages {
  state: PageState;
  vm: Vm;
  gfnDelta: number;
}

/** A guest's state of a run of its gfns; absent = NOPAGE. `indexDelta`: index - gfn in `inode`. */
interface GuestPages {
  state: PageState;
  inode: GmemInode;
  indexDelta: number;
}

/** What a mem_protect.c transition answers: 0, or the error its caller sees. */
export type HypResult = 0 | "EPERM" | "EFAULT";

const hostOptions = {
  same: (a: HostPages, b: HostPages) => a.state === b.state && a.vm === b.vm && a.gfnDelta === b.gfnDelta,
};
const guestOptions = {
  same: (a: GuestPages, b: GuestPages) => a.state === b.state && a.inode === b.inode && a.indexDelta === b.indexDelta,
};

export class PkvmHyp {
  /** host state per guest_memfd inode, by page index */
  private readonly host = new Map<GmemInode, IntervalMap<HostPages>>();
  /** each protected guest's state, by gfn */
  private readonly guests = new Map<Vm, IntervalMap<GuestPages>>();

  hostState(inode: GmemInode, index: number): PageState {
    return this.host.get(inode)?.get(index)?.value.state ?? PageState.OWNED;
  }

  guestState(vm: Vm, gfn: number): PageState {
    return this.guests.get(vm)?.get(gfn)?.value.state ?? PageState.NOPAGE;
  }

  /** The guest_memfd page behind a gfn the guest holds, if any. */
  guestPage(vm: Vm, gfn: number): { inode: GmemInode; index: number } | undefined {
    const v = this.guests.get(vm)?.get(gfn)?.value;
    return v && { inode: v.inode, index: gfn + v.indexDelta };
  }

  /** Whether the host stage-2 maps the page: the host owns it or borrows it. */
  hostStage2Maps(inode: GmemInode, index: number): boolean {
    const s = this.hostState(inode, index);
    return s === PageState.OWNED || s === PageState.SHARED_BORROWED;
  }

  private setHost(inode: GmemInode, index: number, value: HostPages | null): void {
    let map = this.host.get(inode);
    if (map === undefined) this.host.set(inode, (map = new IntervalMap(hostOptions)));
    if (value === null) map.delete(index, index + 1);
    else map.set(index, index + 1, value);
  }

  private setGuest(vm: Vm, gfn: number, value: GuestPages | null): void {
    let map = this.guests.get(vm);
    if (map === undefined) this.guests.set(vm, (map = new IntervalMap(guestOptions)));
    if (value === null) map.delete(gfn, gfn + 1);
    else map.set(gfn, gfn + 1, value);
  }

  /**
   * __pkvm_host_donate_guest(), at the guest's stage-2 fault: the host gives up the page
   * (OWNED -> NOPAGE, annotated with the guest) and the guest owns it (NOPAGE -> OWNED).
   * A page the guest already holds at that gfn is left as it is.
   */
  donateToGuest(vm: Vm, gfn: number, inode: GmemInode, index: number): HypResult {
    const held = this.guestPage(vm, gfn);
    if (held !== undefined) return held.inode === inode && held.index === index ? 0 : "EPERM";
    if (this.hostState(inode, index) !== PageState.OWNED) return "EPERM";
    this.setHost(inode, index, { state: PageState.NOPAGE, vm, gfnDelta: gfn - index });
    this.setGuest(vm, gfn, { state: PageState.OWNED, inode, indexDelta: index - gfn });
    return 0;
  }

  /**
   * __pkvm_guest_share_host() (MEM_SHARE): guest OWNED -> SHARED_OWNED and host NOPAGE ->
   * SHARED_BORROWED, which maps the page in the host stage-2 again. EFAULT: the guest has
   * no page at the gfn yet; EPERM: the states do not allow it (nothing changes).
   */
  guestShareHost(vm: Vm, gfn: number): HypResult {
    return this.guestTransition(vm, gfn, [PageState.OWNED, PageState.NOPAGE], [PageState.SHARED_OWNED, PageState.SHARED_BORROWED]);
  }

  /** __pkvm_guest_unshare_host() (MEM_UNSHARE): the reverse; the host stage-2 loses the page. */
  guestUnshareHost(vm: Vm, gfn: number): HypResult {
    return this.guestTransition(vm, gfn, [PageState.SHARED_OWNED, PageState.SHARED_BORROWED], [PageState.OWNED, PageState.NOPAGE]);
  }

  /** A guest-initiated transition: [guest, host] states `from` become `to`, checked and set under both components' locks. */
  private guestTransition(vm: Vm, gfn: number, from: [PageState, PageState], to: [PageState, PageState]): HypResult {
    const page = this.guestPage(vm, gfn);
    if (page === undefined) return "EFAULT";
    if (this.guestState(vm, gfn) !== from[0] || this.hostState(page.inode, page.index) !== from[1]) return "EPERM";
    this.setGuest(vm, gfn, { state: to[0], inode: page.inode, indexDelta: page.index - gfn });
    this.setHost(page.inode, page.index, { state: to[1], vm, gfnDelta: gfn - page.index });
    return 0;
  }

  /**
   * __pkvm_host_reclaim_page() for every page of a dead guest: the host owns them again.
   * Pages the guest held exclusively are scrubbed first; pages it had shared were the
   * host's to read all along [hedged: which pages the hypervisor scrubs].
   */
  reclaimGuest(vm: Vm, folioAt: (inode: GmemInode, index: number) => Folio | undefined): void {
    const map = this.guests.get(vm);
    if (map === undefined) return;
    for (const { start, end, value } of map.all())
      for (let gfn = start; gfn < end; gfn++) {
        const index = gfn + value.indexDelta;
        if (value.state === PageState.OWNED) folioAt(value.inode, index)?.clear();
        this.setHost(value.inode, index, null);
      }
    this.guests.delete(vm);
  }

  /** The host pages a guest holds, each with its state there (for the invariants and the guest_memfd library). */
  *guestPages(): Iterable<{ vm: Vm; gfn: number; inode: GmemInode; index: number; state: PageState }> {
    for (const [vm, map] of this.guests)
      for (const { start, end, value } of map.all()) for (let gfn = start; gfn < end; gfn++) yield { vm, gfn, inode: value.inode, index: gfn + value.indexDelta, state: value.state };
  }

  /**
   * hw-models.md 3.7 (1): every page has exactly one owner. A guest OWNED page is NOPAGE for
   * the host and annotated with that guest; a guest SHARED_OWNED page is SHARED_BORROWED by
   * the host (its one borrower); a host NOPAGE or SHARED_BORROWED page is held by exactly the
   * guest it names, at the gfn it names.
   */
  checkInvariants(): void {
    const holders = new Map<string, number>();
    for (const p of this.guestPages()) {
      const where = `pKVM: VM ${p.vm.id} gfn ${p.gfn} (inode ${p.inode.ino} page ${p.index})`;
      const host = this.host.get(p.inode)?.get(p.index)?.value;
      invariant(p.state === PageState.OWNED || p.state === PageState.SHARED_OWNED, () => `${where}: a guest holds a page only as OWNED or SHARED_OWNED, not ${p.state}`);
      const want = p.state === PageState.OWNED ? PageState.NOPAGE : PageState.SHARED_BORROWED;
      invariant(host?.state === want, () => `${where}: guest state ${p.state} needs host state ${want}, the host has ${host?.state ?? PageState.OWNED}`);
      invariant(host!.vm === p.vm && host!.gfnDelta === p.gfn - p.index, () => `${where}: the host's entry names another owner`);
      const key = `${p.inode.ino}:${p.index}`;
      holders.set(key, (holders.get(key) ?? 0) + 1);
      invariant(holders.get(key) === 1, () => `${where}: two guest entries hold the same page`);
    }
    for (const [inode, map] of this.host)
      for (const { start, end, value } of map.all())
        for (let index = start; index < end; index++)
          invariant(this.guestPage(value.vm, index + value.gfnDelta)?.inode === inode, () => `pKVM: inode ${inode.ino} page ${index}: host state ${value.state} names VM ${value.vm.id}, which does not hold it`);
  }
}
