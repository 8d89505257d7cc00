// uAPI numbers of one profile, resolved from spec/ once when the model starts:
// every call afterwards reads plain fields.
import type { IoctlDef, ProfileName, Spec } from "../../spec/index.js";

function resolver(spec: Spec, profile: ProfileName) {
  const values = spec.constantsFor(profile);
  const need = (name: string): bigint => {
    const v = values.get(name);
    if (v === undefined) throw new Error(`reference model: spec constant ${name} is not defined in ${profile}`);
    return v;
  };
  const num = (name: string): number => Number(need(name));
  const opt = (name: string): bigint | undefined => values.get(name);
  return { need, num, opt };
}

export function resolveConstants(spec: Spec, profile: ProfileName) {
  const { need, num, opt } = resolver(spec, profile);
  return {
    apiVersion: need("KVM_API_VERSION"),
    /** _IOC_TYPE of every KVM ioctl */
    kvmio: num("KVMIO"),
    /** KVM_MAX_CPUID_ENTRIES (arch/x86/include/asm/kvm_host.h) */
    maxCpuidEntries: need("KVM_MAX_CPUID_ENTRIES"),
    /** KVM_MEM_MAX_NR_PAGES: dirty bitmaps are indexed by an unsigned int */
    memMaxNrPages: need("KVM_MEM_MAX_NR_PAGES"),
    /** KVM_USER_MEM_SLOTS per machine (Kernel.userMemSlots picks the host's) */
    userMemSlots: { x86_64: num("KVM_USER_MEM_SLOTS_X86"), s390x: num("KVM_USER_MEM_SLOTS_S390") },
    anonInodeMagic: need("ANON_INODE_FS_MAGIC"),
    gmemMagic: opt("GUEST_MEMFD_MAGIC"),
    hcMapGpaRange: need("KVM_HC_MAP_GPA_RANGE"),
    cap: {
      USER_MEMORY: num("KVM_CAP_USER_MEMORY"),
      NR_VCPUS: num("KVM_CAP_NR_VCPUS"),
      NR_MEMSLOTS: num("KVM_CAP_NR_MEMSLOTS"),
      READONLY_MEM: num("KVM_CAP_READONLY_MEM"),
      CHECK_EXTENSION_VM: num("KVM_CAP_CHECK_EXTENSION_VM"),
      MULTI_ADDRESS_SPACE: num("KVM_CAP_MULTI_ADDRESS_SPACE"),
      EXIT_HYPERCALL: num("KVM_CAP_EXIT_HYPERCALL"),
      USER_MEMORY2: num("KVM_CAP_USER_MEMORY2"),
      MEMORY_FAULT_INFO: num("KVM_CAP_MEMORY_FAULT_INFO"),
      MEMORY_ATTRIBUTES: num("KVM_CAP_MEMORY_ATTRIBUTES"),
      GUEST_MEMFD: num("KVM_CAP_GUEST_MEMFD"),
      VM_TYPES: num("KVM_CAP_VM_TYPES"),
      PRE_FAULT_MEMORY: opt("KVM_CAP_PRE_FAULT_MEMORY"),
      GUEST_MEMFD_FLAGS: opt("KVM_CAP_GUEST_MEMFD_FLAGS"),
      SPLIT_IRQCHIP: num("KVM_CAP_SPLIT_IRQCHIP"),
      S390_UCONTROL: num("KVM_CAP_S390_UCONTROL"),
      S390_PROTECTED: num("KVM_CAP_S390_PROTECTED"),
    },
    s390: { VM_UCONTROL: need("KVM_VM_S390_UCONTROL"), PV_ENABLE: need("KVM_PV_ENABLE"), PV_DISABLE: need("KVM_PV_DISABLE") },
    mem: {
      LOG_DIRTY_PAGES: need("KVM_MEM_LOG_DIRTY_PAGES"),
      READONLY: need("KVM_MEM_READONLY"),
      GUEST_MEMFD: need("KVM_MEM_GUEST_MEMFD"),
    },
    gmemFlag: { MMAP: opt("GUEST_MEMFD_FLAG_MMAP") ?? 0n, INIT_SHARED: opt("GUEST_MEMFD_FLAG_INIT_SHARED") ?? 0n },
    ATTRIBUTE_PRIVATE: need("KVM_MEMORY_ATTRIBUTE_PRIVATE"),
    EXIT_FLAG_PRIVATE: need("KVM_MEMORY_EXIT_FLAG_PRIVATE"),
    vmType: {
      DEFAULT: need("KVM_X86_DEFAULT_VM"),
      SW_PROTECTED: need("KVM_X86_SW_PROTECTED_VM"),
      // Types a profile does not define cannot be created there.
      SEV: opt("KVM_X86_SEV_VM"),
      SEV_ES: opt("KVM_X86_SEV_ES_VM"),
      SNP: opt("KVM_X86_SNP_VM"),
      TDX: opt("KVM_X86_TDX_VM"),
    },
    /** enum sev_cmd_id and the SNP page types (profiles without SNP define none) */
    sev: {
      INIT2: opt("KVM_SEV_INIT2"),
      SNP_LAUNCH_START: opt("KVM_SEV_SNP_LAUNCH_START"),
      SNP_LAUNCH_UPDATE: opt("KVM_SEV_SNP_LAUNCH_UPDATE"),
      SNP_LAUNCH_FINISH: opt("KVM_SEV_SNP_LAUNCH_FINISH"),
      snpPageTypes: ["NORMAL", "ZERO", "UNMEASURED", "SECRETS", "CPUID"].map((t) => opt(`KVM_SEV_SNP_PAGE_TYPE_${t}`)).filter((v): v is bigint => v !== undefined),
    },
    /** enum kvm_tdx_cmd_id (profiles without TDX define none) */
    tdx: {
      CAPABILITIES: opt("KVM_TDX_CAPABILITIES"),
      INIT_VM: opt("KVM_TDX_INIT_VM"),
      INIT_VCPU: opt("KVM_TDX_INIT_VCPU"),
      INIT_MEM_REGION: opt("KVM_TDX_INIT_MEM_REGION"),
      FINALIZE_VM: opt("KVM_TDX_FINALIZE_VM"),
      GET_CPUID: opt("KVM_TDX_GET_CPUID"),
      MEASURE_MEMORY_REGION: opt("KVM_TDX_MEASURE_MEMORY_REGION") ?? 0n,
    },
    falloc: {
      KEEP_SIZE: num("FALLOC_FL_KEEP_SIZE"),
      PUNCH_HOLE: num("FALLOC_FL_PUNCH_HOLE"),
      COLLAPSE_RANGE: num("FALLOC_FL_COLLAPSE_RANGE"),
      ZERO_RANGE: num("FALLOC_FL_ZERO_RANGE"),
      INSERT_RANGE: num("FALLOC_FL_INSERT_RANGE"),
      UNSHARE_RANGE: num("FALLOC_FL_UNSHARE_RANGE"),
      NO_HIDE_STALE: num("FALLOC_FL_NO_HIDE_STALE"),
      /** 6.17+: the profiles before it do not define it */
      WRITE_ZEROES: Number(opt("FALLOC_FL_WRITE_ZEROES") ?? 0n),
    },
    prot: { READ: num("PROT_READ"), WRITE: num("PROT_WRITE"), EXEC: num("PROT_EXEC") },
    map: {
      SHARED: num("MAP_SHARED"),
      PRIVATE: num("MAP_PRIVATE"),
      SHARED_VALIDATE: num("MAP_SHARED_VALIDATE"),
      FIXED: num("MAP_FIXED"),
      ANONYMOUS: num("MAP_ANONYMOUS"),
      NORESERVE: num("MAP_NORESERVE"),
      POPULATE: num("MAP_POPULATE"),
      FIXED_NOREPLACE: num("MAP_FIXED_NOREPLACE"),
    },
    madv: {
      NORMAL: num("MADV_NORMAL"),
      RANDOM: num("MADV_RANDOM"),
      SEQUENTIAL: num("MADV_SEQUENTIAL"),
      WILLNEED: num("MADV_WILLNEED"),
      DONTNEED: num("MADV_DONTNEED"),
      FREE: num("MADV_FREE"),
      REMOVE: num("MADV_REMOVE"),
      DONTFORK: num("MADV_DONTFORK"),
      DOFORK: num("MADV_DOFORK"),
      HUGEPAGE: num("MADV_HUGEPAGE"),
      NOHUGEPAGE: num("MADV_NOHUGEPAGE"),
      POPULATE_READ: num("MADV_POPULATE_READ"),
      POPULATE_WRITE: num("MADV_POPULATE_WRITE"),
      COLLAPSE: num("MADV_COLLAPSE"),
      HWPOISON: num("MADV_HWPOISON"),
    },
    o: {
      ACCMODE: 3,
      RDONLY: num("O_RDONLY"),
      WRONLY: num("O_WRONLY"),
      RDWR: num("O_RDWR"),
      CREAT: num("O_CREAT"),
      EXCL: num("O_EXCL"),
      TRUNC: num("O_TRUNC"),
      APPEND: num("O_APPEND"),
      NONBLOCK: num("O_NONBLOCK"),
      LARGEFILE: num("O_LARGEFILE"),
      CLOEXEC: num("O_CLOEXEC"),
    },
    f: {
      DUPFD: num("F_DUPFD"),
      DUPFD_CLOEXEC: num("F_DUPFD_CLOEXEC"),
      GETFD: num("F_GETFD"),
      SETFD: num("F_SETFD"),
      GETFL: num("F_GETFL"),
      SETFL: num("F_SETFL"),
      ADD_SEALS: num("F_ADD_SEALS"),
      GET_SEALS: num("F_GET_SEALS"),
      FD_CLOEXEC: num("FD_CLOEXEC"),
      SEAL_SEAL: num("F_SEAL_SEAL"),
    },
    seek: { SET: num("SEEK_SET"), CUR: num("SEEK_CUR"), END: num("SEEK_END"), DATA: num("SEEK_DATA"), HOLE: num("SEEK_HOLE") },
    mfd: { CLOEXEC: num("MFD_CLOEXEC"), ALLOW_SEALING: num("MFD_ALLOW_SEALING"), HUGETLB: num("MFD_HUGETLB"), NOEXEC_SEAL: num("MFD_NOEXEC_SEAL"), EXEC: num("MFD_EXEC") },
    tmpfsMagic: need("TMPFS_MAGIC"),
    s: { IFREG: num("S_IFREG"), IFCHR: num("S_IFCHR") },
    mpol: {
      DEFAULT: num("MPOL_DEFAULT"),
      PREFERRED: num("MPOL_PREFERRED"),
      BIND: num("MPOL_BIND"),
      INTERLEAVE: num("MPOL_INTERLEAVE"),
      LOCAL: num("MPOL_LOCAL"),
      PREFERRED_MANY: num("MPOL_PREFERRED_MANY"),
      WEIGHTED_INTERLEAVE: num("MPOL_WEIGHTED_INTERLEAVE"),
      MF_STRICT: num("MPOL_MF_STRICT"),
      MF_MOVE: num("MPOL_MF_MOVE"),
      MF_MOVE_ALL: num("MPOL_MF_MOVE_ALL"),
      F_STATIC_NODES: num("MPOL_F_STATIC_NODES"),
      F_RELATIVE_NODES: num("MPOL_F_RELATIVE_NODES"),
      F_NUMA_BALANCING: num("MPOL_F_NUMA_BALANCING"),
    },
  };
}

