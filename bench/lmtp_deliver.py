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
import pathlib
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "10"))
CLIENTS = int(os.environ.get("MS_BENCH_CLIENTS", "10"))
SIZE = int(os.environ.get("MS_BENCH_SIZE", "5120"))
USERS = CLIENTS
PASSWORD = "Bench-Lmtp-1"
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
LMTP = BUILD / "workers" / "mta" / "tcp_lmtp_server"


def run(env, prog, *args):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        timeout=120)
    if cp.returncode != 0:
        sys.exit(f"lmtp_deliver: {prog.name} {' '.join(args)} exited {cp.returncode}\n"
                 f"{cp.stdout}{cp.stderr}")
    return cp


def read_line(proc, timeout, what):
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit(f"lmtp_deliver: timed out waiting for {what}")
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit(f"lmtp_deliver: end of output waiting for {what}")
        buf += chunk
    return buf.decode().split("\n", 1)[0]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


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
    ts = [threading.Thread(target=client, args=(port, i, start_at, stop_at, counts, lat, errors))
          for i in range(CLIENTS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        sys.exit("lmtp_deliver: " + "\n".join(errors[:5]))
    lat.sort()
    return sum(counts.values()), lat


def main():
    for p in (INIT_CONFIG, LDAP_LOCAL, COMMADMIN, LMTP):
        if not p.exists():
            sys.exit(f"lmtp_deliver: {p} is not built")
    if not pathlib.Path("/usr/sbin/slapd").exists():
        print("lmtp_deliver: /usr/sbin/slapd is not installed; nothing measured")
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-lmtp-"))
    root = tmp / "instance"
    offset = random.randint(10000, 15000)
    port = 225 + offset
    env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"), SERVERROOT=str(root))
    server = lmtp = None
    pidfile = root / "data" / "run" / "ldap.pid"
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com",
            "--ldap-bind-password", "Bench-Lmtp-Secret-1", "--port-offset", str(offset),
            "--local-directory")
        server = subprocess.Popen([str(LDAP_LOCAL), "run"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        line = read_line(server, 30, "ldap-local's readiness line")
        if not line.startswith("ldap-local: ready on"):
            sys.exit(f"lmtp_deliver: ldap-local said {line!r}")
        for i in range(USERS):
            run(env, COMMADMIN, "user", "create", "-l", f"user{i}", "-d", "example.com",
                "-W", PASSWORD, "-F", "User", "-L", str(i))
        log = root / "data" / "log" / "tcp_lmtp_server.log"
        lmtp = subprocess.Popen([str(LMTP), "--listen", f"127.0.0.1:{port}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not (log.exists() and " ready on port " in log.read_text(errors="replace")):
            if lmtp.poll() is not None or time.monotonic() > deadline:
                sys.exit("lmtp_deliver: tcp_lmtp_server did not become ready")
            time.sleep(0.02)
        n, lat = measure(port)
        if not lat:
            sys.exit("lmtp_deliver: nothing was delivered")
        print(f"LMTP messages/s delivered, {CLIENTS} clients, {SIZE // 1024} KB: "
              f"{n / SECONDS:.0f} ({n} messages in {SECONDS:.0f} s, one server process, "
              "each copy fsynced before its 250)")
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        print(f"LMTP delivery latency (final '.' to 250): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    finally:
        for p in (lmtp, server):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        try:
            pid = int(pidfile.read_text().split()[0])
            if alive(pid) and re.search(r"slapd", open(f"/proc/{pid}/comm").read()):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
        if os.environ.get("MS_BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
