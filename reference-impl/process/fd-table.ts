// struct files_struct: descriptor numbers -> open files, with close-on-exec bits.
import { fail } from "../lib/errno.js";
import { invariant } from "../lib/invariants.js";
import type { OpenFile } from "./file.js";

/** RLIMIT_NOFILE of the modelled process */
export const NOFILE_LIMIT = 1024;

export interface FdEntry {
  file: OpenFile;
  cloexec: boolean;
}

export class FdTable {
  private readonly entries: (FdEntry | undefined)[] = [];

  /** fdget: the open file behind fd, or EBADF */
  get(fd: bigint): OpenFile {
    return this.entry(fd).file;
  }

  entry(fd: bigint): FdEntry {
    const e = fd >= 0n && fd < BigInt(this.entries.length) ? this.entries[Number(fd)] : undefined;
    return e ?? fail("EBADF");
  }

  /** get_unused_fd_flags() before an object is built: EMFILE when the table is full. */
  ensureFree(): void {
    for (let fd = 0; fd < NOFILE_LIMIT; fd++) if (this.entries[fd] === undefined) return;
    fail("EMFILE");
  }

  /** Install a new reference to file at the lowest free descriptor >= from. */
  install(file: OpenFile, cloexec: boolean, from = 0): number {
    let fd = from;
    while (fd < this.entries.length && this.entries[fd] !== undefined) fd++;
    if (fd >= NOFILE_LIMIT) fail("EMFILE");
    this.entries[fd] = { file: file.get(), cloexec };
    return fd;
  }

  close(fd: bigint): void {
    const e = this.entry(fd);
    this.entries[Number(fd)] = undefined;
    e.file.put();
  }

  /** Open descriptors in ascending order. */
  descriptors(): number[] {
    const out: number[] = [];
    this.entries.forEach((e, fd) => {
      if (e !== undefined) out.push(fd);
    });
    return out;
  }

  /** fork: the same open files under the same numbers. */
  clone(): FdTable {
    const t = new FdTable();
    this.entries.forEach((e, fd) => {
      if (e !== undefined) t.entries[fd] = { file: e.file.get(), cloexec: e.cloexec };
    });
    return t;
  }

  closeAll(): void {
    for (const fd of this.descriptors()) this.close(BigInt(fd));
  }

  checkInvariants(): void {
    this.entries.forEach((e, fd) => {
      if (e !== undefined) invariant(!e.file.released && e.file.refs > 0, () => `fd ${fd} refers to a released file ${e.file.link()}`);
    });
  }
}
