"""The MTA queue, the job controller, the channel programs and DSNs, end to end.

One instance for the module (its own slapd, users made with commadmin,
imapd to read the store back), the real job_controller started the way
the watcher starts it, messages queued with the build tree's mta_inject,
and next hops played by small SMTP and LMTP servers written here on
loopback.  Notifications are parsed with Python's email package; the
mail.log_current records are checked line by line.
"""
import email
import imaplib
import os
import re
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BUILD, wait_until
from ldap_fixtures import make_cert
from server_fixtures import StoreServer, mail_instance

PASSWORD = "Mta-Pass-1"
INJECT = BUILD / "workers" / "mta" / "mta_inject"
IMSIMTA = BUILD / "workers" / "mta" / "imsimta"


class Peer:
    """A next hop on 127.0.0.1: SMTP (or LMTP) with PIPELINING, DSN, STARTTLS.

    RCPT local parts choose the answer: reject* 550, later* 451; with LMTP
    full* gets 452 after DATA.  Every transaction is recorded.
    """

    def __init__(self, lmtp=False, cert=None, broken_tls=False, plain=False, no_ehlo=False,
                 drop_in_data=False):
        self.lmtp = lmtp
        self.drop_in_data = drop_in_data  # hang up in the middle of the message
        self.broken_tls = broken_tls
        self.plain = plain  # no extensions but STARTTLS
        self.no_ehlo = no_ehlo  # an RFC 821 server: EHLO refused
        self.ctx = None
        if cert is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*cert)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.transactions = []
        self.hellos = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        try:
            self._session(conn)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            conn.close()

    def _session(self, conn):
        buf = bytearray()

        def readline():
            while b"\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return b""
                buf.extend(data)
            i = buf.index(b"\n") + 1
            line = bytes(buf[:i])
            del buf[:i]
            return line

        def send(*lines):
            out = "".join(f"{ln[:3]}{' ' if i == len(lines) - 1 else '-'}{ln[4:]}\r\n"
                          for i, ln in enumerate(lines))
            conn.sendall(out.encode())

        send("220 peer.test ESMTP ready")
        tls, t = False, None
        while True:
            raw = readline()
            if not raw:
                return
            cmd = raw.decode().rstrip("\r\n")
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO" and self.no_ehlo:
                send("500 5.5.1 command unrecognized")
            elif verb in ("EHLO", "LHLO", "HELO"):
                with self.lock:
                    self.hellos.append((verb, tls))
                ext = ["250 peer.test", "250 PIPELINING", "250 8BITMIME", "250 DSN",
                       "250 SIZE 10000000"]
                if self.plain or verb == "HELO":
                    ext = ext[:1]
                if (self.ctx is not None or self.broken_tls) and not tls and verb != "HELO":
                    ext.append("250 STARTTLS")
                send(*ext)
            elif verb == "STARTTLS" and self.broken_tls:
                send("220 2.0.0 go ahead")
                conn.sendall(b"this is not a TLS handshake\r\n")
                return
            elif verb == "STARTTLS":
                send("220 2.0.0 go ahead")
                conn = self.ctx.wrap_socket(conn, server_side=True)
                tls = True
            elif verb == "MAIL":
                pipelined = b"RCPT" in buf  # sent with MAIL, before its reply
                t = {"from": cmd[cmd.index("<") + 1:cmd.index(">")], "mail": cmd,
                     "rcpts": [], "accepted": [], "tls": tls, "pipelined": pipelined}
                send("250 2.1.0 ok")
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                t["rcpts"].append(cmd)
                if addr.startswith("reject"):
                    send("550 5.1.1 no such user here")
                elif addr.startswith("later"):
                    send("451 4.2.1 mailbox busy, try later")
                else:
                    t["accepted"].append(addr)
                    send("250 2.1.5 ok")
            elif verb == "DATA":
                if not t or not t["accepted"]:
                    send("554 5.5.1 no valid recipients")
                    continue
                send("354 go ahead")
                if self.drop_in_data:
                    readline()
                    with self.lock:
                        self.transactions.append(t)
                    return
                lines = []
                while True:
                    ln = readline()
                    if ln in (b".\r\n", b""):
                        break
                    lines.append(ln[1:] if ln.startswith(b".") else ln)
                t["data"] = b"".join(lines)
                if self.lmtp:  # one reply per accepted recipient
                    for a in t["accepted"]:
                        send(f"452 4.2.2 {a} over quota" if a.startswith("full")
                             else f"250 2.1.5 {a} delivered")
                else:
                    send("250 2.0.0 queued as 42")
                with self.lock:
                    self.transactions.append(t)
                t = None
            elif verb == "RSET":
                t = None
                send("250 ok")
            elif verb == "QUIT":
                send("221 2.0.0 bye")
                return
            else:
                send("502 5.5.2 unknown command")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class JobController:
    """job_controller attached to the test, as the watcher runs it."""

    def __init__(self, inst):
        self.inst = inst
        self.log = inst.root / "data" / "log" / "job_controller.log"
        self.stderr_path = inst.root / "data" / "log" / "job_controller.stderr"
        self.proc = None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self):
        before = len(re.findall(r"job controller \S+ ready on", self.log_text()))
        # the jobs' standard error too: sanitizer reports land there
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen([str(BUILD / "workers" / "mta" / "job_controller")],
                                         env=self.inst.env, stdout=subprocess.DEVNULL,
                                         stderr=err)
        wait_until(lambda: re.findall(r"job controller \S+ ready on", self.log_text())[before:]
                   or self.proc.poll() is not None, timeout=15, what="the readiness line")
        assert self.proc.poll() is None, self.stderr_path.read_text()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            assert self.proc.returncode == 0, self.stderr_path.read_text()
        self.proc = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="module")
