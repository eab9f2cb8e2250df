#!/usr/bin/python3
"""The end-to-end MTA benchmark (bench/README.md): bench_mta_e2e.py BUILDDIR.

Makes a throwaway instance (benchlib.Instance: init-config
--local-directory --port-offset N, its slapd through `ldap-local run`),
ten users made with commadmin, and starts the rest as an administrator
does, with `start-msg` under the watcher: store, imap, dispatcher (its
tcp_smtp_server processes on 127.0.0.1) and job_controller.  Then, for 10
and for 50 concurrent senders, it sends MESSAGES 5 KB messages in all
(MS_BENCH_MESSAGES, default 1000), each sender one smtplib session in a
loop, to the ten users in turn, while the main process polls STATUS INBOX
(MESSAGES) of the ten mailboxes over ten IMAP sessions.

Figures, one per line:
  MTA end to end, N senders   messages / (time from the first send to the
                              moment the last message is in the store, as
                              IMAP STATUS sees it)
  SMTP acceptance, N senders  messages / (time from the first send to the
                              last 250), the same run: the queue written and
                              fsynced, deliveries running alongside
  Postfix                     the same load against a private Postfix
                              instance when /usr/sbin/postfix exists (own
                              config and queue directories in the temporary
                              directory, 127.0.0.1 on a free port, virtual
                              delivery to one Maildir) and the ratio;
                              otherwise "postfix: not installed, skipped"
It exits 1 when something did not work.  Everything it started is stopped
(stop-msg, then by PID) and the directory removed (MS_BENCH_KEEP=1 keeps it).
"""
import imaplib
import multiprocessing
import os
import pathlib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

from benchlib import BUILD, COMMADMIN, DISPATCHER, IMAPD, INIT_CONFIG, LDAP_LOCAL, MSCONFIG
from benchlib import STORED, Instance, die, ready_to_run, threads

MESSAGES = int(os.environ.get("MS_BENCH_MESSAGES", "1000"))
USERS = 10
PASSWORD = "Bench-Mta-1"
WATCHER_DIR = BUILD / "workers" / "watcher"
START_MSG = WATCHER_DIR / "start-msg"
STOP_MSG = WATCHER_DIR / "stop-msg"
JOB_CONTROLLER = BUILD / "workers" / "mta" / "job_controller"
POSTFIX = pathlib.Path("/usr/sbin/postfix")
LINE = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n"


