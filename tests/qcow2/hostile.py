#!/usr/bin/env python3
"""Hostile qcow2 images: each case breaks one header field or table entry of a valid image made
by qemu-img; minivmm must refuse it with an error that names the field (exit status 1) and
never crash (the qcow2io driver is an ASan/UBSan build).

usage: hostile.py MINIVMM QCOW2IO WORKDIR
"""
import os
import struct
import subprocess
import sys

VMM, QIO, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
BASE = os.path.join(WORK, "base.qcow2")
CS = 65536

subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", BASE, "16M"], check=True)
subprocess.run(["qemu-io", "-c", "write -P 0x33 0 128k", "-c", "write -P 0x44 9M 64k", BASE],
               check=True, stdout=subprocess.DEVNULL)
base = bytearray(open(BASE, "rb").read())


def u32(b, off):
    return struct.unpack(">I", b[off:off + 4])[0]


def u64(b, off):
    return struct.unpack(">Q", b[off:off + 8])[0]


L1 = u64(base, 40)
RT = u64(base, 48)
RB = u64(base, RT)
L2 = u64(base, L1) & 0x00fffffffffffe00
DATA0 = u64(base, L2) & 0x00fffffffffffe00


def put(b, off, fmt, val):
    struct.pack_into(fmt, b, off, val)


def ext_image(exts, backing=None):
    """The base image with header extensions @exts [(type, data)] and optionally a backing name."""
    b = bytearray(base)
    pos = u32(base, 100)  # header_length
    b[pos:4096] = bytes(4096 - pos)
    for typ, data in exts:
        struct.pack_into(">II", b, pos, typ, len(data))
        b[pos + 8:pos + 8 + len(data)] = data
        pos += 8 + (len(data) + 7) // 8 * 8
    pos += 8
    if backing is not None:
        name = backing.encode()
        b[pos:pos + len(name)] = name
        put(b, 8, ">Q", pos)
        put(b, 16, ">I", len(name))
    return b


def case(name, edits):
    b = bytearray(base)
    for off, fmt, val in edits:
        put(b, off, fmt, val)
    return name, b


# (name, image bytes, tool, expected substring of the error)
CASES = []


def add(name, b, expect, tool="info"):
    CASES.append((name, b, tool, expect))


add("bad magic", case("", [(0, ">I", 0x51464900)])[1], "magic", "dump")
add("version 1", case("", [(4, ">I", 1)])[1], "version")
add("version 4", case("", [(4, ">I", 4)])[1], "version")
add("cluster_bits 8", case("", [(20, ">I", 8)])[1], "cluster_bits")
add("cluster_bits 22", case("", [(20, ">I", 22)])[1], "cluster_bits")
add("cluster_bits 63", case("", [(20, ">I", 63)])[1], "cluster_bits")
add("AES encryption", case("", [(32, ">I", 1)])[1], "crypt_method")
add("LUKS encryption", case("", [(32, ">I", 2)])[1], "crypt_method")
add("unknown incompatible bit", case("", [(72, ">Q", 1 << 5)])[1], "incompatible_features")
add("external data file", case("", [(72, ">Q", 1 << 2)])[1], "external data file")
add("extended L2", case("", [(72, ">Q", 1 << 4)])[1], "extended L2")
add("compression bit, zlib type", case("", [(72, ">Q", 1 << 3)])[1], "compression_type")
add("refcount_order 7", case("", [(96, ">I", 7)])[1], "refcount_order")
add("header_length 100", case("", [(100, ">I", 100)])[1], "header_length")
add("header_length past cluster", case("", [(100, ">I", CS + 8)])[1], "header_length")
add("size too large", case("", [(24, ">Q", 1 << 63)])[1], "size")
add("l1_size too small", case("", [(36, ">I", 0)])[1], "l1_size")
add("l1_size over 32 MiB", case("", [(36, ">I", 1 << 23)])[1], "l1_size")
add("L1 unaligned", case("", [(40, ">Q", L1 + 512)])[1], "l1_table_offset")
add("L1 beyond file", case("", [(40, ">Q", 1 << 40)])[1], "l1_table_offset")
add("L1 in header cluster", case("", [(40, ">Q", 0)])[1], "overlaps")
add("L1 on refcount table", case("", [(40, ">Q", RT)])[1], "overlaps")
add("refcount table unaligned", case("", [(48, ">Q", RT + 8)])[1], "refcount_table_offset")
add("refcount table beyond file", case("", [(48, ">Q", 1 << 40)])[1], "refcount_table_offset")
add("refcount table of 0 clusters", case("", [(56, ">I", 0)])[1], "refcount_table_clusters")
add("refcount table over 8 MiB", case("", [(56, ">I", 1 << 20)])[1], "refcount_table_clusters")
add("snapshot table beyond file", case("", [(60, ">I", 1), (64, ">Q", 1 << 40)])[1], "snapshots_offset")
add("backing_file_size 2000", case("", [(8, ">Q", 200), (16, ">I", 2000)])[1], "backing_file_size")
add("backing name outside header cluster", case("", [(8, ">Q", CS - 4), (16, ">I", 100)])[1],
    "backing_file_offset")
