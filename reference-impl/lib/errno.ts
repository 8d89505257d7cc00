// Errors travel inside the model as thrown SyscallError values carrying an errno
// name from spec/constants.json; the syscall boundary turns them into results.
// They are not Error objects: no stack is captured, so failing calls stay cheap.

/** Every errno name the model can return; checked against the spec at start-up. */
export const ERRNO_NAMES = [
  "EPERM",
  "ENOENT",
  "EINTR",
  "EIO",
  "ENXIO",
  "E2BIG",
  "EBADF",
  "EAGAIN",
  "ENOMEM",
  "EACCES",
  "EFAULT",
  "EEXIST",
  "ENODEV",
  "EINVAL",
  "EMFILE",
  "ENOTTY",
  "ENOSPC",
  "EFBIG",
  "ESPIPE",
  "EOVERFLOW",
  "EOPNOTSUPP",
  "EHWPOISON",
  "EBUSY",
  "EPIPE",
  "EXDEV",
] as const;

export type Errno = (typeof ERRNO_NAMES)[number];

export class SyscallError {
  constructor(readonly errno: Errno) {}
}

export function fail(errno: Errno): never {
  throw new SyscallError(errno);
}

export type SignalName = "SIGBUS" | "SIGSEGV";

/** Guest-visible hypercall error codes (include/uapi/linux/kvm_para.h), returned in RAX as negatives. */
export const KVM_ENOSYS = 1000n;
export const KVM_EINVAL = 22n;
