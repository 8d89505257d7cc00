// KVM_PRE_FAULT_MEMORY: kvm_vcpu_pre_fault_memory() (virt/kvm/kvm_main.c) around
// kvm_arch_vcpu_pre_fault_memory() and kvm_tdp_map_page() (arch/x86/kvm/mmu/mmu.c).
// The struct is written back whatever happens; the call succeeds if any page was
// mapped and reports the error of a call that made no progress.
import { fail, type Errno } from "../lib/errno.js";
import { checkPageBudget } from "../lib/budget.js";
import { U64_MAX } from "../lib/u64.js";
import type { IoctlCall, SyscallContext } from "../process/file.js";
import { handleFault } from "./fault.js";
import type { Vcpu } from "./vcpu.js";

export function preFaultMemory(ctx: SyscallContext, vcpu: Vcpu, call: IoctlCall): bigint {
  const { kernel } = ctx;
  const page = kernel.page;
  const range = call.readStruct();
  let gpa = range.gpa as bigint;
  let size = range.size as bigint;
  let error: Errno | undefined;
  try {
    if (range.flags !== 0n) fail("EINVAL");
    if (!page.aligned(gpa) || !page.aligned(size) || size === 0n || gpa + size > U64_MAX) fail("EINVAL");
    const full = size;
    const pages = Number(size >> page.shift);
    const beforeSignal = kernel.inject.pagesBeforeSignal(pages);
    const beforeRace = kernel.inject.pagesBeforeMemslotRace(pages);
    for (let done = 0; size > 0n; done++) {
      if (done === beforeSignal) {
        error = "EINTR";
        break;
      }
      // kvm_tdp_map_page(): a fault that meets a memslot being deleted or moved is not retried inside KVM.
      if (done === beforeRace) {
        error = "EAGAIN";
        break;
      }
      // Pages that map are counted against the budget; a range stops at its first error anyway.
      checkPageBudget(done + 1, "KVM_PRE_FAULT_MEMORY");
      error = mapOne(ctx, vcpu, page.page(gpa));
      if (error !== undefined) break;
      gpa += page.size;
      size -= page.size;
    }
    if (error !== undefined && size === full) fail(error);
    return 0n;
  } finally {
    call.writeStruct({ ...range, gpa, size });
  }
}

/** kvm_arch_vcpu_pre_fault_memory() for one page: a read fault with the gfn's own private/shared type. */
function mapOne(ctx: SyscallContext, vcpu: Vcpu, gfn: number): Errno | undefined {
  const vm = vcpu.vm;
  if (!vm.preFaultAllowed) return "EOPNOTSUPP";
  // Only gfns as memslots name them: a TD's shared alias is refused (checked once pre-faulting is allowed).
  if (vm.type.isGfnAlias(gfn)) return "EINVAL";
  // kvm_mmu_reload(): a shadow MMU with no page budget yet cannot allocate its root.
  if (!ctx.kernel.host.tdp && !vm.shadowMmuBudget) return "ENOSPC";
  // Shadow paging indexes its MMU by GVA: only TDP can map a GPA ahead of time.
  if (!ctx.kernel.host.tdp) return "EOPNOTSUPP";
  const isPrivate = vm.type.hasPrivateMem && vm.isPrivate(gfn);
  if (vm.mmu.lookup(0, gfn, isPrivate) !== undefined) return undefined;
  const r = handleFault(vm, { gfn, write: false, isPrivate });
  switch (r.kind) {
    case "mapped":
      return undefined;
    case "memory-fault":
      return r.errno;
    case "host-fault":
      return "EFAULT";
    case "emulate":
      return "ENOENT";
    case "hwpoison":
      ctx.signal = "SIGBUS";
      return "EINTR";
  }
}
