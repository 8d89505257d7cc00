"""The contract 1.3 file operations of the Python driver (CONTRACT.md, "File operations of
the VFS" and "Pipes, splice, temporary files and reopening"): vectored I/O, advice, sync,
locks, fchown/futimens, pipes, splice, sendfile, copy_file_range, O_TMPFILE files and
reopening through /proc/self/fd. Python's os and fcntl modules where they give the system
call's own answer; ctypes where they do not (offsets written back, UTIME_NOW/UTIME_OMIT).
Every buffer the kernel reads or writes is the driver's own, sized from the operation.
The driver never sleeps: a pipe call that would wait is refused, as in the linux driver."""
import ctypes
import fcntl
import mmap
import os
import re
import select
import stat
import tempfile

from spec_data import LAYOUTS, Refusal, c_result, constant, decode, encode_into, failed, fields_from_wire, from_wire, libc, s32, s64, u32

# The contract's transfer limit for one vectored call (spec/driver/iovec.ts).
MAX_VECTOR = 65536
FLOCK_COMMANDS = ("F_GETLK", "F_SETLK", "F_SETLKW", "F_OFD_GETLK", "F_OFD_SETLK", "F_OFD_SETLKW")
PROC_FD = re.compile(r"^/proc/self/fd/(\d+)$")
TMPFILE_DIRS = {"tmpfs": "/dev/shm", "disk": tempfile.gettempdir()}
VFS_OPERATIONS = ["fchmod", "readv", "writev", "preadv2", "pwritev2", "posix_fadvise", "readahead", "syncfs", "sync_file_range", "flock", "fcntl_lock", "fchown", "futimens",
                  "pipe", "splice", "sendfile", "copy_file_range", "tmpfile"]