def mta(tmp_path_factory):
    root = tmp_path_factory.mktemp("mta")
    inst = imapd = jc = None
    peers = []
    try:
        inst = mail_instance(root, "imap", 143, 993, ("joe", "ann"), PASSWORD, "Mta")
        inst.commadmin("user", "create", "-l", "qu", "-d", "example.com", "-W", PASSWORD,
                       "-F", "qu", "-L", "Mta", "-Q", "3000")
        # base.postmaster: the copies of copysendpost/copywarnpost go there
        inst.commadmin("user", "create", "-l", "postmaster", "-d", "example.com", "-W",
                       PASSWORD, "-F", "post", "-L", "Master")
        peer_dir = root / "peer"
        peer_dir.mkdir()
        cert = make_cert(peer_dir)
        inst.smtp = Peer(cert=cert)
        inst.lmtp = Peer(lmtp=True)
        inst.badtls = Peer(broken_tls=True, plain=True)
        inst.old = Peer(no_ehlo=True)
        inst.drop = Peer(drop_in_data=True)
        peers += [inst.smtp, inst.lmtp, inst.badtls, inst.old, inst.drop]
        dead = free_port()
        inst.script(f"""set channel:defaults.logging
set mta.log_filename 1
set mta.log_queue_time 1
set job_controller.rescan 30
set job_controller.logfile.loglevel Information
set channel:tcp_peer.smtp
set channel:tcp_peer.maytls
set channel:tcp_peer.daemon 127.0.0.1
set channel:tcp_peer.port {inst.smtp.port}
set channel:tcp_peer.backoff pt1h
set channel:tcp_dead.smtp
set channel:tcp_dead.daemon 127.0.0.1
set channel:tcp_dead.port {dead}
set channel:tcp_dead.backoff "pt1s"
set channel:tcp_dead.notices "pt2s pt6s"
set channel:tcp_badtls.smtp
set channel:tcp_badtls.maytls
set channel:tcp_badtls.daemon 127.0.0.1
set channel:tcp_badtls.port {inst.badtls.port}
set channel:tcp_old.smtp
set channel:tcp_old.daemon 127.0.0.1
set channel:tcp_old.port {inst.old.port}
set channel:tcp_mx.smtp
set channel:tcp_mx.backoff pt1h
set channel:tcp_drop.smtp
set channel:tcp_drop.daemon 127.0.0.1
set channel:tcp_drop.port {inst.drop.port}
set channel:tcp_drop.backoff pt1h
set channel:tcp_lit.smtp
set channel:tcp_lit.nomx
set channel:tcp_lit.port {inst.smtp.port}
set channel:tcp_lmtpcs.lmtp
set channel:tcp_lmtpcs.daemon 127.0.0.1
set channel:tcp_lmtpcs.port {inst.lmtp.port}
set channel:tcp_lmtpcs.backoff pt1h
set channel:tcp_lmtprr.lmtp
set channel:tcp_lmtprr.dequeue_removeroute
set channel:tcp_lmtprr.port {inst.lmtp.port}
set channel:parked.official_host_name parked-daemon
set channel:parked.backoff pt1h
write
""")
        imapd = StoreServer(inst, "imapd", "imap")
        imapd.start()
        jc = JobController(inst)
        jc.start()
        inst.jc = jc
        yield inst
    finally:
        for p in peers:
            p.close()
        if inst is not None and getattr(inst, "jc", None) is not None:
            inst.jc.stop()
        if imapd is not None:
            imapd.stop()
        if inst is not None:
            inst.teardown()


