"""tcp_lmtp_server end to end: the real LMTP server against a real slapd and
the real message store, with messages read back through the real imapd.

One instance for the module (init-config --local-directory, slapd under
ldap-local run), users made with commadmin, a certificate made with
openssl.  The LMTP server runs attached to the test with --listen on a
port moved by the instance's offset (the dispatcher's descriptor-3 start
is the dispatcher's tests' business), and its readiness line in
data/log/tcp_lmtp_server.log is awaited.  The client is a raw socket, so
that every reply line (one per recipient after DATA) is checked.
"""
import imaplib
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BUILD, DOMAIN, wait_until
from server_fixtures import AttachedServer, StoreServer, mail_instance

PASSWORD = "Lmtp-Pass-1"
USERS = ("joe", "ann", "kim", "lee", "qua", "max", "tls", "bda")
LMTP = BUILD / "workers" / "mta" / "tcp_lmtp_server"
MSPROBE = BUILD / "workers" / "watcher" / "msprobe"
DISPATCHER = BUILD / "workers" / "mta" / "dispatcher"


class LmtpServer(AttachedServer):
    """tcp_lmtp_server --listen 127.0.0.1:PORT, attached to the test."""

    def __init__(self, inst, port, env=None):
        super().__init__(inst, LMTP, "tcp_lmtp_server.log", ready=" ready on port ",
                         args=("--listen", f"127.0.0.1:{port}"), env=env)
        self.port = port


class Client:
    """A raw LMTP client: send bytes, read reply lines."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise EOFError("connection closed")
        return ln.decode(errors="replace").rstrip("\r\n")

    def reply(self):
        """One (possibly multi-line) reply: the list of its lines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def cmd1(self, text):
        r = self.cmd(text)
        assert len(r) == 1, r
        return r[0]

    def lhlo(self):
        r = self.cmd("LHLO client.example.com")
        assert r[-1].startswith("250 "), r
        return [x[4:] for x in r]

    def starttls(self, cafile):
        assert self.cmd1("STARTTLS").startswith("220 ")
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def stuff(body):
    """Dot-stuff a CRLF message and add the end of data."""
    out = []
    for ln in body.split(b"\r\n")[:-1] if body.endswith(b"\r\n") else body.split(b"\r\n"):
        out.append(b"." + ln if ln.startswith(b".") else ln)
    return b"\r\n".join(out) + b"\r\n.\r\n"


def message(subject, extra=b""):
    return (b"Subject: " + subject.encode() + b"\r\nFrom: a@example.com\r\n"
            b"To: joe@example.com\r\nMessage-ID: <" + subject.encode() + b"@test>\r\n\r\n"
            b"line one\r\n" + extra)


def transaction(c, rcpts, body, sender="a@example.com", params=""):
    """MAIL, RCPTs (their replies), DATA; returns (rcpt replies, final replies)."""
    assert c.cmd1(f"MAIL FROM:<{sender}>{params}").startswith("250 2.1.0")
    rr = [c.cmd1(f"RCPT TO:<{r}>") for r in rcpts]
    ok = sum(1 for r in rr if r.startswith("250"))
    if ok == 0:
        assert c.cmd1("DATA").startswith("503")
        return rr, []
    assert c.cmd1("DATA").startswith("354")
    c.send(stuff(body))
    return rr, [c.line() for _ in range(ok)]


# ---- IMAP read-back ------------------------------------------------------------

def imap_login(inst, user):
    c = imaplib.IMAP4("127.0.0.1", inst.port_plain, timeout=10)
    c.starttls(ssl_context=ssl.create_default_context(cafile=inst.cafile))
    assert c.login(user, PASSWORD)[0] == "OK"
    return c


def fetch_all(inst, user, folder="INBOX"):
    """Every message of the folder, as bytes, in UID order."""
    c = imap_login(inst, user)
    typ, _ = c.select(f'"{folder}"', readonly=True)
    assert typ == "OK", folder
    typ, data = c.uid("SEARCH", None, "ALL")
    uids = data[0].split()
    out = []
    for uid in uids:
        typ, d = c.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK"
        out.append(d[0][1])
    c.logout()
    return out


def count_subject(msgs, subject):
    return sum(1 for m in msgs if b"Subject: " + subject.encode() + b"\r\n" in m)


