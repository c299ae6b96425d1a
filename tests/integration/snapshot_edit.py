#!/usr/bin/python3
# Takes a minivmm snapshot apart and makes hostile variants of it, with every checksum made
# right again where the case wants the reader to get past them (so the check under test is the
# one that refuses it, not a CRC). Debian's python3 (for python3-libfdt), not a pyenv one.
#   snapshot_edit.py sections FILE
#   snapshot_edit.py corrupt FILE OUT CASE      (cases: snapshot_edit.py cases)
#   snapshot_edit.py check-disk IMAGE           the state scenario's sectors follow their rule
import struct
import sys

import libfdt

HDR = 16
SEC = 24
T_CONFIG, T_STATE, T_RAM, T_END = 1, 2, 3, 0x454E44
MASK = (1 << 64) - 1


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


TABLE = _table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Snap:
    def __init__(self, data):
        self.head = data[:HDR]
        self.secs = []  # [type, flags, payload]
        self.crcs = {}  # id of an unchanged payload's bytes -> its CRC (RAM is big, Python slow)
        off = HDR
        while off < len(data):
            t, fl, n, crc, _hcrc = struct.unpack_from("<IIQII", data, off)
            p = bytearray(data[off + SEC:off + SEC + n])
            self.secs.append([t, fl, p])
            self.crcs[bytes(p[:64]) + bytes(p[-64:]) + struct.pack("<Q", n)] = (bytes(p), crc)
            off += SEC + n

    def crc(self, p):
        key = bytes(p[:64]) + bytes(p[-64:]) + struct.pack("<Q", len(p))
        known = self.crcs.get(key)
        return known[1] if known and known[0] == p else crc32c(p)

    def section(self, t, nth=0):
        return [s for s in self.secs if s[0] == t][nth]

    def encode(self):
        out = bytearray(self.head)
        for t, fl, p in self.secs:
            h = struct.pack("<IIQI", t, fl, len(p), self.crc(p))
            out += h + struct.pack("<I", crc32c(h)) + p
        return out


def edit_fdt(snap, t, fn):
    """Applies fn(fdt) to the FDT payload of section t and re-encodes it with room to grow."""
    sec = snap.section(t)
    fdt = libfdt.Fdt(bytes(sec[2]) + bytes(4096))
    fdt.resize(len(sec[2]) + 4096)
    fn(fdt)
    fdt.pack()
    sec[2] = bytearray(fdt.as_bytearray())


def set_prop(path, name, value):
    return lambda f: f.setprop(f.path_offset(path), name, value)


def first_virtio_queue(snap):
    fdt = libfdt.Fdt(bytes(snap.section(T_STATE)[2]))
    devs = fdt.path_offset("/devices")
    node = fdt.first_subnode(devs)
    while True:
        name = fdt.get_name(node)
        if name.startswith("virtio@"):
            return "/devices/%s/q0" % name
        node = fdt.next_subnode(node)


def truncate_in(snap, data, t, keep=5):
    off = HDR
    for st, _fl, p in snap.secs:
        if st == t:
            return data[:off + SEC + keep]
        off += SEC + len(p)
    raise SystemExit("no such section")


