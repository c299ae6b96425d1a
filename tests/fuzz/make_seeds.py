#!/usr/bin/env python3
"""Writes the seed corpora of the device-level fuzzers (tests/fuzz/fuzz_vdev.h) into
tests/fuzz/corpus/<target>/: a few well-behaved driver programs per device (bring-up,
requests, frames, input), nothing hostile: the fuzzer has to find the attacks itself."""
import os
import struct
import sys

ALL = b'\xff' * 7 + b'\x7f'            # every offered feature (ANDed by the harness)
DESC, PUBLISH, KICK, RUN, RESET, REG, MEM, AVAIL_IDX, REPEAT, CHAIN, STATUS = range(11)


def u16(v):
    return struct.pack('<H', v)


def blk(qbytes, ops, dev=0, feat=ALL):
    """An input: features, the configuration byte, one size byte per queue, operations."""
    return feat + bytes([dev]) + bytes(qbytes) + b''.join(ops)


REQ = 11


def req(q, head, typ, sector, length):
    return bytes([REQ, q, head, typ]) + u16(sector) + u16(length)


IN, OUT, FLUSH, GETID, DISCARD, WZ, BAD = 0, 1, 2, 3, 4, 5, 6
blk_seeds = {
    'rw': blk([4, 4], [req(0, 0, 0x80 | OUT, 0, 4096), bytes([KICK, 0, RUN]),
                    req(0, 3, 0x80 | IN, 0, 4096), bytes([KICK, 0, RUN]),
                    req(0, 6, FLUSH, 0, 0), bytes([KICK, 0, RUN])]),
    'id-discard': blk([3, 3], [req(0, 0, GETID, 0, 20), req(0, 2, DISCARD, 8, 1024),
                            req(0, 4, WZ | 0x40, 16, 512), bytes([KICK, 0, RUN])]),
    'two-queues-reset': blk([5, 5], [req(1, 0, 0x80 | IN, 100, 8192), bytes([KICK, 1]),
                                     bytes([RESET]), req(0, 0, 0x80 | OUT, 7, 512),
                                     bytes([KICK, 0, RUN])], dev=1),
    'chain-repeat': blk([6, 6], [bytes([REPEAT, 2]) + u16(3), req(0, 0, 0x80 | IN, 1, 512),
                              bytes([KICK, 0, RUN]),
                              bytes([CHAIN, 0, 9, 2]) + u16(16) + b'\x00' + u16(1) + b'\x01',
                              bytes([KICK, 0, RUN])]),
}

RXBUF, TXFRAME, FRAME, CTRL, DRAIN, REFILL = range(11, 17)
net_seeds = {
    'rx-tx': blk([4, 4, 4, 4, 2], [bytes([RXBUF, 0, 0]) + u16(2048), bytes([RXBUF, 0, 1]) + u16(2048),
                          bytes([KICK, 0]), bytes([FRAME, 0]) + u16(1500) + b'\x00',
                          bytes([TXFRAME, 0, 0]) + u16(72), bytes([KICK, 1, DRAIN])]),
    'mrg-small': blk([5, 4, 4, 4, 2], [bytes([RXBUF, 0, h]) + u16(256) for h in range(8)] +
                     [bytes([KICK, 0]), bytes([FRAME, 0]) + u16(1400) + b'\x02', bytes([RUN])]),
    'mq-ctrl': blk([4, 4, 4, 4, 2], [bytes([CTRL, 0, 4, 0, 2, 0, KICK, 4]),
                                     bytes([RXBUF, 1, 0]) + u16(2048), bytes([KICK, 2]),
                                     bytes([FRAME, 1]) + u16(600) + b'\x04', bytes([RUN])],
                   ),
    # Linux's way: fill the ring, take frames, refill what came back (one kick per refill).
    'mrg-refill': blk([8, 4, 4, 4, 2], [bytes([REFILL, 0]) + u16(255) + u16(1536) + b'\x00',
                                        bytes([FRAME, 0]) + u16(1500) + b'\x00', bytes([RUN]),
                                        bytes([REFILL, 0]) + u16(0) + u16(1536) + b'\x00',
                                        bytes([FRAME, 0]) + u16(60) + b'\x06', bytes([DRAIN])]),
    # iPXE's way: post buffers one at a time with a kick after each, and after every frame
    # received put one buffer back.
    'refill-each': blk([4, 4, 4, 4, 2], [bytes([REFILL, 0]) + u16(15) + u16(1536) + b'\x01',
                                         bytes([REPEAT, 1]) + u16(20),
                                         bytes([FRAME, 0]) + u16(1500) + b'\x00',
                                         bytes([REFILL, 0]) + u16(0) + u16(1536) + b'\x01']),
}

