// pread(2) and pwrite(2) with a user buffer: the kernel, not the CPU, touches the
// mapping (copy_to_user / copy_from_user). The checks come in the kernel's order
// (fs/read_write.c: pos < 0, the fd, FMODE_PREAD, then vfs_read/vfs_write: the access
// mode, a read/write method, access_ok), then the copy goes page by page and stops at
// the first page a user access could not reach: a short count, or EFAULT when no byte moved.
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import { FMODE_READ, FMODE_WRITE, type SyscallContext } from "./file.js";
import { accessOk } from "./uaccess.js";
import { sysRead, sysWrite } from "./vfs.js";

const MAX_USER_IO = 65536;

function check(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint, write: boolean): number {
  if (len < 0n || len > BigInt(MAX_USER_IO)) throw new DriverFailure("protocol", `${write ? "pwrite_user" : "pread_user"} of ${len} bytes (at most ${MAX_USER_IO})`);
  if (asS64(offset) < 0n) fail("EINVAL");
  const f = ctx.process.files.get(fd);
  if (!f.positional) fail("ESPIPE");
  if (!(f.fmode & (write ? FMODE_WRITE : FMODE_READ))) fail("EBADF");
  if ((write ? f.writeAt : f.readAt) === undefined) fail("EINVAL");
  if (!accessOk(ctx.kernel, addr, len)) fail("EFAULT");
  return Number(len);
}

/** Each page of [addr, addr + len) in order, until one a user access cannot reach. */
function* userPages(ctx: SyscallContext, addr: bigint, len: number, write: boolean) {
  const { page } = ctx.kernel;
  for (let done = 0; done < len; ) {
    const at = BigInt.asUintN(64, addr) + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const folio = ctx.process.mm.fault(page.page(at), write);
    if (typeof folio === "string") return;
    yield { folio, offset, n, done };
    done += n;
  }
}

export function sysPreadUser(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint): bigint {
  const n = check(ctx, fd, addr, len, offset, false);
  const data = sysRead(ctx, fd, BigInt(n), offset).out!.data as Uint8Array;
  let copied = 0;
  for (const p of userPages(ctx, addr, data.length, true)) {
    p.folio.write(p.offset, data.subarray(p.done, p.done + p.n));
    copied += p.n;
  }
  if (copied === 0 && data.length > 0) fail("EFAULT");
  return BigInt(copied);
}

export function sysPwriteUser(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint): bigint {
  const n = check(ctx, fd, addr, len, offset, true);
  const parts: Uint8Array[] = [];
  for (const p of userPages(ctx, addr, n, false)) parts.push(p.folio.read(p.offset, p.n));
  const data = Buffer.concat(parts);
  if (data.length === 0 && n > 0) fail("EFAULT");
  return sysWrite(ctx, fd, new Uint8Array(data), offset);
}
