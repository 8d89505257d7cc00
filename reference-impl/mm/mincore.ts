// mincore(2) (mm/mincore.c: do_mincore, mincore_pte_range, mincore_page): one byte
// per page, 1 where the page is resident. A page the process maps through a PTE is
// resident; an anonymous page without one is not; a file page without a PTE is
// resident when the file's page cache holds it up to date. guest_memfd pages that
// fallocate allocated but nothing touched are not up to date in 6.18 (only a host
// fault, which clears the page, or the guest's prepare marks them), so they read 0.
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "../process/file.js";

/** The most pages the model reports at once (the driver contract's bound). */
const MAX_PAGES = 65536;

export function sysMincore(ctx: SyscallContext, addr: bigint, len: bigint): { ret: bigint; out: { data: Uint8Array } } {
  const { page, host } = ctx.kernel;
  const start = BigInt.asUintN(64, addr);
  const size = BigInt.asUintN(64, len);
  if (!page.aligned(start)) fail("EINVAL");
  // access_ok(start, len)
  if (size > host.taskSize || start > host.taskSize - size) fail("ENOMEM");
  const pages = Number(page.pagesUp(size));
  if (pages > MAX_PAGES) throw new DriverFailure("protocol", `mincore of ${pages} pages (at most ${MAX_PAGES})`);
  const mm = ctx.process.mm;
  const vec = new Uint8Array(pages);
  const first = page.page(start);
  for (let i = 0; i < pages; i++) {
    const pg = first + i;
    const vma = mm.vmas.get(pg)?.value ?? fail("ENOMEM");
    if (mm.ptes.get(pg) !== undefined || mm.privatePages.get(pg) !== undefined) vec[i] = 1;
    else if (vma.backing !== null) vec[i] = vma.backing.cachedPage(vma.indexOf(pg))?.uptodate ? 1 : 0;
  }
  return { ret: 0n, out: { data: vec } };
}
