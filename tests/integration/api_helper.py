#!/usr/bin/env python3
"""Raw-socket clients for tests/integration/test_api.sh: what `minivmm ctl` never sends.

usage: api_helper.py SOCKET CASE
Each case prints "ok: ..." lines and exits 0, or prints "FAIL: ..." and exits 1. The VM must
still answer a plain status request afterwards (checked by every case)."""
import json
import socket
import sys
import time

SOCK = sys.argv[1]
TIMEOUT = 20


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


class Client:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        # A full listen backlog makes a non-blocking AF_UNIX connect fail with EAGAIN at once
        # (no waiting, unlike TCP): try again, as a client should, until TIMEOUT.
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.s.connect(SOCK)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                fail(f"connection closed, partial: {self.buf[:200]!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            obj = json.loads(line)
        except ValueError:
            fail(f"reply is not JSON: {line[:200]!r}")
        if not isinstance(obj, dict):
            fail(f"reply is not an object: {line[:200]!r}")
        return obj

    def reply(self):
        """The next line that is a reply (events are skipped)."""
        while True:
            obj = self.line()
            if "event" not in obj:
                return obj

    def request(self, obj):
        self.send(json.dumps(obj) + "\n")
        return self.reply()

    def close(self):
        self.s.close()


def expect_error(reply, want, what):
    if reply.get("ok") is not False or want not in reply.get("error", ""):
        fail(f"{what}: wanted an error with '{want}', got {reply}")
    print(f"ok: {what}: {reply['error']}")


def still_alive(state=None):
    c = Client()
    r = c.request({"cmd": "status"})
    c.close()
    if r.get("ok") is not True:
        fail(f"status after the case: {r}")
    if state and r.get("state") != state:
        fail(f"state {r.get('state')}, wanted {state}")
    print(f"ok: the VM still answers, state {r['state']}")


def case_bad_input():
    c = Client()
    bad = [
        (b"this is not json\n", "malformed JSON"),
        (b"{\"cmd\": \"status\"\n", "malformed JSON"),
        (b"[\"status\"]\n", "must be a JSON object"),
        (b"{}\n", "has no \"cmd\""),
        (b"{\"cmd\": 42}\n", "\"cmd\" must be a string"),
        (b"{\"cmd\": \"reboot-the-host\"}\n", "unknown command \"reboot-the-host\""),
        (b"{\"cmd\": \"pause\", \"force\": true}\n", "pause: unknown field \"force\""),
        (b"{\"cmd\": \"shutdown\", \"timeout_s\": \"soon\"}\n", "timeout_s"),
        (b"{\"cmd\": \"shutdown\", \"timeout_s\": 0}\n", "from 1 to 86400"),
        (b"{\"cmd\": \"snapshot\"}\n", "\"path\""),
        (b"{\"cmd\": \"snapshot\", \"path\": \"x\", \"stop\": 1}\n", "\"stop\""),
        (b"{\"cmd\": \"status\", \"cmd\": \"quit\"}\n", "malformed JSON"),
        (b"{\"cmd\": \"st\xff\xfeus\"}\n", "malformed JSON"),
        (b"\x00\x01\x02\x03 binary\n", "malformed JSON"),
        (b"{\"cmd\": \"status\\u0000\"}\n", "malformed JSON"),
        (b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
         "malformed JSON"),
    ]
    for line, want in bad:
        c.send(line)
        expect_error(c.reply(), want, repr(line[:40]))
    # The id comes back, on errors too.
    r = c.request({"cmd": "nope", "id": "req-7"})
    if r.get("id") != "req-7":
        fail(f"id not echoed on an error: {r}")
    r = c.request({"cmd": "status", "id": 99})
    if r.get("id") != 99 or r.get("ok") is not True:
        fail(f"id not echoed: {r}")
    print("ok: ids echoed")
    # A line over 64 KiB: one error, then the connection carries on.
    c.send(b"{\"cmd\": \"status\", \"pad\": \"" + b"x" * 200000 + b"\"}\n")
    expect_error(c.reply(), "longer than 65536 bytes", "a 200 kB line")
    r = c.request({"cmd": "status"})
    if r.get("ok") is not True:
        fail(f"status after the long line: {r}")
    print("ok: the same connection works after the long line")
    # Exactly at the limit is not "too long" (it is still not a valid request).
    c.send(b"{\"cmd\": \"" + b"y" * (65536 - 11) + b"\"}\n")
    expect_error(c.reply(), "unknown command", "a line of exactly 65536 bytes")
    # Several requests in one write, blank lines and CRLF.
    c.send(b"\n\r\n{\"cmd\":\"status\",\"id\":1}\r\n{\"cmd\":\"status\",\"id\":2}\n")
    ids = [c.reply().get("id"), c.reply().get("id")]
    if ids != [1, 2]:
        fail(f"pipelined requests: ids {ids}")
    print("ok: pipelined requests answered in order")
    # A request sent one byte at a time.
    for b in b"{\"cmd\":\"status\",\"id\":3}\n":
        c.send(bytes([b]))
    if c.reply().get("id") != 3:
        fail("byte-at-a-time request")
    print("ok: a request in 1-byte writes")
    c.close()
    # A client that hangs up in the middle of a request (no reply owed), and one that hangs
    # up with an answered request unread.
    for data in (b"{\"cmd\": \"pa", b"{\"cmd\": \"status\"}\n" * 50):
        d = Client()
        d.send(data)
        d.close()
    time.sleep(0.3)
    still_alive()


def case_two_clients():
    a, b = Client(), Client()
    r = a.request({"cmd": "events"})
    if r.get("ok") is not True:
        fail(f"events: {r}")
    # A half-written request from a must not mix with b's.
    a.send(b"{\"cmd\": \"stat")
    r = b.request({"cmd": "pause", "id": "b1"})
    if r.get("ok") is not True or r.get("id") != "b1" or r.get("state") != "paused":
        fail(f"pause from b: {r}")
    ev = a.line()
    if ev.get("event") != "paused":
        fail(f"a's event: {ev}")
    print("ok: a got the paused event b caused")
    a.send(b"us\", \"id\": \"a1\"}\n")
    r = a.reply()
    if r.get("id") != "a1" or r.get("state") != "paused":
        fail(f"a's status: {r}")
    print("ok: a's split request answered, state paused")
    r = b.request({"cmd": "resume"})
    if r.get("ok") is not True or r.get("state") != "running":
        fail(f"resume from b: {r}")
    ev = a.line()
    if ev.get("event") != "resumed":
        fail(f"a's second event: {ev}")
    print("ok: a got the resumed event")
    # b did not ask for events: it gets none.
    b.s.settimeout(0.5)
    try:
        extra = b.s.recv(4096)
        if extra:
            fail(f"b got lines it did not ask for: {extra!r}")
    except socket.timeout:
        pass
    print("ok: b (no events requested) got no events")
    a.close()
    b.close()
    still_alive("running")


def case_many_clients():
    clients = []
    refused = 0
    for _ in range(24):
        clients.append(Client())
    time.sleep(0.5)
    for c in clients:
        # A connection over the limit is told so at once and closed; an accepted one hears
        # nothing until it asks.
        c.s.settimeout(0.2)
        try:
            data = c.s.recv(4096)
        except socket.timeout:
            data = b""
        if b"too many clients" in data:
            refused += 1
    if refused != 8:
        fail(f"{refused} of 24 connections were turned away, wanted 8 (limit 16)")
    print(f"ok: {refused} of 24 connections turned away with 'too many clients'")
    for c in clients:
        c.close()
    time.sleep(0.3)
    still_alive()


def case_flood():
    # Requests, never reading the replies: the VMM must drop this client, not buffer forever
    # or stall.
    c = Client()
    c.s.settimeout(5)
    sent = 0
    try:
        while sent < 64 * 1024 * 1024:
            c.send(b"{\"cmd\":\"status\"}\n" * 4096)
            sent += 17 * 4096
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
    c.close()
    print(f"ok: flooding client stopped after {sent >> 10} KiB (dropped or backpressured)")
    still_alive()


def case_quit_reply():
    c = Client()
    r = c.request({"cmd": "events"})
    r = c.request({"cmd": "quit", "id": "q"})
    if r.get("ok") is not True or r.get("id") != "q":
        fail(f"quit: {r}")
    ev = c.line()
    if ev.get("event") != "stopped" or ev.get("exit_reason") != "quit":
        fail(f"stopped event: {ev}")
    print(f"ok: quit answered, then event {ev}")
    c.close()


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}
if len(sys.argv) != 3 or sys.argv[2].replace("-", "_") not in CASES:
    print(__doc__)
    sys.exit(2)
CASES[sys.argv[2].replace("-", "_")]()
