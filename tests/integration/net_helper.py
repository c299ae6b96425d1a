#!/usr/bin/env python3
"""Host side of the virtio-net tests (run inside the test's network namespace).

  net_helper.py udp IP PORT COUNT [FLOWS] COUNT datagrams of random sizes (1-1472 bytes), each
                                         echoed back intact; prints lost/corrupt counts
  net_helper.py quit IP PORT             the datagram that ends the guest's net-echo
  net_helper.py tapfd NAME -- CMD...     opens tap NAME (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) the way
                                         a privileged helper would and runs CMD with it as fd 3
  net_helper.py flood NAME STOPFILE      sends 1514-byte broadcast frames out of NAME as fast as
                                         it can until STOPFILE exists; prints how many
"""
import fcntl
import os
import random
import socket
import struct
import sys
import time


def udp(ip, port, count, flows=1):
    r = random.Random(int(time.time()))
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(flows)]
    for s in socks:
        s.settimeout(2)
    lost = corrupt = 0
    t0 = time.time()
    for i in range(count):
        s = socks[i % flows]  # several source ports: flows the tap spreads over its queues
        n = r.randrange(1, 1473)
        data = (i.to_bytes(4, "big") + r.randbytes(n - 4)) if n >= 4 else r.randbytes(n)
        s.sendto(data, (ip, port))
        # Wait up to 5 s for this datagram's echo; a late echo of an earlier one (given up on
        # and counted lost) is skipped, so a slow host does not turn into "corruption".
        deadline = time.time() + 5
        while True:
            left = deadline - time.time()
            if left <= 0:
                lost += 1
                break
            s.settimeout(left)
            try:
                got, _ = s.recvfrom(2048)
            except socket.timeout:
                lost += 1
                break
            if got == data:
                break
            if len(got) >= 4 and len(data) >= 4 and got[:4] == data[:4]:
                corrupt += 1
                break
    print(f"    note: {count} UDP datagrams (1-1472 bytes): {lost} lost, {corrupt} corrupt, "
          f"{time.time() - t0:.1f} s")
    return 1 if lost or corrupt else 0


def quit_guest(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"quit", (ip, port))
    try:
        s.recvfrom(100)
        return 0
    except socket.timeout:
        return 1


def tapfd(name, cmd):
    TUNSETIFF = 0x400454CA
    IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    os.dup2(fd, 3)
    os.set_inheritable(3, True)
    os.execvp(cmd[0], cmd)


def flood(name, stopfile):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((name, 0))
    s.setblocking(False)
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(1500)
    sent = dropped = 0
    while not os.path.exists(stopfile):
        for _ in range(256):
            try:
                s.send(frame)
                sent += 1
            except (BlockingIOError, OSError):
                dropped += 1
    print(f"flood: {sent} frames sent, {dropped} refused")


if __name__ == "__main__":
    a = sys.argv
    if a[1] == "udp":
        sys.exit(udp(a[2], int(a[3]), int(a[4]), int(a[5]) if len(a) > 5 else 1))
    if a[1] == "quit":
        sys.exit(quit_guest(a[2], int(a[3])))
    if a[1] == "tapfd":
        tapfd(a[2], a[4:])
    if a[1] == "flood":
        sys.exit(flood(a[2], a[3]))
    sys.exit(2)
