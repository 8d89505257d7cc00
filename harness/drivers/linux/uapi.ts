// The generic Linux numbers the driver itself needs (open and mmap flags, madvise
// advice, errnos, signals, system calls, KVM limits and flag bits), resolved once
// from spec/constants.json so they are written down in one place. They are the
// same in every profile that defines them, so they are read in one profile.
import { loadSpec } from "../../../spec/index.js";

const spec = loadSpec();
/** Where every number below is looked up: a profile that has all of them. */
const PROFILE = "linux-6.18";
const value = (name: string): bigint => {
  const v = spec.constant(name, PROFILE);
  if (v === undefined) throw new Error(`linux driver: spec/constants.json has no ${name}`);
  return v;
};
const errno = (name: string): number => spec.errnoNumber(name)!;
const signal = (name: string): number => spec.signalNumber(name)!;

export const O_RDONLY = value("O_RDONLY");
export const O_CLOEXEC = value("O_CLOEXEC");
export const O_RDWR_CLOEXEC = value("O_RDWR") | O_CLOEXEC;
export const O_NONBLOCK = value("O_NONBLOCK");
export const PROT_READ = value("PROT_READ");
export const PROT_WRITE = value("PROT_WRITE");
export const PROT_EXEC = value("PROT_EXEC");
export const PROT_RW = PROT_READ | PROT_WRITE;
export const MAP_SHARED = value("MAP_SHARED");
export const MAP_PRIVATE_ANONYMOUS = value("MAP_PRIVATE") | value("MAP_ANONYMOUS");
export const MAP_FIXED = value("MAP_FIXED");
export const MAP_FIXED_NOREPLACE = value("MAP_FIXED_NOREPLACE");
export const MAP_POPULATE = value("MAP_POPULATE");
export const MFD_CLOEXEC = value("MFD_CLOEXEC");
export const FALLOC_FL_PUNCH_HOLE = value("FALLOC_FL_PUNCH_HOLE");
export const F_DUPFD = value("F_DUPFD");
export const F_DUPFD_CLOEXEC = value("F_DUPFD_CLOEXEC");
export const MADV_WILLNEED = value("MADV_WILLNEED");
export const MADV_POPULATE_READ = value("MADV_POPULATE_READ");
export const MADV_POPULATE_WRITE = value("MADV_POPULATE_WRITE");
export const MADV_HWPOISON = value("MADV_HWPOISON");
export const MADV_SOFT_OFFLINE = value("MADV_SOFT_OFFLINE");
export const MPOL_F_ADDR = value("MPOL_F_ADDR");
export const SYS_MBIND = value("SYS_mbind");
export const SYS_GET_MEMPOLICY = value("SYS_get_mempolicy");

export const EFAULT = errno("EFAULT");
export const ENOMEM = errno("ENOMEM");
export const EHWPOISON = errno("EHWPOISON");
export const SIGBUS = signal("SIGBUS");
export const SIGSEGV = signal("SIGSEGV");
export const SIGUSR2 = signal("SIGUSR2");

// KVM: flag values whose bits the probe reads out of capability values, and limits.
export const GUEST_MEMFD_FLAG_MMAP = value("GUEST_MEMFD_FLAG_MMAP");
export const GUEST_MEMFD_FLAG_INIT_SHARED = value("GUEST_MEMFD_FLAG_INIT_SHARED");
export const KVM_MEMORY_ATTRIBUTE_PRIVATE = value("KVM_MEMORY_ATTRIBUTE_PRIVATE");
/** KVM_CAP_EXIT_HYPERCALL is a mask of hypercall numbers: bit KVM_HC_MAP_GPA_RANGE */
export const KVM_HC_MAP_GPA_RANGE = value("KVM_HC_MAP_GPA_RANGE");
/** the most kvm_cpuid_entry2 entries KVM reads or writes after a kvm_cpuid2 header */
export const KVM_MAX_CPUID_ENTRIES = value("KVM_MAX_CPUID_ENTRIES");
/** the most pages of one user memslot; larger ones are refused before anything is allocated */
export const KVM_MEM_MAX_NR_PAGES = value("KVM_MEM_MAX_NR_PAGES");
export const SEEK_CUR = value("SEEK_CUR");
