"""What the Python benchmarks of bench/ share (bench/README.md).

A benchmark runs as `python3 bench/X.py BUILDDIR` (through its wrapper
bench/X or meson's benchmark()); Python puts the script's directory on
sys.path, so it imports this module.  Messages start with the script's
name.  This module gives:
  - BUILD and the paths of the programs built there;
  - Instance: a throwaway instance (init-config --local-directory
    --port-offset N in a temporary directory) with its own slapd
    (`ldap-local run`, attached), users made with commadmin, options set
    with msconfig, servers started attached and awaited by their readiness
    line in data/log; close() stops every process it started by PID and
    removes the directory (MS_BENCH_KEEP=1 keeps it);
  - clients_rate and threads: clients in threads spread over processes;
  - small helpers: die, read_line, wait_for, alive, rss_kib, message, ok,
    percentile.
"""
import multiprocessing
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
import threading
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
NAME = pathlib.Path(sys.argv[0]).stem
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
MSCONFIG = BUILD / "msconfig" / "msconfig"
IMAPD = BUILD / "workers" / "store" / "imapd"
DELIVER = BUILD / "workers" / "store" / "deliver"
STORED = BUILD / "workers" / "store" / "stored"
MMP = BUILD / "workers" / "mmp" / "mmp"
LMTP = BUILD / "workers" / "mta" / "tcp_lmtp_server"
DISPATCHER = BUILD / "workers" / "mta" / "dispatcher"
SLAPD = pathlib.Path("/usr/sbin/slapd")


def die(msg):
    sys.exit(f"{NAME}: {msg}")


def ready_to_run(*progs):
    """Exits when one of progs is not built; False (after saying so) when
    slapd is not installed, so nothing can be measured."""
    for p in progs:
        if not p.exists():
            die(f"{p} is not built")
    if not SLAPD.exists():
        print(f"{NAME}: {SLAPD} is not installed; nothing measured")
        return False
    return True


def read_line(proc, timeout, what):
    """The first line proc writes on its stdout (a pipe), within timeout s."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            die(f"timed out waiting for {what}")
        chunk = os.read(fd, 4096)
        if not chunk:
            die(f"end of output waiting for {what}")
        buf += chunk
    return buf.decode().split("\n", 1)[0]


def wait_for(cond, timeout, what, proc=None):
    """Polls cond until it is true; exits after timeout s or when proc ends."""
    deadline = time.monotonic() + timeout
    while not cond():
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            die(f"{what} did not become ready")
        time.sleep(0.02)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def rss_kib(pid):
    """VmRSS of pid in KiB (0 when it has none or is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def message(n, size=2000):
    """A message of about size bytes with CRLF line ends."""
    return (f"Message-ID: <{n}@bench.test>\r\nSubject: bench message {n}\r\n"
            f"From: Ann <ann@example.com>\r\nTo: joe@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\n"
            + ("lorem ipsum dolor sit amet " * 3 + "\r\n") * (size // 83)).encode()


def ok(res, what):
    """Raises unless an imaplib answer is OK."""
    if res[0] != "OK":
        raise RuntimeError(f"{what}: {res}")


def percentile(values, q):
    """The q-th percentile (0..100) of values, already sorted."""
    return values[min(len(values) - 1, int(len(values) * q / 100))]


def threads(target, arglists):
    """Runs target(*args) for each args in arglists, one thread each, and
    waits for all of them."""
    ts = [threading.Thread(target=target, args=args) for args in arglists]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def _clients_proc(target, arg, idxs, start_at, stop_at, q):
    counts, errors = {}, []
    threads(target, [(arg, i, start_at, stop_at, counts, errors) for i in idxs])
    q.put((sum(counts.values()), errors))


def clients_rate(target, arg, clients, seconds, lead=1.0):
    """Operations per second of clients concurrent clients in threads
    spread over up to 4 processes: target(arg, idx, start_at, stop_at,
    counts, errors) connects, sleeps until start_at (lead s from now:
    connecting is not counted), works until stop_at (seconds later) keeping
    counts[idx] = operations done, and appends to errors what went wrong.
    Exits with the first errors."""
    procs = min(clients, 4)
    groups = [list(range(p, clients, procs)) for p in range(procs)]
    q = multiprocessing.Queue()
    start_at = time.time() + lead
    stop_at = start_at + seconds
    ps = [multiprocessing.Process(target=_clients_proc,
                                  args=(target, arg, g, start_at, stop_at, q))
          for g in groups]
    for p in ps:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in ps]
    for p in ps:
        p.join(timeout=30)
    errors = [e for _, es in results for e in es]
    if errors:
        die("\n".join(errors[:5]))
    return sum(n for n, _ in results) / seconds


class Instance:
    """A throwaway instance in a temporary directory (prefix) on ports
    offset by a random number in offsets, configured by init-config with
    the directory bind password secret.  Use it in a with statement:
    leaving it stops what it started."""

    def __init__(self, prefix, secret, offsets=(10000, 15000)):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        self.root = self.tmp / "instance"
        self.offset = random.randint(*offsets)
        self.env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"),
                        SERVERROOT=str(self.root))
        self.secret = secret
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def run(self, prog, *args, input=None):
        """Runs prog to completion; exits when it fails."""
        cp = subprocess.run([str(prog), *args], env=self.env, capture_output=True, text=True,
                            input=input, timeout=120)
        if cp.returncode != 0:
            die(f"{prog.name} {' '.join(args)} exited {cp.returncode}\n{cp.stdout}{cp.stderr}")
        return cp

    def create(self):
        """init-config, then slapd through `ldap-local run` (attached)."""
        self.run(INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
                 "example.com", "--postmaster", "postmaster@example.com",
                 "--ldap-bind-password", self.secret, "--port-offset", str(self.offset),
                 "--local-directory")
        ldap = subprocess.Popen([str(LDAP_LOCAL), "run"], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self.procs.append(ldap)
        line = read_line(ldap, 30, "ldap-local's readiness line")
        if not line.startswith("ldap-local: ready on"):
            die(f"ldap-local said {line!r}")

    def set(self, *pairs):
        """msconfig set of each (name, value)."""
        for name, value in pairs:
            self.run(MSCONFIG, "set", name, value)

    def users(self, n, password, *opts):
        """user0 .. user{n-1}@example.com, common name "User", surname the number."""
        for i in range(n):
            self.run(COMMADMIN, "user", "create", "-l", f"user{i}", "-d", "example.com",
                     "-W", password, "-F", "User", "-L", str(i), *opts)

    def cert(self):
        """A self-signed certificate for 127.0.0.1: (cert, key) paths."""
        cert, key = self.tmp / "cert.pem", self.tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        return cert, key

    def start(self, prog, *args, log, ready, timeout=15):
        """Starts prog attached and waits until data/log/log holds ready."""
        p = subprocess.Popen([str(prog), *args], env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        path = self.root / "data" / "log" / log
        wait_for(lambda: path.exists() and ready in path.read_text(errors="replace"),
                 timeout, prog.name, p)
        return p

    def close(self):
        """Stops the processes (last started first), then a slapd left
        behind by PID; removes the directory unless MS_BENCH_KEEP=1."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        try:
            pidfile = self.root / "data" / "run" / "ldap.pid"
            pid = int(pidfile.read_text().split()[0])
            if alive(pid) and re.search(r"slapd", open(f"/proc/{pid}/comm").read()):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
        if os.environ.get("MS_BENCH_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"instance kept in {self.root}")
