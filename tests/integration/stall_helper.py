#!/usr/bin/env python3
"""Runs a command with its stdout on a pipe that nobody reads (a stalled reader).

Usage: stall_helper.py OUT_FILE TIMEOUT_S -- CMD ARGS...

The pipe is shrunk to one page (4 KiB), so a few kilobytes of output fill it. While CMD runs,
its resident memory is sampled every 20 ms. When it exits (or is killed at TIMEOUT_S), what sat
in the pipe is read into OUT_FILE and one line is printed:
    status=N peak_rss_kib=N vm_hwm_kib=N vmm_rss_kib=N stalled_bytes=N seconds=F
VmHWM is the kernel's own high-water mark, read in the last sample before exit. vmm_rss_kib is
the peak of what is resident outside the guest's RAM (mappings of 128 MiB or more): the guest's
pages come and go with what it touches, transparent huge pages and KSM, by megabytes from one
run to the next, while the VMM's own memory is what a hostile guest must not grow.
"""
import fcntl
import os
import subprocess
import sys
import time

F_SETPIPE_SZ = 1031


def rss_kib(pid):
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


GUEST_RAM_MIN_KIB = 128 * 1024


def own_rss_kib(pid):
    """Resident kilobytes outside mappings of GUEST_RAM_MIN_KIB or more (the guest's RAM); 0
    before the guest's RAM is mapped: until then the process may not be the VMM yet (make test
    once counted 13 MiB "own" memory, all of it in small mappings, more than the VmHWM of the
    same run: most likely this Python process, forked and not yet exec'd)."""
    total = 0
    size = 0
    guest = False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if line.startswith("Size:"):
                    size = int(line.split()[1])
                    guest = guest or size >= GUEST_RAM_MIN_KIB
                elif line.startswith("Rss:") and size < GUEST_RAM_MIN_KIB:
                    total += int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return total if guest else 0


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    out_file, timeout = sys.argv[1], float(sys.argv[2])
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    t0 = time.monotonic()
    proc = subprocess.Popen(sys.argv[4:], stdout=w, stdin=subprocess.DEVNULL)
    os.close(w)
    peak = hwm = own = 0
    status = None
    exe = os.path.realpath(sys.argv[4]) if os.sep in sys.argv[4] else None
    while status is None:
        try:
            ours = exe is None or os.path.realpath(f"/proc/{proc.pid}/exe") == exe
        except OSError:
            ours = False
        if ours:
            rss, h = rss_kib(proc.pid)
            peak, hwm, own = max(peak, rss), max(hwm, h), max(own, own_rss_kib(proc.pid))
        if time.monotonic() - t0 > timeout:
            proc.kill()
        try:
            status = proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    seconds = time.monotonic() - t0
    os.set_blocking(r, False)
    data = b""
    while True:
        try:
            chunk = os.read(r, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    with open(out_file, "wb") as f:
        f.write(data)
    print(f"status={status} peak_rss_kib={peak} vm_hwm_kib={hwm} vmm_rss_kib={own} "
          f"stalled_bytes={len(data)} seconds={seconds:.1f}")


if __name__ == "__main__":
    main()