# name -> (function(snap, data) -> bytes, the message the restore must give)
def cases():
    def flip_payload(t):
        # One bit in the middle of the payload, headers and CRCs as they were.
        def f(s, d):
            off = HDR
            for st, _fl, p in s.secs:
                if st == t:
                    at = off + SEC + len(p) // 2
                    return d[:at] + bytes([d[at] ^ 0x10]) + d[at + 1:]
                off += SEC + len(p)
        return f

    def reenc(fn):
        def f(s, d):
            fn(s)
            return s.encode()
        return f

    return {
        "truncated-header": (lambda s, d: d[:10], "truncated in the header"),
        "truncated-config": (lambda s, d: truncate_in(s, d, T_CONFIG), "truncated in CONFIG"),
        "truncated-state": (lambda s, d: truncate_in(s, d, T_STATE), "truncated in STATE"),
        "truncated-ram": (lambda s, d: truncate_in(s, d, T_RAM, 4000), "truncated in RAM"),
        "truncated-before-end": (lambda s, d: truncate_in(s, d, T_END, -SEC), "truncated in a section header"),
        "bad-magic": (lambda s, d: b"XVMSTATE" + d[8:], "not a minivmm snapshot"),
        "wrong-version": (lambda s, d: d[:8] + struct.pack("<I", 99) + d[12:], "stream version 99"),
        "flip-config": (flip_payload(T_CONFIG), "CONFIG section at byte"),
        "flip-state": (flip_payload(T_STATE), "STATE section at byte"),
        "flip-ram": (flip_payload(T_RAM), "RAM section at byte"),
        "flip-section-header": (lambda s, d: d[:HDR + 9] + bytes([d[HDR + 9] ^ 1]) + d[HDR + 10:],
                                "corrupt (checksum)"),
        "length-overflow": (reenc_len(T_STATE, 1 << 62), "STATE section of 4611686018427387904 bytes"),
        "unknown-section": (reenc(lambda s: s.secs.insert(2, [77, 0, bytearray(8)])),
                            "unknown section type 0x4d"),
        "config-not-first": (reenc(lambda s: s.secs.insert(0, s.secs.pop(1))),
                             "the first section is not CONFIG"),
        "second-config": (reenc(lambda s: s.secs.insert(2, list(s.secs[0]))), "a second CONFIG section"),
        "end-count-wrong": (reenc(lambda s: s.section(T_END).__setitem__(2, bytearray(struct.pack("<I", 1)))),
                            "END says 1 sections came before it"),
        "data-after-end": (lambda s, d: d + b"junk", "data after the END section"),
        "config-cpus": (reenc(lambda s: edit_fdt(s, T_CONFIG, lambda f: f.setprop_u32(0, "cpus", 3))),
                        "cpus (--cpus): the snapshot has 3"),
        "config-not-fdt": (reenc(lambda s: s.section(T_CONFIG).__setitem__(2, bytearray(b"\0" * 64))),
                           "not a well-formed device tree"),
        "state-not-fdt": (reenc(lambda s: s.section(T_STATE)[2].__setitem__(slice(0, 4), b"\xd0\x0d\xfe\xee")),
                          "not a well-formed device tree"),
        "regs-short": (reenc(lambda s: edit_fdt(s, T_STATE, set_prop("/vcpus/cpu@0", "regs", b"\0" * 10))),
                       "property regs is 10 bytes"),
        "regs-missing": (reenc(lambda s: edit_fdt(s, T_STATE, lambda f: f.delprop(f.path_offset("/vcpus/cpu@0"), "regs"))),
                         "no property regs"),
        "queue-num-wide": (reenc(lambda s: edit_fdt(s, T_STATE, set_prop(first_virtio_queue(s), "num", b"\0" * 8))),
                           "property num is 8 bytes"),
        "queue-outside-ram": (reenc(lambda s: edit_fdt(s, T_STATE, set_prop(first_virtio_queue(s), "desc",
                                                                             struct.pack(">Q", 0xfffff000)))),
                              "ring outside guest RAM"),
        "queue-size-not-pow2": (reenc(lambda s: edit_fdt(s, T_STATE, set_prop(first_virtio_queue(s), "num",
                                                                               struct.pack(">I", 100)))),
                                "queue size not a power of two"),
        "queue-indexes": (reenc(lambda s: edit_fdt(s, T_STATE, set_prop(first_virtio_queue(s), "last-avail",
                                                                         struct.pack(">I", 40000)))),
                          "chains popped but only"),
        "device-missing": (reenc(lambda s: edit_fdt(s, T_STATE, lambda f: f.del_node(f.path_offset(
                            first_virtio_queue(s).rsplit("/", 1)[0])))), "no state for device virtio@"),
        "device-kind": (reenc(lambda s: edit_fdt(s, T_STATE, lambda f: f.setprop_str(f.path_offset(
                         first_virtio_queue(s).rsplit("/", 1)[0]), "kind", "uart"))), "different kind of device"),
        "vcpu-count": (reenc(lambda s: edit_fdt(s, T_STATE, lambda f: f.del_node(f.path_offset("/vcpus/cpu@0")))),
                       "state holds 1 vCPUs, this VM has 2"),
        "ram-outside": (reenc(lambda s: s.section(T_RAM)[2].__setitem__(slice(0, 8), struct.pack("<Q", 1 << 40))),
                        "outside guest RAM"),
        "ram-run-overlong": (reenc(lambda s: s.section(T_RAM)[2].__setitem__(slice(8, 12), struct.pack("<I", 1 << 30))),
                             "does not fit"),
    }


def reenc_len(t, n):
    def f(s, d):
        out = bytearray(s.encode())
        off = HDR
        for st, _fl, p in s.secs:
            if st == t:
                struct.pack_into("<Q", out, off + 8, n)
                struct.pack_into("<I", out, off + 20, crc32c(out[off:off + 20]))
                return bytes(out)
            off += SEC + len(p)
    return f


def pattern(r, cpu, p, k):
    if not r:
        return 0
    x = ((r * 0x9E3779B97F4A7C15) & MASK) ^ (cpu << 56) ^ (p << 32) ^ k
    x &= MASK
    x ^= x >> 29
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    return x ^ (x >> 32)


def check_disk(path):
    written = 0
    with open(path, "rb") as f:
        for s in range(256):
            sec = f.read(512)
            if sec == bytes(512):
                continue
            magic, num, gen = sec[:8], *struct.unpack_from("<QQ", sec, 8)
            words = struct.unpack_from("<61Q", sec, 24)
            if magic != b"MVMSTATE" or num != s or any(w != pattern(gen, 0xD, s, i + 3) for i, w in enumerate(words)):
                print("sector %d breaks the state scenario's rule" % s)
                return 1
            written += 1
    print("disk: %d sectors follow the rule" % written)
    return 0 if written else 1


def main():
    cmd = sys.argv[1]
    if cmd == "cases":
        for name, (_f, want) in cases().items():
            print("%s\t%s" % (name, want))
        return 0
    if cmd == "check-disk":
        return check_disk(sys.argv[2])
    data = open(sys.argv[2], "rb").read()
    snap = Snap(data)
    if cmd == "sections":
        for t, fl, p in snap.secs:
            print(hex(t), len(p))
        return 0
    if cmd == "corrupt":
        fn, _want = cases()[sys.argv[4]]
        open(sys.argv[3], "wb").write(fn(snap, data))
        return 0
    raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())
