// copy_from_user: the kernel reading a process's memory through its own page
// tables, as for the payload a command struct points at. Whatever a user read could
// not reach (no mapping, no permission, a poisoned page, the kernel half) makes the
// copy fail with EFAULT.
import type { Decoded } from "../../spec/codec.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "./file.js";

export function copyFromUser(ctx: SyscallContext, addr: bigint, len: number): Uint8Array {
  const { page, host } = ctx.kernel;
  const start = BigInt.asUintN(64, addr);
  if (start + BigInt(len) > host.userAddressEnd) fail("EFAULT");
  const out = new Uint8Array(len);
  for (let done = 0; done < len; ) {
    const at = start + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const folio = ctx.process.mm.fault(page.page(at), false);
    if (typeof folio === "string") fail("EFAULT");
    out.set(folio.read(offset, n), done);
    done += n;
  }
  return out;
}

/** copy_from_user of a struct that spec/layouts.json describes. */
export function readUserStruct(ctx: SyscallContext, addr: bigint, struct: string): { [field: string]: Decoded } {
  const codec = ctx.kernel.config.spec.codec;
  return codec.decode(struct, copyFromUser(ctx, addr, codec.get(struct).size)) as { [field: string]: Decoded };
}
