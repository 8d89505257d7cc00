// move_pages(2) on the calling process (mm/migrate.c: kernel_move_pages, do_pages_stat,
// do_pages_stat_array, do_pages_move, add_folio_for_migration, move_pages_and_store_status).
// Without a node list it reports where each page is; with one it moves pages there.
// Both look at the page tables, not at a file's page cache: a file page that is
// allocated but not mapped by this process is -ENOENT. Not modelled: the shared zero
// page (a read fault of anonymous memory allocates a page here; the kernel maps the zero
// page, which move_pages reports as -EFAULT), CAP_SYS_NICE for MPOL_MF_MOVE_ALL and
// pages mapped by several processes (the model's process may move every page).
import { DriverFailure, type OutValue } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "../process/file.js";
import type { Folio } from "./folio.js";

/** What the status array holds where the kernel did not write (a value it never writes: not a node, not -errno). */
export const STATUS_UNWRITTEN = -(2n ** 31n);

/**
 * guest_memfd folios cannot migrate: move_pages isolates them from the LRU like any page,
 * but move_to_new_folio() refuses a folio of an unmovable (later: inaccessible) mapping with
 * EOPNOTSUPP ("mm: Add AS_UNMOVABLE to mark mapping as completely unmovable", S.
 * Christopherson, 2023, in the guest_memfd series; kvm_gmem_migrate_folio() would refuse
 * too), so migrate_pages() counts them as failed. Read in the patch, not observed.
 */
function canMigrate(folio: Folio): boolean {
  return folio.owner.kind !== "guest_memfd";
}

export function sysMovePages(ctx: SyscallContext, pages: readonly bigint[], nodes: readonly bigint[] | undefined, flags: bigint): { ret: bigint; out: { [k: string]: OutValue } } {
  const { kernel } = ctx;
  const P = kernel.K.mpol;
  if (pages.length < 1 || pages.length > 64) throw new DriverFailure("protocol", "move_pages: 1 to 64 pages");
  if (flags & ~BigInt(P.MF_MOVE | P.MF_MOVE_ALL)) fail("EINVAL");
  if (nodes !== undefined && nodes.length !== pages.length) throw new DriverFailure("protocol", "move_pages: nodes must have one entry per page");
  const mm = ctx.process.mm;
  const status: bigint[] = pages.map(() => STATUS_UNWRITTEN);
  const out = () => Object.fromEntries(status.flatMap((s, i) => (s === STATUS_UNWRITTEN ? [] : [[`status${i}`, s]])));
  const errno = (name: "EFAULT" | "ENOENT") => -BigInt(kernel.config.spec.errnoNumber(name)!);
  /** vma_lookup(), then the page the page tables map there (folio_walk_start). */
  const lookup = (addr: bigint): Folio | "EFAULT" | "ENOENT" => {
    const vpn = kernel.page.page(BigInt.asUintN(64, addr));
    if (mm.vmas.get(vpn) === undefined) return "EFAULT";
    return mm.ptes.get(vpn)?.value.folio ?? "ENOENT";
  };
  if (nodes === undefined) {
    // do_pages_stat_array(): each page's node, or -errno
    pages.forEach((addr, i) => {
      const f = lookup(addr);
      status[i] = typeof f === "string" ? errno(f) : BigInt(f.node);
    });
    return { ret: 0n, out: out() };
  }
  // do_pages_move(): pages bound for one node are queued and moved together; a page that
  // is not queued (an error, or already there) flushes the queue.
  let queue: Folio[] = [];
  let current: number | undefined;
  let start = 0;
  const flush = (i: number): bigint => {
    if (queue.length === 0 || current === undefined) return 0n;
    let failed = 0;
    for (const f of queue) {
      if (canMigrate(f)) f.node = current;
      else failed++;
    }
    queue = [];
    // a failed migration returns what was not moved, counting the pages not yet tried
    if (failed > 0) return BigInt(failed + pages.length - i);
    for (let k = start; k < i; k++) status[k] = BigInt(current);
    return 0n;
  };
  for (let i = 0; i < pages.length; i++) {
    const node = Number(BigInt.asIntN(32, nodes[i]!));
    // a node that is out of range or has no memory ends the call; what was queued still moves
    if (node < 0 || node >= kernel.host.numaNodes) {
      flush(i);
      fail("ENODEV");
    }
    if (current === undefined) {
      current = node;
      start = i;
    } else if (node !== current) {
      const err = flush(i);
      if (err !== 0n) return { ret: err, out: out() };
      current = node;
      start = i;
    }
    const f = lookup(pages[i]!);
    if (typeof f !== "string" && f.node !== node) {
      queue.push(f);
      continue;
    }
    status[i] = typeof f === "string" ? errno(f) : BigInt(node);
    const err = flush(i);
    // the page just stored is already accounted for
    if (err !== 0n) return { ret: err - 1n, out: out() };
    current = undefined;
  }
  return { ret: flush(pages.length), out: out() };
}
