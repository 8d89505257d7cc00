#!/usr/bin/env python3
"""A privmem-cts remote driver in Python (standard library only), written from
harness/protocol/CONTRACT.md: it runs operations on this machine's /dev/kvm.

It offers a documented subset of the vocabulary (README.md): the file operations
(vfs.py: those of contract 1.3 too, pipes and splice among them) and ioctl (values,
u64 pointers and structs of spec/layouts.json), no memory operations. Every other case
is skipped by the runner, naming the operation. It exists to prove the contract is
enough to write a driver without reading the runner.

    npx privmem-cts run --driver 'remote:python3 harness/drivers/python/driver.py'
"""
import ctypes
import json
import os
import re
import struct
import sys

from spec_data import (LAYOUTS, PROFILES, Refusal, F_DUPFD, F_DUPFD_CLOEXEC, c_result, constant, decode, encode_into, errno_name, failed, fields_from_wire,
                       from_wire, libc, request, s32, s64, u32, wire_int)
from vfs import PROC_FD, VFS_OPERATIONS, VfsOps, io_features

CONTRACT_VERSION = "1.3"
OPERATIONS = ["open", "close", "dup", "fcntl", "read", "write", "pread", "pwrite", "lseek", "fallocate", "ftruncate", "fstat", "fstatfs", "fdinfo", "memfd_create", "fsync", "fdatasync", "ioctl"] + VFS_OPERATIONS
# At most this many bytes per read (the linux driver's bound): a bigger request is refused.
MAX_READ = 1 << 20
# Paths a case may open (and /proc/self/fd/N of the case's own fds): opening anything else could block the driver or change the host.
OPEN_ALLOWLIST = ("/dev/kvm", "/dev/null", "/dev/zero", "/dev/sev")
# FS_IOC_FIEMAP: the kernel fills as many extents as fm_extent_count asks, after the header
FIEMAP_MAX_EXTENTS = 64