def inject(inst, rcpts, body, sender="ann@example.com", channel=None, extra=()):
    args = [str(INJECT), "-f", sender]
    if channel:
        args += ["-c", channel]
    args += list(extra) + list(rcpts)
    cp = subprocess.run(args, input=body, env=inst.env, capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode == 0, cp.stderr
    qid = cp.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{24}", qid), cp.stdout
    return qid


def mail_log(inst):
    p = inst.root / "data" / "log" / "mail.log_current"
    return p.read_text() if p.exists() else ""


def records(inst, channel, action, addr=None):
    """mail.log_current lines of channel with this action (E: channel enqueued)."""
    out = []
    for ln in mail_log(inst).splitlines():
        f = ln.split(" ")
        if len(f) < 5 or f[2] != channel or (addr is not None and addr not in ln):
            continue
        if f[3] == action or (action[0] in "EJ" and f[4] == action):
            out.append(ln)
    return out


def queue_files(inst, channel):
    d = inst.root / "data" / "queue" / channel
    return sorted(p.name for p in d.iterdir() if p.is_file()) if d.exists() else []


def imsimta(inst, *args, check=True):
    cp = subprocess.run([str(IMSIMTA), *args], env=inst.env, capture_output=True, text=True,
                        timeout=30)
    if check:
        assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp


def fetch_all(inst, user):
    c = imaplib.IMAP4("127.0.0.1", inst.port_plain, timeout=10)
    c.starttls(ssl_context=ssl.create_default_context(cafile=inst.cafile))
    c.login(user, PASSWORD)
    c.select("INBOX", readonly=True)
    _, data = c.search(None, "ALL")
    msgs = []
    for n in data[0].split():
        _, d = c.fetch(n, "(RFC822)")
        msgs.append(email.message_from_bytes(d[0][1]))
    c.logout()
    return msgs


def dsns(inst, user, kind):
    return [m for m in fetch_all(inst, user)
            if m["Subject"] == f"Delivery Notification: Delivery {kind}"]


def dsn_fields(m):
    """(per-message fields, [per-recipient fields]) of a multipart/report."""
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = parts[1].get_payload()
    return groups[0], groups[1:], parts[2]


def test_store_delivery_and_unknown_user(mta):
    body = "Subject: store one\nMessage-ID: <store1@example.com>\n\nfirst line\n.dot line\n"
    inject(mta, ["joe@ims-ms-daemon", "nobody@ims-ms-daemon"], body)
    wait_until(lambda: records(mta, "ims-ms", "D", "joe@ims-ms-daemon")
               and records(mta, "ims-ms", "R", "nobody@ims-ms-daemon"),
               timeout=20, what="the ims-ms D and R records")
    got = [m for m in fetch_all(mta, "joe") if m["Subject"] == "store one"]
    assert len(got) == 1
    assert got[0]["Return-Path"] == "<ann@example.com>"
    assert ".dot line" in got[0].get_payload()
    # the bounce for nobody reaches ann through the l channel
    wait_until(lambda: dsns(mta, "ann", "has failed"), timeout=20, what="the failure DSN")
    m = dsns(mta, "ann", "has failed")[0]
    assert m["From"].endswith("<postmaster@example.com>")
    per_msg, per_rcpt, orig = dsn_fields(m)
    assert per_msg["Reporting-MTA"].startswith("dns;mail.example.com")
    assert len(per_rcpt) == 1
    assert per_rcpt[0]["Final-Recipient"] == "rfc822;nobody@ims-ms-daemon"
    assert per_rcpt[0]["Action"] == "failed"
    assert per_rcpt[0]["Status"] == "5.1.1"
    assert per_rcpt[0]["Diagnostic-Code"].startswith("smtp;511 5.1.1")
    assert orig.get_content_type() == "message/rfc822"
    assert orig.get_payload()[0]["Subject"] == "store one"
    # E, D and R records: the seed's fields, the queue file and the queue time
    e = records(mta, "l", "E", "joe@ims-ms-daemon")[0].split(" ")
    assert re.fullmatch(r"\d\d-[A-Z][a-z]{2}-\d{4}", e[0]) and re.fullmatch(r"[\d:.]{11}", e[1])
    assert e[3:5] == ["ims-ms", "E"] and e[6:9] == ["ann@example.com",
                                                    "rfc822;joe@ims-ms-daemon",
                                                    "joe@ims-ms-daemon"]
    d = records(mta, "ims-ms", "D", "joe@ims-ms-daemon")[0].split(" ")
    assert d[5:8] == ["ann@example.com", "rfc822;joe@ims-ms-daemon", "joe@ims-ms-daemon"]
    assert "/data/queue/ims-ms/ZZ" in d[8]
    assert re.fullmatch(r"\d+", d[9])
    assert records(mta, "ims-ms", "E", "ann@example.com"), "the DSN's enqueue record"
    assert queue_files(mta, "ims-ms") == []


def test_over_quota_is_retried(mta):
    big = "Subject: big\n\n" + "x" * 70 + "\n"
    inject(mta, ["qu@ims-ms-daemon"], big * 1 + "y" * 2000 + "\n")
    wait_until(lambda: records(mta, "ims-ms", "D", "qu@ims-ms-daemon"), timeout=20,
               what="the first message, within the quota")
    qid = inject(mta, ["qu@ims-ms-daemon"], big + "z" * 2000 + "\n")
    wait_until(lambda: records(mta, "ims-ms", "Q", "qu@ims-ms-daemon"), timeout=20,
               what="the over-quota deferral")
    q = records(mta, "ims-ms", "Q", "qu@ims-ms-daemon")[0]
    assert q.endswith("smtp;422 4.2.2 Quota Exceeded"), q
    tried(mta, "ims-ms", qid, 1)
    imsimta(mta, "qm", "delete", qid)


def test_smtp_in_through_the_queue_to_the_store(mta):
    """The whole path: tcp_smtp_server (via the dispatcher) queues, a job delivers."""
    mta.run("set", "dispatcher.service:SMTP.interface_address", "127.0.0.1")
    port = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                         mta.compiled.read_text()).group(1))
    log = mta.root / "data" / "log" / "dispatcher.log"
    before = log.read_text(errors="replace") if log.exists() else ""
    disp = subprocess.Popen([str(BUILD / "workers" / "mta" / "dispatcher")], env=mta.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: re.search(r"dispatcher \S+ ready", log.read_text(errors="replace")
                                     [len(before):] if log.exists() else "")
                   or disp.poll() is not None, timeout=15, what="the dispatcher")
        assert disp.poll() is None, disp.stderr.read()
        with smtplib.SMTP("127.0.0.1", port, timeout=15) as c:
            c.sendmail("ann@example.com", ["joe@example.com"],
                       "Subject: via smtp\r\nMessage-ID: <smtp1@example.com>\r\n\r\nhi\r\n")
        wait_until(lambda: [m for m in fetch_all(mta, "joe") if m["Subject"] == "via smtp"],
                   timeout=20, what="the message in joe's INBOX")
        assert records(mta, "ims-ms", "D", "joe@ims-ms-daemon")
    finally:
        disp.send_signal(signal.SIGTERM)
        try:
            disp.wait(timeout=20)
        except subprocess.TimeoutExpired:
            disp.kill()
            disp.wait()


