#!/usr/bin/python3
"""The MMP benchmark (bench/README.md): bench_mmp.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), USERS users
made with commadmin whose mailHost is "store", the real imapd as that
store and the real mmp in front of it (both attached, awaiting their
readiness lines), the MMP routing "store" to imapd with
proxy:store.storehostlist and proxy:store.imapport and logging in there as
the proxy administrator (base.proxyadmin, made by init-config).  Clients
are Python's imaplib in clear text (the MMP's cost, not TLS's, is what is
compared), in worker processes with threads.

Figures, one per line:
  IMAP ops/s direct      commands answered OK per second over SECONDS s
  IMAP ops/s via MMP     (default 5) by CLIENTS (default 10) concurrent
                         sessions, each in its own folder (40 messages)
                         doing a loop of SELECT, UID FETCH of the headers of
                         10 messages, UID FETCH of one whole message, NOOP;
                         direct to imapd, then through the MMP, twice each
                         in turn, the better run of each kept.  Goal: the
                         MMP keeps at least 90 % of the direct rate.
  MMP memory per idle session   growth of the mmp process's resident memory
                         (VmRSS) with IDLE_SESSIONS (default 400) logged-in,
                         idle sessions, divided by their number; once with
                         clear-text clients, once with TLS clients (the
                         store leg is clear text in both).
A missed goal is printed but does not make the program fail; it exits 1
when something did not work.  Everything it started is stopped by PID.
"""
import imaplib
import multiprocessing
import os
import pathlib
import random
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("MS_BENCH_CLIENTS", "10"))
IDLE_SESSIONS = int(os.environ.get("MS_BENCH_IDLE_SESSIONS", "400"))
USERS = 10
PASSWORD = "Bench-Mmp-1"
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
MSCONFIG = BUILD / "msconfig" / "msconfig"
IMAPD = BUILD / "workers" / "store" / "imapd"
MMP = BUILD / "workers" / "mmp" / "mmp"


def run(env, prog, *args, input=None):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        input=input, timeout=120)
    if cp.returncode != 0:
        sys.exit(f"bench_mmp: {prog.name} {' '.join(args)} exited {cp.returncode}\n"
                 f"{cp.stdout}{cp.stderr}")
    return cp


def read_line(proc, timeout, what):
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit(f"bench_mmp: timed out waiting for {what}")
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit(f"bench_mmp: end of output waiting for {what}")
        buf += chunk
    return buf.decode().split("\n", 1)[0]


