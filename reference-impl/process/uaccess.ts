// copy_from_user: the kernel reading a process's memory through its own page
// tables, as for the payload a command struct points at. Whatever a user read could
// not reach (no mapping, no permission, a poisoned page, the kernel half) makes the
// copy fail with EFAULT.
import type { Decoded } from "../../spec/codec.js";
import { fail } from "../lib/errno.js";
import { S64_MAX, U64_MAX } from "../lib/u64.js";
import type { Kernel } from "../kernel.js";
import type { Folio } from "../mm/folio.js";
import type { SyscallContext } from "./file.js";

/**
 * access_ok(addr, size) on x86-64 (__access_ok() in arch/x86/include/asm/uaccess_64.h):
 * the range must not wrap and its end must not pass the revision's limit (userPtrMax in
 * system/revision.ts). For small constant sizes the kernel checks addr alone; the access
 * that follows faults on the same ranges, so the model checks the end in every case.
 */
export function accessOk(kernel: Kernel, addr: bigint, size: bigint): boolean {
  const end = BigInt.asUintN(64, addr) + BigInt.asUintN(64, size);
  if (end > U64_MAX) return false;
  return end <= (kernel.revision.userPtrMax === "sign-bit" ? S64_MAX : kernel.host.taskSize);
}

/** Visit the pages of [addr, addr + len) through the process's page tables, faulting them in; EFAULT where that fails. */
function eachUserPage(ctx: SyscallContext, addr: bigint, len: number, write: boolean, visit: (folio: Folio, offset: number, done: number, n: number) => void): void {
  const { page } = ctx.kernel;
  const start = BigInt.asUintN(64, addr);
  if (!accessOk(ctx.kernel, start, BigInt(len))) fail("EFAULT");
  for (let done = 0; done < len; ) {
    const at = start + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const folio = ctx.process.mm.fault(page.page(at), write);
    if (typeof folio === "string") fail("EFAULT");
    visit(folio, offset, done, n);
    done += n;
  }
}

export function copyFromUser(ctx: SyscallContext, addr: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  eachUserPage(ctx, addr, len, false, (folio, offset, done, n) => out.set(folio.read(offset, n), done));
  return out;
}

/** copy_to_user: bytes into the process's memory (EFAULT where a write cannot reach; what came before stays written). */
export function copyToUser(ctx: SyscallContext, addr: bigint, bytes: Uint8Array): void {
  eachUserPage(ctx, addr, bytes.length, true, (folio, offset, done, n) => folio.write(offset, bytes.subarray(done, done + n)));
}

/** copy_to_user of a struct that spec/layouts.json describes. */
export function writeUserStruct(ctx: SyscallContext, addr: bigint, struct: string, values: { [field: string]: Decoded }): void {
  copyToUser(ctx, addr, ctx.kernel.config.spec.codec.encode(struct, values));
}

/** copy_from_user of a struct that spec/layouts.json describes. */
export function readUserStruct(ctx: SyscallContext, addr: bigint, struct: string): { [field: string]: Decoded } {
  const codec = ctx.kernel.config.spec.codec;
  return codec.decode(struct, copyFromUser(ctx, addr, codec.get(struct).size)) as { [field: string]: Decoded };
}