add("L1 entry beyond file", case("", [(L1, ">Q", (1 << 40) | (1 << 63))])[1], "L1 entry")
add("L1 entry unaligned", case("", [(L1, ">Q", (L2 + 512) | (1 << 63))])[1], "L1 entry")
add("L1 entry on refcount table", case("", [(L1, ">Q", RT | (1 << 63))])[1], "L1 entry")
add("L1 entry reserved bits", case("", [(L1, ">Q", L2 | 1)])[1], "L1 entry")
add("refcount block beyond file", case("", [(RT, ">Q", 1 << 40)])[1], "refcount table entry")
add("refcount block on header", case("", [(RT, ">Q", 0x200)])[1], "refcount table entry")
add("refcount block on L1", case("", [(RT, ">Q", L1)])[1], "refcount table entry")
b = ext_image([])
struct.pack_into(">II", b, u32(base, 100), 0x12345678, 0x7fffffff)
add("extension length overflow", b, "header extension")
add("external data file extension", ext_image([(0x44415441, b"/etc/passwd")]), "external data file")
add("backing format not recorded", ext_image([], backing="/etc/passwd"), "does not record its format")
add("backing format vmdk", ext_image([(0xe2792aca, b"vmdk")], backing="/etc/passwd"), "not supported")
add("backing file is itself", ext_image([(0xe2792aca, b"qcow2")], backing="self.qcow2"), "backing file")
add("dirty bit, opened for writing", case("", [(72, ">Q", 1)])[1], "dirty", "write")
add("truncated header", bytes(base[:60]), "too short")
# Run-time checks: tables that only a read or write of the cluster reaches.
add("L2 entry unaligned", case("", [(L2, ">Q", (DATA0 + 512) | (1 << 63))])[1], "not cluster-aligned", "dump")
add("L2 entry reserved bits", case("", [(L2, ">Q", DATA0 | (1 << 63) | 2)])[1], "reserved bits", "dump")
add("L2 entry COPIED without offset", case("", [(L2, ">Q", 1 << 63)])[1], "COPIED without an offset", "dump")
add("compressed entry with COPIED", case("", [(L2, ">Q", (3 << 62) | 0x20000)])[1], "compressed", "dump")
add("compressed entry garbage", case("", [(L2, ">Q", (1 << 62) | 0x20000)])[1], "compressed", "dump")
add("COPIED data cluster on the L1 table", case("", [(L2, ">Q", L1 | (1 << 63))])[1], "metadata", "write")
add("COPIED data cluster on a refcount block", case("", [(L2, ">Q", RB | (1 << 63))])[1], "metadata", "write")

failed = 0
ran = 0
for name, img, tool, expect in CASES:
    path = os.path.join(WORK, "self.qcow2" if "itself" in name else "h.qcow2")
    open(path, "wb").write(img)
    if tool == "info":
        cmd = [VMM, "img", "info", path]
    elif tool == "dump":
        cmd = [QIO, "dump", path, os.path.join(WORK, "out.raw")]
    else:
        cmd = [QIO, "write", path, "0", "4096"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    ran += 1
    err = r.stderr
    crashed = "Sanitizer" in err or "runtime error" in err or r.returncode < 0 or r.returncode > 1
    if r.returncode != 1 or crashed or expect not in err or len(err.strip().splitlines()) != 1:
        failed += 1
        print(f"    FAIL {name}: status {r.returncode}, stderr: {err.strip()[:300]!r}")
    else:
        print(f"    ok   {name}: {err.strip()}")
print(f"    {ran} hostile images, {failed} not refused cleanly")
sys.exit(1 if failed else 0)