def test_no_dsn_for_null_sender(mta):
    before = len(records(mta, "ims-ms", "E"))
    inject(mta, ["ghost@ims-ms-daemon"], "Subject: from nobody\n\nx\n", sender="")
    wait_until(lambda: records(mta, "ims-ms", "R", "ghost@ims-ms-daemon"), timeout=20,
               what="the R record")
    r = records(mta, "ims-ms", "R", "ghost@ims-ms-daemon")[0].split(" ")
    assert r[5] == "" and r[6] == "rfc822;ghost@ims-ms-daemon", "empty From: two spaces"
    # a notification would be queued before the queue file goes: none came
    wait_until(lambda: queue_files(mta, "ims-ms") == [], timeout=20, what="the file to go")
    assert len(records(mta, "ims-ms", "E")) == before, "no notification about a message from <>"


def test_smtp_peer_per_recipient_starttls_pipelining(mta):
    body = "Subject: outbound\n\n.leading dot\nbody\n"
    inject(mta, ["ok1@remote.test", "reject1@remote.test", "later1@remote.test",
                 "ok2@remote.test"], body, channel="tcp_peer",
           extra=["-n", "failure,delay", "-e", "ENV42"])
    wait_until(lambda: mta.smtp.transactions, timeout=20, what="the SMTP peer's transaction")
    t = mta.smtp.transactions[0]
    assert t["tls"] is True, "maytls and STARTTLS offered: the session is encrypted"
    assert ("EHLO", True) in mta.smtp.hellos, "EHLO again after STARTTLS"
    assert t["pipelined"] is True
    assert t["from"] == "ann@example.com" and "ENVID=ENV42" in t["mail"]
    assert t["accepted"] == ["ok1@remote.test", "ok2@remote.test"], \
        "one connection, one transaction"
    assert "NOTIFY=FAILURE,DELAY" in t["rcpts"][0]
    assert b"\r\n.leading dot\r\n" in b"\r\n" + t["data"]
    wait_until(lambda: records(mta, "tcp_peer", "Q", "later1@remote.test"), timeout=20,
               what="the Q record")
    assert len(records(mta, "tcp_peer", "DESQ")) == 2
    r = records(mta, "tcp_peer", "R", "reject1@remote.test")
    assert r and r[0].endswith("smtp;550 5.1.1 no such user here")
    # the temporary failure stays queued, alone, tried once
    files = wait_until(lambda: [f for f in queue_files(mta, "tcp_peer") if f.endswith(".01")],
                       timeout=10, what="the rewritten queue file")
    assert queue_files(mta, "tcp_peer") == files and len(files) == 1
    out = imsimta(mta, "qm", "list", "tcp_peer").stdout
    assert "later1@remote.test" in out and "ok1@" not in out and "451 4.2.1" in out
    wait_until(lambda: dsns(mta, "ann", "has failed") and any(
        "reject1@remote.test" in str(m) for m in dsns(mta, "ann", "has failed")),
        timeout=20, what="the DSN for reject1")
    m = [m for m in dsns(mta, "ann", "has failed") if "reject1@remote.test" in str(m)][0]
    per_msg, per_rcpt, _ = dsn_fields(m)
    assert per_msg["Original-Envelope-Id"] == "ENV42"
    assert [g["Final-Recipient"] for g in per_rcpt] == ["rfc822;reject1@remote.test"]
    assert per_rcpt[0]["Remote-MTA"] == "dns;127.0.0.1"
    imsimta(mta, "qm", "delete", "-channel=tcp_peer")


