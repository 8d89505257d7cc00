// O_DIRECT pread(2)/pwrite(2) on a disk file: the block layer reads or writes the user
// buffer itself. iomap_dio_rw() refuses a length or offset that is not a multiple of the
// logical block size (EINVAL), then bio_iov_iter_get_pages() pins the buffer's pages with
// iov_iter_extract_pages() -> pin_user_pages_fast() (FOLL_PIN, FOLL_WRITE for a read, no
// FOLL_LONGTERM). A page GUP cannot return fails the whole request with EFAULT, since
// iomap only reports partial progress to filesystems that ask for it (IOMAP_DIO_PARTIAL).
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { FMODE_READ, FMODE_WRITE, type SyscallContext } from "./file.js";
import type { Folio } from "../mm/folio.js";
import { TmpFile } from "./tmpfile.js";
import { sysRead, sysWrite } from "./vfs.js";
import { accessOk } from "./uaccess.js";
import { sysPreadUser, sysPwriteUser } from "./user-io.js";
import { asS64 } from "../lib/u64.js";

/** bdev_logical_block_size() of the modelled disk */
const LOGICAL_BLOCK = 512n;

function isDirect(ctx: SyscallContext, fd: bigint): boolean {
  try {
    const file = ctx.process.files.get(fd);
    return file instanceof TmpFile && file.direct;
  } catch {
    return false;
  }
}

/** pin_user_pages_fast() over [addr, addr + len): every page, or EFAULT. */
function pinBuffer(ctx: SyscallContext, addr: bigint, len: number, write: boolean): { folio: Folio; offset: number; n: number }[] {
  const { page } = ctx.kernel;
  const pages: { folio: Folio; offset: number; n: number }[] = [];
  for (let done = 0; done < len; ) {
    const at = BigInt.asUintN(64, addr) + BigInt(done);
    const offset = Number(at & page.mask);
    const n = Math.min(len - done, page.bytes - offset);
    const r = ctx.process.mm.getUserPage(page.page(at), write);
    if (typeof r === "string") fail("EFAULT");
    pages.push({ folio: r.folio, offset, n });
    done += n;
  }
  return pages;
}

/**
 * The checks in the kernel's order: pread64/pwrite64 (offset, fd), vfs_read/vfs_write (access
 * mode, access_ok), then iomap_dio_rw(): a read at or past the end of the file is over (true:
 * nothing to do) before the alignment is checked and the buffer pinned.
 */
function checkDirect(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint, write: boolean): boolean {
  if (len < 0n || len > 65536n) throw new DriverFailure("protocol", `${write ? "pwrite_user" : "pread_user"} of ${len} bytes (at most 65536)`);
  if (asS64(offset) < 0n) fail("EINVAL");
  const f = ctx.process.files.get(fd);
  if (!(f.fmode & (write ? FMODE_WRITE : FMODE_READ))) fail("EBADF");
  if (!accessOk(ctx.kernel, addr, len)) fail("EFAULT");
  if (!write && offset >= f.inode.size) return true;
  if (len % LOGICAL_BLOCK !== 0n || offset % LOGICAL_BLOCK !== 0n) fail("EINVAL");
  return false;
}

/** pread_user: O_DIRECT files go through the pinned buffer, every other file through copy_to_user. */
export function preadUser(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint): bigint {
  if (!isDirect(ctx, fd)) return sysPreadUser(ctx, fd, addr, len, offset);
  if (checkDirect(ctx, fd, addr, len, offset, false)) return 0n;
  const pages = pinBuffer(ctx, addr, Number(len), true);
  const data = sysRead(ctx, fd, len, offset).out!.data as Uint8Array;
  let at = 0;
  for (const p of pages) {
    if (at >= data.length) break;
    const n = Math.min(p.n, data.length - at);
    p.folio.write(p.offset, data.subarray(at, at + n));
    at += n;
  }
  return BigInt(data.length);
}

export function pwriteUser(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, offset: bigint): bigint {
  if (!isDirect(ctx, fd)) return sysPwriteUser(ctx, fd, addr, len, offset);
  checkDirect(ctx, fd, addr, len, offset, true);
  const pages = pinBuffer(ctx, addr, Number(len), false);
  const data = Buffer.concat(pages.map((p) => p.folio.read(p.offset, p.n)));
  return sysWrite(ctx, fd, new Uint8Array(data), offset);
}
