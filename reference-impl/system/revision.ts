// What changes between the uAPI revisions the model implements, beyond what the
// spec's constants already say (which VM types, capabilities and ioctls exist).
// Each profile is the release it names: linux-6.8 is v6.8, without the 6.10-6.17
// additions (SEV/SNP/TDX VM types, KVM_PRE_FAULT_MEMORY). Not reproduced: v6.8
// accepted dropping KVM_MEM_GUEST_MEMFD from an existing slot and left the binding
// on the freed memslot (SLOT2-037); the model refuses it in every profile.
import type { ProfileName } from "../../spec/index.js";
import type { Errno } from "../lib/errno.js";

export interface Revision {
  profile: ProfileName;
  /** GUEST_MEMFD_FLAG_MMAP / INIT_SHARED and KVM_CAP_GUEST_MEMFD_FLAGS exist (6.18) */
  gmemFlags: boolean;
  /** every VM type may bind a guest_memfd, and KVM_CAP_GUEST_MEMFD is 1 per VM (6.18); before, only VMs with private memory */
  gmemForEveryVm: boolean;
  /** guest_memfd lives on its own pseudo-filesystem (statfs magic GUEST_MEMFD_MAGIC) instead of an anonymous inode */
  gmemOwnFilesystem: boolean;
  /** kvm_gmem_bind() takes an unsigned offset (7.2); before, a loff_t whose overflow was not checked */
  gmemUnsignedOffset: boolean;
  /** errno of binding a guest_memfd range that is already bound */
  gmemBindOverlap: Errno;
  /** vfs_fallocate() checks the exclusive modes with EOPNOTSUPP only (6.12); before, some combinations gave EINVAL */
  fallocateModesExclusive: boolean;
  /** the anonymous inode of VM and vCPU files refuses setattr (EOPNOTSUPP); before, chmod changed it */
  anonInodeSetattrRefused: boolean;
  /**
   * VFS paths meant for regular files skip files on anonymous inodes (IS_ANON_FILE, from the
   * S_ANON_INODE series of 2025): FIONREAD falls through to the file's ioctl (ENOTTY) and
   * readahead(2) fails with EINVAL. guest_memfd's inode comes from alloc_anon_inode(). Absent: no such check.
   */
  anonFileChecks?: boolean;
  /** guest_memfd keeps NUMA policies per file range (set_policy/get_policy, 6.19); before, they stay with the VMA */
  gmemSharedPolicy: boolean;
  /** MPOL_MAX: MPOL_WEIGHTED_INTERLEAVE arrived in 6.9 */
  mpolMax: number;
  /**
   * The highest address x86-64 __access_ok() lets a user range end at (inclusive).
   * "sign-bit" (6.7-6.11): valid_user_address() is (long)addr >= 0, so any range ending
   * below 2^63 passes and the access itself faults later. "task-size" (6.12+, commit
   * 86e6b1547b3d, then 573f45a9f9a4 "x86: fix off-by-one in access_ok()" in 6.13 and
   * 6.12.y): addr <= USER_PTR_MAX = TASK_SIZE_MAX, so a range may end exactly at TASK_SIZE_MAX.
   */
  userPtrMax: "sign-bit" | "task-size";
  /** s390: kvm_arch_prepare_memory_region() refuses a user-controlled VM's memslots (6.11; before, the commit crashed) */
  s390UcontrolRejected: boolean;
  /** s390: a user-controlled VM has an internal memslot over its address space (6.14, commit 413c98f24c63) */
  s390UcontrolMemslot: boolean;
  /** s390: memslot addresses and sizes are multiples of a 1 MiB segment (until 7.1 allowed page granularity) */
  s390MemslotSegments: boolean;
  /** __sev_guest_init(): an SNP guest needs GHCB protocol version 2 (0 means 2) (6.18, kvm-x86-svm-6.18) */
  snpMinGhcbVersion2: boolean;
  /**
   * The newest KVM_CAP_* number the release defines, where known: numbers above it are 0
   * for KVM_CHECK_EXTENSION. v6.8 ends with KVM_CAP_VM_TYPES (235); KVM_CAP_PRE_FAULT_MEMORY
   * (236) came later (spec/constants.json). Unknown for later releases, whose unmodelled
   * capabilities are refused as not modelled instead.
   */
  capMax?: number;
  /**
   * guest_memfd in-place conversion (conv-v7, not merged): guest_memfd tracks shared/private
   * per page and takes KVM_SET_MEMORY_ATTRIBUTES2, while the read-only module parameter
   * kvm.vm_memory_attributes is 0 (host model setting); guest_memfd/attributes.ts.
   */
  gmemInPlaceConversion?: boolean;
  /** kvm_gmem_populate() stops with EEXIST at a folio already prepared (preparation tracking, removed after 6.18 by commit 8622ef05) */
  gmemPopulatePreparedEexist?: boolean;
  /**
   * KVM_SET_MEMORY_ATTRIBUTES2 fails with EINVAL on a guest_memfd whose VM has no private
   * memory, whatever the attributes ([PATCH v8 13/46]: !kvm_arch_has_private_mem() before the
   * attribute check); v7 refused only attribute bits the VM does not support.
   */
  gmemAttributesNeedPrivateMem?: boolean;
  /**
   * The poisoned-page design (poison-rfc-v2, 2021, not merged): a page the guest uses as
   * private becomes unusable by the host (hwpoison entry), conversion is by remapping;
   * mm/guest-only.ts.
   */
  guestOnlyPages?: boolean;
  /**
   * UPM (upm-v9, upm-v10): memfd_restricted(2) and KVM_MEM_PRIVATE memslots backed by a
   * restricted file, whose fallocate notifies the bound memslots (restrictedmem/).
   */
  restrictedmem?: RestrictedmemRevision;
  /**
   * The per-VM attribute API before 6.8: "encrypt-region" (upm-v9: KVM_MEMORY_ENCRYPT_REG/UNREG_REGION,
   * the store lists shared ranges and everything else is private), "in-out" (upm-v10:
   * KVM_SET_MEMORY_ATTRIBUTES writes address/size back), "write-only" (rfc-v11: _IOW, nothing
   * written back). Both later ones have KVM_GET_SUPPORTED_MEMORY_ATTRIBUTES. Absent: the merged API.
   */
  attributesApi?: "encrypt-region" | "in-out" | "write-only";
}

