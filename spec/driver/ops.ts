// The operations a driver executes, named after the syscalls they are. This table
// is the single definition: the TypeScript types, the suite schema (steps) and the
// protocol schema (messages) are all derived from it.
export type ParamKind =
  | "int" // an integer (u64/s64 range)
  | "string"
  | "bool"
  | "bytes" // memory contents
  | "int-list"
  | "int-or-fields" // an ioctl argument: by value, or a struct as a field map
  | "enum"
  | "records"; // a list of field maps, each field one of `fields` (since 1.3)

export interface ParamSpec {
  kind: ParamKind;
  optional?: boolean;
  values?: readonly string[];
  doc: string;
  /** kind "records": what each record may hold (every field optional) */
  fields?: Readonly<Record<string, ParamSpec>>;
  /** what the value names: "fd", a descriptor of the process (two implementations number theirs differently) */
  names?: "fd";
}

export interface OpSpec {
  doc: string;
  params: Readonly<Record<string, ParamSpec>>;
  result: string;
  /** what a successful `ret` is when it is not a value to compare: a new fd, a mapped address, or a driver's handle; implementations may answer different numbers */
  returns?: "fd" | "address" | "handle";
  /** `returns` holds only when a parameter has one of these values (constant names), e.g. fcntl's F_DUPFD */
  returnsIf?: { param: string; oneOf: readonly string[] };
  /** fields of `out` that are new fds, e.g. a pipe's write end */
  outFds?: readonly string[];
  /** the contract version that added the operation (default "1.0"): a driver whose handshake has no `operations` offers the operations of its version */
  since?: string;
}

function int(doc: string): { kind: "int"; doc: string };
function int(doc: string, optional: true): { kind: "int"; doc: string; optional: true };
function int(doc: string, optional?: true): ParamSpec {
  return optional ? { kind: "int", doc, optional } : { kind: "int", doc };
}
/** a parameter that names an fd (or a vCPU's fd) */
function fdOf(doc: string): { kind: "int"; doc: string; names: "fd" } {
  return { kind: "int", doc, names: "fd" };
}
const fd = fdOf("file descriptor");

/** One step of a guest_program: a memory access (`access`), a port I/O instruction (`pio`) or a hypercall (`hypercall`). */
export const GUEST_STEP_FIELDS = {
  access: { kind: "enum", values: ["read", "write"], optional: true, doc: "a memory access at gpa" },
  gpa: { kind: "int", optional: true, doc: "guest physical address of the access" },
  len: { kind: "int", optional: true, doc: "bytes of the access (1, 2, 4 or 8; default 1)" },
  private: { kind: "bool", optional: true, doc: "the guest's intent where the architecture lets it choose (as for guest)" },
  pio: { kind: "enum", values: ["in", "out"], optional: true, doc: "a port I/O instruction: IN or OUT" },
  port: { kind: "int", optional: true, doc: "the I/O port (0-65535)" },
  size: { kind: "int", optional: true, doc: "bytes of the I/O (1, 2 or 4; default 1)" },
  data: { kind: "bytes", optional: true, doc: "bytes a write or an OUT stores (len or size bytes)" },
  hypercall: { kind: "int", optional: true, doc: "a hypercall: its number (x86: KVM's ABI, as the hypercall operation)" },
  args: { kind: "int-list", optional: true, doc: "a hypercall's arguments (at most 4)" },
} as const satisfies Record<string, ParamSpec>;