INPUT, TXBUF, RXBUF_C = range(11, 14)
console_seeds = {
    'tx-rx': blk([3, 3], [bytes([TXBUF, 0]) + u16(10), bytes([KICK, 1]),
                          bytes([RXBUF_C, 0]) + u16(64) + b'\x00', bytes([KICK, 0]),
                          bytes([INPUT, 5]) + b'hello']),
    'many': blk([8, 8], [bytes([TXBUF, h]) + u16(100) for h in range(20)] + [bytes([KICK, 1])] +
                [bytes([RXBUF_C, h]) + u16(8) + b'\x00' for h in range(4)] +
                [bytes([KICK, 0]), bytes([INPUT, 20]) + b'x' * 20]),
}

targets = {
    'fuzz_blk_raw_sync': blk_seeds, 'fuzz_blk_raw_uring': blk_seeds,
    'fuzz_blk_qcow2_sync': blk_seeds, 'fuzz_blk_qcow2_uring': blk_seeds,
    'fuzz_virtio_net': net_seeds, 'fuzz_virtio_console': console_seeds,
}
root = os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), 'corpus')
for target, seeds in targets.items():
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(data)

# Dictionaries: the harness's vocabulary (one operation with typical arguments per entry), so
# that mutations insert whole operations; no sequence of them, no attack.


def esc(b):
    return ''.join('\\x%02x' % c for c in b)


generic = [bytes([KICK, q]) for q in range(5)] + [bytes([RUN]), bytes([RESET])] + \
    [bytes([PUBLISH, q, h]) for q in range(2) for h in (0, 1)] + \
    [bytes([REPEAT, k]) + u16(n) for k in (0, 1, 2) for n in (15, 255, 1000)] + \
    [bytes([STATUS, v]) for v in (0, 0x0f, 0x4f)] + \
    [bytes([DESC, 0, 0]) + u16(0x40) + u16(n) + bytes([fl, 1]) for n in (1, 16, 512) for fl in (1, 2, 3, 4)] + \
    [bytes([AVAIL_IDX, 0]) + u16(v) for v in (0, 1, 0x100, 0xffff)] + \
    [bytes([REG, 0x70 // 4]) + struct.pack('<I', v) for v in (0, 0x0f)] + \
    [bytes([REG, 0x38 // 4]) + struct.pack('<I', v) for v in (1, 256)] + \
    [bytes([0]), bytes([9]), b'\xff' * 7 + b'\x7f']          # queue sizes 1 and 2, all features
dicts = {
    'blk': generic + [req(q, 0, t, s, n) for q in (0, 1) for t in (0x80 | IN, 0x80 | OUT, FLUSH, GETID, DISCARD, WZ, BAD)
                      for s, n in ((0, 512), (2047, 4096))],
    'net': generic + [bytes([RXBUF, p, 0]) + u16(n) for p in (0, 1) for n in (1, 12, 2048)] +
    [bytes([TXFRAME, p, 0]) + u16(n) for p in (0, 1) for n in (6, 72, 9000)] +
    [bytes([FRAME, p]) + u16(n) + bytes([e]) for p in (0, 1) for n in (60, 1500, 65535) for e in (0, 1)] +
    [bytes([CTRL, 0, 4, 0, n, 0]) for n in (1, 2, 3)] + [bytes([DRAIN])] +
    [bytes([REFILL, p]) + u16(n) + u16(ln) + bytes([k]) for p in (0, 1) for n in (0, 255, 1023)
     for ln in (12, 1536) for k in (0, 1)],
    'console': generic + [bytes([INPUT, 5]) + b'hello', bytes([TXBUF, 0]) + u16(100),
                          bytes([RXBUF_C, 0]) + u16(64) + b'\x00', bytes([RXBUF_C, 0]) + u16(64) + b'\x80'],
}
for target in targets:
    kind = 'blk' if 'blk' in target else 'net' if 'net' in target else 'console'
    with open(os.path.join(os.path.dirname(root), target + '.dict'), 'w') as f:
        for i, tok in enumerate(dicts[kind]):
            f.write('op%d="%s"\n' % (i, esc(tok)))