/** What differs between the restrictedmem revisions (mm/restrictedmem.c as posted). */
export interface RestrictedmemRevision {
  /** restrictedmem_fallocate() hands the notifiers byte offsets where KVM expects page offsets (v9; seed 000) */
  notifyByteOffsets: boolean;
  /** every fallocate mode notifies the bound memslots (v9); v10 notifies for FALLOC_FL_PUNCH_HOLE only */
  notifyEveryMode: boolean;
}

const LINUX_7_2: Revision = {
  profile: "linux-7.2",
  gmemFlags: true,
  gmemForEveryVm: true,
  gmemOwnFilesystem: true,
  gmemUnsignedOffset: true,
  gmemBindOverlap: "EEXIST",
  fallocateModesExclusive: true,
  anonInodeSetattrRefused: true,
  gmemSharedPolicy: true,
  mpolMax: 7,
  userPtrMax: "task-size",
  snpMinGhcbVersion2: true,
  s390UcontrolRejected: true,
  s390UcontrolMemslot: true,
  s390MemslotSegments: false,
  anonFileChecks: true,
};

// The rules of v6.8, which are also those of the 6.1-6.5 era kernels the pre-merge series were based on.
const LINUX_6_8 = {
  gmemFlags: false,
  gmemForEveryVm: false,
  gmemOwnFilesystem: false,
  gmemUnsignedOffset: false,
  gmemBindOverlap: "EINVAL",
  fallocateModesExclusive: false,
  anonInodeSetattrRefused: false,
  gmemSharedPolicy: false,
  mpolMax: 6,
  userPtrMax: "sign-bit",
  snpMinGhcbVersion2: false,
  s390UcontrolRejected: false,
  s390UcontrolMemslot: false,
  s390MemslotSegments: true,
} as const satisfies Omit<Revision, "profile">;