export const OPS = {
  open: { doc: "open(2) a path", params: { path: { kind: "string", doc: "e.g. /dev/kvm" }, flags: int("open flags"), mode: int("creation mode", true) }, result: "ret = new fd", returns: "fd" },
  close: { doc: "close(2)", params: { fd }, result: "ret = 0" },
  dup: { doc: "dup(2)", params: { fd }, result: "ret = new fd", returns: "fd" },
  fcntl: {
    doc: "fcntl(2) with an integer argument (the struct flock commands are fcntl_lock's)",
    params: { fd, cmd: int("F_* command"), arg: int("argument", true) },
    result: "ret = fcntl's value (F_DUPFD, F_DUPFD_CLOEXEC: the new fd)", returns: "fd", returnsIf: { param: "cmd", oneOf: ["F_DUPFD", "F_DUPFD_CLOEXEC"] },
  },
  read: { doc: "read(2) up to len bytes", params: { fd, len: int("bytes to read") }, result: "ret = bytes read; out.data" },
  write: { doc: "write(2)", params: { fd, data: { kind: "bytes", doc: "bytes to write" } }, result: "ret = bytes written" },
  pread: { doc: "pread(2)", params: { fd, len: int("bytes to read"), offset: int("file offset") }, result: "ret = bytes read; out.data" },
  pwrite: { doc: "pwrite(2)", params: { fd, data: { kind: "bytes", doc: "bytes to write" }, offset: int("file offset") }, result: "ret = bytes written" },
  lseek: { doc: "lseek(2)", params: { fd, offset: int("offset"), whence: int("SEEK_*") }, result: "ret = new offset" },
  fallocate: { doc: "fallocate(2)", params: { fd, mode: int("FALLOC_FL_* mode"), offset: int("offset"), len: int("length") }, result: "ret = 0" },
  ftruncate: { doc: "ftruncate(2)", params: { fd, length: int("new size") }, result: "ret = 0" },
  fchmod: { doc: "fchmod(2)", params: { fd, mode: int("permission bits") }, result: "ret = 0" },
  fstat: { doc: "fstat(2)", params: { fd }, result: "ret = 0; out = struct stat fields (size, blksize, blocks, ino, mode, nlink, ...)" },
  fstatfs: { doc: "fstatfs(2)", params: { fd }, result: "ret = 0; out = struct statfs fields (type, bsize, ...)" },
  fdinfo: { doc: "what /proc/self/fd/N links to and the flags in /proc/self/fdinfo/N", params: { fd }, result: "ret = 0; out.link (string), out.flags (open flags)" },
  memfd_create: { doc: "memfd_create(2)", params: { name: { kind: "string", doc: "name" }, flags: int("MFD_* flags") }, result: "ret = new fd", returns: "fd" },
  memfd_restricted: { doc: "memfd_restricted(2) from the UPM proposals", params: { flags: int("flags") }, result: "ret = new fd", returns: "fd" },
  mmap: { doc: "mmap(2)", params: { addr: int("hint or fixed address"), len: int("length"), prot: int("PROT_*"), flags: int("MAP_*"), fd: fdOf("fd, or -1"), offset: int("file offset") }, result: "ret = mapped address", returns: "address" },
  munmap: { doc: "munmap(2)", params: { addr: int("address"), len: int("length") }, result: "ret = 0" },
  mprotect: { doc: "mprotect(2)", params: { addr: int("address"), len: int("length"), prot: int("PROT_*") }, result: "ret = 0" },
  madvise: { doc: "madvise(2)", params: { addr: int("address"), len: int("length"), advice: int("MADV_*") }, result: "ret = 0" },
  mbind: {
    doc: "mbind(2): set the NUMA memory policy of a range of mappings",
    params: { addr: int("address"), len: int("length"), mode: int("MPOL_* mode"), nodemask: int("node bit mask (nodes 0-63)"), flags: int("MPOL_MF_* flags") },
    result: "ret = 0",
  },
  get_mempolicy: {
    doc: "get_mempolicy(2) with MPOL_F_ADDR: the policy of the mapping at addr",
    params: { addr: int("address") },
    result: "ret = 0; out.mode, out.nodemask (nodes 0-63)",
  },
  pread_user: {
    doc: "pread(2) into user memory: the kernel itself copies the file's bytes to `addr` (copy_to_user), faulting the pages in as a CPU store would",
    params: { fd, addr: int("user address of the buffer"), len: int("bytes to read (at most 65536)"), offset: int("file offset") },
    result: "ret = bytes copied (fewer when the buffer stops being writable part-way), or -1 with EFAULT when none could be",
    since: "1.1",
  },
  pwrite_user: {
    doc: "pwrite(2) from user memory: the kernel itself copies the bytes at `addr` (copy_from_user) into the file",
    params: { fd, addr: int("user address of the buffer"), len: int("bytes to write (at most 65536)"), offset: int("file offset") },
    result: "ret = bytes written (fewer when the buffer stops being readable part-way), or -1 with EFAULT when none could be",
    since: "1.1",
  },
  fsync: { doc: "fsync(2)", params: { fd }, result: "ret = 0", since: "1.1" },
  fdatasync: { doc: "fdatasync(2)", params: { fd }, result: "ret = 0", since: "1.1" },
  msync: {
    doc: "msync(2): MS_SYNC syncs the file behind every shared file mapping in the range",
    params: { addr: int("page-aligned address"), len: int("length"), flags: int("MS_ASYNC (1), MS_INVALIDATE (2), MS_SYNC (4)") },
    result: "ret = 0",
    since: "1.1",
  },
  process_vm_readv: {
    doc: "process_vm_readv(2) on the calling process: the kernel pins the pages at `addr` as for another process (GUP) and copies them into a buffer of the driver's",
    params: { addr: int("remote address"), len: int("bytes (at most 65536)") },
    result: "ret = bytes copied, out.data = those bytes; -1 with EFAULT when not one page could be pinned",
    since: "1.1",
  },
  process_vm_writev: {
    doc: "process_vm_writev(2) on the calling process: the kernel pins the pages at `addr` for writing (GUP) and copies `data` into them",
    params: { addr: int("remote address"), data: { kind: "bytes", doc: "bytes to write (at most 65536)" } },
    result: "ret = bytes copied; -1 with EFAULT when not one page could be pinned",
    since: "1.1",
  },
  load: { doc: "read host memory through a mapping, as the CPU would", params: { addr: int("address"), len: int("bytes (at most 65536)") }, result: "ret = 0 and out.data, or signal (SIGBUS, SIGSEGV)" },
  store: { doc: "write host memory through a mapping, as the CPU would", params: { addr: int("address"), data: { kind: "bytes", doc: "bytes to store (at most 65536)" } }, result: "ret = 0, or signal" },
  fork: { doc: "fork(2) the process; later operations name the child with `process`", params: {}, result: "ret = the child's process handle", returns: "handle" },
  ioctl: {
    doc: "ioctl(2) with a request named in spec/constants.json; the driver encodes struct arguments with spec/layouts.json",
    params: {
      fd,
      request: { kind: "string", doc: "request name, e.g. KVM_CREATE_GUEST_MEMFD; NAME@profile issues another revision's request (number and struct)" },
      arg: { kind: "int-or-fields", optional: true, doc: "a value, or the struct's fields (unnamed fields are 0)" },
      pointer: { kind: "enum", optional: true, values: ["invalid"], doc: "pass a pointer to unmapped memory instead of the argument" },
    },
    result: "ret = the ioctl's value; out = the struct as the kernel left it (for requests that take one)",
  },
  guest: {
    doc: "run the vCPU on a guest program that makes one access at a GPA and halts",
    params: {
      vcpu: fdOf("vCPU fd"),
      access: { kind: "enum", values: ["read", "write", "fetch"], doc: "kind of access" },
      gpa: int("guest physical address"),
      len: int("bytes to read or write (1, 2, 4 or 8; default 1)", true),
      data: { kind: "bytes", optional: true, doc: "bytes to write" },
      private: { kind: "bool", optional: true, doc: "the guest's intent where the architecture lets it choose (SNP C-bit, TDX shared bit); ignored elsewhere" },
    },
    result: "ret and errno of the last KVM_RUN; exit = {reason, ...payload}; out.data for completed reads (exit.reason = KVM_EXIT_HLT)",
  },
  hypercall: {
    doc: "run the vCPU on a guest program that issues one hypercall",
    params: { vcpu: fdOf("vCPU fd"), nr: int("hypercall number"), args: { kind: "int-list", optional: true, doc: "arguments" } },
    result: "ret and errno of KVM_RUN; exit = {reason, hypercall: {nr, args, flags}}",
  },
  guest_arch: {
    doc: "run the vCPU on a guest program that performs one architecture action of a confidential guest and halts: an instruction or a call to the trusted firmware that only such a guest can make (PVALIDATE, a GHCB page-state change, TDG.MEM.PAGE.ACCEPT, TDG.VP.VMCALL<MapGPA>, a pKVM MEM_SHARE hypercall, an RSI call). Feature guest-arch:<action> says which actions a driver offers",
    params: {
      vcpu: fdOf("vCPU fd"),
      action: { kind: "string", doc: "the action, named <arch>:<action> (e.g. snp:pvalidate, tdx:accept, pkvm:share, cca:ipa-state-set)" },
      gpa: int("guest physical address the action is about"),
      len: int("bytes covered (default one page)", true),
      args: { kind: "int-list", optional: true, doc: "the action's further operands, in the order its feature documents" },
    },
    result: "ret and errno of the last KVM_RUN; exit = {reason, ...payload}; out = what the action returned to the guest (out.status: the instruction's or firmware's status code)",
    since: "1.2",
  },
  memory_failure: {
    doc: "a hardware memory error on the allocated page at `offset` of guest_memfd `fd`, as memory_failure() on its pfn (models only: userspace cannot learn the pfn of a page it does not map)",
    params: { fd: fdOf("guest_memfd fd"), offset: int("byte offset of the page in the file") },
    result: "ret = 0",
  },
  inject: {
    doc: "make the driver's next operation fail on purpose after `after` units of progress (models only)",
    params: {
      fault: { kind: "enum", values: ["enomem", "signal", "memslot-race"], doc: "what to inject: an allocation failure, a pending signal, or a memslot deletion racing the operation" },
      after: int("units of work to let through first (pages)", true),
    },
    result: "ret = 0",
  },
  pin_user_pages: {
    doc: "hold long-term references on the pages of a host mapping, as pin_user_pages(FOLL_WRITE | FOLL_LONGTERM) does for a VFIO or io_uring buffer (models only: feature gup-pin)",
    params: { addr: int("page-aligned address"), len: int("page-aligned length") },
    result: "ret = the pin's handle, for unpin_user_pages", returns: "handle",
    since: "1.1",
  },
  unpin_user_pages: {
    doc: "drop the references of a pin taken with pin_user_pages (models only: feature gup-pin)",
    params: { pin: int("handle returned by pin_user_pages") },
    result: "ret = 0",
    since: "1.1",
  },
  readv: {
    doc: "readv(2) at the file position: one iovec per entry of `lens`, in order",
    params: { fd, lens: { kind: "int-list", doc: "iovec lengths (together at most 65536 bytes)" } },
    result: "ret = bytes read; out.data = those bytes, the iovecs concatenated",
    since: "1.3",
  },
  writev: {
    doc: "writev(2) at the file position: `data` cut into one iovec per entry of `lens`",
    params: { fd, data: { kind: "bytes", doc: "bytes to write (at most 65536)" }, lens: { kind: "int-list", optional: true, doc: "iovec lengths summing to data's length (default: one iovec)" } },
    result: "ret = bytes written",
    since: "1.3",
  },
  preadv2: {
    doc: "preadv2(2): readv at `offset` (-1: at the file position, which then advances) with RWF_* flags",
    params: { fd, lens: { kind: "int-list", doc: "iovec lengths (together at most 65536 bytes)" }, offset: int("file offset, or -1 for the file position"), flags: int("RWF_* flags") },
    result: "ret = bytes read; out.data = those bytes",
    since: "1.3",
  },
  pwritev2: {
    doc: "pwritev2(2): writev at `offset` (-1: at the file position) with RWF_* flags",
    params: {
      fd,
      data: { kind: "bytes", doc: "bytes to write (at most 65536)" },
      lens: { kind: "int-list", optional: true, doc: "iovec lengths summing to data's length (default: one iovec)" },
      offset: int("file offset, or -1 for the file position"),
      flags: int("RWF_* flags"),
    },
    result: "ret = bytes written",
    since: "1.3",
  },
  posix_fadvise: {
    doc: "posix_fadvise(2) (the fadvise64 system call): the error is reported as errno, not as the return value glibc gives",
    params: { fd, offset: int("offset"), len: int("length (0: to the end)"), advice: int("POSIX_FADV_*") },
    result: "ret = 0",
    since: "1.3",
  },
  readahead: { doc: "readahead(2)", params: { fd, offset: int("offset"), count: int("bytes") }, result: "ret = 0", since: "1.3" },
  syncfs: { doc: "syncfs(2): sync the filesystem the file is on", params: { fd }, result: "ret = 0", since: "1.3" },
  sync_file_range: {
    doc: "sync_file_range(2)",
    params: { fd, offset: int("offset"), nbytes: int("bytes (0: to the end)"), flags: int("SYNC_FILE_RANGE_* flags") },
    result: "ret = 0",
    since: "1.3",
  },
  flock: { doc: "flock(2): a BSD lock on the open file description", params: { fd, operation: int("LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB") }, result: "ret = 0", since: "1.3" },
  fcntl_lock: {
    doc: "fcntl(2) with a struct flock argument (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW); `fcntl` itself refuses these commands, whose argument is a pointer",
    params: {
      fd,
      cmd: int("F_*LK command"),
      lock: { kind: "int-or-fields", doc: "struct flock as a field map (spec/layouts.json `flock`; unnamed fields are 0); an integer is refused, as for a struct ioctl" },
      pointer: { kind: "enum", optional: true, values: ["invalid"], doc: "pass a pointer to unmapped memory instead of the struct" },
    },
    result: "ret = fcntl's value; out = the struct flock as the kernel left it (F_GETLK writes the conflicting lock, or l_type F_UNLCK)",
    since: "1.3",
  },
  fchown: { doc: "fchown(2)", params: { fd, owner: int("uid, or -1 to keep it"), group: int("gid, or -1 to keep it") }, result: "ret = 0", since: "1.3" },
  futimens: {
    doc: "futimens(2): set the access and modification times (tv_nsec may be UTIME_NOW or UTIME_OMIT)",
    params: { fd, atime_sec: int("access time, seconds"), atime_nsec: int("access time, nanoseconds"), mtime_sec: int("modification time, seconds"), mtime_nsec: int("modification time, nanoseconds") },
    result: "ret = 0",
    since: "1.3",
  },
  guest_program: {
    doc: "run the vCPU on a new guest program (x86: 64-bit mode) that performs `steps` in order and halts; each step is a memory access ({access, gpa, len, data?, private?}), a port I/O instruction ({pio, port, size, data?}) or a hypercall ({hypercall, args?}). The program stays loaded: `resume` continues it after an exit",
    params: { vcpu: fdOf("vCPU fd"), steps: { kind: "records", fields: GUEST_STEP_FIELDS, doc: "the program's steps, at most 8" } },
    result: "ret and errno of KVM_RUN; exit = {reason, ...payload} (KVM_EXIT_IO: io = {direction, size, port, count, data_offset, data for OUT}); out.step = the steps completed; out.data = the bytes of every read and IN step and the 8-byte return value of every hypercall, in step order, once the program halted",
    since: "1.3",
  },
  resume: {
    doc: "re-enter KVM_RUN on the vCPU's guest_program where it stopped, loading nothing: a pending I/O, MMIO or hypercall exit is completed first (for an IN, an MMIO read or a hypercall with `data` placed in kvm_run), a faulting access is retried",
    params: { vcpu: fdOf("vCPU fd"), data: { kind: "bytes", optional: true, doc: "for a pending IN: the io.size bytes the port returns; for a pending MMIO read: the mmio.len bytes of mmio.data; for a pending KVM_EXIT_HYPERCALL: hypercall.ret, 8 bytes little-endian (default zeros)" } },
    result: "as guest_program",
    since: "1.3",
  },
  pipe: {
    doc: "pipe2(2): a new pipe",
    params: { flags: int("pipe2 flags: O_CLOEXEC, O_NONBLOCK, O_DIRECT (packet mode)") },
    result: "ret = the read end's fd; out.write_fd = the write end's fd", returns: "fd", outFds: ["write_fd"],
    since: "1.3",
  },
  vmsplice: {
    doc: "vmsplice(2) with one iovec {addr, len}: on a pipe's write end the kernel takes references on the user pages (get_user_pages) and queues them in the pipe, no copy; on the read end it copies the pipe's bytes to addr",
    params: { fd: fdOf("a pipe end"), addr: int("user address"), len: int("bytes (at most 65536)"), flags: int("SPLICE_F_* flags") },
    result: "ret = bytes moved",
    since: "1.3",
  },
  splice: {
    doc: "splice(2) between a file and a pipe (or two pipes); an absent offset is a NULL pointer (the file position is used and advanced)",
    params: { fd_in: fdOf("source fd"), off_in: int("source offset (absent: NULL)", true), fd_out: fdOf("destination fd"), off_out: int("destination offset (absent: NULL)", true), len: int("bytes"), flags: int("SPLICE_F_* flags") },
    result: "ret = bytes moved; out.off_in / out.off_out = the offsets the kernel wrote back, for those given",
    since: "1.3",
  },
  sendfile: {
    doc: "sendfile(2) from in_fd to out_fd; an absent offset is a NULL pointer (in_fd's position is used and advanced)",
    params: { out_fd: fdOf("destination fd"), in_fd: fdOf("source fd"), offset: int("source offset (absent: NULL)", true), count: int("bytes") },
    result: "ret = bytes moved; out.offset = the offset the kernel wrote back, when given",
    since: "1.3",
  },
  copy_file_range: {
    doc: "copy_file_range(2) between two files; an absent offset is a NULL pointer (the file position is used and advanced)",
    params: { fd_in: fdOf("source fd"), off_in: int("source offset (absent: NULL)", true), fd_out: fdOf("destination fd"), off_out: int("destination offset (absent: NULL)", true), len: int("bytes"), flags: int("flags (none are defined for userspace)") },
    result: "ret = bytes copied; out.off_in / out.off_out = the offsets the kernel wrote back, for those given",
    since: "1.3",
  },
  tmpfile: {
    doc: "open(2) with O_TMPFILE in a directory the driver chooses: an unnamed regular file on a tmpfs (`tmpfs`) or on a disk filesystem that does direct I/O (`disk`, feature o-direct:disk for O_DIRECT)",
    params: { dir: { kind: "enum", values: ["tmpfs", "disk"], doc: "which filesystem" }, flags: int("open flags besides O_TMPFILE (an access mode with write access, O_DIRECT, O_CLOEXEC, ...)") },
    result: "ret = new fd (mode 0600)", returns: "fd",
    since: "1.3",
  },
  mremap: {
    doc: "mremap(2): resize or move the mapping at `addr`; MREMAP_FIXED and MREMAP_DONTUNMAP take `new_addr`",
    params: { addr: int("old address"), old_len: int("old length"), new_len: int("new length"), flags: int("MREMAP_MAYMOVE (1), MREMAP_FIXED (2), MREMAP_DONTUNMAP (4)"), new_addr: int("new address (with MREMAP_FIXED, or a hint with MREMAP_DONTUNMAP)", true) },
    result: "ret = the mapping's new address", returns: "address",
    since: "1.3",
  },
  mlock: { doc: "mlock(2): lock the pages of [addr, addr+len) in memory, faulting them in", params: { addr: int("address"), len: int("length") }, result: "ret = 0", since: "1.3" },
  mlock2: {
    doc: "mlock2(2): as mlock, with MLOCK_ONFAULT (1) locking pages only as they are faulted in",
    params: { addr: int("address"), len: int("length"), flags: int("MLOCK_ONFAULT (1)") },
    result: "ret = 0",
    since: "1.3",
  },
  munlock: { doc: "munlock(2)", params: { addr: int("address"), len: int("length") }, result: "ret = 0", since: "1.3" },
  mincore: {
    doc: "mincore(2): which pages of [addr, addr+len) are resident (bit 0 of each byte)",
    params: { addr: int("page-aligned address"), len: int("length (at most 65536 pages)") },
    result: "ret = 0; out.data = the residency vector, one byte per page",
    since: "1.3",
  },
  io_uring_register_buffers: {
    doc: "io_uring_setup(2) of a new ring, then io_uring_register(2) IORING_REGISTER_BUFFERS of one buffer [addr, addr+len): the kernel pins its pages long-term (FOLL_WRITE | FOLL_LONGTERM)",
    params: { addr: int("buffer address"), len: int("buffer length") },
    result: "ret = the ring's fd, which holds the registration (close it, or io_uring_unregister_buffers); on failure no ring is left open", returns: "fd",
    since: "1.3",
  },
  io_uring_unregister_buffers: {
    doc: "io_uring_register(2) IORING_UNREGISTER_BUFFERS on a ring: the pins are dropped",
    params: { fd: fdOf("ring fd from io_uring_register_buffers") },
    result: "ret = 0",
    since: "1.3",
  },
  userfaultfd: { doc: "userfaultfd(2)", params: { flags: int("O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY (1)") }, result: "ret = new fd", returns: "fd", since: "1.3" },
  uffdio_api: {
    doc: "ioctl(UFFDIO_API) on a userfaultfd: the handshake every other userfaultfd ioctl needs first",
    params: { fd: fdOf("userfaultfd"), api: int("UFFD_API (0xaa)"), features: int("UFFD_FEATURE_* asked for") },
    result: "ret = 0; out.api, out.features (what the kernel offers), out.ioctls",
    since: "1.3",
  },
  uffdio_register: {
    doc: "ioctl(UFFDIO_REGISTER): register [addr, addr+len) with the userfaultfd in `mode`; no fault is handled",
    params: { fd: fdOf("userfaultfd"), addr: int("page-aligned start"), len: int("page-aligned length"), mode: int("UFFDIO_REGISTER_MODE_MISSING (1), _WP (2), _MINOR (4)") },
    result: "ret = 0; out.ioctls = the range ioctls the kernel allows on the range",
    since: "1.3",
  },
  setrlimit: {
    doc: "prlimit64(2) on the calling process: set one resource limit (soft `cur`, hard `max`; RLIM_INFINITY is ~0) until the driver's reset, which restores it",
    params: { resource: int("RLIMIT_* (a driver may offer RLIMIT_MEMLOCK alone)"), cur: int("soft limit"), max: int("hard limit (absent: unchanged)", true) },
    result: "ret = 0; out.cur, out.max = the limits before the call",
    since: "1.4",
  },
  drop_capability: {
    doc: "capset(2): remove one capability from the process's effective set (kept in its permitted set) until the driver's reset, so a case can run as a process without it (CAP_IPC_LOCK: mlock is held to RLIMIT_MEMLOCK)",
    params: { cap: int("capability number (CAP_IPC_LOCK = 14)") },
    result: "ret = 0",
    since: "1.4",
  },
} as const satisfies Record<string, OpSpec>;

export type OpName = keyof typeof OPS;

/** Every operation may name the process it runs in (a handle from `fork`); 0 is the first process. */
export const PROCESS_PARAM: ParamSpec = { kind: "int", optional: true, doc: "process handle (default 0)" };
