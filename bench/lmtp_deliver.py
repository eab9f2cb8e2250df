#!/usr/bin/python3
"""The LMTP delivery benchmark: lmtp_deliver.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), USERS users
made with commadmin, and runs the real tcp_lmtp_server (one process, with
--listen, as one process of the dispatcher's LMTP service), awaiting its
readiness line in data/log/tcp_lmtp_server.log.  CLIENTS threads (default
10) each keep one LMTP connection and send, for SECONDS seconds (default
10), one message of SIZE bytes (default 5 KB) after another to their own
user: MAIL FROM, RCPT TO (checked in the directory), DATA, the final 250
(the copy committed and fsynced in the store).

Figures, one per line:
  LMTP messages/s delivered   250s received per second over the run
  LMTP delivery latency       from DATA's final "." to the 250: p50, p99

Environment: MS_BENCH_SECONDS, MS_BENCH_CLIENTS, MS_BENCH_SIZE,
MS_BENCH_KEEP=1 (keep the instance).  Exits 1 when something did not work;
everything it started is stopped by PID.  Put TMPDIR on the kind of disk
the store uses: every delivery fsyncs.
"""
import os
import socket
import time

from benchlib import COMMADMIN, INIT_CONFIG, LDAP_LOCAL, LMTP
from benchlib import Instance, die, percentile, ready_to_run, threads

SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "10"))
CLIENTS = int(os.environ.get("MS_BENCH_CLIENTS", "10"))
SIZE = int(os.environ.get("MS_BENCH_SIZE", "5120"))
USERS = CLIENTS
PASSWORD = "Bench-Lmtp-1"


def message(idx, n):
    head = (f"Message-ID: <{idx}.{n}@bench.test>\r\nSubject: bench {idx} {n}\r\n"
            f"From: Ann <ann@example.com>\r\nTo: user{idx}@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\n").encode()
    line = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n"
    body = line * ((SIZE - len(head)) // len(line) + 1)
    return head + body[:SIZE - len(head) - 2] + b"\r\n.\r\n"


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.sock.makefile("rb")
        self.expect("220")

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise RuntimeError("connection closed")
        return ln.decode()

    def expect(self, code):
        while True:
            ln = self.line()
            if not ln.startswith(code):
                raise RuntimeError(f"wanted {code}, got {ln!r}")
            if ln[3] != "-":
                return ln

    def cmd(self, text, code):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.expect(code)


def client(port, idx, start_at, stop_at, counts, lat, errors):
    try:
        c = Conn(port)
        c.cmd("LHLO bench.example.com", "250")
        n = 0
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at:
            c.cmd("MAIL FROM:<ann@example.com>", "250")
            c.cmd(f"RCPT TO:<user{idx}@example.com>", "250")
            c.cmd("DATA", "354")
            t0 = time.monotonic()
            c.sock.sendall(message(idx, n))
            c.expect("250")
            lat.append(time.monotonic() - t0)
            n += 1
        counts[idx] = n
        c.cmd("QUIT", "221")
    except Exception as e:  # reported by main
        errors.append(f"client {idx}: {e!r}")


def measure(port):
    counts, lat, errors = {}, [], []
    start_at = time.time() + 0.5
    stop_at = start_at + SECONDS
    threads(client, [(port, i, start_at, stop_at, counts, lat, errors) for i in range(CLIENTS)])
    if errors:
        die("\n".join(errors[:5]))
    lat.sort()
    return sum(counts.values()), lat


def main():
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, LMTP):
        return
    with Instance("bench-lmtp-", "Bench-Lmtp-Secret-1") as inst:
        port = 225 + inst.offset
        inst.create()
        inst.users(USERS, PASSWORD)
        inst.start(LMTP, "--listen", f"127.0.0.1:{port}", log="tcp_lmtp_server.log",
                   ready=" ready on port ")
        n, lat = measure(port)
        if not lat:
            die("nothing was delivered")
        print(f"LMTP messages/s delivered, {CLIENTS} clients, {SIZE // 1024} KB: "
              f"{n / SECONDS:.0f} ({n} messages in {SECONDS:.0f} s, one server process, "
              "each copy fsynced before its 250)")
        p50 = percentile(lat, 50) * 1000
        p99 = percentile(lat, 99) * 1000
        print(f"LMTP delivery latency (final '.' to 250): p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
