// A host process: its descriptor table and its address space. fork() copies both.
import type { Kernel } from "../kernel.js";
import { AddressSpace } from "./address-space.js";
import { FdTable } from "./fd-table.js";

export class Process {
  alive = true;

  constructor(
    readonly kernel: Kernel,
    readonly pid: bigint,
    readonly files: FdTable,
    readonly mm: AddressSpace,
  ) {}

  static create(kernel: Kernel, pid: bigint): Process {
    return new Process(kernel, pid, new FdTable(), new AddressSpace(kernel, pid));
  }

  /** fork(): descriptors refer to the same open files; MAP_SHARED memory stays shared. */
  fork(childPid: bigint): Process {
    const child = new Process(this.kernel, childPid, this.files.clone(), new AddressSpace(this.kernel, childPid));
    this.mm.cloneFor(child.mm);
    return child;
  }

  /** do_exit: close every descriptor and unmap everything; returns [descriptors, mappings] released. */
  exit(): [number, number] {
    const fds = this.files.descriptors().length;
    const maps = this.mm.teardown();
    this.files.closeAll();
    this.alive = false;
    return [fds, maps];
  }
}
