// Guest-only (poisoned) pages of the 2021 design discussed in seed 003 ("KVM: unmap guest
// memory using poisoned pages", RFCv2 13/13, profile poison-rfc-v2, never merged; clauses
// POISON-*, spec/clauses/poison.json). A page the guest uses as private is tagged the way
// memory_failure() tags a bad page (PG_hwpoison, SWP_HWPOISON entries in the page tables), so
// that it is useless to the host:
// - every host page-table entry mapping it is removed, and a later host fault on it, through
//   any mapping, in any process, forked children included, is SIGBUS (POISON-001, POISON-003);
// - get_user_pages() on it fails with EFAULT (POISON-002);
// - only KVM, which keeps the page for the guest, still reaches it (the RFC's kvm_pfn_map).
// The tag stays with the page: the VMM converts to shared by giving the address (or the
// memslot) another page, not by changing this one (POISON-004).
import type { Kernel } from "../kernel.js";
import type { Folio } from "./folio.js";

const GUEST_ONLY = new WeakSet<Folio>();

export function isGuestOnly(folio: Folio): boolean {
  return GUEST_ONLY.has(folio);
}

/** Tag a page guest-only and remove every host page-table entry that maps it. */
export function makeGuestOnly(kernel: Kernel, folio: Folio): void {
  GUEST_ONLY.add(folio);
  for (const p of kernel.processes.values())
    for (const { start, value } of p.mm.ptes.all()) if (value.folio === folio) p.mm.ptes.delete(start, start + 1);
}

/** fork() copies a hwpoison entry, not the page: the child's copy is as unusable as the parent's. */
export function inheritGuestOnly(from: Folio, copy: Folio): Folio {
  if (GUEST_ONLY.has(from)) GUEST_ONLY.add(copy);
  return copy;
}