# ---- the instance ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lmtp(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmtp")
    inst = imapd = srv = None
    try:
        inst = mail_instance(root, "imap", 143, 993, USERS, PASSWORD, "Lmtp",
                             (("mta.logfile.loglevel", "Information"),
                              ("store.quotanotification", "1"),
                              ("store.quotaexceededmsg",
                               "Subject: Mailbox over quota$$You use [PERCENT]% of your quota.")))
        # the server channel as the LMTP recipes make it, with logging on
        for opt in ("lmtp", "flagtransfer", "identnonenumeric", "logging"):
            inst.run("set", f"channel:tcp_lmtpss.{opt}")
        inst.run("set", "channel:tcp_lmtpss.official_host_name", "tcp_lmtpss-daemon")
        inst.commadmin("user", "modify", "-l", "qua", "-d", DOMAIN, "-A", "mailMsgQuota:1")
        inst.commadmin("domain", "create", "-d", "hosted.org")
        inst.commadmin("user", "create", "-l", "eve", "-d", "hosted.org", "-W", PASSWORD,
                       "-F", "eve", "-L", "Lmtp")
        imapd = StoreServer(inst, "imapd", "imap")
        imapd.start()
        srv = LmtpServer(inst, 225 + inst.offset, env={"MS_LMTP_IDLE_MS": "20000"})
        srv.start()
        inst.lmtp = srv
        yield inst
    finally:
        if srv is not None:
            srv.stop()
        if imapd is not None:
            imapd.stop()
        if inst is not None:
            inst.teardown()


def client(inst):
    return Client(inst.lmtp.port)


# ---- tests ------------------------------------------------------------------------

def test_greeting_lhlo_and_simple_commands(lmtp):
    c = client(lmtp)
    assert re.match(r"220 \S+ -- Server LMTP \(Messaging Server \S+\)$", c.greeting), c.greeting
    assert c.cmd1("MAIL FROM:<a@example.com>") == "503 5.5.1 Send LHLO first"
    assert c.cmd1("EHLO x").startswith("500 5.5.1 This is an LMTP server")
    assert c.cmd1("HELO x").startswith("500 5.5.1")
    caps = c.lhlo()
    for cap in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "CHUNKING", "STARTTLS"):
        assert cap in caps, caps
    assert "SIZE 0" in caps
    assert c.cmd1("NOOP") == "250 2.0.0 OK"
    assert c.cmd1("RSET") == "250 2.0.0 OK"
    assert c.cmd1("VRFY joe").startswith("252 2.5.2 ")
    assert c.cmd1("EXPN list").startswith("252 ")
    help_ = c.cmd("HELP")
    assert help_[-1].startswith("214 ") and "LHLO" in help_[0]
    assert c.cmd1("QUIT").startswith("221 2.0.0 ")
    with pytest.raises(EOFError):
        c.line()


def test_two_users_one_transaction_exact_bytes(lmtp):
    body = message("two-users",
                   b".starts with a dot\r\n..two dots\r\n.\tdot tab\r\n. \r\n"
                   b"caf\xc3\xa9 8bit\r\n\r\nlast line\r\n")
    c = client(lmtp)
    c.lhlo()
    rr, final = transaction(c, ["joe@example.com", "ann@example.com"], body)
    assert rr == ["250 2.1.5 <joe@example.com> OK", "250 2.1.5 <ann@example.com> OK"]
    assert final == ["250 2.1.5 <joe@example.com> delivered",
                     "250 2.1.5 <ann@example.com> delivered"]
    # the session goes on: a second transaction on the same connection
    rr, final = transaction(c, ["ann@example.com"], message("second"))
    assert final == ["250 2.1.5 <ann@example.com> delivered"]
    c.cmd1("QUIT")
    for user in ("joe", "ann"):
        msgs = fetch_all(lmtp, user)
        mine = [m for m in msgs if b"Subject: two-users\r\n" in m]
        assert mine == [body], (user, mine)
    log = wait_until(lambda: (t := lmtp.lmtp.log_text()) and "append:ann:user/ann:" in t and t,
                     what="the append record")
    assert f"append:joe:user/joe:{len(body)}:<two-users@test>" in log
    mail_log = (lmtp.root / "data" / "log" / "mail.log_current").read_text()
    assert re.search(r" tcp_lmtpss SL\S* 1 a@example.com rfc822;joe@example.com "
                     r"joe@example.com", mail_log), mail_log


