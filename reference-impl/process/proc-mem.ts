// open("/proc/self/mem"): a file whose offsets are the process's user addresses. mem_open
// takes the mm (a ptrace-attach check, always met for the process itself); mem_rw copies
// through access_remote_vm one page at a time, which is get_user_pages on the mm with
// FOLL_FORCE (proc_mem_foll_force: always, unless proc_mem.force_override or the
// CONFIG_PROC_MEM_* choice of 6.12+ says otherwise; the model forces always): a read
// reaches PROT_NONE memory, a write reaches read-only private memory by copy on write,
// never a read-only shared mapping (check_vma_flags). A page GUP cannot return ends the
// copy: the bytes before it are the count, and when there are none the call fails with
// EIO (not EFAULT, as process_vm_readv does). So a private guest_memfd page, a page past
// the end of a memfd and unmapped memory are unreachable; shared guest_memfd pages are not.
import { DriverFailure } from "../../spec/driver/contract.js";
import { fail } from "../lib/errno.js";
import { Inode, OpenFile, ST_NOEXEC, ST_RELATIME, ST_VALID, type Filesystem, type SyscallContext } from "./file.js";
import { gupCopy } from "./process-vm.js";
import type { Process } from "./process.js";

export const PROC_MEM_PATH = "/proc/self/mem";

/** proc_mem_foll_force() under CONFIG_PROC_MEM_ALWAYS_FORCE (the default) */
const FOLL_FORCE = true;

/** PROC_SUPER_MAGIC */
const PROCFS: Filesystem = { name: "proc", magic: 0x9fa0n, statfsFlags: ST_VALID | ST_NOEXEC | ST_RELATIME, dev: 22n, noexec: true };

/** The model keeps no memory for larger transfers; a case never needs one. */
const MAX_TRANSFER = 1 << 20;

class ProcMemInode extends Inode {}

export class ProcMemFile extends OpenFile {
  override readonly positional = true;

  constructor(
    inode: Inode,
    flags: number,
    /** the process whose mm mem_open took */
    private readonly owner: Process,
  ) {
    super(inode, flags);
  }

  link(): string {
    return `/proc/${this.owner.pid}/mem`;
  }

  /** mem_rw: GUP with FOLL_FORCE up to the first unreachable page; EIO when none was reached. */
  private access(addr: bigint, len: number, data: Uint8Array | null): Uint8Array {
    if (len > MAX_TRANSFER) throw new DriverFailure("protocol", `/proc/self/mem transfer of ${len} bytes (at most ${MAX_TRANSFER})`);
    const ctx: SyscallContext = { kernel: this.kernel, process: this.owner };
    const out = gupCopy(ctx, addr, len, data, undefined, FOLL_FORCE);
    if (out.length === 0 && len > 0) fail("EIO");
    return out;
  }

  override readAt(len: number, offset: bigint): Uint8Array {
    return this.access(offset, len, null);
  }

  override writeAt(data: Uint8Array, offset: bigint): number {
    return this.access(offset, data.length, data).length;
  }

  override read(len: number): Uint8Array {
    const out = this.readAt(len, this.pos);
    this.pos += BigInt(out.length);
    return out;
  }

  override write(data: Uint8Array): number {
    const n = this.writeAt(data, this.pos);
    this.pos += BigInt(n);
    return n;
  }

  /** mem_lseek: SEEK_SET and SEEK_CUR only, any value (FOP_UNSIGNED_OFFSET). */
  override llseek(offset: bigint, whence: number): bigint {
    if (whence === 0) this.pos = offset;
    else if (whence === 1) this.pos += offset;
    else fail("EINVAL");
    return this.pos;
  }
}

export function isProcMemPath(path: string): boolean {
  return path === PROC_MEM_PATH;
}

/** open("/proc/self/mem"): the access mode decides read and write; O_CREAT and the like do nothing to a procfs file. */
export function sysOpenProcMem(ctx: SyscallContext, flags: bigint): bigint {
  const O = ctx.kernel.K.o;
  const f = Number(BigInt.asUintN(32, flags));
  const inode = new ProcMemInode(ctx.kernel, PROCFS, ctx.kernel.nextIno(), ctx.kernel.K.s.IFREG | 0o600);
  const file = new ProcMemFile(inode, (f & ~(O.CREAT | O.EXCL | O.TRUNC | O.CLOEXEC)) | O.LARGEFILE, ctx.process);
  return BigInt(ctx.process.files.install(file, (f & O.CLOEXEC) !== 0));
}