def start_server(env, prog, log, ready):
    p = subprocess.Popen([str(prog)], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not (log.exists() and ready in log.read_text(errors="replace")):
        if p.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"bench_mmp: {prog.name} did not become ready")
        time.sleep(0.02)
    return p


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def message(n, size=2000):
    return (f"Message-ID: <{n}@bench.test>\r\nSubject: bench message {n}\r\n"
            f"From: Ann <ann@example.com>\r\nTo: joe@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\n"
            + ("lorem ipsum dolor sit amet " * 3 + "\r\n") * (size // 83)).encode()


def ok(res, what):
    if res[0] != "OK":
        raise RuntimeError(f"{what}: {res}")


def connect(port, user):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    c.login(user, PASSWORD)
    return c


def client_loop(port, idx, start_at, stop_at, counts, errors):
    try:
        rnd = random.Random(idx)
        c = connect(port, f"user{idx % USERS}")
        box = f"bench{idx}"
        n = 0
        time.sleep(max(0.0, start_at - time.time()))  # all logged in: start
        while time.time() < stop_at:
            typ, data = c.select(box)
            ok((typ, data), "SELECT")
            typ, data = c.uid("SEARCH", None, "ALL")
            ok((typ, data), "UID SEARCH")
            uids = data[0].split()
            ok(c.uid("FETCH", b",".join(rnd.sample(uids, 10)),
                     "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"),
               "FETCH headers")
            ok(c.uid("FETCH", rnd.choice(uids), "(BODY.PEEK[])"), "FETCH body")
            ok(c.noop(), "NOOP")
            n += 5
            counts[idx] = n
        c.logout()
    except Exception as e:  # reported by the parent
        errors.append(f"client {idx}: {e!r}")


def worker_proc(port, idxs, start_at, stop_at, q):
    counts = {}
    errors = []
    threads = [threading.Thread(target=client_loop,
                                args=(port, i, start_at, stop_at, counts, errors))
               for i in idxs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put((sum(counts.values()), errors))


def ops_per_second(port):
    procs = min(CLIENTS, 4)
    groups = [list(range(p, CLIENTS, procs)) for p in range(procs)]
    q = multiprocessing.Queue()
    start_at = time.time() + 1.0  # sessions log in during the first second, not counted
    stop_at = start_at + SECONDS
    ps = [multiprocessing.Process(target=worker_proc, args=(port, g, start_at, stop_at, q))
          for g in groups]
    for p in ps:
        p.start()
    results = [q.get(timeout=SECONDS + 120) for _ in ps]
    for p in ps:
        p.join(timeout=30)
    errors = [e for _, es in results for e in es]
    if errors:
        sys.exit("bench_mmp: " + "\n".join(errors[:5]))
    return sum(n for n, _ in results) / SECONDS


def prepare(port):
    for i in range(CLIENTS):
        c = connect(port, f"user{i % USERS}")
        c.create(f"bench{i}")
        for k in range(40):
            ok(c.append(f"bench{i}", None, None, message(f"pre{i}-{k}")), "APPEND")
        c.logout()


def idle_memory(mmp_pid, port, cafile=None):
    """KiB of mmp resident memory per logged-in idle session."""
    def open_one(i):
        if cafile is None:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        else:
            c = imaplib.IMAP4_SSL("127.0.0.1", port, timeout=60,
                                  ssl_context=ssl.create_default_context(cafile=cafile))
        c.login(f"user{i % USERS}", PASSWORD)
        return c
    warm = [open_one(i) for i in range(20)]  # allocator and caches warmed up
    for c in warm:
        c.logout()
    time.sleep(0.3)
    before = rss_kib(mmp_pid)
    sessions = [open_one(i) for i in range(IDLE_SESSIONS)]
    time.sleep(0.3)
    after = rss_kib(mmp_pid)
    for c in sessions:
        c.sock.close()
    return (after - before) / IDLE_SESSIONS


def main():
    for p in (INIT_CONFIG, LDAP_LOCAL, COMMADMIN, IMAPD, MMP, MSCONFIG):
        if not p.exists():
            sys.exit(f"bench_mmp: {p} is not built")
    if not pathlib.Path("/usr/sbin/slapd").exists():
        print("bench_mmp: /usr/sbin/slapd is not installed; nothing measured")
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-mmp-"))
    root = tmp / "instance"
    offset = random.randint(10000, 15000)
    env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"), SERVERROOT=str(root))
    server = imapd = mmp = None
    pidfile = root / "data" / "run" / "ldap.pid"
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com",
            "--ldap-bind-password", "Bench-Mmp-Secret-1", "--port-offset", str(offset),
            "--local-directory")
        server = subprocess.Popen([str(LDAP_LOCAL), "run"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        line = read_line(server, 30, "ldap-local's readiness line")
        if not line.startswith("ldap-local: ready on"):
            sys.exit(f"bench_mmp: ldap-local said {line!r}")
        cert, key = tmp / "cert.pem", tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        direct, proxy, proxy_ssl = 143 + offset, 20143 + offset % 1000, 21993 + offset % 1000
        for name, value in (("imap.port", str(direct)), ("imap.plaintextmincipher", "-1"),
                            ("store.admins", "admin"),
                            ("base.sslcertfile", str(cert)), ("base.sslkeyfile", str(key)),
                            ("imapproxy.tcp_listen:imapproxy1.tcp_ports", str(proxy)),
                            ("imapproxy.tcp_listen:imapproxy1.ssl_ports", str(proxy_ssl)),
                            ("popproxy.tcp_listen:popproxy1.tcp_ports", "0"),
                            ("imapproxy.connlimits", ":100000"),
                            ("proxy:store.storehostlist", "127.0.0.1"),
                            ("proxy:store.imapport", str(direct))):
            run(env, MSCONFIG, "set", name, value)
        for i in range(USERS):
            run(env, COMMADMIN, "user", "create", "-l", f"user{i}", "-d", "example.com",
                "-W", PASSWORD, "-F", "User", "-L", str(i), "-H", "store")
        imapd = start_server(env, IMAPD, root / "data" / "log" / "imap", "ready on port")
        mmp = start_server(env, MMP, root / "data" / "log" / "mmp", " ready on ")
        prepare(direct)
        rates = {"direct": 0.0, "mmp": 0.0}
        cpu = {"mmp": 0.0, "imapd": 0.0}
        for _ in range(2):
            rates["direct"] = max(rates["direct"], ops_per_second(direct))
            m0, i0 = cpu_seconds(mmp.pid), cpu_seconds(imapd.pid)
            rate = ops_per_second(proxy)
            cpu["mmp"] += cpu_seconds(mmp.pid) - m0
            cpu["imapd"] += cpu_seconds(imapd.pid) - i0
            rates["mmp"] = max(rates["mmp"], rate)
        share = 100.0 * rates["mmp"] / rates["direct"] if rates["direct"] else 0.0
        what = (f"{CLIENTS} clients, {SECONDS:.0f} s, clear text, SELECT/UID SEARCH/"
                "FETCH headers/FETCH body/NOOP")
        print(f"IMAP ops/s direct to imapd: {rates['direct']:.0f} ({what})")
        print(f"IMAP ops/s through the MMP: {rates['mmp']:.0f} = {share:.0f} % of direct "
              f"(goal >= 90 %{'' if share >= 90 else ': MISSED'})")
        print(f"CPU through the MMP: mmp {cpu['mmp']:.2f} s, imapd {cpu['imapd']:.2f} s "
              f"(2 runs of {SECONDS + 1:.0f} s on {os.cpu_count()} CPUs)")
        plain = idle_memory(mmp.pid, proxy)
        tls = idle_memory(mmp.pid, proxy_ssl, cafile=str(cert))
        print(f"MMP memory per idle proxied session: {plain:.1f} KiB clear text, "
              f"{tls:.1f} KiB with TLS to the client ({IDLE_SESSIONS} sessions, VmRSS growth)")
    finally:
        for p in (mmp, imapd, server):
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
    socket.setdefaulttimeout(60)
    main()
