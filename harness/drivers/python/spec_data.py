"""What the Python driver reads from spec/ (profiles, constants, requests, errno names,
struct layouts) and the integer conversions of the wire and of C calls: shared by driver.py
and vfs.py."""
import ctypes
import json
import os
import re
import struct

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class Refusal(Exception):
    """A request the driver cannot serve: answered as an error of this kind."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def load(name):
    with open(os.path.join(ROOT, "spec", name)) as f:
        return json.load(f)


# --- profiles and profile sets (CONTRACT.md, "Request lookup") ---------------

PROFILES = [p["name"] for p in load("profiles.json")["profiles"]]


def in_profile_set(profile_set, profile):
    for part in profile_set.split(","):
        m = re.fullmatch(r"([a-z0-9.-]+?)(\+|\.\.([a-z0-9.-]+))?", part.strip())
        lo = PROFILES.index(m.group(1))
        hi = len(PROFILES) - 1 if m.group(2) == "+" else PROFILES.index(m.group(3)) if m.group(3) else lo
        if lo <= PROFILES.index(profile) <= hi:
            return True
    return False


def integer(v):
    return int(v, 0) if isinstance(v, str) else v


CONSTANTS = load("constants.json")
LAYOUTS = load("layouts.json")["structs"]


def constant(name, profile):
    for group in CONSTANTS["constants"].values():
        if name in group:
            v = group[name]
            if not isinstance(v, dict):
                return integer(v)
            if "values" in v:
                for alt in v["values"]:
                    if in_profile_set(alt["profiles"], profile):
                        return integer(alt["value"])
                return None
            return integer(v["value"]) if in_profile_set(v.get("profiles", PROFILES[0] + "+"), profile) else None
    return None


def request(name, profile):
    if "@" in name:
        name, profile = name.split("@", 1)
        if profile not in PROFILES:
            return None
    for d in CONSTANTS["ioctls"].get(name, []):
        if in_profile_set(d["profiles"], profile):
            return dict(d, name=name)
    return None


# errno and signal names come from spec/constants.json, never from Python's errno
# module (which names 95 ENOTSUP and 35 EDEADLOCK: aliases the contract refuses).
ERRNO_NAMES = {v: k for k, v in CONSTANTS["constants"]["errno"].items()}


def errno_name(n):
    return ERRNO_NAMES.get(n, "E#%d" % n)


# --- structs of spec/layouts.json -------------------------------------------

SCALARS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s8": "b", "s16": "h", "s32": "i", "s64": "q"}


def size_of(t):
    return struct.calcsize("<" + SCALARS[t]) if t in SCALARS else LAYOUTS[t]["size"]


def encode_into(buf, base, name, values, path):
    fields = {}
    for f in LAYOUTS[name]["fields"]:
        fields[f["name"]] = f
        for a in f.get("aliases", []):
            fields[a] = f
    for key, value in values.items():
        m = re.fullmatch(r"([a-z_][a-z0-9_]*)(?:\[(\d+)\])?", key)
        f = fields.get(m.group(1)) if m else None
        if f is None:
            raise Refusal("protocol", "%s: no field %r" % (path, key))
        elem = size_of(f["type"])
        count = f.get("count")
        if m.group(2) is not None:
            if count is None or int(m.group(2)) >= count:
                raise Refusal("protocol", "%s.%s: index out of range" % (path, key))
            encode_element(buf, base + f["offset"] + int(m.group(2)) * elem, f["type"], value, path + "." + key)
        elif count is not None:
            if not isinstance(value, list) or len(value) > count:
                raise Refusal("protocol", "%s.%s: expected an array of at most %d elements" % (path, key, count))
            for i, v in enumerate(value):
                encode_element(buf, base + f["offset"] + i * elem, f["type"], v, "%s.%s[%d]" % (path, key, i))
        else:
            encode_element(buf, base + f["offset"], f["type"], value, path + "." + key)


def encode_element(buf, at, t, value, path):
    if t in SCALARS:
        if isinstance(value, (dict, list)):
            raise Refusal("protocol", "%s: expected an integer" % path)
        v, bits = int(value), size_of(t) * 8
        if not -(1 << (bits - 1)) <= v < (1 << bits):
            raise Refusal("protocol", "%s: %d does not fit in %s" % (path, v, t))
        struct.pack_into("<" + SCALARS[t].upper() if t.startswith("u") else "<" + SCALARS[t].upper(), buf, at, v & ((1 << bits) - 1))
    else:
        if not isinstance(value, dict):
            raise Refusal("protocol", "%s: expected a field map for struct %s" % (path, t))
        encode_into(buf, at, t, value, path)


def decode(name, buf, at=0):
    out = {}
    for f in LAYOUTS[name]["fields"]:
        t, elem = f["type"], size_of(f["type"])

        def one(i):
            if t in SCALARS:
                return wire_int(struct.unpack_from("<" + SCALARS[t], buf, at + f["offset"] + i * elem)[0])
            return decode(t, buf, at + f["offset"] + i * elem)

        out[f["name"]] = one(0) if f.get("count") is None else [one(i) for i in range(f["count"])]
    return out


def wire_int(n):
    return n if -(2**53) < n < 2**53 else str(n)


def from_wire(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, str) and not re.fullmatch(r"-?\d+", v)):
        raise Refusal("protocol", "%s: expected an integer" % what)
    return int(v)


def fields_from_wire(v, what):
    if isinstance(v, dict):
        return {k: fields_from_wire(x, what + "." + k) for k, x in v.items()}
    if isinstance(v, list):
        return [fields_from_wire(x, what) for x in v]
    return from_wire(v, what)


# --- the operations ----------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mmap.restype = ctypes.c_void_p
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.fcntl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.fcntl.restype = ctypes.c_int
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.fallocate.restype = ctypes.c_int
libc.fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fstatfs.restype = ctypes.c_int
F_DUPFD, F_DUPFD_CLOEXEC = 0, 1030


def s64(v):
    v &= 2**64 - 1
    return v - 2**64 if v >= 2**63 else v


def u32(v):
    return v & 0xFFFFFFFF


def c_result(ret):
    return {"ret": ret} if ret >= 0 else {"ret": -1, "errno": errno_name(ctypes.get_errno())}


def failed(e):
    return {"ret": -1, "errno": errno_name(e.errno)}


def s32(fd):
    fd &= 0xFFFFFFFF
    return fd - (1 << 32) if fd >= 1 << 31 else fd