def test_data_split_into_single_bytes(lmtp):
    """The end of data and the stuffing dots split across reads: the message
    sent one byte per segment arrives intact."""
    body = message("bytewise", b".\r\n..\r\n.x\r\n\r\n.\r\nend\r\n")
    c = client(lmtp)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.lhlo()
    c.cmd1("MAIL FROM:<a@example.com>")
    c.cmd1("RCPT TO:<ann@example.com>")
    assert c.cmd1("DATA").startswith("354")
    for b in stuff(body):
        c.send(bytes([b]))
    assert c.line() == "250 2.1.5 <ann@example.com> delivered"
    # a bare LF line end is accepted and stored as CRLF; "\n.\n" ends the data
    c.cmd1("MAIL FROM:<a@example.com>")
    c.cmd1("RCPT TO:<ann@example.com>")
    assert c.cmd1("DATA").startswith("354")
    c.send(b"Subject: bare-lf\nX: y\n\nbody\n.\n")
    assert c.line() == "250 2.1.5 <ann@example.com> delivered"
    c.cmd1("QUIT")
    msgs = fetch_all(lmtp, "ann")
    assert [m for m in msgs if b"Subject: bytewise" in m] == [body]
    assert b"Subject: bare-lf\r\nX: y\r\n\r\nbody\r\n" in msgs


def test_unknown_user_refused_at_rcpt(lmtp):
    c = client(lmtp)
    c.lhlo()
    rr, final = transaction(c, ["kim@example.com", "nobody@example.com", "kim@nowhere.test"],
                            message("unknown-user"))
    assert rr[0] == "250 2.1.5 <kim@example.com> OK"
    assert rr[1] == "550 5.1.1 <nobody@example.com> Unknown user"
    assert rr[2].startswith("550 5.1.1 ")
    assert final == ["250 2.1.5 <kim@example.com> delivered"]  # one reply: one recipient
    # no valid recipient at all: DATA is refused
    rr, final = transaction(c, ["nobody@example.com"], message("nobody"))
    assert rr[0].startswith("550 5.1.1") and final == []
    c.cmd1("RSET")
    c.cmd1("QUIT")
    assert count_subject(fetch_all(lmtp, "kim"), "unknown-user") == 1


def test_over_quota_is_temporary_and_per_recipient(lmtp):
    c = client(lmtp)
    c.lhlo()
    _, final = transaction(c, ["qua@example.com"], message("quota-1"))
    assert final == ["250 2.1.5 <qua@example.com> delivered"]
    # mailMsgQuota 1: the second message is over quota; max in the same
    # transaction still gets its copy
    _, final = transaction(c, ["max@example.com", "qua@example.com"], message("quota-2"))
    assert final[0] == "250 2.1.5 <max@example.com> delivered"
    assert final[1].startswith("452 4.2.2 <qua@example.com> Mailbox over quota"), final
    c.cmd1("QUIT")
    qua = fetch_all(lmtp, "qua")
    assert count_subject(qua, "quota-1") == 1 and count_subject(qua, "quota-2") == 0
    # the first copy filled the quota: the store's warning went to the INBOX once
    assert count_subject(qua, "Mailbox over quota") == 1, qua
    assert count_subject(fetch_all(lmtp, "max"), "quota-2") == 1
    assert count_subject(fetch_all(lmtp, "max"), "Mailbox over quota") == 0


def test_pipelining_answers_in_order(lmtp):
    c = client(lmtp)
    body = message("pipelined")
    c.send(b"LHLO p.example.com\r\nMAIL FROM:<> BODY=8BITMIME SIZE=100\r\n"
           b"RCPT TO:<lee@example.com>\r\nRCPT TO:<ghost@example.com>\r\n"
           b"RCPT TO:<ann@example.com>\r\nDATA\r\n")
    assert c.reply()[-1].startswith("250 ")
    assert c.line() == "250 2.1.0 Sender <> OK"
    assert c.line() == "250 2.1.5 <lee@example.com> OK"
    assert c.line().startswith("550 5.1.1 <ghost@example.com>")
    assert c.line() == "250 2.1.5 <ann@example.com> OK"
    assert c.line().startswith("354 ")
    c.send(stuff(body) + b"NOOP\r\nQUIT\r\n")
    assert c.line() == "250 2.1.5 <lee@example.com> delivered"
    assert c.line() == "250 2.1.5 <ann@example.com> delivered"
    assert c.line() == "250 2.0.0 OK"
    assert c.line().startswith("221 ")
    assert [m for m in fetch_all(lmtp, "lee") if b"Subject: pipelined" in m] == [body]


