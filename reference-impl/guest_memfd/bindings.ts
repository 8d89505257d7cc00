// kvm_gmem_bind() / kvm_gmem_unbind(): a memslot takes a range of a guest_memfd
// file. The binding holds no file reference: the file pins the VM, not the other
// way round, and releasing the file clears the slot's pointer.
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import type { SyscallContext } from "../process/file.js";
import type { Memslot } from "../vm/memslots.js";
import type { Vm } from "../vm/vm.js";
import { GmemFile } from "./file.js";

export function bindGuestMemfd(ctx: SyscallContext, vm: Vm, slot: Memslot, fd: bigint, offset: bigint): void {
  const { kernel } = ctx;
  // The descriptor is an unsigned int: negative values name no file.
  const file = ctx.process.files.get(BigInt.asUintN(32, fd));
  if (!(file instanceof GmemFile) || file.vm !== vm) fail("EINVAL");
  const size = BigInt(slot.npages) << kernel.page.shift;
  const isize = file.inode.sizeBytes;
  const inBounds = kernel.revision.gmemUnsignedOffset
    ? offset + size <= isize
    : // 6.8-7.1: a signed loff_t; offset + size may overflow and slip past the check.
      asS64(offset) >= 0n && asS64(offset + size) <= isize;
  if (!kernel.page.aligned(offset) || !inBounds) fail("EINVAL");
  const start = kernel.page.page(offset);
  const end = start + slot.npages;
  if (file.bindings.intersects(start, end)) fail(kernel.revision.gmemBindOverlap);
  slot.gmem = { file, pgoff: start };
  slot.gmemOnly = file.inode.supportsMmap;
  file.bindings.set(start, end, slot);
}

export function unbindGuestMemfd(slot: Memslot): void {
  const file = slot.gmem?.file;
  if (!file) return;
  file.bindings.delete(slot.gmem!.pgoff, slot.gmem!.pgoff + slot.npages);
  slot.gmem!.file = null;
}
