// KVM_CREATE_GUEST_MEMFD: kvm_gmem_create() and __kvm_gmem_create(), and the flags
// a VM may use (kvm_gmem_get_supported_flags() in include/linux/kvm_host.h).
import { fail } from "../lib/errno.js";
import { asS64 } from "../lib/u64.js";
import type { Kernel } from "../kernel.js";
import type { SyscallContext } from "../process/file.js";
import type { Vm } from "../vm/vm.js";
import { gmemAttributesInUse } from "./attributes.js";
import { GmemFile } from "./file.js";
import { GmemInode } from "./inode.js";

/** Flags KVM_CREATE_GUEST_MEMFD accepts, system-wide (vm null) or for one VM. */
export function supportedGmemFlags(kernel: Kernel, vm: Vm | null): bigint {
  if (!kernel.revision.gmemFlags) return 0n;
  const { MMAP, INIT_SHARED } = kernel.K.gmemFlag;
  // In-place conversion: kvm_arch_supports_gmem_init_shared() is true for every VM once
  // per-VM attributes are off (CONV-014).
  const release = vm === null || vm.type.initSharedAllowed || gmemAttributesInUse(kernel) ? MMAP | INIT_SHARED : MMAP;
  // A probed host may offer fewer (kvm_arch_supports_gmem_mmap() false on its arch or build).
  const offered = kernel.host.guestMemfdFlags;
  if (offered === undefined) return release;
  return release & ((offered.includes("mmap") ? MMAP : 0n) | (offered.includes("init-shared") ? INIT_SHARED : 0n));
}

/** Returns the new descriptor. Reserved words of the argument are not looked at. */
export function createGuestMemfd(ctx: SyscallContext, vm: Vm, size: bigint, flags: bigint): number {
  const { kernel } = ctx;
  if (flags & ~supportedGmemFlags(kernel, vm)) fail("EINVAL");
  const signedSize = asS64(size);
  if (signedSize <= 0n || !kernel.page.aligned(signedSize)) fail("EINVAL");
  ctx.process.files.ensureFree();
  kernel.allocate();
  const fs = kernel.revision.gmemOwnFilesystem ? kernel.fs.guestMemfd : kernel.fs.anonInode;
  const file = new GmemFile(new GmemInode(kernel, fs, kernel.nextIno(), signedSize, flags), vm);
  return ctx.process.files.install(file, false);
}