export type Constants = ReturnType<typeof resolveConstants>;

/** The ioctl requests the model dispatches on, by number (undefined where the profile does not define one). */
export function resolveRequests(spec: Spec, profile: ProfileName) {
  const req = (name: string): number | undefined => spec.ioctl(name, profile)?.request;
  return {
    KVM_GET_API_VERSION: req("KVM_GET_API_VERSION"),
    KVM_CREATE_VM: req("KVM_CREATE_VM"),
    KVM_CHECK_EXTENSION: req("KVM_CHECK_EXTENSION"),
    KVM_GET_VCPU_MMAP_SIZE: req("KVM_GET_VCPU_MMAP_SIZE"),
    KVM_CREATE_VCPU: req("KVM_CREATE_VCPU"),
    KVM_SET_USER_MEMORY_REGION: req("KVM_SET_USER_MEMORY_REGION"),
    KVM_SET_USER_MEMORY_REGION2: req("KVM_SET_USER_MEMORY_REGION2"),
    KVM_RUN: req("KVM_RUN"),
    KVM_ENABLE_CAP: req("KVM_ENABLE_CAP"),
    KVM_SET_MEMORY_ATTRIBUTES: req("KVM_SET_MEMORY_ATTRIBUTES"),
    KVM_CREATE_GUEST_MEMFD: req("KVM_CREATE_GUEST_MEMFD"),
    KVM_PRE_FAULT_MEMORY: req("KVM_PRE_FAULT_MEMORY"),
    /** one number for SEV (struct kvm_sev_cmd) and TDX (struct kvm_tdx_cmd, KVM_MEMORY_ENCRYPT_OP_TDX in spec/) */
    KVM_MEMORY_ENCRYPT_OP: req("KVM_MEMORY_ENCRYPT_OP"),
  };
}

export type Requests = ReturnType<typeof resolveRequests>;

/** The ioctl definitions of one profile by name, for decoding `ioctl` operations. */
export function ioctlTable(spec: Spec, profile: ProfileName): Map<string, IoctlDef> {
  const table = new Map<string, IoctlDef>();
  for (const name of spec.ioctlNames()) {
    const def = spec.ioctl(name, profile);
    if (def) table.set(name, def);
  }
  return table;
}

/** _IOC_TYPE of a request number. */
export function iocType(request: number): number {
  return (request >>> 8) & 0xff;
}
