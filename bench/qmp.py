#!/usr/bin/python3
# A minimal QMP client for the benchmarks: qmp.py SOCKET wait-file|migrate FILE|wait-running
#   migrate FILE   migrate "exec:cat > FILE", wait until completed, print the seconds it took
#   live URI DOWNTIME_MS [GIVE_UP_S [DEST_QMP]]   live-migrate to URI with that downtime limit
#                  and no bandwidth cap (auto-converge off, QEMU's default); print "total_ms
#                  downtime_ms bytes rounds status own_downtime_ms" from query-migrate, giving
#                  up after GIVE_UP_S (default 300; status "failed" or "timeout": it did not
#                  converge). downtime_ms: with DEST_QMP, the destination's QMP socket, from
#                  the source's STOP event to the destination's RESUME (both stamped with the
#                  host's clock), as minivmm measures its own; else QEMU's figure, which ends
#                  when the source has handed the last bytes to its socket
#   wait-running   wait until the VM runs (after -incoming), print nothing
import json
import socket
import sys
import time


def connect(path):
    for _ in range(600):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("qmp: cannot connect to " + path)


class Qmp:
    def __init__(self, path):
        self.f = connect(path).makefile("rw")
        self.f.readline()  # greeting
        self.events = []
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r or "error" in r:
                return r
            if "event" in r:
                self.events.append(r)

    def event_time(self, name):
        for e in self.events:
            if e["event"] == name:
                return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6
        return None


def main():
    q = Qmp(sys.argv[1])
    if sys.argv[2] == "migrate":
        t0 = time.monotonic()
        q.cmd("migrate", uri="exec:cat > " + sys.argv[3])
        while q.cmd("query-migrate")["return"].get("status") not in ("completed", "failed"):
            time.sleep(0.01)
        print("%.3f" % (time.monotonic() - t0))
    elif sys.argv[2] == "live":
        q.cmd("migrate-set-parameters", **{"downtime-limit": int(sys.argv[4]),
                                           "max-bandwidth": 1 << 40})
        give_up = int(sys.argv[5]) if len(sys.argv) > 5 else 300
        dest = Qmp(sys.argv[6]) if len(sys.argv) > 6 else None
        t0 = time.monotonic()
        q.cmd("migrate", uri=sys.argv[3])
        while True:
            r = q.cmd("query-migrate")["return"]
            if r.get("status") in ("completed", "failed") or time.monotonic() - t0 > give_up:
                break
            time.sleep(0.02)
        st = r.get("status")
        if st not in ("completed", "failed"):
            q.cmd("migrate_cancel")
            st = "timeout"
        ram = r.get("ram", {})
        own = r.get("downtime", "-")
        down = own
        if dest and st == "completed":
            t1 = time.monotonic()
            while dest.event_time("RESUME") is None and time.monotonic() - t1 < 30:
                dest.cmd("query-status")
                time.sleep(0.005)
            stop, resume = q.event_time("STOP"), dest.event_time("RESUME")
            down = "%.1f" % ((resume - stop) * 1e3) if stop and resume else "-"
        print("%d %s %d %d %s %s" % (r.get("total-time", (time.monotonic() - t0) * 1000),
                                     down, ram.get("transferred", 0),
                                     ram.get("dirty-sync-count", 0), st, own))
    elif sys.argv[2] == "wait-running":
        while q.cmd("query-status")["return"].get("status") != "running":
            time.sleep(0.005)
    q.cmd("quit") if sys.argv[2] in ("migrate", "live") else None


if __name__ == "__main__":
    main()