def test_client_that_does_not_read(lmtp):
    """30,000 pipelined NOOPs (420 KB of replies) sent in one go: the server
    stops reading while 256 KB of replies wait, and answers every one, in
    order."""
    c = client(lmtp)
    c.lhlo()
    n = 30000
    t = threading.Thread(target=c.send, args=(b"NOOP\r\n" * n + b"QUIT\r\n",))
    t.start()
    for _ in range(n):
        assert c.line() == "250 2.0.0 OK"
    assert c.line().startswith("221 ")
    t.join(timeout=10)


def test_address_forms_folders_and_uid_ret(lmtp):
    c = client(lmtp)
    c.lhlo()
    forms = ["@mail.example.com.lmtp:joe@example.com",   # source route of the .lmtp rules
             "joe%example.com@lmtpcs-daemon",            # the seed's store form
             "joe@ims-ms-daemon",                        # uid at a channel host
             "joe+Drafts@example.com",                   # a folder that exists
             "joe+NoSuchFolder@example.com"]             # INBOX then
    rr, final = transaction(c, forms, message("forms"), params=" UID=RET")
    assert all(r.startswith("250 2.1.5") for r in rr), rr
    assert len(final) == 5 and all(f.startswith("250 2.1.5 <") for f in final), final
    m = re.match(r"250 2\.1\.5 <(\d+):(\d+):> <joe@ims-ms-daemon> delivered", final[2])
    assert m, final[2]
    assert re.match(r"250 2\.1\.5 <\d+:\d+::Drafts> <joe\+Drafts@example.com> delivered",
                    final[3]), final[3]
    assert c.cmd1("RCPT TO:<joe@example.com>").startswith("503 ")  # no MAIL now
    # a user of another hosted domain: store user eve@hosted.org
    rr, final = transaction(c, ["eve@hosted.org", "eve%hosted.org@ims-ms-daemon",
                                "eve@ims-ms-daemon"], message("hosted"))
    assert rr[2].startswith("550 5.1.1"), rr  # eve is not in the default domain
    assert final == ["250 2.1.5 <eve@hosted.org> delivered",
                     "250 2.1.5 <eve%hosted.org@ims-ms-daemon> delivered"]
    c.cmd1("QUIT")
    assert count_subject(fetch_all(lmtp, "joe"), "forms") == 4
    assert count_subject(fetch_all(lmtp, "joe", "Drafts"), "forms") == 1
    assert count_subject(fetch_all(lmtp, "eve@hosted.org"), "hosted") == 2


def test_bdat_chunking(lmtp):
    body = message("chunked", b".dot not stuffed in BDAT\r\n")
    c = client(lmtp)
    c.lhlo()
    c.send(b"BDAT 3\r\nxyz")  # no transaction: the chunk is read, then refused
    assert c.line() == "503 5.5.1 No valid recipients"
    c.cmd1("MAIL FROM:<a@example.com>")
    assert c.cmd1("RCPT TO:<bda@example.com>").startswith("250")
    c.send(b"BDAT 10\r\n" + body[:10])
    assert c.line() == "250 2.0.0 10 octets received"
    rest = body[10:]
    c.send(f"BDAT {len(rest)} LAST\r\n".encode() + rest)
    assert c.line() == "250 2.1.5 <bda@example.com> delivered"
    c.cmd1("QUIT")
    assert [m for m in fetch_all(lmtp, "bda") if b"chunked" in m] == [body]


def test_truncated_data_delivers_nothing(lmtp):
    c = client(lmtp)
    c.lhlo()
    c.cmd1("MAIL FROM:<a@example.com>")
    assert c.cmd1("RCPT TO:<lee@example.com>").startswith("250")
    assert c.cmd1("DATA").startswith("354")
    c.send(message("truncated", b"x" * 100000))  # no final "."
    c.close()
    wait_until(lambda: "ended in the middle of a message" in lmtp.lmtp.log_text(),
               what="the server to notice the dropped connection")
    assert count_subject(fetch_all(lmtp, "lee"), "truncated") == 0
    stage = lmtp.root / "data" / "store" / "partition" / "primary" / "=stage"
    assert not stage.exists() or list(stage.iterdir()) == []


