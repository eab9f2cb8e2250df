#!/usr/bin/python3
"""The watcher benchmark (bench/README.md): bench_watcher.py BUILDDIR.

Starts its own throwaway instance (init-config --port-offset N in a
temporary directory), supervised by the real watcher through start-msg.
The servers of the store family do not exist yet, so the test-only service
program BUILDDIR/tests/ms_testsvc (tests/svc/ms_testsvc.c) runs under
their names; as mshttpd it listens on http.port and answers "PING" and
"GET OPTION" with the configuration it has in effect (ms_reload on SIGHUP).

Figures, one per line, median and max over RUNS runs (default 10):
  kill -9 -> answering   kill -9 of the http worker until a new worker
                         answers PING on its port (the watcher restarts
                         the whole store family, as the seed says).
                         Goal: under 1 s.
  msconfig set -> in effect
                         `msconfig set base.proxyadmin V` (write, compile,
                         watcher refresh, SIGHUP) until the worker answers
                         GET base.proxyadmin with V on a connection opened
                         before.  Goal: under 500 ms.

base.autorestart.timeout is at least 60 s, and a second crash inside it
is given up (docs/watcher.md), so after each measured restart the worker
is killed once more (given up) and started again with start-msg http.
Everything started is stopped with stop-msg, then by PID.
"""
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import BUILD, INIT_CONFIG, MSCONFIG, alive

RUNS = int(os.environ.get("MS_BENCH_RUNS", "10"))
WATCHER = BUILD / "workers" / "watcher"
TESTSVC = BUILD / "tests" / "ms_testsvc"


def run(env, prog, *args, check=True):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        timeout=60)
    if check and cp.returncode != 0:
        sys.exit(f"bench_watcher: {prog} {' '.join(args)} exited {cp.returncode}\n"
                 f"{cp.stdout}{cp.stderr}")
    return cp


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.002)


def ping(port):
    """The pid of the worker answering PING on port, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\n")
            ans = s.makefile("rb").readline().decode()
    except OSError:
        return None
    m = re.match(r"PONG pid=(\d+) ", ans)
    return int(m.group(1)) if m else None


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def get(self, name):
        self.sock.sendall(f"GET {name}\n".encode())
        m = re.match(rf"VALUE {re.escape(name)}=(\S*) ", self.f.readline().decode())
        return m.group(1) if m else None


def pids_of(root):
    want = f"SERVERROOT={root}".encode()
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if want in f.read().split(b"\0") and alive(int(d)):
                        out.append(int(d))
            except OSError:
                pass
    return out


def fmt(name, values, goal):
    ms = [v * 1000 for v in values]
    ok = "met" if max(ms) < goal else "NOT met"
    print(f"{name:28} median {statistics.median(ms):7.1f} ms   max {max(ms):7.1f} ms   "
          f"({len(ms)} runs; goal under {goal} ms: {ok})")


def main():
    for p in (MSCONFIG, INIT_CONFIG, TESTSVC, WATCHER / "start-msg"):
        if not p.exists():
            sys.exit(f"bench_watcher: {p} is not built")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-watcher-"))
    root = tmp / "instance"
    stubs = tmp / "progs"
    stubs.mkdir()
    for name in ("stored", "impurge", "imapd", "popd", "mshttpd"):
        (stubs / name).symlink_to(TESTSVC)
    offset = random.randint(10000, 15000)
    env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"), SERVERROOT=str(root),
               MS_PROGPATH=f"{stubs}:{WATCHER}:{BUILD / 'msconfig'}")
    env.pop("MS_TESTSVC_PORT_OPTION", None)
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com", "--ldap-url",
            f"ldap://127.0.0.1:{389 + offset}", "--ldap-bind-dn", "cn=Directory Manager",
            "--ldap-bind-password", "bench-Bind-Secret-1", "--port-offset", str(offset))
        subprocess.run([str(MSCONFIG)], env=env, capture_output=True, text=True, check=True,
                       input="set ens.enable 0\nset mta.enable 0\nset schedule.enable 0\n"
                             "set store.purge.enable 0\nwrite -m bench\n")
        run(env, WATCHER / "start-msg", check=False)
        port = 8990 + offset
        pidfile = root / "data" / "run" / "http.pid"
        wait(lambda: ping(port), 10, "the http worker")

        restart = []
        for i in range(RUNS):
            old = ping(port)
            t0 = time.monotonic()
            os.kill(old, signal.SIGKILL)
            wait(lambda: (lambda p: p and p != old)(ping(port)), 10, "a new http worker")
            restart.append(time.monotonic() - t0)
            # The give-up rule: crash it once more (given up), start it again.
            new = ping(port)
            os.kill(new, signal.SIGKILL)
            wait(lambda: not pidfile.exists() and ping(port) is None, 10, "the give-up")
            run(env, WATCHER / "start-msg", "http", check=False)
            wait(lambda: ping(port), 10, "http started again")

        refresh = []
        c = Client(port)
        for i in range(RUNS):
            value = f"admin-{i}-{random.randint(0, 1 << 30)}"
            t0 = time.monotonic()
            run(env, MSCONFIG, "set", "base.proxyadmin", value)
            wait(lambda: c.get("base.proxyadmin") == value, 5, "the new value in effect")
            refresh.append(time.monotonic() - t0)
        c.sock.close()

        fmt("kill -9 -> answering", restart, 1000)
        fmt("msconfig set -> in effect", refresh, 500)
    finally:
        run(env, WATCHER / "stop-msg", check=False)
        for pid in pids_of(root):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if os.environ.get("MS_BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