const REVISIONS: Partial<Record<ProfileName, Revision>> = {
  // The poisoned-page design of 2021 (seed 003), on the linux-6.8 model: it never received
  // uAPI numbers, so its cases use only mainline operations (spec/profiles.json).
  "poison-rfc-v2": { ...LINUX_6_8, profile: "poison-rfc-v2", capMax: 235, guestOnlyPages: true },
  // UPM v9 ([PATCH v9 0/8], C. Peng, 2022-10-25, on 6.1-rc): KVM_CAP_PRIVATE_MEM (224) is the newest capability.
  "upm-v9": { ...LINUX_6_8, profile: "upm-v9", capMax: 224, restrictedmem: { notifyByteOffsets: true, notifyEveryMode: true }, attributesApi: "encrypt-region" },
  // UPM v10 ([PATCH v10 0/9], 2022-12-02): KVM_CAP_MEMORY_ATTRIBUTES (225) after KVM_CAP_S390_PROTECTED_ASYNC_DISABLE (224).
  "upm-v10": { ...LINUX_6_8, profile: "upm-v10", capMax: 225, restrictedmem: { notifyByteOffsets: false, notifyEveryMode: false }, attributesApi: "in-out" },
  // guest_memfd RFC v11 ([RFC PATCH v11 00/29], S. Christopherson, 2023-07-18): KVM_CAP_VM_TYPES (232) is the newest capability.
  "rfc-v11": { ...LINUX_6_8, profile: "rfc-v11", capMax: 232, attributesApi: "write-only" },
  "linux-6.8": { ...LINUX_6_8, profile: "linux-6.8", capMax: 235 },
  "linux-6.18": {
    profile: "linux-6.18",
    gmemFlags: true,
    gmemForEveryVm: true,
    gmemOwnFilesystem: false,
    gmemUnsignedOffset: false,
    gmemBindOverlap: "EINVAL",
    fallocateModesExclusive: true,
    anonInodeSetattrRefused: true,
    gmemSharedPolicy: false,
    mpolMax: 7,
    userPtrMax: "task-size",
    snpMinGhcbVersion2: true,
    s390UcontrolRejected: true,
    s390UcontrolMemslot: true,
    s390MemslotSegments: true,
    gmemPopulatePreparedEexist: true,
    anonFileChecks: true,
  },
  // v6.19 (2026-02-08): the guest_memfd pseudo-filesystem and NUMA policies (kvm-x86-gmem-6.19),
  // before the 7.2 changes to bindings (EEXIST, unsigned offsets) and 7.1's s390 page granularity.
  "linux-6.19": { ...LINUX_7_2, profile: "linux-6.19", gmemUnsignedOffset: false, gmemBindOverlap: "EINVAL", s390MemslotSegments: true },
  "linux-7.2": LINUX_7_2,
  // The in-place conversion series v7 ([PATCH v7 00/42] guest_memfd: In-place conversion
  // support, A. Tng, 2026-05-22), on the mainline rules of linux-7.2 (the series is based on
  // a 7.1/7.2-cycle tree; no rule below differs from 7.2 by a source we read).
  // Its uapi hunk (v7 13/42) adds 249 as the last capability, which makes 249 its capMax.
  "conv-v7": { ...LINUX_7_2, profile: "conv-v7", gmemInPlaceConversion: true, capMax: 249 },
  // v8 of the series ([PATCH v8 00/46], 2026-06-18), on the same mainline rules; its uapi
  // hunk (17/46) adds 250 after KVM_CAP_S390_HPAGE_2G (249), the last of its base.
  "conv-v8": { ...LINUX_7_2, profile: "conv-v8", gmemInPlaceConversion: true, gmemAttributesNeedPrivateMem: true, capMax: 250 },
  // The Arm CCA host series v14 ([PATCH v14 00/44] arm64: Support for Arm CCA in KVM, S. Price,
  // 2026-05-13), on the mainline rules of linux-7.2 (the series is based on v7.1-rc1); its
  // realm rules live in arch/arm64/cca/ and only apply on a host with an RMM (arm64-cca).
  "cca-v14": { ...LINUX_7_2, profile: "cca-v14" },
};

export const MODELLED_PROFILES = Object.keys(REVISIONS) as ProfileName[];

export function revisionOf(profile: ProfileName): Revision {
  const r = REVISIONS[profile];
  if (!r)
    throw new Error(
      `reference model: profile ${profile} is not modelled (modelled: ${MODELLED_PROFILES.join(", ")})`,
    );
  return r;
}
