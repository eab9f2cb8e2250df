#!/usr/bin/python3
"""The SMTP acceptance benchmark (bench/README.md): bench_smtp_accept.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), one user
made with commadmin, and runs the real dispatcher (attached, as the watcher
runs it) with its tcp_smtp_server processes on 127.0.0.1; the job
controller is not run, so every accepted message stays in the queue and
the figure is the cost of receiving: the protocol, the directory lookup of
the recipient (cached after the first), the spool file and the fsyncs of
mta_qmsg_commit before each 250.

Figures, one per line:
  SMTP accept, 10 senders    messages accepted (250 after the final dot)
  SMTP accept, 50 senders    per second over SECONDS s (MS_BENCH_SECONDS,
                             default 10) by 10 or 50 concurrent senders,
                             each one smtplib session sending 5 KB
                             messages (MAIL, RCPT, DATA) in a loop
  Postfix                    the same against /usr/sbin/postfix when it is
                             installed; otherwise the line says it was
                             skipped
It exits 1 when something did not work.  Everything it started is stopped
by PID and the instance is removed (MS_BENCH_KEEP=1 keeps it).
"""
import multiprocessing
import os
import pathlib
import re
import select
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "10"))
PASSWORD = "Bench-Smtp-1"
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
MSCONFIG = BUILD / "msconfig" / "msconfig"
DISPATCHER = BUILD / "workers" / "mta" / "dispatcher"
BODY = ("From: Ann <ann@example.com>\r\nTo: joe@example.com\r\nSubject: bench\r\n\r\n"
        + ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n" * 70))
MESSAGE = BODY[:5 * 1024 - 2] + "\r\n"


def run(env, prog, *args):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        timeout=120)
    if cp.returncode != 0:
        sys.exit(f"bench_smtp_accept: {prog.name} {' '.join(args)} exited "
                 f"{cp.returncode}\n{cp.stdout}{cp.stderr}")
    return cp


def read_line(proc, timeout, what):
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit(f"bench_smtp_accept: timed out waiting for {what}")
        chunk = os.read(fd, 4096)
        if not chunk:
            sys.exit(f"bench_smtp_accept: end of output waiting for {what}")
        buf += chunk
    return buf.decode().split("\n", 1)[0]


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            sys.exit(f"bench_smtp_accept: timed out waiting for {what}")
        time.sleep(0.05)


def sender(port, stop_at, start_at, counts, idx, errors):
    try:
        c = smtplib.SMTP("127.0.0.1", port, timeout=60)
        c.ehlo("bench.example.org")
        time.sleep(max(0.0, start_at - time.time()))
        n = 0
        while time.time() < stop_at:
            c.mail("ann@example.com")
            code, text = c.rcpt("joe@example.com")
            if code != 250:
                raise RuntimeError(f"RCPT: {code} {text!r}")
            code, text = c.data(MESSAGE)
            if code != 250:
                raise RuntimeError(f"DATA: {code} {text!r}")
            n += 1
            counts[idx] = n
        c.quit()
    except Exception as e:  # reported by the parent
        errors.append(f"sender {idx}: {e!r}")


def worker(port, idxs, start_at, stop_at, q):
    counts, errors = {}, []
    ts = [threading.Thread(target=sender, args=(port, stop_at, start_at, counts, i, errors))
          for i in idxs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put((sum(counts.values()), errors))


def rate(port, senders):
    procs = min(senders, 4)
    groups = [list(range(p, senders, procs)) for p in range(procs)]
    q = multiprocessing.Queue()
    start_at = time.time() + 1.5  # sessions connect first, not counted
    stop_at = start_at + SECONDS
    ps = [multiprocessing.Process(target=worker, args=(port, g, start_at, stop_at, q))
          for g in groups]
    for p in ps:
        p.start()
    results = [q.get(timeout=SECONDS + 120) for _ in ps]
    for p in ps:
        p.join(timeout=30)
    errors = [e for _, es in results for e in es]
    if errors:
        sys.exit("bench_smtp_accept: " + "\n".join(errors[:5]))
    return sum(n for n, _ in results) / SECONDS


def main():
    for prog in (INIT_CONFIG, LDAP_LOCAL, COMMADMIN, MSCONFIG, DISPATCHER):
        if not prog.exists():
            sys.exit(f"bench_smtp_accept: {prog} is missing (build first)")
    root = pathlib.Path(tempfile.mkdtemp(prefix="smtpbench."))
    offset = 10000 + os.getpid() % 5000
    env = dict(os.environ, SERVERROOT=str(root), MS_DATADIR=str(BUILD / "schema"))
    ldap = disp = None
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com",
            "--ldap-bind-password", "Bench-Dir-1", "--port-offset", str(offset),
            "--local-directory")
        ldap = subprocess.Popen([str(LDAP_LOCAL), "run"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        read_line(ldap, 30, "ldap-local")
        for svc in ("SMTP", "SMTP_SUBMIT"):
            run(env, MSCONFIG, "set", f"dispatcher.service:{svc}.interface_address",
                "127.0.0.1")
        run(env, MSCONFIG, "set", "dispatcher.service:SMTP.min_procs", "2")
        run(env, COMMADMIN, "user", "create", "-l", "joe", "-d", "example.com", "-W",
            PASSWORD, "-F", "Joe", "-L", "Bench")
        port = 25 + offset
        log = root / "data" / "log" / "dispatcher.log"
        disp = subprocess.Popen([str(DISPATCHER)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda: log.exists() and "ready" in log.read_text(), 20, "the dispatcher")
        for senders in (10, 50):
            print(f"SMTP accept, {senders} senders: {rate(port, senders):.0f} messages/s "
                  f"(5 KB, {SECONDS:.0f} s)", flush=True)
        if os.path.exists("/usr/sbin/postfix"):
            print("Postfix: installed, but this benchmark does not configure a private "
                  "Postfix instance yet: skipped")
        else:
            print("Postfix: /usr/sbin/postfix is not installed: skipped")
        queued = sum(1 for _ in (root / "data" / "queue").rglob("ZZ*"))
        print(f"queue files written: {queued}")
    finally:
        for p in (disp, ldap):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("MS_BENCH_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"instance kept in {root}")


if __name__ == "__main__":
    main()
