// struct vm_area_struct: one mapping of the address space, in page units.
import type { Folio, FolioOwner } from "../mm/folio.js";
import type { OpenFile } from "./file.js";
import type { MemPolicy } from "./mempolicy.js";

/** What a host access to a mapped page found (handle_mm_fault). */
export type HostFault = Folio | "SIGSEGV" | "SIGBUS" | "HWPOISON";

/** The object behind a shared or file mapping (vm_operations_struct.fault). */
export interface MappingBacking {
  readonly owner: FolioOwner;
  /** the page at file index, allocating it if the file allows; a signal when it cannot be mapped */
  userFault(index: number): Folio | "SIGBUS" | "SIGSEGV" | "HWPOISON";
  /** the cached page at index without allocating, if any */
  cachedPage(index: number): Folio | undefined;
}

export const PROT_NONE = 0;

export class Vma {
  /** vma->vm_policy (mbind) */
  policy: MemPolicy | null = null;
  /** VM_LOCKED, and VM_LOCKONFAULT with it (mlock, mlock2) */
  locked: "" | "locked" | "onfault" = "";

  constructor(
    public start: number,
    public end: number,
    public prot: number,
    readonly shared: boolean,
    readonly file: OpenFile | null,
    readonly backing: MappingBacking | null,
    /** file page index of `start` */
    public pgoff: number,
    /** VM_MAYWRITE / VM_MAYEXEC: what mprotect may add */
    readonly mayWrite: boolean,
    readonly mayExec: boolean,
    public dontFork = false,
  ) {}

  /** The file index a virtual page maps. */
  indexOf(vpn: number): number {
    return this.pgoff + (vpn - this.start);
  }

  /** A copy covering [start, end), holding its own file reference. */
  piece(start: number, end: number): Vma {
    this.file?.get();
    const v = new Vma(start, end, this.prot, this.shared, this.file, this.backing, this.indexOf(start), this.mayWrite, this.mayExec, this.dontFork);
    v.policy = this.policy;
    v.locked = this.locked;
    return v;
  }
}
