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
};

const REVISIONS: Partial<Record<ProfileName, Revision>> = {
  "linux-6.8": {
    profile: "linux-6.8",
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
    capMax: 235,
  },
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
  },
  "linux-7.2": LINUX_7_2,
  // The in-place conversion series v7 ([PATCH v7 00/42] guest_memfd: In-place conversion
  // support, A. Tng, 2026-05-22), on the mainline rules of linux-7.2 (the series is based on
  // a 7.1/7.2-cycle tree; no rule below differs from 7.2 by a source we read).
  "conv-v7": { ...LINUX_7_2, profile: "conv-v7", gmemInPlaceConversion: true },
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
      `reference model: profile ${profile} is not modelled (modelled: ${MODELLED_PROFILES.join(", ")}); ` +
        "memfd_restricted (UPM) and the RFC revisions are not implemented yet",
    );
  return r;
}
