// Long-term page pins (pin_user_pages() with FOLL_LONGTERM), as a VFIO/IOMMU mapping or
// io_uring fixed buffers hold them: each pin is an extra reference on the folio that
// outlives the host mapping it was taken through. In-place conversion to private refuses
// pages with such references (CONV-008). The `pin_user_pages` / `unpin_user_pages`
// operations reach this (models only: feature gup-pin).
import { fail } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Process } from "../process/process.js";
import type { Folio } from "./folio.js";

interface PinState {
  next: bigint;
  /** pin handle -> the folios it holds */
  pins: Map<bigint, Folio[]>;
  /** folio -> number of pins on it */
  counts: Map<Folio, number>;
}

const STATE = new WeakMap<Kernel, PinState>();

function state(kernel: Kernel): PinState {
  let s = STATE.get(kernel);
  if (s === undefined) {
    s = { next: 1n, pins: new Map(), counts: new Map() };
    STATE.set(kernel, s);
  }
  return s;
}

/**
 * pin_user_pages(addr, len, FOLL_WRITE | FOLL_LONGTERM): fault every page in for writing
 * and take a reference on it. A page that cannot be had (no mapping, SIGBUS) fails the
 * whole call with EFAULT and pins nothing. Returns the pin's handle.
 */
export function pinUserPages(kernel: Kernel, process: Process, addr: bigint, len: bigint): bigint {
  const page = kernel.page;
  if (len === 0n || !page.aligned(addr) || !page.aligned(len)) fail("EINVAL");
  const first = page.page(addr);
  const last = page.page(addr + len);
  const folios: Folio[] = [];
  for (let p = first; p < last; p++) {
    const found = process.mm.fault(p, true);
    if (typeof found === "string") fail("EFAULT");
    folios.push(found);
  }
  const s = state(kernel);
  const handle = s.next++;
  s.pins.set(handle, folios);
  for (const f of folios) s.counts.set(f, (s.counts.get(f) ?? 0) + 1);
  return handle;
}

/** unpin_user_pages(): drop the references a pin holds. */
export function unpinUserPages(kernel: Kernel, handle: bigint): void {
  const s = state(kernel);
  const folios = s.pins.get(handle);
  if (folios === undefined) fail("EINVAL");
  s.pins.delete(handle);
  for (const f of folios) {
    const n = s.counts.get(f)! - 1;
    if (n === 0) s.counts.delete(f);
    else s.counts.set(f, n);
  }
}

/** Folios with at least one pin. */
export function pinnedFolios(kernel: Kernel): Iterable<Folio> {
  return state(kernel).counts.keys();
}
