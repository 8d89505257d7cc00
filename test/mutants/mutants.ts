// Deliberately broken variants of the reference implementation. Each is a patch
// on the compiled model (dist/reference-impl/), applied to a private copy; the
// conformance suites must fail against every one of them. The first ones are the
// design flaws and bugs discussed in the seed threads (shared/seeds/).
export interface Mutant {
  name: string;
  /** the flaw, and where it was discussed */
  why: string;
  /** file under dist/reference-impl/ */
  file: string;
  search: string;
  replace: string;
}

export const MUTANTS: Mutant[] = [
  {
    name: "attributes-without-zap",
    why: "attributes changed without zapping existing mappings (seed 004: zap before the attribute update)",
    file: "vm/attributes.js",
    search: "vm.mmu.zap(asId, Math.max(start, slot.baseGfn), Math.min(end, slot.endGfn), filter);",
    replace: "void 0;",
  },
  {
    name: "host-reads-private",
    why: "private guest_memfd pages readable by the host (seeds 002, 003: private memory is never host-mapped)",
    file: "guest_memfd/inode.js",
    search: "if (!this.initShared)",
    replace: "if (false)",
  },
  {
    name: "invalidate-byte-offsets",
    why: "byte offsets passed where page offsets were expected in the invalidation of a punched range (seed 000, restrictedmem_fallocate)",
    file: "guest_memfd/inode.js",
    search: "this.invalidate(start, end);",
    replace: "this.invalidate(start * 4096, end * 4096);",
  },
  {
    name: "punch-keeps-pages",
    why: "a punched range keeps its pages (PUNCH_HOLE must free them: the next use reads zeros)",
    file: "guest_memfd/inode.js",
    search: "this.freeFolios(this.cache.remove(start, end));",
    replace: "void 0;",
  },
  {
    name: "overlapping-bindings",
    why: "two memslots bound to the same guest_memfd range (a page owned through two bindings)",
    file: "guest_memfd/bindings.js",
    search: "fail(kernel.revision.gmemBindOverlap);",
    replace: "void 0;",
  },
  {
    name: "closed-file-still-serves",
    why: "closing the last reference to a bound guest_memfd leaves its memslots serving pages (they must fail with EFAULT)",
    file: "guest_memfd/file.js",
    search: "slot.gmem.file = null;",
    replace: "void 0;",
  },
  {
    name: "prefault-no-writeback",
    why: "KVM_PRE_FAULT_MEMORY does not write back its progress (userspace could not resume)",
    file: "vcpu/pre-fault.js",
    search: "call.writeStruct({ ...range, gpa, size });",
    replace: "void 0;",
  },
  {
    name: "memory-fault-without-private-flag",
    why: "KVM_EXIT_MEMORY_FAULT that does not say whether the access was private",
    file: "vcpu/run.js",
    search: "isPrivate ? kernel.K.EXIT_FLAG_PRIVATE : 0n",
    replace: "0n",
  },
  {
    name: "td-shared-alias-slot",
    why: "a TD memslot may end on a shared-bit alias gfn (kvm_arch_prepare_memory_region must refuse it: memslots name private gfns only)",
    file: "arch/x86/vm-types.js",
    search: "if (this.isGfnAlias(slot.endGfn - 1))",
    replace: "if (false)",
  },
  {
    name: "tdx-keeps-removed-private-data",
    why: "a private page removed from a TD keeps its data (TDX clears it when the S-EPT entry is dropped; ATTR-022)",
    file: "arch/x86/vm-types.js",
    search: "folio.clear();",
    replace: "void 0;",
  },
  {
    name: "host-fault-reports-memory-fault",
    why: "a slot without a usable host page reported as KVM_EXIT_MEMORY_FAULT (mainline prepares no exit for it: EXIT-012)",
    file: "vcpu/run.js",
    search: "return { ret: -1n, errno: \"EFAULT\" };",
    replace: "return { ret: -1n, errno: \"EFAULT\", exit: { reason: \"KVM_EXIT_MEMORY_FAULT\", memory_fault: { flags: 0n, gpa: page.address(gfn), size: page.size } } };",
  },
  {
    name: "poison-keeps-guest-mapping",
    why: "a memory error on a guest_memfd page leaves the guest's mappings of it (kvm_gmem_error_folio must zap them, or the guest keeps using a poisoned page)",
    file: "guest_memfd/inode.js",
    search: "this.invalidate(folio.index, folio.index + 1);",
    replace: "void 0;",
  },
  {
    name: "protected-vm-memslots-change",
    why: "a protected s390 VM accepts memslot changes (kvm_arch_prepare_memory_region must refuse every change while the VM has a secure configuration: SLOT2-024)",
    file: "arch/s390/vm-type.js",
    search: "if (this.isProtected)",
    replace: "if (false)",
  },
  {
    name: "ucontrol-without-internal-memslot",
    why: "a 6.14+ user-controlled s390 VM without its internal memslot (user slots would get EINVAL where the kernel gives EEXIST: SLOT2-024)",
    file: "arch/s390/vm-type.js",
    search: "if (!this.ucontrol || !vm.kernel.revision.s390UcontrolMemslot)",
    replace: "if (true)",
  },
  {
    name: "ucontrol-memslot-accepted",
    why: "a user-controlled s390 VM takes a user memslot above its internal one (the arch hook must refuse it: SLOT2-024; only 7.1+ shows it, earlier the segment check refuses it too)",
    file: "arch/s390/vm-type.js",
    search: "if (this.ucontrol && slot !== undefined && slot.id < vm.kernel.userMemSlots)",
    replace: "if (false)",
  },
  {
    name: "pv-command-ignores-flags",
    why: "KVM_S390_PV_COMMAND with non-zero flags runs the command (flags must be 0: VMTYPE-017)",
    file: "arch/s390/pv.js",
    search: "if (cmd.flags !== 0n)",
    replace: "if (false)",
  },
  {
    name: "conversion-ignores-host-references",
    why: "a shared-to-private conversion that ignores host references (seed 001: a page the host still holds, e.g. GUP-pinned, must refuse the conversion: CONV-008, EAGAIN)",
    file: "guest_memfd/attributes.js",
    search: "if (pinned !== undefined)",
    replace: "if (false)",
  },
  {
    name: "conversion-keeps-host-mappings",
    why: "a conversion to private that skips unmapping host page tables (a populated host mapping keeps reaching the now-private page: CONV-022)",
    file: "guest_memfd/attributes.js",
    search: "kernel.unmapMappingRange(inode, start, end);",
    replace: "void 0;",
  },
];