def test_smtp_one_connection_per_domain_without_smart_host(mta):
    """No daemon: the recipient's domain is the next hop (nomx: its A record)."""
    inject(mta, ["a@[127.0.0.1]", "c@localhost", "b@[127.0.0.1]"], "Subject: lit\n\nx\n",
           channel="tcp_lit")
    wait_until(lambda: len(records(mta, "tcp_lit", "DEQ")) == 3, timeout=20,
               what="three D records")
    ts = [t for t in mta.smtp.transactions
          if any(a.endswith("@[127.0.0.1]") or a.endswith("@localhost") for a in t["accepted"])]
    assert sorted(t["accepted"] for t in ts) == [["a@[127.0.0.1]", "b@[127.0.0.1]"],
                                                 ["c@localhost"]]
    assert not any(t["tls"] for t in ts), "no maytls: no STARTTLS"
    assert all(r.endswith("smtp;250 2.0.0 queued as 42") for r in records(mta, "tcp_lit", "DEQ"))


def test_opportunistic_tls_falls_back_to_plain(mta):
    """STARTTLS offered but broken: again without TLS; no PIPELINING: one by one."""
    inject(mta, ["v@remote.test", "reject9@remote.test", "w@remote.test"],
           "Subject: fallback\n\nx\n", channel="tcp_badtls", extra=["-e", "E1"])
    wait_until(lambda: len(records(mta, "tcp_badtls", "DE")) == 2, timeout=20,
               what="the delivery without TLS")
    t = mta.badtls.transactions
    assert [(x["tls"], x["pipelined"], x["accepted"]) for x in t] == \
        [(False, False, ["v@remote.test", "w@remote.test"])]
    assert t[0]["mail"] == "MAIL FROM:<ann@example.com>", "no SIZE, no DSN offered"
    assert "STARTTLS with 127.0.0.1 failed" in mta.jc.log_text()
    assert records(mta, "tcp_badtls", "R", "reject9@remote.test")


def test_connection_lost_during_data_keeps_the_message(mta):
    qid = inject(mta, ["d1@remote.test", "d2@remote.test"], "Subject: drop\n\n" + "x" * 5000,
                 channel="tcp_drop")
    tried(mta, "tcp_drop", qid, 1)
    qs = records(mta, "tcp_drop", "Q")
    assert len(qs) == 2 and all("lost connection to 127.0.0.1 during the transaction" in q
                                for q in qs), qs
    assert not records(mta, "tcp_drop", "DEQ") and not records(mta, "tcp_drop", "R")
    env = imsimta(mta, "qm", "list", "tcp_drop").stdout
    assert "d1@remote.test" in env and "d2@remote.test" in env
    imsimta(mta, "qm", "delete", qid)