def test_starttls(lmtp):
    c = client(lmtp)
    c.lhlo()
    c.starttls(lmtp.cafile)
    # RFC 3207: the state is reset; LHLO again, and STARTTLS is gone
    assert c.cmd1("MAIL FROM:<a@example.com>") == "503 5.5.1 Send LHLO first"
    caps = c.lhlo()
    assert "STARTTLS" not in caps
    assert c.cmd1("STARTTLS").startswith("503 ")
    _, final = transaction(c, ["tls@example.com"], message("over-tls"))
    assert final == ["250 2.1.5 <tls@example.com> delivered"]
    c.cmd1("QUIT")
    assert count_subject(fetch_all(lmtp, "tls"), "over-tls") == 1
    assert re.search(r" SLS\S* 1 a@example.com rfc822;tls@example.com",
                     (lmtp.root / "data" / "log" / "mail.log_current").read_text())


def test_malformed_commands(lmtp):
    c = client(lmtp)
    assert c.cmd1("LHLO").startswith("501 ")
    c.lhlo()
    assert c.cmd1("FROB").startswith("500 5.5.1")
    assert c.cmd1("").startswith("500 5.5.2")
    assert c.cmd1("NOOP \x01").startswith("500 5.5.2")
    assert c.cmd1("RCPT TO:<joe@example.com>") == "503 5.5.1 Need MAIL before RCPT"
    assert c.cmd1("DATA").startswith("503 5.5.1")
    assert c.cmd1("MAIL FROM:a@example.com").startswith("501 5.5.4")
    assert c.cmd1("MAIL FROM:<a@@example.com>").startswith("501 5.1.7")
    assert c.cmd1("MAIL FROM:<a@example.com> FOO=BAR").startswith("555 5.5.4")
    assert c.cmd1("MAIL FROM:<a@example.com> SIZE=abc").startswith("501 5.5.4")
    assert c.cmd1("MAIL FROM:<a@example.com>").startswith("250")
    assert c.cmd1("MAIL FROM:<a@example.com>").startswith("503 5.5.1")
    assert c.cmd1("RCPT TO:<>").startswith("501 5.1.3")
    assert c.cmd1("RCPT TO:joe@example.com").startswith("501 5.5.4")
    assert c.cmd1("RCPT TO:<joe@example.com> NOTIFY=NEVER").startswith("555 5.5.4")
    assert c.cmd1("RCPT TO:<%@x>").startswith("501 5.1.3")
    assert c.cmd1("DATA extra").startswith("501 5.5.4")
    assert c.cmd1("X" * 5000) == "500 5.5.2 Line too long"
    c.send(b"NOOP\x00 with NUL\r\n")
    assert c.line().startswith("500 5.5.2")
    assert c.cmd1("RSET") == "250 2.0.0 OK"
    assert c.cmd1("NOOP") == "250 2.0.0 OK"  # still usable
    # BDAT without a size cannot be skipped: the session ends
    assert c.cmd1("BDAT lots").startswith("501 5.5.4")
    with pytest.raises(EOFError):
        c.line()
    # a client that sends only garbage is put out
    c = client(lmtp)
    for _ in range(19):
        assert c.cmd1("BOGUS").startswith("500")
    assert c.cmd("BOGUS") == ["500 5.5.1 Unknown command"]
    assert c.line().startswith("421 4.7.0")
    with pytest.raises(EOFError):
        c.line()


