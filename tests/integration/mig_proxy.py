#!/usr/bin/env python3
"""A man in the middle for migration fault tests: listens on a unix socket, connects to the
destination's, and forwards both ways, with one fault on the source-to-destination stream.

  mig_proxy.py LISTEN TARGET cut N        forward N bytes, then close both connections (the
                                          source's connection cut, the stream truncated)
  mig_proxy.py LISTEN TARGET flip KIND N  flip one bit of the N-th byte (modulo its length) of
                                          the first section of KIND (config, state, ram, disk,
                                          end: its payload; header: a section header; magic:
                                          the stream's own 16-byte header)

It follows the stream's framing (migrate/stream.h: a 16-byte header, then sections of a
24-byte header and a payload) to find the section. Prints 'proxy: ...' lines on stderr: what
it did, so a test can tell a fault that happened from one the migration ended before."""
import os
import socket
import struct
import sys
import threading

KINDS = {"config": 1, "state": 2, "ram": 3, "disk": 4, "end": 0x454E44}


def log(msg):
    sys.stderr.write("proxy: %s\n" % msg)
    sys.stderr.flush()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            return buf
        buf += b
    return buf


def back(dst, src):
    """Destination to source: the confirmation byte; an end closes the other way too."""
    try:
        while True:
            b = dst.recv(65536)
            if not b:
                break
            src.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward_cut(src, dst, n):
    sent = 0
    while sent < n:
        b = src.recv(min(65536, n - sent))
        if not b:
            log("stream ended after %d bytes, before the cut" % sent)
            return
        dst.sendall(b)
        sent += len(b)
    log("cut after %d bytes" % sent)


def forward_flip(src, dst, kind, nth):
    hdr = recv_exact(src, 16)
    done = False
    if kind == "magic" and len(hdr) == 16:
        hdr = bytearray(hdr)
        hdr[nth % 16] ^= 1 << (nth % 8)
        hdr = bytes(hdr)
        done = True
        log("flipped byte %d of the stream header" % (nth % 16))
    dst.sendall(hdr)
    while True:
        h = recv_exact(src, 24)
        if len(h) < 24:
            dst.sendall(h)
            log("stream ended%s" % ("" if done else " before a %s section" % kind))
            return
        typ, _flags, length = struct.unpack_from("<IIQ", h)
        payload = recv_exact(src, length)
        if not done and kind == "header":
            h = bytearray(h)
            h[nth % 24] ^= 1 << (nth % 8)
            h = bytes(h)
            done = True
            log("flipped byte %d of a section header (type 0x%x)" % (nth % 24, typ))
        elif not done and KINDS.get(kind) == typ and payload:
            p = bytearray(payload)
            p[nth % len(p)] ^= 1 << (nth % 8)
            payload = bytes(p)
            done = True
            log("flipped byte %d of a %s section of %d bytes" % (nth % len(p), kind, len(p)))
        dst.sendall(h + payload)
        if len(payload) < length:
            log("stream ended inside a section")
            return


def main():
    listen, target, mode = sys.argv[1:4]
    try:
        os.unlink(listen)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(listen)
    ls.listen(1)
    print("listening", flush=True)
    src, _ = ls.accept()
    dst = socket.socket(socket.AF_UNIX)
    dst.connect(target)
    t = threading.Thread(target=back, args=(dst, src), daemon=True)
    t.start()
    try:
        if mode == "cut":
            forward_cut(src, dst, int(sys.argv[4]))
        else:
            forward_flip(src, dst, sys.argv[4], int(sys.argv[5]))
            # What follows (a confirmation the other way) passes untouched.
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
    except OSError as e:
        log("connection: %s" % e)
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    t.join(5)


if __name__ == "__main__":
    main()