def test_helo_when_ehlo_is_refused(mta):
    inject(mta, ["h@old.test"], "Subject: old\n\nx\n", channel="tcp_old")
    wait_until(lambda: records(mta, "tcp_old", "D", "h@old.test"), timeout=20,
               what="the delivery after HELO")
    assert mta.old.hellos == [("HELO", False)]
    assert mta.old.transactions[0]["accepted"] == ["h@old.test"]


def test_mx_lookup_of_a_domain_that_does_not_exist(mta):
    """res_query: NXDOMAIN returns at once (5.1.2); no resolver at all retries (4.4.3)."""
    inject(mta, ["x@no-such-domain.invalid"], "Subject: mx\n\nx\n", channel="tcp_mx")
    rec = wait_until(lambda: records(mta, "tcp_mx", "R", "no-such-domain.invalid")
                     or records(mta, "tcp_mx", "Q", "no-such-domain.invalid"), timeout=40,
                     what="the outcome of the MX lookup")[0]
    assert rec.endswith("Illegal host/domain name found (no such domain)") or \
        rec.endswith("DNS lookup of the MX records failed (try again)"), rec
    imsimta(mta, "qm", "delete", "-channel=tcp_mx", check=False)


def test_hold_channel_keeps_messages_held(mta):
    qid = inject(mta, ["h1@example.net"], "Subject: to hold\n\nx\n", channel="hold")
    held = mta.root / "data/queue/hold/.held" / f"ZZ{qid}.00"
    wait_until(held.exists, timeout=20, what="the message in hold/.held/")
    assert queue_files(mta, "hold") == []
    out = imsimta(mta, "qm", "list", "hold").stdout
    assert f"ZZ{qid}.00 (held)" in out
    assert "deleted: hold/" in imsimta(mta, "qm", "delete", qid).stdout


def test_unreachable_retried_then_bounced(mta):
    inject(mta, ["x@dead.test"], "Subject: to a dead host\n\nhello\n", channel="tcp_dead")
    wait_until(lambda: records(mta, "tcp_dead", "R", "x@dead.test"), timeout=30,
               what="the bounce after the notices period")
    qs = records(mta, "tcp_dead", "Q", "x@dead.test")
    assert len(qs) >= 3, qs
    assert "TCP active open: Failed connect() 127.0.0.1:" in qs[0]
    assert "Connection refused" in qs[0]
    wait_until(lambda: queue_files(mta, "tcp_dead") == [], timeout=10, what="the file to go")
    wait_until(lambda: [m for m in dsns(mta, "ann", "has failed") if "x@dead.test" in str(m)],
               timeout=20, what="the failure DSN")
    delayed = [m for m in dsns(mta, "ann", "is delayed") if "x@dead.test" in str(m)]
    assert len(delayed) == 1, "one delay notice per message"
    _, rc, orig = dsn_fields(delayed[0])
    assert rc[0]["Action"] == "delayed" and rc[0]["Will-Retry-Until"]
    assert orig.get_content_type() == "text/rfc822-headers"
    m = [m for m in dsns(mta, "ann", "has failed") if "x@dead.test" in str(m)][0]
    _, rc, orig = dsn_fields(m)
    assert rc[0]["Action"] == "failed" and rc[0]["Status"] == "4.4.7"
    assert "Failed connect()" in rc[0]["Diagnostic-Code"]
    assert orig.get_content_type() == "message/rfc822"
    # the defaults channel's copysendpost, copywarnpost and postheadonly
    copies = wait_until(lambda: [c for c in fetch_all(mta, "postmaster")
                                 if "x@dead.test" in str(c)], timeout=20,
                        what="the postmaster's copies")
    wait_until(lambda: len([c for c in fetch_all(mta, "postmaster")
                            if "x@dead.test" in str(c)]) == 2, timeout=20,
               what="both copies")
    copies = [c for c in fetch_all(mta, "postmaster") if "x@dead.test" in str(c)]
    assert sorted(c["Subject"] for c in copies) == [
        "Delivery Notification: Delivery has failed",
        "Delivery Notification: Delivery is delayed"]
    for c in copies:
        assert c["To"] == "<postmaster@example.com>"
        assert dsn_fields(c)[2].get_content_type() == "text/rfc822-headers"