def test_kill9_during_data_loses_nothing_acknowledged(lmtp):
    """kill -9 of the server many times: in the first rounds exactly while a
    message is half sent (inside DATA), in the others at a random moment of a
    stream of messages.  Every message that got its 250 is in the mailbox
    exactly once; a message cut in DATA is not there at all."""
    srv = lmtp.lmtp
    acked, sent, cut = [], [], []
    rng = random.Random(8)
    for round_ in range(10):
        stop = threading.Event()
        mid = threading.Event()   # a message is half sent
        go = threading.Event()    # the server has been killed
        at_mid = round_ < 5

        def sender():
            n = 0
            try:
                c = client(lmtp)
                c.lhlo()
                while not stop.is_set():
                    subject = f"crash-{round_}-{n}"
                    n += 1
                    sent.append(subject)
                    c.cmd1("MAIL FROM:<a@example.com>")
                    c.cmd1("RCPT TO:<max@example.com>")
                    c.cmd1("DATA")
                    data = stuff(message(subject, b"y" * rng.randint(1000, 200000) + b"\r\n"))
                    half = len(data) // 2
                    c.send(data[:half])
                    if at_mid and n == 3:
                        cut.append(subject)
                        mid.set()
                        go.wait(timeout=20)
                    c.send(data[half:])
                    if c.line() == "250 2.1.5 <max@example.com> delivered":
                        acked.append(subject)
            except (OSError, EOFError):
                pass

        t = threading.Thread(target=sender)
        t.start()
        if at_mid:
            assert mid.wait(timeout=20)  # the server answered 354: it is in DATA
        else:
            time.sleep(rng.uniform(0.02, 0.3))  # a random moment to crash at
        srv.kill()
        stop.set()
        go.set()
        t.join(timeout=20)
        assert not t.is_alive()
        srv.start()
    assert len(acked) >= 10, acked  # the test did exercise deliveries
    msgs = fetch_all(lmtp, "max")
    for subject in acked:
        assert count_subject(msgs, subject) == 1, subject
    for subject in cut:
        assert count_subject(msgs, subject) == 0, subject
    for subject in set(sent) - set(acked):
        assert count_subject(msgs, subject) <= 1, subject


def test_msprobe_lhlo(lmtp):
    lmtp.run("set", "dispatcher.service:LMTPSS.tcp_ports", str(lmtp.lmtp.port))
    lmtp.run("set", "dispatcher.service:LMTPSS.enable", "1")
    cp = subprocess.run([str(MSPROBE), "-n", "-r", "lmtp"], env=lmtp.env, capture_output=True,
                        text=True, timeout=60)
    assert re.match(rf"lmtp,{lmtp.lmtp.port},\d+,OK,", cp.stdout), (cp.stdout, cp.stderr)
    assert cp.returncode == 0


def test_reload_and_sigterm(lmtp):
    srv = lmtp.lmtp
    lmtp.run("set", "channel:tcp_lmtpss.blocklimit", "1")
    srv.proc.send_signal(signal.SIGHUP)
    def size_limit():
        c = client(lmtp)
        caps = c.lhlo()
        c.cmd1("QUIT")
        return "SIZE 1024" in caps
    wait_until(size_limit, timeout=10, what="the new blocklimit")
    c = client(lmtp)
    c.lhlo()
    assert c.cmd1("MAIL FROM:<a@example.com> SIZE=5000").startswith("552 5.3.4")
    _, final = transaction(c, ["lee@example.com"], message("too-big", b"z" * 3000 + b"\r\n"))
    assert final == ["552 5.3.4 <lee@example.com> Message too big for this server"]
    lmtp.run("unset", "channel:tcp_lmtpss.blocklimit")
    srv.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: not size_limit() and True, timeout=10, what="the limit to go")
    # SIGTERM: an idle session is told 421; one in the middle of DATA gets
    # its answer first; then the server exits 0
    busy = client(lmtp)
    busy.lhlo()
    busy.cmd1("MAIL FROM:<a@example.com>")
    busy.cmd1("RCPT TO:<lee@example.com>")
    assert busy.cmd1("DATA").startswith("354")
    data = stuff(message("during-sigterm"))
    busy.send(data[:20])
    srv.proc.send_signal(signal.SIGTERM)
    assert c.line() == "421 4.3.2 Server shutting down"
    wait_until(lambda: " shutting down" in srv.log_text(), what="the shutdown record")
    busy.send(data[20:])
    assert busy.line() == "250 2.1.5 <lee@example.com> delivered"
    assert busy.line() == "421 4.3.2 Server shutting down"
    assert srv.proc.wait(timeout=10) == 0
    assert " shutting down" in srv.log_text()
    srv.proc = None
    srv.start()