_i64p = ctypes.POINTER(ctypes.c_int64)
for fn, args, res in (
    ("preadv2", [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int], ctypes.c_ssize_t),
    ("pwritev2", [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_int], ctypes.c_ssize_t),
    ("readahead", [ctypes.c_int, ctypes.c_int64, ctypes.c_size_t], ctypes.c_ssize_t),
    ("syncfs", [ctypes.c_int], ctypes.c_int),
    ("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint], ctypes.c_int),
    ("futimens", [ctypes.c_int, ctypes.c_void_p], ctypes.c_int),
    ("splice", [ctypes.c_int, _i64p, ctypes.c_int, _i64p, ctypes.c_size_t, ctypes.c_uint], ctypes.c_ssize_t),
    ("sendfile", [ctypes.c_int, ctypes.c_int, _i64p, ctypes.c_size_t], ctypes.c_ssize_t),
    ("copy_file_range", [ctypes.c_int, _i64p, ctypes.c_int, _i64p, ctypes.c_size_t, ctypes.c_uint], ctypes.c_ssize_t),
):
    getattr(libc, fn).argtypes, getattr(libc, fn).restype = args, res


def iovec_lens(name, lens):
    lens = [from_wire(n, name + ".lens") for n in lens]
    if any(n < 0 for n in lens):
        raise Refusal("protocol", "%s: an iovec length is negative" % name)
    if sum(lens) > MAX_VECTOR:
        raise Refusal("protocol", "%s: %d bytes (at most %d)" % (name, sum(lens), MAX_VECTOR))
    return lens


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def vectored(fn, fd, bufs, offset, flags):
    """preadv2/pwritev2 over ctypes buffers (offset -1: the file position; readv and writev are offset -1, flags 0)."""
    iov = (Iovec * max(len(bufs), 1))(*[Iovec(ctypes.addressof(b), len(b)) for b in bufs])
    ctypes.set_errno(0)
    return c_result(fn(fd, ctypes.addressof(iov), len(bufs), offset, flags))


def offset_ptr(v):
    """An optional offset as the kernel takes it: a pointer to an int64, or NULL when absent."""
    return None if v is None else ctypes.c_int64(s64(from_wire(v, "offset")))


def moved(ret, offsets):
    r = c_result(ret)
    out = {k: v.value for k, v in offsets.items() if v is not None}
    if r["ret"] >= 0 and out:
        r["out"] = out
    return r


class VfsOps:
    """Mixed into Session: uses self.profile, self.fds and self.own_fd."""

    def k(self, name):
        return constant(name, self.profile)

    def refuse_wait(self, fd, direction, what, nonblock=False):
        """A call on a blocking pipe that poll says cannot proceed would sleep for ever: refused."""
        try:
            if nonblock or not stat.S_ISFIFO(os.fstat(fd).st_mode) or os.get_blocking(fd) is False:
                return
        except OSError:
            return
        p = select.poll()
        p.register(fd, select.POLLIN if direction == "in" else select.POLLOUT)
        if not p.poll(0):
            raise Refusal("unsupported", "%s: the pipe behind fd %d is %s; the call would wait for ever (this driver never blocks)" % (what, fd, "empty" if direction == "in" else "full"))

    def vfs_op(self, name, op):
        """The answer to a 1.3 file operation, or None when `name` is not one."""
        i = lambda key: from_wire(op[key], "%s.%s" % (name, key))
        if name == "pipe":
            try:
                r, w = os.pipe2(u32(i("flags")))
            except OSError as e:
                return failed(e)
            self.fds.update((r, w))
            return {"ret": r, "out": {"write_fd": w}}
        if name == "tmpfile":
            if op["dir"] not in TMPFILE_DIRS:
                raise Refusal("protocol", "tmpfile: dir is tmpfs or disk")
            return self.opened(lambda: self.open_as_asked(TMPFILE_DIRS[op["dir"]], u32(i("flags")) | self.k("O_TMPFILE"), 0o600))
        if name in ("splice", "copy_file_range"):
            fin, fout = self.own_fd(i("fd_in"), name), self.own_fd(i("fd_out"), name)
            offs = {"off_in": offset_ptr(op.get("off_in")), "off_out": offset_ptr(op.get("off_out"))}
            if name == "splice" and i("len") > 0:
                nonblock = i("flags") & self.k("SPLICE_F_NONBLOCK") != 0
                self.refuse_wait(fin, "in", name, nonblock)
                self.refuse_wait(fout, "out", name, nonblock)
            ptr = lambda v: None if v is None else ctypes.pointer(v)
            ctypes.set_errno(0)
            return moved(getattr(libc, name)(fin, ptr(offs["off_in"]), fout, ptr(offs["off_out"]), i("len"), u32(i("flags"))), offs)
        if name == "sendfile":
            fout, fin = self.own_fd(i("out_fd"), name), self.own_fd(i("in_fd"), name)
            off = offset_ptr(op.get("offset"))
            if i("count") > 0:
                self.refuse_wait(fout, "out", name)
            ctypes.set_errno(0)
            return moved(libc.sendfile(fout, fin, None if off is None else ctypes.pointer(off), i("count")), {"offset": off})
        if name not in VFS_OPERATIONS:
            return None
        fd = self.own_fd(i("fd"), name)
        ctypes.set_errno(0)
        try:
            if name in ("readv", "preadv2"):
                bufs = [ctypes.create_string_buffer(n) for n in iovec_lens(name, op["lens"])]
                if sum(map(len, bufs)) > 0:
                    self.refuse_wait(fd, "in", name)
                r = vectored(libc.preadv2, fd, bufs, -1, 0) if name == "readv" else vectored(libc.preadv2, fd, bufs, s64(i("offset")), s32(i("flags")))
                if r["ret"] >= 0:
                    r["out"] = {"data": b"".join(b.raw for b in bufs)[:r["ret"]].hex()}
                return r
            if name in ("writev", "pwritev2"):
                data = bytes.fromhex(op["data"])
                lens = iovec_lens(name, op["lens"]) if "lens" in op else [len(data)]
                if sum(lens) != len(data):
                    raise Refusal("protocol", "%s: the iovec lengths do not add up to the %d bytes of data" % (name, len(data)))
                parts, at = [], 0
                for n in lens:
                    parts.append(ctypes.create_string_buffer(data[at:at + n], n))
                    at += n
                if data:
                    self.refuse_wait(fd, "out", name)
                return vectored(libc.pwritev2, fd, parts, -1, 0) if name == "writev" else vectored(libc.pwritev2, fd, parts, s64(i("offset")), s32(i("flags")))
            if name == "fchmod":
                os.fchmod(fd, u32(i("mode")))
            elif name == "posix_fadvise":
                os.posix_fadvise(fd, s64(i("offset")), s64(i("len")), s32(i("advice")))
            elif name == "flock":
                fcntl.flock(fd, s32(i("operation")))
            elif name == "fchown":
                os.fchown(fd, s32(i("owner")), s32(i("group")))
            elif name == "readahead":
                return c_result(libc.readahead(fd, s64(i("offset")), i("count") & (2**64 - 1)))
            elif name == "syncfs":
                return c_result(libc.syncfs(fd))
            elif name == "sync_file_range":
                return c_result(libc.sync_file_range(fd, s64(i("offset")), s64(i("nbytes")), u32(i("flags"))))
            elif name == "futimens":
                times = (ctypes.c_int64 * 4)(s64(i("atime_sec")), s64(i("atime_nsec")), s64(i("mtime_sec")), s64(i("mtime_nsec")))
                return c_result(libc.futimens(fd, ctypes.addressof(times)))
            elif name == "fcntl_lock":
                return self.fcntl_lock(fd, op)
        except OSError as e:
            return failed(e)
        return {"ret": 0}

    def fcntl_lock(self, fd, op):
        cmd = s32(from_wire(op["cmd"], "fcntl_lock.cmd"))
        if cmd not in [self.k(n) for n in FLOCK_COMMANDS]:
            raise Refusal("protocol", "fcntl_lock takes one of %s (command %d is not one)" % (", ".join(FLOCK_COMMANDS), cmd))
        lock = op.get("lock")
        if lock is not None and not isinstance(lock, dict):
            raise Refusal("protocol", "fcntl_lock takes a struct flock as a field map, not an integer (pointer: \"invalid\" passes one the kernel cannot read)")
        if op.get("pointer") == "invalid":
            return c_result(libc.fcntl(fd, cmd, self.unmapped()))
        data = bytearray(LAYOUTS["flock"]["size"])
        encode_into(data, 0, "flock", fields_from_wire(lock or {}, "fcntl_lock.lock"), "flock")
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        r = c_result(libc.fcntl(fd, cmd, ctypes.addressof(buf)))
        if r["ret"] >= 0:
            r["out"] = decode("flock", buf.raw)
        return r

    def reopen(self, path, flags, mode):
        """open("/proc/self/fd/N"): only for a descriptor the case holds, or one that is not open."""
        self.own_fd(int(PROC_FD.match(path).group(1)), "open " + path)
        return self.opened(lambda: self.open_as_asked(path, flags, mode))

    @staticmethod
    def open_as_asked(path, flags, mode):
        """os.open, with FD_CLOEXEC only when the flags ask for it (Python's os.open sets it always, PEP 446)."""
        fd = os.open(path, flags, mode)
        if not flags & os.O_CLOEXEC:
            os.set_inheritable(fd, True)
        return fd

    def opened(self, make):
        try:
            fd = make()
        except OSError as e:
            return failed(e)
        self.fds.add(fd)
        return {"ret": fd}


def io_features(profile):
    """open:proc-self-fd, and o-direct:disk when the disk directory takes a direct write from a page-aligned buffer."""
    features = ["open:proc-self-fd"]
    k = lambda n: constant(n, profile)
    try:
        fd = os.open(TMPFILE_DIRS["disk"], k("O_TMPFILE") | k("O_RDWR") | k("O_DIRECT") | os.O_CLOEXEC, 0o600)
    except OSError:
        return features
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE)  # anonymous: page-aligned
        if os.pwrite(fd, page, 0) == mmap.PAGESIZE:
            features.append("o-direct:disk")
        page.close()
    except OSError:
        pass
    finally:
        os.close(fd)
    return features
