// process_vm_readv(2) and process_vm_writev(2) aimed at the calling process itself:
// the remote side goes through get_user_pages (pin_user_pages_remote in
// mm/process_vm_access.c), one page at a time in address order, so a page GUP cannot
// return (unmapped, no permission, a guest_memfd page that is private, a poisoned page)
// ends the transfer: the bytes before it are the result, or EFAULT when there are none.
// The local side is the driver's own buffer and never fails.
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "./file.js";

const MAX_TRANSFER = 65536;

/**
 * Copy through get_user_pages, page by page in address order, up to the first page GUP
 * cannot return: the bytes read (data null) or written. `checkPage` may refuse a page the
 * caller's GUP flags would treat differently (it throws).
 */
export function gupCopy(ctx: SyscallContext, addr: bigint, len: number, data: Uint8Array | null, checkPage?: (page: number) => void, force = false): Uint8Array {
  const { page } = ctx.kernel;
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const at = BigInt.asUintN(64, addr) + BigInt(done);
    if (at >= ctx.kernel.host.taskSize) break; // no VMA up there: GUP fails
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    checkPage?.(page.page(at));
    const r = ctx.process.mm.getUserPage(page.page(at), data !== null, force);
    if (typeof r === "string") break;
    if (data === null) out.set(r.folio.read(offset, n), done);
    else r.folio.write(offset, data.subarray(done, done + n));
    done += n;
  }
  return out.subarray(0, done);
}

function transfer(ctx: SyscallContext, addr: bigint, len: number, data: Uint8Array | null): Uint8Array {
  if (len > MAX_TRANSFER) throw new DriverFailure("protocol", `process_vm transfer of ${len} bytes (at most ${MAX_TRANSFER})`);
  const out = gupCopy(ctx, addr, len, data);
  if (out.length === 0 && len > 0) fail("EFAULT");
  return out;
}

export function sysProcessVmReadv(ctx: SyscallContext, addr: bigint, len: bigint): { ret: bigint; out: { data: Uint8Array } } {
  if (len < 0n) throw new DriverFailure("protocol", `process_vm_readv of ${len} bytes`);
  const data = transfer(ctx, addr, Number(len < BigInt(MAX_TRANSFER + 1) ? len : BigInt(MAX_TRANSFER + 1)), null);
  return { ret: BigInt(data.length), out: { data } };
}

export function sysProcessVmWritev(ctx: SyscallContext, addr: bigint, data: Uint8Array): bigint {
  return BigInt(transfer(ctx, addr, data.length, data).length);
}