def test_lmtp_client(mta):
    inject(mta, ["u1@back.test", "full1@back.test", "reject2@back.test", "u2@back.test"],
           "Subject: via lmtp\n\nbody\n", channel="tcp_lmtpcs")
    wait_until(lambda: mta.lmtp.transactions, timeout=20, what="the LMTP transaction")
    assert mta.lmtp.hellos[0][0] == "LHLO"
    assert mta.lmtp.transactions[0]["accepted"] == ["u1@back.test", "full1@back.test",
                                                    "u2@back.test"]
    wait_until(lambda: records(mta, "tcp_lmtpcs", "Q", "full1@back.test"), timeout=20,
               what="the Q record of the over-quota recipient")
    assert len(records(mta, "tcp_lmtpcs", "DLQ")) == 2
    assert records(mta, "tcp_lmtpcs", "R", "reject2@back.test")
    q = records(mta, "tcp_lmtpcs", "Q", "full1@back.test")[0]
    assert q.endswith("smtp;452 4.2.2 full1@back.test over quota")
    wait_until(lambda: [f for f in queue_files(mta, "tcp_lmtpcs") if f.endswith(".01")],
               timeout=10, what="the rewritten queue file")
    assert len(queue_files(mta, "tcp_lmtpcs")) == 1
    imsimta(mta, "qm", "delete", "-channel=tcp_lmtpcs")


def tried(inst, channel, qid, n):
    """Wait until the job has rewritten the file after its n-th try."""
    name = f"{qid}.{n:02d}"
    wait_until(lambda: name in queue_files(inst, channel), timeout=20, what=name)


def test_lmtp_source_route_to_back_end(mta):
    """The recipes' form: @backend.lmtp:uid+folder@domain, the route removed."""
    inject(mta, ["@127.0.0.1.lmtp:u3+Work@lmtpcs-daemon", "@127.0.0.1.lmtp:u4@lmtpcs-daemon"],
           "Subject: routed\n\nx\n", channel="tcp_lmtprr")
    wait_until(lambda: len(records(mta, "tcp_lmtprr", "DLQ")) == 2, timeout=20,
               what="two D records")
    t = [t for t in mta.lmtp.transactions if "u4@lmtpcs-daemon" in t["accepted"]][0]
    assert t["accepted"] == ["u3+Work@lmtpcs-daemon", "u4@lmtpcs-daemon"]


