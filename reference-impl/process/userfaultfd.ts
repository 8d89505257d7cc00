// userfaultfd(2) and its first two ioctls (fs/userfaultfd.c: new_userfaultfd,
// userfaultfd_api, userfaultfd_register, validate_range; include/linux/userfaultfd_k.h:
// vma_can_userfault). Registration needs UFFDIO_API first, a page-aligned range inside
// the user address space, a known non-empty mode, and only VMAs userfaultfd can serve:
// anonymous memory and shmem (memfd, shared anonymous) for MISSING and WP, shmem alone
// for MINOR. A guest_memfd mapping is shared but neither: EINVAL. Holes in the range
// are allowed. A mapping belongs to one userfaultfd at a time: registering pages another
// live userfaultfd holds is EBUSY (userfaultfd_register checks every VMA before changing
// any); the owner may register again; its release (the last close) frees its pages.
// No fault is ever delivered. The registration is kept as page ranges of the process (the
// kernel keeps it on the VMAs): munmap does not drop it here.
import { fail } from "../lib/errno.js";
import { ShmemInode } from "./shmem.js";
import { OpenFile, type SyscallContext } from "./file.js";
import type { Process } from "./process.js";
import type { Vma } from "./vma.js";

const UFFD_API = 0xaan;
const UFFD_USER_MODE_ONLY = 1n;
/** UFFD_API_FEATURES of 6.18: PAGEFAULT_FLAG_WP (bit 0) through MOVE (bit 16) */
const API_FEATURES = (1n << 17n) - 1n;
/** UFFD_API_IOCTLS: REGISTER, UNREGISTER, API */
const API_IOCTLS = (1n << 0n) | (1n << 1n) | (1n << 0x3fn);
const MODE_MISSING = 1n;
const MODE_WP = 2n;
const MODE_MINOR = 4n;
/** UFFD_API_RANGE_IOCTLS: WAKE, COPY, ZEROPAGE, MOVE, WRITEPROTECT, CONTINUE, POISON */
const RANGE_IOCTLS = [2n, 3n, 4n, 5n, 6n, 7n, 8n].reduce((m, b) => m | (1n << b), 0n);
const IOCTL_WRITEPROTECT = 1n << 6n;
const IOCTL_CONTINUE = 1n << 7n;
/** mmap_min_addr: validate_range() refuses ranges below it */
const MMAP_MIN_ADDR = 0x10000n;

/** pages [start, end) of a process registered with `file` */
interface Registration {
  start: number;
  end: number;
  file: UserfaultfdFile;
}
const registrations = new WeakMap<Process, Registration[]>();

/** userfaultfd_release: a released userfaultfd owns nothing. */
const liveRegistrations = (p: Process): Registration[] => (registrations.get(p) ?? []).filter((r) => !r.file.released);

export class UserfaultfdFile extends OpenFile {
  /** UFFDIO_API succeeded */
  initialized = false;

  link(): string {
    return "anon_inode:[userfaultfd]";
  }
}

export function sysUserfaultfd(ctx: SyscallContext, flags: bigint): bigint {
  const { K, anonInode } = ctx.kernel;
  const f = BigInt.asUintN(32, flags);
  const known = BigInt(K.o.CLOEXEC | K.o.NONBLOCK) | UFFD_USER_MODE_ONLY;
  if (f & ~known) fail("EINVAL");
  ctx.process.files.ensureFree();
  const file = new UserfaultfdFile(anonInode, K.o.RDONLY | Number(f & BigInt(K.o.NONBLOCK)));
  return BigInt(ctx.process.files.install(file, (f & BigInt(K.o.CLOEXEC)) !== 0n));
}

function userfaultfd(ctx: SyscallContext, fd: bigint): UserfaultfdFile {
  const file = ctx.process.files.get(fd);
  // another file does not know the request
  if (!(file instanceof UserfaultfdFile)) fail("ENOTTY");
  return file;
}

/** UFFDIO_API: the struct is written back (zeroed on failure) */
export function sysUffdioApi(ctx: SyscallContext, fd: bigint, api: bigint, features: bigint): { ret: bigint; out: { api: bigint; features: bigint; ioctls: bigint } } {
  const file = userfaultfd(ctx, fd);
  if (file.initialized || BigInt.asUintN(64, api) !== UFFD_API || BigInt.asUintN(64, features) & ~API_FEATURES) fail("EINVAL");
  file.initialized = true;
  return { ret: 0n, out: { api: UFFD_API, features: API_FEATURES, ioctls: API_IOCTLS } };
}

/** vma_can_userfault() */
function canUserfault(vma: Vma, mode: bigint): boolean {
  const anonymous = vma.backing === null && !vma.shared;
  const shmem = vma.backing instanceof ShmemInode;
  if (mode & MODE_MINOR && !shmem) return false;
  return anonymous || shmem;
}

export function sysUffdioRegister(ctx: SyscallContext, fd: bigint, addr: bigint, len: bigint, mode: bigint): { ret: bigint; out: { ioctls: bigint } } {
  const { page, host } = ctx.kernel;
  const file = userfaultfd(ctx, fd);
  if (!file.initialized) fail("EINVAL");
  const m = BigInt.asUintN(64, mode);
  if (m === 0n || m & ~(MODE_MISSING | MODE_WP | MODE_MINOR)) fail("EINVAL");
  // validate_range()
  const start = BigInt.asUintN(64, addr);
  const size = BigInt.asUintN(64, len);
  if (!page.aligned(start) || !page.aligned(size) || size === 0n) fail("EINVAL");
  if (start < MMAP_MIN_ADDR || start >= host.taskSize || size > host.taskSize - start) fail("EINVAL");
  const vmas = ctx.process.mm.vmas.overlapping(page.page(start), page.page(start + size));
  if (vmas.length === 0) fail("EINVAL");
  for (const { value: vma } of vmas) if (!canUserfault(vma, m)) fail("EINVAL");
  const held = liveRegistrations(ctx.process);
  const covered = vmas.map((v) => ({ start: Math.max(v.start, page.page(start)), end: Math.min(v.end, page.page(start + size)), file }));
  if (held.some((r) => r.file !== file && covered.some((c) => r.start < c.end && c.start < r.end))) fail("EBUSY");
  registrations.set(ctx.process, [...held, ...covered]);
  let ioctls = RANGE_IOCTLS;
  if (!(m & MODE_WP)) ioctls &= ~IOCTL_WRITEPROTECT;
  if (!(m & MODE_MINOR)) ioctls &= ~IOCTL_CONTINUE;
  return { ret: 0n, out: { ioctls } };
}
