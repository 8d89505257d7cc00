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
  // Issue 14: one or more mutants per class of hole the strength suites close; each is killed
  // only by the new suites (memslot/reshape, memslot/precedence, guest_memfd/precedence,
  // vcpu/host_change, guest_memfd/enomem, guest_memfd/offset_punch, guest_memfd/blocks,
  // guest_memfd/poison_host). Multi-line search texts are the compiled model's (tsc output).
  {
    name: "plain-slot-resize-accepted",
    why: "an ordinary slot re-issued with another memory_size is taken as an identical re-issue (kvm_set_memory_region must refuse npages != old->npages: SLOT2-041)",
    file: "vm/memslots.js",
    search: "|| npages !== old.npages ||",
    replace: "||",
  },
  {
    name: "plain-slot-uaddr-change-accepted",
    why: "an ordinary slot re-issued with another userspace_addr is accepted and keeps its old backing (SLOT2-041)",
    file: "vm/memslots.js",
    search: "mem.userspaceAddr !== old.userspaceAddr || ",
    replace: "",
  },
  {
    name: "move-skips-overlap-check",
    why: "a moved slot may land on another slot (kvm_check_memslot_overlap runs for KVM_MR_MOVE too: SLOT2-042)",
    file: "vm/memslots.js",
    search: '(change === "create" || change === "move") && slots.overlaps',
    replace: 'change === "create" && slots.overlaps',
  },
  {
    name: "move-overlaps-itself",
    why: "the overlap check counts the slot being moved, so a move by less than its size is refused (kvm_check_memslot_overlap skips the same id: SLOT2-042)",
    file: "vm/memslots.js",
    search: "iv.value.id !== id",
    replace: "true",
  },
  {
    name: "max-nr-pages-unchecked",
    why: "a memslot of more than KVM_MEM_MAX_NR_PAGES pages is accepted (SLOT2-043)",
    file: "vm/memslots.js",
    search: "if (mem.memorySize >> page.shift > kernel.K.memMaxNrPages)",
    replace: "if (false)",
  },
  {
    name: "gmem-fd-looked-up-before-gpa-overlap",
    why: "the guest_memfd descriptor is looked up before the GPA overlap check, so an fd that is not open hides the EEXIST behind EBADF (kvm_gmem_bind runs after kvm_check_memslot_overlap: SLOT2-044)",
    file: "vm/memslots.js",
    search: `    if ((change === "create" || change === "move") && slots.overlaps(id, baseGfn, baseGfn + npages))
`,
    replace: `    if (isGmem)
        ctx.process.files.get(BigInt.asUintN(32, mem.guestMemfd));
    if ((change === "create" || change === "move") && slots.overlaps(id, baseGfn, baseGfn + npages))
`,
  },
  {
    name: "gmem-bind-overlap-before-size",
    why: "kvm_gmem_bind checks the bindings before the file size, so a range past the end that also overlaps a binding gets EEXIST on 7.2 instead of EINVAL (SLOT2-044)",
    file: "guest_memfd/bindings.js",
    search: `    if (!kernel.page.aligned(offset) || !inBounds)
        fail("EINVAL");
    const start = kernel.page.page(offset);
    const end = start + slot.npages;
    if (file.bindings.intersects(start, end))
        fail(kernel.revision.gmemBindOverlap);
`,
    replace: `    const start = kernel.page.page(offset);
    const end = start + slot.npages;
    if (kernel.page.aligned(offset) && file.bindings.intersects(start, end))
        fail(kernel.revision.gmemBindOverlap);
    if (!kernel.page.aligned(offset) || !inBounds)
        fail("EINVAL");
`,
  },
  {
    name: "gmem-fallocate-alignment-first",
    why: "kvm_gmem_fallocate checks the alignment before FALLOC_FL_KEEP_SIZE, so mode 0 at an unaligned offset gets EINVAL instead of EOPNOTSUPP (GMEM-FALLOC-016)",
    file: "guest_memfd/file.js",
    search: `        if (!(mode & KEEP_SIZE))
            fail("EOPNOTSUPP");
`,
    replace: `        if (!this.kernel.page.aligned(offset) || !this.kernel.page.aligned(len))
            fail("EINVAL");
        if (!(mode & KEEP_SIZE))
            fail("EOPNOTSUPP");
`,
  },
  {
    name: "mmu-notifier-ignored",
    why: "the MMU notifier zaps nothing: munmap, MADV_DONTNEED, a MAP_FIXED remap or a punch behind userspace_addr never reach a guest that mapped the page (SLOT2-046)",
    file: "vm/vm.js",
    search: "this.mmu.zap(asId, slot.baseGfn + (lo - first), slot.baseGfn + (hi - first), ZAP_SHARED);",
    replace: "void 0;",
  },
  {
    name: "gmem-fault-allocates-before-lookup",
    why: "kvm_gmem_get_folio allocates before it looks in the page cache, so a guest fault on a preallocated page meets an allocation failure (GMEM-FALLOC-017)",
    file: "guest_memfd/inode.js",
    search: `        if (cached)
            return cached;
        this.kernel.allocate();
`,
    replace: `        this.kernel.allocate();
        if (cached)
            return cached;
`,
  },
  {
    name: "fallocate-enomem-drops-partial-range",
    why: "an allocation that fails part-way through a hole drops the pages it had allocated in it (kvm_gmem_allocate keeps them: GMEM-FALLOC-017)",
    file: "guest_memfd/inode.js",
    search: "if (take > 0)",
    replace: "if (take === e - s)",
  },
  {
    name: "memslot-installed-before-last-allocation",
    why: "the new memslot is installed before the commit's last allocation, so an ENOMEM there leaves a slot the call said it did not create or move (SLOT2-045)",
    file: "vm/memslots.js",
    search: `    if (change === "create" || change === "move")
        kernel.allocate();
    if (old !== undefined)
        slots.remove(old);
    if (slot !== undefined)
        slots.add(slot);
`,
    replace: `    if (old !== undefined)
        slots.remove(old);
    if (slot !== undefined)
        slots.add(slot);
    if (change === "create" || change === "move")
        kernel.allocate();
`,
  },
  {
    name: "gmem-invalidate-ignores-binding-offset",
    why: "a punch translates file pages to gfns without the binding's guest_memfd_offset, so a slot bound at a non-zero offset keeps the punched page mapped (GMEM-FALLOC-010)",
    file: "guest_memfd/file.js",
    search: "const lo = slot.baseGfn + Math.max(pgoff, start) - pgoff;",
    replace: "const lo = slot.baseGfn + Math.max(pgoff, start);",
  },
  {
    name: "punch-uncounts-only-touched-pages",
    why: "a punch takes only pages that were touched out of the allocated count, so allocated but untouched pages stay in st_blocks (GMEM-FILE-013)",
    file: "mm/page-cache.js",
    search: "this.allocated -= piece.end - piece.start;",
    replace: "if (!isAllocated(piece.value)) this.allocated -= piece.end - piece.start;",
  },
  {
    name: "poison-keeps-host-mapping",
    why: "a memory error on a shared guest_memfd page leaves the host's page-table entries, so the host reloads the poisoned page without SIGBUS (GMEM-FILE-012)",
    file: "guest_memfd/inode.js",
    search: "this.kernel.unmapMappingRange(this, folio.index, folio.index + 1);",
    replace: "void 0;",
  },
  {
    name: "host-fault-ignores-poison",
    why: "kvm_gmem_fault_user_mapping maps a poisoned page into a new host mapping instead of failing with VM_FAULT_HWPOISON (GMEM-FILE-012)",
    file: "guest_memfd/inode.js",
    search: `        if (folio.hwpoison)
            return "HWPOISON";
`,
    replace: "",
  },
  {
    name: "fallocate-range-from-end",
    why: "kvm_gmem_allocate counts its pages from the wrong end (end + start), so an allocation that does not start at page 0 allocates pages past its range (GMEM-FALLOC-017)",
    file: "guest_memfd/inode.js",
    search: "const wanted = end - start;",
    replace: "const wanted = end + start;",
  },
  {
    name: "punch-zaps-past-binding-end",
    why: "a punch adds the binding's guest_memfd_offset to the end of the zapped gfn range instead of taking it off: on a TD the zap clears the private pages after the punched one (GMEM-FALLOC-010, ATTR-022)",
    file: "guest_memfd/file.js",
    search: "const hi = slot.baseGfn + Math.min(pgoff + slot.npages, end) - pgoff;",
    replace: "const hi = slot.baseGfn + Math.min(pgoff + slot.npages, end) + pgoff;",
  },
  {
    name: "v8-accepts-vm-without-private-memory",
    why: "conv-v8's KVM_SET_MEMORY_ATTRIBUTES2 accepts a request on a guest_memfd of a VM without private memory when it asks for no attribute, as v7 did (v8 13/46 refuses it first: CONV-018)",
    file: "guest_memfd/attributes.js",
    search: "if (kernel.revision.gmemAttributesNeedPrivateMem && !file.vm.type.hasPrivateMem)",
    replace: "if (false)",
  },
  // Issue 12, seed 003 (profile poison-rfc-v2): a page the guest uses as private must be useless to the host.
  {
    name: "guest-only-page-readable-by-host",
    why: "a private page readable by the host (seed 003: the big requirement is that private pages are useless in the host; POISON-001): a host fault on a guest-only page returns the page instead of SIGBUS",
    file: "process/address-space.js",
    search: `        if (isGuestOnly(found))
            return "HWPOISON";
`,
    replace: "",
  },
  {
    name: "guest-only-keeps-host-ptes",
    why: "a page is tagged guest-only but the host page-table entries that already map it stay, so the VMM keeps reading and writing the guest's private page (seed 003: the primary MMU must not have pages it does not know are guest-only; POISON-001)",
    file: "mm/guest-only.js",
    search: "p.mm.ptes.delete(start, start + 1);",
    replace: "void 0;",
  },
  {
    name: "fork-copies-guest-only-data",
    why: "fork gives the child a readable copy of a guest-only page instead of the poisoned entry (seed 003: poisoned pages must be useless outside the process with the blessed struct kvm; POISON-003)",
    file: "mm/guest-only.js",
    search: "GUEST_ONLY.add(copy);",
    replace: "void 0;",
  },
  {
    name: "restrictedmem-byte-offsets",
    why: "restrictedmem_fallocate hands the notifiers byte offsets where KVM expects page offsets (seed 000; the model keeps it in upm-v9 only): in upm-v10 a punched page the guest mapped stays mapped (RMEM-005)",
    file: "restrictedmem/file.js",
    search: "if (this.kernel.revision.restrictedmem.notifyByteOffsets)",
    replace: "if (true)",
  },
  {
    name: "upm-attributes-without-zap",
    why: "UPM v10 KVM_SET_MEMORY_ATTRIBUTES stores the attribute without unmapping existing guest mappings (seed 004: zap before update): a page the guest read shared stays mapped after it is set PRIVATE (ATTR-H-007)",
    file: "restrictedmem/attributes.js",
    search: "vm.mmu.zap(asId, Math.max(start, slot.baseGfn), Math.min(end, slot.endGfn), ZAP_ALL);",
    replace: "void 0;",
  },
  // Not a mutant: seed 004's invalidation bookkeeping outside mmu_lock (kvm_mmu_invalidate_end run as
  // on_unlock, after the lock is dropped). Its effect is a race between a fault on another vCPU and
  // the attribute update; the model runs one operation at a time, and the invalidation counters it
  // keeps are only read by faults that run between the two halves, which a single-threaded driver
  // cannot schedule. Observing it needs two threads on a real kernel with lockdep (the WARN quoted there).
  {
    name: "snp-free-keeps-rmp-assigned",
    why: "a page converted to shared and freed from guest_memfd stays assigned and validated in the SNP RMP (sev_gmem_invalidate skipped): the frame's next guest page is usable without PVALIDATE (HW-SNP-010)",
    file: "arch/x86/snp/gmem.js",
    search: 'rmp.makeShared(pfn, use2m ? "2M" : "4K");',
    replace: "void 0;",
  },
  {
    name: "snp-populate-writes-assigned-page",
    why: "SNP_LAUNCH_UPDATE copies into a page already assigned to the guest (the host writes a guest-owned page; sev_gmem_post_populate's RMP check skipped) (HW-SNP-018)",
    file: "arch/x86/snp/launch.js",
    search: `    if (rmp.lookup(pfn).entry !== undefined)
        return "EEXIST";
`,
    replace: "",
  },
  {
    name: "snp-populate-not-validated",
    why: "SNP_LAUNCH_UPDATE leaves its pages unvalidated (and firmware-owned): the launched guest takes #VC on its own initial memory (HW-SNP-016)",
    file: "arch/x86/snp/launch.js",
    search: "rmp.setValidated(pfn, true, true);",
    replace: "void 0;",
  },
  {
    name: "tdx-conversion-skips-sept-removal",
    why: "zapping a TD's private mapping (conversion to shared, punch, memslot deletion) leaves the page in the Secure EPT: no BLOCK/TRACK/REMOVE, so the old private page would stay the TD's (ATTR-022, HW-TDX)",
    file: "arch/x86/tdx/mirror.js",
    search: "td.sept.block(gfn);",
    replace: "return;",
  },
  {
    name: "tdx-augged-page-usable-before-accept",
    why: "a TD reaches a page KVM AUGed (PENDING) without TDG.MEM.PAGE.ACCEPT: no #VE (HW-TDX)",
    file: "arch/x86/tdx/mirror.js",
    search: 'if (leaf.state !== "pending")',
    replace: "if (false)",
  },
  {
    name: "tdx-map-gpa-chunks-above-2mib",
    why: "TDG.VP.VMCALL<MapGPA> forwarded in exits of 4 MiB (TDX_MAP_GPA_MAX_LEN is 2 MiB; HW-TDX)",
    file: "arch/x86/tdx/abi.js",
    search: "TDX_MAP_GPA_MAX_LEN = 2n * 1024n * 1024n;",
    replace: "TDX_MAP_GPA_MAX_LEN = 4n * 1024n * 1024n;",
  },
  {
    name: "pkvm-share-forgets-host-stage2",
    why: "pKVM's MEM_SHARE makes the guest's page SHARED_OWNED but leaves the host's state NOPAGE, so the host stage-2 never maps it back and the host's access to the shared page aborts (hw-models.md 3.2; HW-PKVM-007)",
    file: "arch/arm64/pkvm/hyp.js",
    search: "[PageState.OWNED, PageState.NOPAGE], [PageState.SHARED_OWNED, PageState.SHARED_BORROWED]",
    replace: "[PageState.OWNED, PageState.NOPAGE], [PageState.SHARED_OWNED, PageState.NOPAGE]",
  },
  {
    name: "pkvm-host-maps-guest-owned",
    why: "guest_memfd lets the host map a protected guest's page that the guest owns (never shared): the host reads guest data (seed 002: host mmap of shared pages only; HW-PKVM-006)",
    file: "arch/arm64/pkvm/pkvm.js",
    search: "if (this.lib.accessibleCount(inode, index) === 0)",
    replace: "if (false)",
  },
  {
    name: "pkvm-unshare-ignores-host-references",
    why: "a page becomes private (MEM_UNSHARE accepted) while the host still pins it (seeds 001 and 002: refcount must equal the safe count; HW-PKVM-011)",
    file: "arch/arm64/pkvm/gmem-library.js",
    search: "if (folio !== undefined && this.refCount(folio) !== SAFE_REFS)",
    replace: "if (false)",
  },
  {
    name: "cca-ripas-change-skips-rtt",
    why: "Arm CCA: the realm's RIPAS change is reported done at the next KVM_RUN but RMI_RTT_SET_RIPAS never ran, so the RTT keeps the old RIPAS (HW-CCA-014)",
    file: "arch/arm64/cca/vm-type.js",
    search: "const top = this.realm.setRipas(req, req.base);",
    replace: "const top = req.top;",
  },
  {
    name: "cca-host-writes-delegated-granule",
    why: "Arm CCA: populate copies host data into a granule already delegated to the realm instead of being refused, so the host rewrites realm memory (HW-CCA-009; hw-models.md 4.6.1)",
    file: "arch/arm64/cca/populate.js",
    search: "realm.granules.delegate(folio);",
    replace: 'if (realm.granules.kindOf(folio.id) !== "DATA") realm.granules.delegate(folio); else { folio.write(0, src); return; }',
  },
  {
    name: "cca-populate-leaves-ripas-empty",
    why: "Arm CCA: populate maps the DATA granule but leaves its RIPAS EMPTY, so the realm aborts on its own initial image (HW-CCA-004)",
    file: "arch/arm64/cca/realm.js",
    search: 'this.setEntry(gfn, { ripas: "RAM", data: folio });',
    replace: 'this.setEntry(gfn, { ripas: "EMPTY", data: folio });',
  },
  {
    name: "fionread-reads-anon-inode",
    why: "FIONREAD answered from i_size for a guest_memfd on a release whose VFS passes anonymous inodes to the file's ioctl (FOPS-012: ENOTTY from the S_ANON_INODE series on)",
    file: "process/vfs-ioctl.js",
    search: "if (!regular || (ctx.kernel.revision.anonFileChecks && anonymousFile(inode)))",
    replace: "if (!regular)",
  },
  {
    name: "record-lock-own-lock-conflicts",
    why: "a POSIX record lock conflicts with its own owner: F_GETLK reports the process's own lock (FOPS-009: the owner is compared first, fs/locks.c posix_test_lock)",
    file: "process/locks.js",
    search: "locks.find((l) => l.owner !== owner && l.end >= start",
    replace: "locks.find((l) => l.end >= start",
  },
  {
    name: "sync-file-range-needs-fsync",
    why: "sync_file_range treated like fsync: EINVAL on a guest_memfd, which has no .fsync but needs none for it (FOPS-007 against SYNC-002)",
    file: "process/file-advice.js",
    search: 'includes(type))\n        fail("ESPIPE");',
    replace: 'includes(type) || anonymousFile(f.inode))\n        fail("EINVAL");',
  },
  {
    name: "resume-skips-faulting-access",
    why: "re-entering KVM_RUN after KVM_EXIT_MEMORY_FAULT treats the faulting access as done instead of running it again against the attributes (RUN-006, RUN-007: the guest must not get past an access userspace has not fixed)",
    file: "vcpu/program.js",
    search: "if (pending !== undefined)",
    replace: "if (true)",
  },
  {
    name: "io-exit-direction-swapped",
    why: "KVM_EXIT_IO reports an IN as KVM_EXIT_IO_OUT and an OUT as KVM_EXIT_IO_IN, so a VMM would complete the wrong operation (RUN-001)",
    file: "vcpu/program.js",
    search: "direction: step.in ? kernel.K.exitIo.IN : kernel.K.exitIo.OUT,",
    replace: "direction: step.in ? kernel.K.exitIo.OUT : kernel.K.exitIo.IN,",
  },
  {
    name: "vmsplice-copies-pages",
    why: "vmsplice copies the user's bytes instead of holding references on the pages, so a guest_memfd page punched or converted while a pipe holds it could not outlive the file (seeds 001 and 002: host GUP references on guest pages; SPLICE-003, SPLICE-006)",
    file: "process/pipe.js",
    search: "pipe.bufs.push({ data: null, folio: r.folio, offset, len: n });",
    replace: "pipe.bufs.push({ data: r.folio.read(offset, n), folio: null, offset: 0, len: n });",
  },
  {
    name: "io-uring-pins-private-gmem",
    why: "io_uring registers a buffer of private guest_memfd pages as if GUP had pinned them long-term (MM-010: the fault raises SIGBUS, GUP answers EFAULT; seeds 001-003: the host must not pin private memory)",
    file: "process/io-uring.js",
    search: "ring.pin = pinUserPages(ctx.kernel, ctx.process, start, end - start);",
    replace: "try { ring.pin = pinUserPages(ctx.kernel, ctx.process, start, end - start); } catch { ring.pin = null; }",
  },
  {
    name: "uffd-registers-gmem",
    why: "userfaultfd accepts a shared guest_memfd mapping as if it were shmem (MM-012: vma_can_userfault allows anonymous, shmem and hugetlb only)",
    file: "process/userfaultfd.js",
    search: "return anonymous || shmem;",
    replace: "return anonymous || shmem || vma.shared;",
  },
  {
    name: "mincore-counts-allocated",
    why: "mincore reports a page the page cache merely holds, not one that is up to date (MM-007, MM-008: fallocated guest_memfd and memfd pages read 0 until touched)",
    file: "mm/mincore.js",
    search: "?.uptodate ? 1 : 0",
    replace: " !== undefined ? 1 : 0",
  },
  {
    name: "prefault-breaks-cow",
    why: "KVM_PRE_FAULT_MEMORY maps as a write fault: a MAP_PRIVATE file page is copied, so the guest keeps the old data after the file changes (PREFAULT-021; api.rst: a read fault, no copy-on-write break)",
    file: "vcpu/pre-fault.js",
    search: "handleFault(vm, { gfn, write: false, isPrivate })",
    replace: "handleFault(vm, { gfn, write: true, isPrivate })",
  },
  {
    name: "gmem-invalidate-first-binding-only",
    why: "a hole punched over the file ranges of two memslots zaps only the first binding's guest mappings, so another vCPU keeps reading the freed page through the second slot (ATTR-023; private_mem_conversions_test.c with several memslots)",
    file: "guest_memfd/file.js",
    search: "const hits = this.bindings.overlapping(start, end);",
    replace: "const hits = this.bindings.overlapping(start, end).slice(0, 1);",
  },
  {
    name: "proc-mem-efault",
    why: "/proc/self/mem answers EFAULT, as process_vm_readv does, where mem_rw answers EIO when no byte was reachable (UIO-012, UIO-014)",
    file: "process/proc-mem.js",
    search: 'fail("EIO");',
    replace: 'fail("EFAULT");',
  },
  {
    name: "proc-mem-no-force",
    why: "/proc/self/mem follows the mapping's protection, as process_vm_writev does, where mem_rw passes FOLL_FORCE: a write into read-only private memory fails with EIO instead of copying the page (UIO-015; fs/proc/base.c proc_mem_foll_force, mm/gup.c check_vma_flags)",
    file: "process/proc-mem.js",
    search: "const FOLL_FORCE = true;",
    replace: "const FOLL_FORCE = false;",
  },
  {
    name: "mlock-ignores-rlimit",
    why: "mlock never looks at RLIMIT_MEMLOCK, as if every process had CAP_IPC_LOCK (MM-014; mm/mlock.c can_do_mlock, do_mlock)",
    file: "mm/mlock.js",
    search: "checkMemlockLimit(ctx, addr, len);",
    replace: "void 0;",
  },
  {
    name: "uffd-register-steals-range",
    why: "UFFDIO_REGISTER takes a range another userfaultfd owns instead of failing with EBUSY (MM-013; fs/userfaultfd.c userfaultfd_register)",
    file: "process/userfaultfd.js",
    search: 'fail("EBUSY");',
    replace: "void 0;",
  },
  {
    name: "close-keeps-posix-locks",
    why: "close(2) of another descriptor of the file leaves the process's POSIX record locks in place (FOPS-015; fs/open.c filp_flush -> locks_remove_posix)",
    file: "process/vfs.js",
    search: "locksRemovePosix(ctx.process, inode);",
    replace: "void 0;",
  },
  {
    name: "released-file-keeps-flock",
    why: "the flock lock of an open file outlives its last descriptor (FOPS-016; fs/file_table.c __fput -> locks_remove_file)",
    file: "process/locks.js",
    search: ".filter((l) => !l.file.released);",
    replace: ".filter(() => true);",
  },
  {
    name: "gunyah-host-access-sigbus",
    why: "Gunyah refuses the host's access to a lent page with SIGBUS, as pKVM does, instead of reclaiming it from the guest through the library's accessible operation (HW-GUNYAH-002)",
    file: "arch/arm64/gunyah/rm.js",
    search: 'this.reclaim(inode, index);\n        return "ok";',
    replace: 'return this.lentTo(inode, index) !== undefined ? "SIGBUS" : "ok";',
  },
  {
    name: "gunyah-lend-ignores-pins",
    why: "Gunyah lends a page a GUP pin still holds: the library's safe-count check is skipped (HW-GUNYAH-003; seed 002: a folio becomes inaccessible only when its reference count equals the safe count)",
    file: "arch/arm64/gunyah/rm.js",
    search: "if (this.lib.makeInaccessible(inode, index) !== 0)",
    replace: "if (this.lib.makeInaccessible(inode, index) !== 0 && false)",
  },
  {
    name: "tdx-map-gpa-ignores-pending-events",
    why: "MapGPA goes on to the next chunk although an NMI queued with KVM_NMI is pending, where tdx_complete_vmcall_map_gpa() returns TDVMCALL_STATUS_RETRY (kvm_vcpu_has_events(); HW-TDX-011)",
    file: "arch/x86/tdx/guest.js",
    search: "if (td.pendingEvent(vcpu))",
    replace: "if (false)",
  },
  {
    name: "tdx-map-gpa-retry-r11-current-chunk",
    why: "a RETRY tells the guest to resume at the chunk the VMM already answered instead of the first one not forwarded (r11 = map_gpa_next after the increment; HW-TDX-011)",
    file: "arch/x86/tdx/guest.js",
    search: "status: TDVMCALL_STATUS_RETRY, r11: st.next",
    replace: "status: TDVMCALL_STATUS_RETRY, r11: st.next - TDX_MAP_GPA_MAX_LEN",
  },
  {
    name: "gmem-fault-ignores-policy",
    why: "a guest_memfd page faulted in through a host mapping is allocated on the local node whatever the inode's policy says (GMEM-MMAP-018; 6.19 kvm_gmem_get_folio looks the shared policy up; guest_memfd_test.c test_numa_allocation)",
    file: "guest_memfd/inode.js",
    search: "return sharedPolicyNode(this.kernel, this.sharedPolicy, index);",
    replace: "return sharedPolicyNode(this.kernel, null, index);",
  },
  {
    name: "gmem-fallocate-ignores-policy",
    why: "fallocate allocates guest_memfd pages on the local node whatever the inode's policy says (GMEM-MMAP-018: kvm_gmem_allocate reaches the same kvm_gmem_get_folio)",
    file: "guest_memfd/inode.js",
    search: "fillByPolicy(this.kernel, this.cache, this.sharedPolicy, s, s + take);",
    replace: "fillByPolicy(this.kernel, this.cache, null, s, s + take);",
  },
  {
    name: "move-pages-reads-page-cache",
    why: "move_pages asks the file's page cache instead of the process's page tables, so a page fallocate allocated but this process never mapped reports a node instead of -ENOENT (MM-015: do_pages_stat_array walks the page tables)",
    file: "mm/migrate.js",
    search: 'return mm.ptes.get(vpn)?.value.folio ?? "ENOENT";',
    replace: 'return mm.currentPage(vpn) ?? "ENOENT";',
  },
  {
    name: "gmem-ioctl-any-request-converts",
    why: "kvm_gmem_ioctl() without its default -ENOTTY: any request on a guest_memfd fd is taken for KVM_SET_MEMORY_ATTRIBUTES2 (GMEM-FILE-005 on conv-v7+: the fd recognises exactly one ioctl)",
    file: "guest_memfd/file.js",
    search: "if (request === undefined || call.request !== request)",
    replace: "if (request === undefined)",
  },
  {
    name: "upm-v9-private-outside-private-slots",
    why: "UPM v9 under its selftest hook takes a fault's kind from the attribute store even in slots without KVM_MEM_PRIVATE (the review's change, which v10 made): a gfn left private in a plain slot then ends in KVM_EXIT_MEMORY_FAULT where v9 served it from userspace_addr (RMEM-012's v9 variant)",
    file: "restrictedmem/attributes.js",
    search: "return slot?.restricted != null && (vm.attributes.get(gfn) & V9_SHARED) === 0n;",
    replace: "return slot !== undefined && (vm.attributes.get(gfn) & V9_SHARED) === 0n;",
  },
  {
    name: "restrictedmem-thp-ignored",
    why: "the restricted file allocates one page whatever shmem_enabled says (shmem_is_huge() ignored): seed 000's 2 MiB folio for a 4 KiB fallocate or private fault never appears (RMEM-028)",
    file: "process/shmem-huge.js",
    search: "if (shmemIsHuge(kernel, inode, index)) {",
    replace: "if (false) {",
  },
  {
    name: "shmem-within-size-as-always",
    why: "shmem_enabled=within_size treated as always: a file smaller than the aligned 2 MiB range gets a huge folio (RMEM-028: within_size needs the file to cover the range)",
    file: "process/shmem-huge.js",
    search: 'case "within_size": {',
    replace: 'case "within_size": return true; case "never-used": {',
  },
  {
    name: "snp-launch-update-len-zero",
    why: "SNP_LAUNCH_UPDATE without 6.18's !params.len check: a len of 0 reaches kvm_gmem_populate and ends in EIO instead of the EINVAL of the parameter checks (HW-SNP-023)",
    file: "arch/x86/snp/launch.js",
    search: "params.len === 0n || ",
    replace: "",
  },
];