def test_port_access_refuses_at_connect(lmtp):
    srv = lmtp.lmtp
    old = lmtp.show("mapping:PORT_ACCESS.rule").get("mapping:PORT_ACCESS.rule", [])
    lmtp.run("unset", "mapping:PORT_ACCESS.rule")
    lmtp.run("set", "mapping:PORT_ACCESS.rule", f"TCP|*|{srv.port}|127.0.0.1|* "
             "$N421$ LMTP$ is$ for$ the$ front$ ends")
    lmtp.run("set", "mapping:PORT_ACCESS.rule", "* $Y")
    def refused():
        c = client(lmtp)
        g = c.greeting
        c.close()
        return g
    try:
        srv.proc.send_signal(signal.SIGHUP)
        g = wait_until(lambda: (g := refused()).startswith("421") and g, timeout=10,
                       what="PORT_ACCESS to apply")
        assert g == "421 4.7.0 LMTP is for the front ends"
        assert "PORT_ACCESS refused TCP|127.0.0.1|" in srv.log_text()
    finally:
        lmtp.run("unset", "mapping:PORT_ACCESS.rule")
        for rule in old:
            lmtp.run("set", "mapping:PORT_ACCESS.rule", rule)
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: refused().startswith("220"), timeout=10,
                   what="PORT_ACCESS to allow again")


def test_under_the_dispatcher(lmtp):
    """The backendLMTP service: the dispatcher binds the port and runs
    tcp_lmtp_server with the socket as descriptor 3."""
    port, ssl_port = 226 + lmtp.offset, 227 + lmtp.offset
    svc = "dispatcher.service:LMTPSS"
    for name, value in (("image", "IMTA_BIN:tcp_lmtp_server"),
                        ("logfilename", "IMTA_LOG:tcp_lmtpss_server.log"),
                        ("parameter", "CHANNEL=tcp_lmtpss"), ("tcp_ports", str(port)),
                        ("ssl_ports", str(ssl_port)),
                        ("interface_address", "127.0.0.1"), ("enable", "1")):
        lmtp.run("set", f"{svc}.{name}", value)
    for other in ("SMTP", "SMTP_SUBMIT"):
        lmtp.run("set", f"dispatcher.service:{other}.enable", "0")
    dlog = lmtp.root / "data" / "log" / "dispatcher.log"
    slog = lmtp.root / "data" / "log" / "tcp_lmtpss_server.log"
    disp = subprocess.Popen([str(DISPATCHER)], env=lmtp.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: slog.exists() and "ready on port" in slog.read_text()
                   or disp.poll() is not None, timeout=15, what="the LMTP service")
        assert disp.poll() is None, disp.stderr.read()
        assert f"ready on port {port} (channel tcp_lmtpss, service LMTPSS)" in slog.read_text()
        c = Client(port)
        c.lhlo()
        _, final = transaction(c, ["kim@example.com"], message("via-dispatcher"))
        assert final == ["250 2.1.5 <kim@example.com> delivered"]
        c.cmd1("QUIT")
        assert count_subject(fetch_all(lmtp, "kim"), "via-dispatcher") == 1
        # the SSL port: TLS from the first byte, then the greeting
        ctx = ssl.create_default_context(cafile=lmtp.cafile)
        raw = socket.create_connection(("127.0.0.1", ssl_port), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        f = tls.makefile("rb")
        assert f.readline().startswith(b"220 ")
        tls.sendall(b"LHLO x\r\n")
        caps = []
        while not caps or caps[-1][3:4] != b" ":
            caps.append(f.readline())
        assert b"250-STARTTLS\r\n" not in caps  # already under TLS
        tls.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 ")
        tls.close()
    finally:
        disp.send_signal(signal.SIGTERM)
        try:
            disp.wait(timeout=20)
        except subprocess.TimeoutExpired:
            disp.kill()
            disp.wait()
    assert disp.returncode == 0, (disp.stderr.read(), dlog.read_text())


def test_directory_down_is_temporary(lmtp):
    """Runs last: it stops slapd."""
    lmtp.stop()
    try:
        c = client(lmtp)
        c.lhlo()
        c.cmd1("MAIL FROM:<a@example.com>")
        assert c.cmd1("RCPT TO:<tls@example.org>") == \
            "451 4.4.3 Directory unavailable, try again later"
        c.cmd1("QUIT")
    finally:
        lmtp.start()