class Session(VfsOps):
    def __init__(self, profile):
        self.profile = profile
        self.fds = set()

    def own_fd(self, fd, what):
        """The case may use its own fds and fds that are not open; never the driver's."""
        k = s32(fd)
        if k not in self.fds and k >= 0 and os.path.exists("/proc/self/fd/%d" % k):
            raise Refusal("unsupported", "%s: fd %d is open but was not created by this session (it belongs to the driver)" % (what, fd))
        return k

    def call(self, op):
        if from_wire(op.get("process", 0), "process") != 0:
            raise Refusal("unsupported", "this driver has one process (it does not offer fork)")
        name = op["op"]
        if name == "open":
            if PROC_FD.match(op["path"]):
                return self.reopen(op["path"], from_wire(op["flags"], "open.flags"), from_wire(op.get("mode", 0), "open.mode"))
            if op["path"] not in OPEN_ALLOWLIST:
                raise Refusal("unsupported", "open: this driver opens only %s" % ", ".join(OPEN_ALLOWLIST))
            try:
                fd = os.open(op["path"], from_wire(op["flags"], "open.flags"), from_wire(op.get("mode", 0), "open.mode"))
            except OSError as e:
                return failed(e)
            self.fds.add(fd)
            return {"ret": fd}
        if name == "close":
            fd = self.own_fd(from_wire(op["fd"], "close.fd"), "close")
            try:
                os.close(fd)
            except OSError as e:
                return failed(e)
            self.fds.discard(fd)
            return {"ret": 0}
        if name == "dup":
            fd = self.own_fd(from_wire(op["fd"], "dup.fd"), "dup")
            try:
                new = os.dup(fd)
            except OSError as e:
                return failed(e)
            self.fds.add(new)
            return {"ret": new}
        if name == "fstat":
            fd = self.own_fd(from_wire(op["fd"], "fstat.fd"), "fstat")
            try:
                st = os.fstat(fd)
            except OSError as e:
                return failed(e)
            out = {"dev": st.st_dev, "ino": st.st_ino, "nlink": st.st_nlink, "mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                   "rdev": st.st_rdev, "size": st.st_size, "blksize": st.st_blksize, "blocks": st.st_blocks}
            for t in ("atime", "mtime", "ctime"):
                ns = getattr(st, "st_%s_ns" % t)
                out[t + "_sec"], out[t + "_nsec"] = ns // 10**9, ns % 10**9
            return {"ret": 0, "out": {k: wire_int(v) for k, v in out.items()}}
        if name == "ioctl":
            return self.ioctl(op)
        return self.file_op(name, op)

    def file_op(self, name, op):
        """The file operations of the vocabulary, on fds this session made (or no open fd: EBADF)."""
        i = lambda k: from_wire(op[k], "%s.%s" % (name, k))
        if name == "memfd_create":
            try:
                fd = os.memfd_create(op["name"], u32(i("flags")))
            except OSError as e:
                return failed(e)
            self.fds.add(fd)
            return {"ret": fd}
        r = self.vfs_op(name, op)
        if r is not None:
            return r
        fd = self.own_fd(i("fd"), name)
        ctypes.set_errno(0)
        if name == "fcntl":
            cmd = s32(i("cmd"))
            r = c_result(libc.fcntl(fd, cmd, s64(from_wire(op.get("arg", 0), "fcntl.arg"))))
            if r["ret"] >= 0 and cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
                self.fds.add(r["ret"])
            return r
        if name == "fallocate":
            return c_result(libc.fallocate(fd, s32(i("mode")), s64(i("offset")), s64(i("len"))))
        if name == "fstatfs":
            buf = ctypes.create_string_buffer(LAYOUTS["statfs"]["size"])
            r = c_result(libc.fstatfs(fd, ctypes.addressof(buf)))
            if r["ret"] >= 0:
                r["out"] = decode("statfs", buf.raw)
            return r
        if name == "fdinfo":
            try:
                link = os.readlink("/proc/self/fd/%d" % fd)
                with open("/proc/self/fdinfo/%d" % fd) as f:
                    info = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
            except OSError as e:
                return failed(e)
            return {"ret": 0, "out": {"link": link, "flags": int(info["flags"].strip(), 8), "pos": int(info["pos"].strip())}}
        try:
            if name in ("read", "pread"):
                n = i("len")
                if n < 0 or n > MAX_READ:
                    raise Refusal("unsupported", "%s: this driver reads at most %d bytes at once (asked for %d)" % (name, MAX_READ, n))
                if name == "read" and n > 0:
                    self.refuse_wait(fd, "in", name)
                data = os.read(fd, n) if name == "read" else os.pread(fd, n, s64(i("offset")))
                return {"ret": len(data), "out": {"data": data.hex()}}
            if name in ("write", "pwrite"):
                data = bytes.fromhex(op["data"])
                if name == "write" and data:
                    self.refuse_wait(fd, "out", name)
                return {"ret": os.write(fd, data) if name == "write" else os.pwrite(fd, data, s64(i("offset")))}
            if name == "lseek":
                return {"ret": os.lseek(fd, s64(i("offset")), s32(i("whence")))}
            if name in ("fsync", "fdatasync"):
                (os.fsync if name == "fsync" else os.fdatasync)(fd)
                return {"ret": 0}
            if name == "ftruncate":
                os.ftruncate(fd, s64(i("length")))
                return {"ret": 0}
        except OSError as e:
            return failed(e)
        raise Refusal("unsupported", "%s is not offered by this driver" % name)

    def ioctl(self, op):
        d = request(op["request"], self.profile)
        if d is None:
            raise Refusal("unsupported", "%s is not a request of profile %s" % (op["request"], self.profile))
        arg, by_value = op.get("arg"), d["arg"] in (None, "value", "u64")
        # Integer and pointer arguments mean the same in every driver (CONTRACT.md).
        if by_value and isinstance(arg, dict):
            raise Refusal("protocol", "%s takes %s, not a field map" % (d["name"], "a u64" if d["arg"] == "u64" else "an integer"))
        if not by_value and arg is not None and not isinstance(arg, dict):
            struct_name = d.get("buffer", d["arg"])
            raise Refusal("protocol", "%s takes a struct %s as a field map, not an integer (an integer is never a pointer; pointer: \"invalid\" passes one the kernel cannot read)" % (d["name"], struct_name))
        fd = self.own_fd(from_wire(op["fd"], "ioctl.fd"), "ioctl " + d["name"])
        number = int(d["number"], 16)
        out = None
        if d["name"] == "KVM_RUN":
            raise Refusal("unsupported", "KVM_RUN: this driver runs no guests (it does not offer guest)")
        if op.get("pointer") == "invalid":
            ret, buf = self.raw(fd, number, self.unmapped()), None
        elif by_value and d["arg"] != "u64":
            ret, buf = self.raw(fd, number, from_wire(arg if arg is not None else 0, "ioctl.arg") & (2**64 - 1)), None
        elif d["arg"] == "u64":
            buf = ctypes.create_string_buffer(struct.pack("<Q", from_wire(arg if arg is not None else 0, "ioctl.arg") & (2**64 - 1)), 8)
            ret = self.raw(fd, number, ctypes.addressof(buf))
            out = {"value": wire_int(struct.unpack("<Q", buf.raw)[0])}
        else:
            name = d.get("buffer", d["arg"])
            self.refuse_pointers(name)
            data = bytearray(LAYOUTS[name]["size"] + self.trailing_bytes(d["name"], arg or {}))
            encode_into(data, 0, name, fields_from_wire(arg or {}, "ioctl.arg"), name)
            buf = ctypes.create_string_buffer(bytes(data), len(data))
            ret = self.raw(fd, number, ctypes.addressof(buf))
            out = decode(name, buf.raw[:LAYOUTS[name]["size"]])
        r = {"ret": ret} if ret >= 0 else {"ret": -1, "errno": errno_name(ctypes.get_errno())}
        if out is not None:
            r["out"] = out
        if ret >= 0 and d.get("returns") == "fd":
            self.fds.add(ret)
        return r

    @staticmethod
    def trailing_bytes(req, arg):
        """FS_IOC_FIEMAP: room for the fm_extent_count extents the kernel writes after the header."""
        if req != "FS_IOC_FIEMAP":
            return 0
        count = from_wire(arg.get("fm_extent_count", 0), "ioctl.arg.fm_extent_count")
        if not 0 <= count <= FIEMAP_MAX_EXTENTS:
            raise Refusal("unsupported", "FS_IOC_FIEMAP: fm_extent_count %d (this driver allocates at most %d extents)" % (count, FIEMAP_MAX_EXTENTS))
        return count * LAYOUTS["fiemap_extent"]["size"]

    def refuse_pointers(self, name):
        """Structs that carry user addresses the kernel reads or writes at once (a command's payload) are not offered: no case of this driver maps memory."""
        for f in LAYOUTS[name]["fields"]:
            p = f.get("pointer")
            if p is not None and name not in ("kvm_userspace_memory_region", "kvm_userspace_memory_region2", "kvm_userspace_memory_region_ext"):
                raise Refusal("unsupported", "%s: %s.%s is a user address this driver cannot check" % (name, name, f["name"]))

    @staticmethod
    def raw(fd, number, arg):
        ctypes.set_errno(0)
        return libc.ioctl(fd, number, arg)

    def unmapped(self):
        # a page mapped and unmapped again: nothing is there when the kernel reads it
        page = os.sysconf("SC_PAGE_SIZE")
        addr = libc.mmap(None, page, 0, 0x22, -1, 0)
        libc.munmap(addr, page)
        return addr

    def reset(self):
        n = len(self.fds)
        for fd in sorted(self.fds):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds.clear()
        return {"fds": n, "mappings": 0, "processes": 0}


# --- the handshake: features found by probing (spec/features.json) ----------

def probe(profile):
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return None, "/dev/kvm cannot be opened read-write: %s" % errno_name(e.errno)
    check = request("KVM_CHECK_EXTENSION", profile)
    number = int(check["number"], 16)

    def cap(name):
        n = constant(name, profile)
        return 0 if n is None else max(libc.ioctl(kvm, number, n), 0)

    features = ["kvm"]
    add = lambda cond, f: cond and features.append(f)
    add(cap("KVM_CAP_USER_MEMORY2") > 0, "user-memory2")
    add(cap("KVM_CAP_GUEST_MEMFD") > 0, "guest-memfd")
    flags = cap("KVM_CAP_GUEST_MEMFD_FLAGS")
    add(flags & 1, "gmem-flag:mmap")
    add(flags & 2, "gmem-flag:init-shared")
    add(cap("KVM_CAP_MEMORY_ATTRIBUTES") & 8, "memory-attributes")
    add(cap("KVM_CAP_MEMORY_FAULT_INFO") > 0, "memory-fault-info")
    add(cap("KVM_CAP_PRE_FAULT_MEMORY") > 0, "pre-fault-memory")
    add(cap("KVM_CAP_READONLY_MEM") > 0, "readonly-mem")
    add(cap("KVM_CAP_MULTI_ADDRESS_SPACE") > 1, "multi-address-space")
    add(cap("KVM_CAP_EXIT_HYPERCALL") & (1 << 12), "exit-hypercall")
    types = cap("KVM_CAP_VM_TYPES")
    if types == 0:
        vm = libc.ioctl(kvm, int(request("KVM_CREATE_VM", profile)["number"], 16), 0)
        if vm >= 0:
            os.close(vm)
            types = 1
    for bit, name in enumerate(["default", "sw-protected", "sev", "sev-es", "snp", "tdx"]):
        add(types & (1 << bit), "vm-type:" + name)
    os.close(kvm)
    u = os.uname()
    kernel = re.match(r"[0-9.]+", u.release)
    features += io_features(profile)
    return {"features": features, "host": {"kernel": kernel.group(0).rstrip(".") if kernel else u.release, "arch": u.machine, "pageSize": os.sysconf("SC_PAGE_SIZE")}}, None


def main():
    profile = os.environ.get("PRIVMEM_CTS_PROFILE", "linux-6.18")
    session = None
    send = lambda m: (sys.stdout.write(json.dumps(m) + "\n"), sys.stdout.flush())
    for line in sys.stdin:
        if not line.strip():
            continue
        msg, mid = None, 0
        try:
            msg = json.loads(line)
            mid = msg.get("id", 0)
            t = msg.get("type")
            if t == "hello":
                theirs = str(msg.get("contractVersion", ""))
                if theirs.split(".")[0] != CONTRACT_VERSION.split(".")[0]:
                    send({"type": "error", "id": mid, "kind": "protocol", "message": "contract %s is not supported (this driver speaks %s)" % (theirs, CONTRACT_VERSION)})
                    return
                if profile not in PROFILES:
                    raise Refusal("protocol", "unknown profile %s" % profile)
                hs, why = probe(profile)
                if hs is None:
                    send({"type": "error", "id": mid, "kind": "unavailable", "message": why})
                    continue
                session = Session(profile)
                send(dict({"type": "hello", "id": mid, "contractVersion": CONTRACT_VERSION, "name": "python", "version": "0.1.0", "profile": profile, "operations": OPERATIONS}, **hs))
            elif t == "call":
                if session is None:
                    raise Refusal("protocol", "call before hello")
                send({"type": "result", "id": mid, "result": session.call(msg["op"])})
            elif t == "reset":
                if session is None:
                    raise Refusal("protocol", "reset before hello")
                send({"type": "reset", "id": mid, "released": session.reset()})
            elif t == "shutdown":
                if session is not None:
                    session.reset()
                send({"type": "bye", "id": mid})
                return
            else:
                raise Refusal("protocol", "unknown message type %r" % t)
        except Refusal as e:
            send({"type": "error", "id": mid, "kind": e.kind, "message": str(e)})
        except Exception as e:  # a bug of this driver: the case is an ERROR, the driver goes on
            send({"type": "error", "id": mid, "kind": "internal", "message": "%s: %s" % (type(e).__name__, e)})


if __name__ == "__main__":
    main()
