// The generic Linux numbers the driver itself needs (open and mmap flags, madvise
// advice, errnos, signals), resolved once from spec/constants.json so they are
// written down in one place. They are the same in every profile.
import { loadSpec } from "../../../spec/index.js";

const spec = loadSpec();
const value = (name: string): bigint => {
  const v = spec.constant(name, "linux-6.18");
  if (v === undefined) throw new Error(`linux driver: spec/constants.json has no ${name}`);
  return v;
};
const errno = (name: string): number => spec.errnoNumber(name)!;

export const O_RDWR_CLOEXEC = value("O_RDWR") | value("O_CLOEXEC");
export const MAP_FIXED = value("MAP_FIXED");
export const MAP_FIXED_NOREPLACE = value("MAP_FIXED_NOREPLACE");
export const MAP_POPULATE = value("MAP_POPULATE");
export const FALLOC_FL_PUNCH_HOLE = value("FALLOC_FL_PUNCH_HOLE");
export const F_DUPFD = value("F_DUPFD");
export const F_DUPFD_CLOEXEC = value("F_DUPFD_CLOEXEC");
export const MADV_WILLNEED = value("MADV_WILLNEED");
export const MADV_POPULATE_READ = value("MADV_POPULATE_READ");
export const MADV_POPULATE_WRITE = value("MADV_POPULATE_WRITE");
export const MADV_HWPOISON = value("MADV_HWPOISON");
export const MADV_SOFT_OFFLINE = value("MADV_SOFT_OFFLINE");
export const EFAULT = errno("EFAULT");
export const ENOMEM = errno("ENOMEM");
export const EHWPOISON = errno("EHWPOISON");
export const SIGBUS = spec.signalNumber("SIGBUS")!;
export const SIGSEGV = spec.signalNumber("SIGSEGV")!;