def message(run, n, to):
    head = (f"From: Ann <ann@example.com>\r\nTo: {to}\r\nSubject: e2e {run} {n}\r\n"
            f"Message-ID: <e2e.{run}.{n}@bench.test>\r\n\r\n")
    body = LINE * (5 * 1024 // len(LINE) + 1)
    return (head + body)[:5 * 1024 - 2] + "\r\n"


def sender(port, idx, jobs, start_at, out, errors):
    """Sends jobs [(n, rcpt)] on one session; out[idx] = time of its last 250."""
    try:
        c = smtplib.SMTP("127.0.0.1", port, timeout=120)
        c.ehlo("bench.example.org")
        time.sleep(max(0.0, start_at - time.time()))
        for run, n, rcpt in jobs:
            c.mail("ann@example.com")
            code, text = c.rcpt(rcpt)
            if code != 250:
                raise RuntimeError(f"RCPT {rcpt}: {code} {text!r}")
            code, text = c.data(message(run, n, rcpt))
            if code != 250:
                raise RuntimeError(f"DATA: {code} {text!r}")
        out[idx] = time.time()
        c.quit()
    except Exception as e:  # reported by the parent
        errors.append(f"sender {idx}: {e!r}")


def _senders_proc(port, groups, start_at, q):
    out, errors = {}, []
    threads(sender, [(port, idx, jobs, start_at, out, errors) for idx, jobs in groups])
    q.put((max(out.values(), default=0.0), errors))


def send_load(port, run, senders, rcpts):
    """Starts the senders (threads over up to 4 processes) at start_at;
    returns (start_at, a function that waits and gives the last 250's time)."""
    jobs = [[] for _ in range(senders)]
    for n in range(MESSAGES):
        jobs[n % senders].append((run, n, rcpts[n % len(rcpts)]))
    procs = min(senders, 4)
    q = multiprocessing.Queue()
    start_at = time.time() + 1.0  # the sessions connect first, not counted
    ps = [multiprocessing.Process(target=_senders_proc, args=(
        port, [(i, jobs[i]) for i in range(p, senders, procs)], start_at, q))
        for p in range(procs)]
    for p in ps:
        p.start()

    def finish():
        results = [q.get(timeout=600) for _ in ps]
        for p in ps:
            p.join(timeout=30)
        errors = [e for _, es in results for e in es]
        if errors:
            die("\n".join(errors[:5]))
        return max(t for t, _ in results)
    return start_at, finish


class StoreCount:
    """Messages in the users' INBOXes, by IMAP STATUS on open sessions."""

    def __init__(self, port, users, cafile):
        self.sessions = []
        for u in users:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
            c.starttls(ssl_context=ssl.create_default_context(cafile=cafile))
            c.login(u, PASSWORD)
            self.sessions.append(c)

    def count(self):
        total = 0
        for c in self.sessions:
            typ, data = c.status("INBOX", "(MESSAGES)")
            if typ != "OK":
                die(f"STATUS: {typ} {data}")
            total += int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
        return total

    def close(self):
        for c in self.sessions:
            c.logout()


def measure(label, port, run, senders, rcpts, count):
    """One run: (end-to-end rate, acceptance rate, seconds from the last 250 to
    the last message stored); count() the messages stored."""
    base = count()
    start_at, finish = send_load(port, run, senders, rcpts)
    deadline = time.time() + 600
    while count() - base < MESSAGES:
        if time.time() > deadline:
            die(f"{label}: only {count() - base} of {MESSAGES} messages reached the store")
        time.sleep(0.01)
    stored_at = time.time()
    last_250 = finish()
    return (MESSAGES / (stored_at - start_at), MESSAGES / (last_250 - start_at),
            stored_at - last_250)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def postfix_master(port):
    """The installed master.cf with smtpd on 127.0.0.1:port, nothing chrooted
    (a chroot would be the temporary queue directory)."""
    out = []
    for ln in pathlib.Path("/etc/postfix/master.cf").read_text().splitlines():
        f = ln.split()
        if ln[:1] not in ("", "#", " ", "\t") and len(f) >= 8:
            if f[0] == "smtp" and f[1] == "inet":
                f[0] = f"127.0.0.1:{port}"
            f[4] = "n"
            ln = " ".join(f)
        out.append(ln)
    return "\n".join(out) + "\n"


def postfix_instance(tmp):
    """A private Postfix in tmp: (port, stored-count function, stop function)."""
    conf, spool = tmp / "postfix-etc", tmp / "postfix-spool"
    maildir = tmp / "postfix-mail"
    for d in (conf, spool, maildir, tmp / "postfix-data"):
        d.mkdir(parents=True)
    port = free_port()
    (conf / "master.cf").write_text(postfix_master(port))
    uid = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout.strip()
    gid = subprocess.run(["id", "-g", "nobody"], capture_output=True, text=True).stdout.strip()
    shutil.chown(maildir, int(uid), int(gid))
    shutil.chown(tmp / "postfix-data", "postfix")
    (conf / "main.cf").write_text(
        f"compatibility_level = 2\nqueue_directory = {spool}\n"
        f"data_directory = {tmp / 'postfix-data'}\nmeta_directory = /etc/postfix\n"
        "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\nmyhostname = bench.test\n"
        "mydestination =\nmynetworks = 127.0.0.0/8\nsmtpd_banner = $myhostname ESMTP\n"
        "virtual_mailbox_domains = example.com\n"
        f"virtual_mailbox_base = {maildir}\nvirtual_mailbox_maps = static:box/\n"
        f"virtual_uid_maps = static:{uid}\nvirtual_gid_maps = static:{gid}\n"
        "virtual_minimum_uid = 1\nalias_maps =\nalias_database =\n"
        "smtpd_recipient_restrictions = permit_mynetworks, "
        "reject_unauth_destination\n")
    cp = subprocess.run([str(POSTFIX), "-c", str(conf), "start"], capture_output=True,
                        text=True, timeout=120)
    if cp.returncode != 0:
        return None, cp.stdout + cp.stderr

    def count():
        d = maildir / "box" / "new"
        return sum(1 for _ in d.iterdir()) if d.exists() else 0

    def stop():
        subprocess.run([str(POSTFIX), "-c", str(conf), "stop"], capture_output=True,
                       timeout=120)
    deadline = time.monotonic() + 30
    while not connectable(port):
        if time.monotonic() > deadline:
            stop()
            return None, f"nothing answers on 127.0.0.1:{port}"
        time.sleep(0.05)
    return (port, count, stop), ""


def connectable(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def run_postfix(tmp, ours):
    if not POSTFIX.exists():
        print("postfix: not installed, skipped")
        return
    try:
        pf, why = postfix_instance(tmp)
    except (OSError, LookupError, ValueError, subprocess.SubprocessError) as e:
        pf, why = None, repr(e)
    if pf is None:
        print(f"postfix: the private instance did not start, skipped: {why.strip()}")
        return
    port, count, stop = pf
    try:
        for senders in (10, 50):
            e2e, acc, _ = measure("postfix", port, f"pf{senders}", senders,
                                  ["box@example.com"], count)
            print(f"Postfix end to end, {senders} senders: {e2e:.0f} messages/s "
                  f"(acceptance {acc:.0f} messages/s); ours / Postfix: "
                  f"{ours[senders] / e2e:.2f}", flush=True)
    finally:
        stop()


def main():
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, MSCONFIG, DISPATCHER, STORED,
                        IMAPD, JOB_CONTROLLER, START_MSG, STOP_MSG):
        return
    with Instance("bench-mta-e2e-", "Bench-Mta-Secret-1") as inst:
        inst.env["MS_PROGPATH"] = ":".join(str(p) for p in (
            WATCHER_DIR, BUILD / "msconfig", BUILD / "workers" / "store",
            BUILD / "workers" / "mta"))
        inst.create()
        cert, key = inst.cert()
        # slapd runs attached (benchlib): the watcher starts the rest
        inst.set(("ldap.enable", "0"), ("http.enable", "0"), ("ens.enable", "0"),
                 ("mmp.enable", "0"), ("store.purge.enable", "0"), ("pop.enable", "0"),
                 ("schedule.enable", "0"), ("imap.enable", "1"), ("mta.enable", "1"),
                 ("base.sslcertfile", str(cert)), ("base.sslkeyfile", str(key)),
                 ("dispatcher.service:SMTP.interface_address", "127.0.0.1"),
                 ("dispatcher.service:SMTP_SUBMIT.interface_address", "127.0.0.1"),
                 ("dispatcher.service:SMTP.min_procs", "2"))
        inst.users(USERS, PASSWORD)
        try:
            inst.run(START_MSG)
            cnf = (inst.root / "config" / "compiled" / "config.cnf").read_text()
            smtp_port = int(re.search(r"^dispatcher\.service:SMTP\.tcp_ports\t(\d+)", cnf,
                                      re.M).group(1))
            imap_port = int(re.search(r"^imap\.port\t(\d+)", cnf, re.M).group(1))
            users = [f"user{i}" for i in range(USERS)]
            store = StoreCount(imap_port, users, str(cert))
            rcpts = [f"{u}@example.com" for u in users]
            ours = {}
            for senders in (10, 50):
                e2e, acc, lag = measure("ours", smtp_port, f"ms{senders}", senders, rcpts,
                                        store.count)
                ours[senders] = e2e
                print(f"MTA end to end, {senders} senders: {e2e:.0f} messages/s "
                      f"({MESSAGES} messages of 5 KB, SMTP to the store)", flush=True)
                print(f"SMTP acceptance, {senders} senders: {acc:.0f} messages/s "
                      f"(the same run, first send to last 250; the last message was in "
                      f"the store {lag * 1000:.0f} ms after the last 250)", flush=True)
            store.close()
            left = sum(1 for p in (inst.root / "data" / "queue").glob("*/*") if p.is_file())
            print(f"queue files left: {left}")
            run_postfix(inst.tmp, ours)
        finally:
            subprocess.run([str(STOP_MSG)], env=inst.env, capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
