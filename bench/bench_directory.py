#!/usr/bin/python3
"""The directory benchmark (bench/README.md): bench_directory.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, then `ldap-local run`, attached, as the
watcher runs the service "ldap"), creates a user with commadmin, and times
the directory module of libms through the e2e tests' driver
(BUILDDIR/tests/unit/test_directory --driver, its "bench N KIND ARG"
command: N calls in a row in one process, one connection).

Figures, one per line (the best of ROUNDS rounds, default 3):
  lookups/s, cold cache       user by login name, cache off (--ttl 0): a
                              search on the server each time
  lookups/s, warm cache       the same with the default cache (after the
                              first call every answer is from the cache)
  address lookups/s, cold     user by mail address (alternate address), cache off
  address lookups/s, warm     the same, alias cache on
  authentications/s (binds)   bind as the user's DN each time (cache off)
  authentications/s, cached   service.authcachettl on: one bind, then the cache
The issue gives no figure to reach; the cold/warm ratio shows what the
cache saves.  slapd and ldap-local are stopped by PID at the end.
"""
import os
import pathlib
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
ROUNDS = int(os.environ.get("MS_BENCH_ROUNDS", "3"))
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
DRIVER = BUILD / "tests" / "unit" / "test_directory"


def run(env, prog, *args):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        timeout=60)
    if cp.returncode != 0:
        sys.exit(f"bench_directory: {prog.name} {' '.join(args)} exited {cp.returncode}\n"
                 f"{cp.stdout}{cp.stderr}")
    return cp


def read_line(proc, timeout, what):
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit(f"bench_directory: timed out waiting for {what}")
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit(f"bench_directory: end of output waiting for {what}")
        buf += chunk
    return buf.decode().split("\n", 1)[0]


class Driver:
    def __init__(self, env, *opts):
        self.p = subprocess.Popen([str(DRIVER), "--driver", *opts], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=1)
        first = self.p.stdout.readline().strip()
        if first != "READY":
            sys.exit(f"bench_directory: driver said {first!r}")

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def bench(self, n, what):
        ans = self.cmd(f"bench {n} {what}")
        f = dict(t.split("=", 1) for t in ans.split()[1:] if "=" in t)
        if not ans.startswith("OK") or f.get("ok") != f.get("count"):
            sys.exit(f"bench_directory: bench {what}: {ans}")
        return float(f["persecond"])

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def main():
    for p in (INIT_CONFIG, LDAP_LOCAL, COMMADMIN, DRIVER):
        if not p.exists():
            sys.exit(f"bench_directory: {p} is not built")
    if not pathlib.Path("/usr/sbin/slapd").exists():
        print("bench_directory: /usr/sbin/slapd is not installed; nothing measured")
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-directory-"))
    root = tmp / "instance"
    offset = random.randint(10000, 15000)
    env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"), SERVERROOT=str(root))
    server = None
    pidfile = root / "data" / "run" / "ldap.pid"
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com",
            "--ldap-bind-password", "Bench-Dir-Secret-1", "--port-offset", str(offset),
            "--local-directory")
        server = subprocess.Popen([str(LDAP_LOCAL), "run"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        line = read_line(server, 30, "ldap-local's readiness line")
        if not line.startswith("ldap-local: ready on"):
            sys.exit(f"bench_directory: ldap-local said {line!r}")
        run(env, COMMADMIN, "user", "create", "-l", "joe", "-d", "example.com", "-W",
            "Joe-Pass-1", "-H", "store1.example.com",
            "-A", "+mailAlternateAddress:js@example.com")

        cold = Driver(env, "--ttl", "0", "--alias-ttl", "0", "--negative-ttl", "0")
        warm = Driver(env)
        cases = [
            ("lookups/s, cold cache", cold, 500, "login joe"),
            ("lookups/s, warm cache", warm, 50000, "login joe"),
            ("address lookups/s, cold", cold, 500, "address js@example.com"),
            ("address lookups/s, warm", warm, 50000, "address js@example.com"),
            ("authentications/s (binds)", cold, 300, "auth joe Joe-Pass-1"),
            ("authentications/s, cached", warm, 20000, "auth joe Joe-Pass-1"),
        ]
        best = {}
        for _ in range(ROUNDS):
            for name, d, n, what in cases:
                best[name] = max(best.get(name, 0.0), d.bench(n, what))
        cold.close()
        warm.close()
        for name, _, n, what in cases:
            print(f"{name:28} {best[name]:>10.0f}   (bench {n} {what}; best of {ROUNDS})")
        print(f"{'warm/cold lookup ratio':28} {best['lookups/s, warm cache'] / best['lookups/s, cold cache']:>10.1f}")
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
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