def test_qm_commands(mta):
    qid = inject(mta, ["p1@parked.test"], "Subject: parked\n\nx\n", channel="parked")
    tried(mta, "parked", qid, 1)
    out = imsimta(mta, "qm", "list", "parked").stdout
    assert f"{qid}.01" in out and "From: <ann@example.com>" in out
    assert "has no delivery program" in out
    out = imsimta(mta, "qm", "summarize").stdout
    assert re.search(r"^parked\s+1\s+0\.0$", out, re.M), out
    assert re.search(r"^Totals\s+\d+\s+[\d.]+$", out, re.M), out
    assert "held: parked/" in imsimta(mta, "qm", "hold", qid).stdout
    assert (mta.root / "data/queue/parked/.held" / f"{qid}.01").exists()
    out = imsimta(mta, "qm", "summarize", "-held").stdout
    assert re.search(r"^parked\s+0\s+0\.0\s+1\s+0\.0", out, re.M), out
    cp = imsimta(mta, "qm", "sum", "-held", "-database", check=False)
    assert cp.returncode != 0
    assert ("%QM-E-CMDERR, Conflicting parameters and/or qualifiers: (DATABASE AND HELD)"
            in cp.stderr)
    assert "released: parked/" in imsimta(mta, "qm", "release", qid).stdout
    tried(mta, "parked", qid, 2)  # release makes it due: tried again at once
    assert "requeued: parked/" in imsimta(mta, "qm", "requeue", qid).stdout
    tried(mta, "parked", qid, 3)
    assert "deleted: parked/" in imsimta(mta, "qm", "delete", qid).stdout
    assert queue_files(mta, "parked") == []
    assert records(mta, "parked", "K", "p1@parked.test")
    cp = imsimta(mta, "qm", "delete", qid, check=False)
    assert cp.returncode == 1 and "%QM-E-NOTFOUND" in cp.stderr
    cp = imsimta(mta, "qm", "frobnicate", check=False)
    assert cp.returncode == 64 and "%QM-E-IVVERB" in cp.stderr
    # commands on standard input, as in the seed's qm.maint> session
    cp = subprocess.run([str(IMSIMTA), "qm"], input="sum\nlist parked\nexit\n", env=mta.env,
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0 and "Totals" in cp.stdout and "Total: 0 messages" in cp.stdout
    out = imsimta(mta, "counters", "-show").stdout
    assert out.startswith("Channel") and re.search(r"^parked$", out, re.M)
    assert re.search(r"^\s+Received\s+1\s+1\s+1$", out, re.M), out
    assert re.search(r"^\s+Delivered\s+\d+\s+\d+\s+\d+ \(\d+ first time\)$", out, re.M)
    assert re.search(r"^\s+Attempted\s+[1-9]", out, re.M), "the Q records counted"
    imsimta(mta, "counters", "-clear")
    assert not re.search(r"^parked$", imsimta(mta, "counters", "-show").stdout, re.M)


def child_pids(pid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                if int(st[1]) == pid:
                    out.append(int(p))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_kill9_under_load_loses_nothing(mta):
    n = 40
    mta.jc.stop()
    for i in range(n):  # a backlog
        inject(mta, ["joe@ims-ms-daemon"], f"Subject: load {i}\n\nmessage {i}\n")
    before = len(records(mta, "ims-ms", "D"))
    mta.jc.start()
    # kill -9 a job and the job controller while the queue drains
    jobs = wait_until(lambda: child_pids(mta.jc.proc.pid), timeout=20, what="a running job")
    wait_until(lambda: len(records(mta, "ims-ms", "D")) > before, timeout=20,
               what="the first deliveries")
    os.kill(jobs[0], signal.SIGKILL)
    mta.jc.kill()
    done_at_kill = len(records(mta, "ims-ms", "D")) - before
    assert done_at_kill < n, "the kill came before the queue was drained"
    for i in range(n, n + 10):  # queued while nothing delivers
        inject(mta, ["joe@ims-ms-daemon"], f"Subject: load {i}\n\nmessage {i}\n")
    t0 = time.monotonic()
    mta.jc.start()
    wait_until(lambda: queue_files(mta, "ims-ms") == [], timeout=60, what="an empty queue")
    drain = time.monotonic() - t0
    subjects = [m["Subject"] for m in fetch_all(mta, "joe") if m["Subject"].startswith("load ")]
    counts = {i: subjects.count(f"load {i}") for i in range(n + 10)}
    missing = [i for i, c in counts.items() if c == 0]
    assert missing == [], f"lost messages {missing}"
    dups = sum(c - 1 for c in counts.values())
    print(f"kill -9 test: {n + 10} messages, {done_at_kill} delivered before the kill, "
          f"{dups} delivered twice, the rest drained in {drain:.2f} s")
    assert dups <= 2, "only a message in a killed job's hands may be delivered twice"


def max_concurrent(log, channels):
    """The largest number of jobs of these channels running at once, from the log."""
    running, peak = set(), 0
    for m in re.finditer(r"job (\d+) (?:started for channel (\S+)|of channel (\S+) "
                         r"(?:done|exited|killed))", log):
        pid, started, ended = m.group(1), m.group(2), m.group(3)
        if started in channels:
            running.add(pid)
        elif ended in channels:
            running.discard(pid)
        peak = max(peak, len(running))
    return peak


def test_maxjobs_and_pool_limits(mta):
    mta.jc.stop()
    mta.script("set channel:bitbucket.maxjobs 1\nset channel:bitbucket.pool ONE\n"
               "set channel:parked.maxjobs 5\nset channel:parked.pool ONE\n"
               "set job_controller.job_pool:ONE.job_limit 1\nwrite\n")
    start = len(mta.jc.log_text())
    for i in range(6):
        inject(mta, [f"m{i}@bitbucket"], f"Subject: m{i}\n\nx\n")
        inject(mta, [f"m{i}@parked.test"], f"Subject: p{i}\n\nx\n", channel="parked")
    mta.jc.start()
    wait_until(lambda: queue_files(mta, "bitbucket") == [] and all(
        f.endswith(".01") for f in queue_files(mta, "parked")), timeout=30,
        what="every message tried")
    log = mta.jc.log_text()[start:]
    assert len(re.findall(r"started for channel (?:bitbucket|parked)", log)) >= 2, log
    assert max_concurrent(log, {"bitbucket"}) == 1
    assert max_concurrent(log, {"bitbucket", "parked"}) == 1, "the pool's job_limit"
    assert len(records(mta, "bitbucket", "D")) >= 6
    imsimta(mta, "qm", "delete", "-channel=parked")
    mta.script("set channel:bitbucket.maxjobs 7\nset job_controller.job_pool:ONE.job_limit 10\n"
               "write\n")


def test_refresh_reloads(mta):
    before = mta.jc.log_text().count("config generation")
    mta.run("set", "channel:tcp_dead.maxjobs", "1")
    mta.jc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: mta.jc.log_text().count("config generation") > before, timeout=10,
               what="the reload")
    assert mta.jc.proc.poll() is None
