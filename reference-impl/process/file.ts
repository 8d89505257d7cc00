// struct inode and struct file: what every kind of file shares. A file type
// overrides only the operations it implements; the VFS (process/vfs.ts) answers
// for the missing ones with the errno Linux gives.
import type { Decoded } from "../../spec/codec.js";
import { fail, type SignalName } from "../lib/errno.js";
import type { Kernel } from "../kernel.js";
import type { Process } from "./process.js";
import type { Vma } from "./vma.js";

/** A mounted filesystem as statfs(2) and path_noexec() see it. */
export interface Filesystem {
  readonly name: string;
  readonly magic: bigint;
  /** statfs f_flags (ST_VALID = 0x20, ST_NOEXEC = 0x8, ST_RELATIME = 0x1000) */
  readonly statfsFlags: bigint;
  readonly dev: bigint;
  readonly noexec: boolean;
}

export const ST_VALID = 0x20n;
export const ST_NOEXEC = 0x8n;
export const ST_RELATIME = 0x1000n;

export interface TimeStamp {
  sec: bigint;
  nsec: bigint;
}

export abstract class Inode {
  declare readonly kernel: Kernel;
  declare readonly fs: Filesystem;
  declare readonly ino: number;
  declare mode: number;
  declare nlink: bigint;
  declare rdev: bigint;
  declare atime: TimeStamp;
  declare mtime: TimeStamp;
  declare ctime: TimeStamp;

  constructor(kernel: Kernel, fs: Filesystem, ino: number, mode: number) {
    this.kernel = kernel;
    this.fs = fs;
    this.ino = ino;
    this.mode = mode;
    this.nlink = 1n;
    this.rdev = 0n;
    this.atime = this.mtime = this.ctime = kernel.now();
  }

  get size(): bigint {
    return 0n;
  }

  /** st_blocks, in 512-byte units */
  get blocks(): bigint {
    return 0n;
  }

  /** inode_operations.setattr for chmod; files that refuse every change override it */
  setMode(mode: number): void {
    this.mode = (this.mode & ~0o7777) | (mode & 0o7777);
    this.ctime = this.kernel.now();
  }

  /** inode_operations.setattr for truncate; only regular files reach it */
  setSize(_size: bigint): void {
    fail("EINVAL");
  }

  modified(): void {
    this.mtime = this.ctime = this.kernel.now();
  }
}

/** Context of a system call: the kernel and the calling process. */
export interface SyscallContext {
  kernel: Kernel;
  process: Process;
  /** a signal the call sent to the calling process (e.g. SIGBUS for a poisoned page) */
  signal?: SignalName;
}

/** What an ioctl returns: its value, for the `ret` of the operation. */
export type IoctlValue = bigint;

export interface IoctlCall {
  readonly request: number;
  /** the argument passed by value (0 when none was given) */
  readonly value: bigint;
  /** copy_from_user of the struct argument: the kernel's copy, or EFAULT */
  readStruct(): { [field: string]: Decoded };
  /** copy_to_user of the struct argument, or EFAULT */
  writeStruct(values: { [field: string]: Decoded }): void;
  /** copy_from_user of the argument as struct `name` (requests whose struct the vendor code chooses) */
  readStructAs(name: string): { [field: string]: Decoded };
  /** copy_to_user of struct `name` over the argument */
  writeStructAs(name: string, values: { [field: string]: Decoded }): void;
  /** put_user of a u64 through a pointer argument (requests whose argument is a __u64 *), or EFAULT */
  writeU64?(value: bigint): void;
}

/**
 * A command ioctl (SEV, TDX, s390 PV): run the handler on the struct read from userspace,
 * then copy the struct back whatever the outcome, since the command reports status in it.
 * layout names the struct where the request's own argument type does not (readStructAs).
 */
export function runCommand(call: IoctlCall, cmd: { [field: string]: Decoded }, layout: string | undefined, handler: () => void): bigint {
  try {
    handler();
    return 0n;
  } finally {
    if (layout === undefined) call.writeStruct(cmd);
    else call.writeStructAs(layout, cmd);
  }
}

export const FMODE_READ = 1;
export const FMODE_WRITE = 2;

// OpenFile's and Inode's fields are declared and assigned in the constructor, not class fields:
// V8 defines class fields through one cache per field in the constructor that every kind of
// file shares, and with a dozen kinds seen that cache takes a slow path (some 10 us a file).
export abstract class OpenFile {
  declare readonly inode: Inode;
  /** f_flags as fcntl(F_GETFL) reports them */
  declare flags: number;
  /** references: fd table entries, VMAs, and the kernel's own holds */
  declare refs: number;
  declare pos: bigint;
  declare released: boolean;
  /** FMODE_READ / FMODE_WRITE, from the access mode (OPEN_FMODE) */
  declare readonly fmode: number;
  /** FMODE_PREAD / FMODE_PWRITE: pread/pwrite allowed (files opened through a path) */
  declare readonly positional: boolean;

  constructor(inode: Inode, flags: number) {
    this.inode = inode;
    this.flags = flags;
    this.refs = 0;
    this.pos = 0n;
    this.released = false;
    this.fmode = (flags + 1) & 3;
    this.positional = false;
  }

  get kernel(): Kernel {
    return this.inode.kernel;
  }

  /** what /proc/self/fd/N links to */
  abstract link(): string;

  // file_operations the kinds of file implement; absent ones get the VFS default.
  read?(len: number): Uint8Array;
  write?(data: Uint8Array): number;
  readAt?(len: number, offset: bigint): Uint8Array;
  writeAt?(data: Uint8Array, offset: bigint): number;
  llseek?(offset: bigint, whence: number): bigint;
  fallocate?(ctx: SyscallContext, mode: number, offset: bigint, len: bigint): void;
  mmap?(ctx: SyscallContext, vma: Vma): void;

  ioctl(_ctx: SyscallContext, _call: IoctlCall): IoctlValue {
    return fail("ENOTTY");
  }

  /** file_operations.release: the last reference is gone */
  protected release(): void {}

  get(): this {
    this.refs++;
    return this;
  }

  put(): void {
    if (this.refs <= 0) throw new Error(`file ${this.link()}: reference count underflow`);
    if (--this.refs === 0) {
      this.released = true;
      this.release();
    }
  }
}

/** The anonymous inode VM and vCPU files share (anon_inode_getfile). */
export class AnonInode extends Inode {
  /** anon_inode setattr is refused outright since 6.15; before, chmod changed the shared inode */
  override setMode(mode: number): void {
    if (this.kernel.revision.anonInodeSetattrRefused) fail("EOPNOTSUPP");
    super.setMode(mode);
  }
}
