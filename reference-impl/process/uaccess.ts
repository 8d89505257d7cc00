// copy_from_user / copy_to_user: the kernel reading or writing a process's memory
// through its own page tables. Whatever a user access could not reach (no mapping,
// no permission, a poisoned page, the kernel half) makes the copy fail with EFAULT.
import type { Decoded } from "../../spec/codec.js";
import { fail } from "../lib/errno.js";
import type { SyscallContext } from "./file.js";

function copy(ctx: SyscallContext, addr: bigint, len: number, store: Uint8Array | null): Uint8Array {
  const { page, host } = ctx.kernel;
  const out = new Uint8Array(store === null ? len : 0);
  if (addr + BigInt(len) > host.userAddressEnd) fail("EFAULT");
  for (let done = 0; done < len; ) {
    const at = addr + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const folio = ctx.process.mm.fault(page.page(at), store !== null);
    if (typeof folio === "string") fail("EFAULT");
    if (store === null) out.set(folio.read(offset, n), done);
    else folio.write(offset, store.subarray(done, done + n));
    done += n;
  }
  return out;
}

export function copyFromUser(ctx: SyscallContext, addr: bigint, len: number): Uint8Array {
  return copy(ctx, BigInt.asUintN(64, addr), len, null);
}

export function copyToUser(ctx: SyscallContext, addr: bigint, data: Uint8Array): void {
  copy(ctx, BigInt.asUintN(64, addr), data.length, data);
}

/** copy_from_user of a struct that spec/layouts.json describes. */
export function readUserStruct(ctx: SyscallContext, addr: bigint, struct: string): { [field: string]: Decoded } {
  const codec = ctx.kernel.config.spec.codec;
  return codec.decode(struct, copyFromUser(ctx, addr, codec.get(struct).size)) as { [field: string]: Decoded };
}
