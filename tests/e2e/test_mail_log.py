"""mail.log_current: connection records and the optional fields (docs/mta.md,
"Logging").

One instance for the module (its own slapd, a user made with commadmin, a
certificate for STARTTLS) and the real dispatcher with its tcp_smtp_server
processes.  Mail is sent with smtplib; each test sets the mta.log_*
options it needs with msconfig, refreshes the servers (SIGHUP, what the
watcher sends) and parses the lines the sessions added to
data/log/mail.log_current.  The lines are compared field by field with the
seed's sample lines (002:5817-5836 and 002:6516-6540).
"""
import base64
import pwd
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD, DOMAIN, wait_until
from mta_fixtures import Dispatcher
from ldap_fixtures import create_ldap_instance, make_cert

PASSWORD = "Log-Pass-1"
DELIVER = BUILD / "workers" / "mta" / "mta_deliver"

# The seed's samples, one line each (spec: logging-monitoring.md 1.2, 1.3).
SEED_O = "28-Feb-2007 11:50:59.10 tcp_local + O TCP|206.184.139.12|25|192.160.253.66|1244 SMTP"
SEED_C = "28-Feb-2007 11:51:15.66 tcp_local + C TCP|206.184.139.12|25|192.160.253.66|1244 SMTP"
SEED_E = ("28-Feb-2007 11:51:15.12 tcp_local ims-ms EE 1 service@example.org "
          "rfc822;adam@example.com adam@ims-ms-daemon "
          "THOR.EXAMPLE.ORG (THOR.EXAMPLE.ORG [192.160.253.66])")
# log_connection, log_filename, log_message_id, log_notary, log_process and
# log_username all on (002:5817-5836)
SEED_OPT = ("16-Feb-2007 15:04:01.14 2bbe.5.3 tcp_local ims-ms EE 1 service@example.org "
            "rfc822;adam@example.com adam@ims-ms-daemon 20 "
            "/opt/sun/comms/messaging64/data/queue/ims-ms/000/ZZf0r2i0HIaY1.01 "
            "<0JDJ00803FAON200@mailstore.example.org> mailsrv "
            "example.org (example.org [192.160.253.66])")

# Outbound, LOG_CONNECTION=3 and LOG_PROCESS=1 (002:6442-6500)
SEED_OUT_O = ("28-Feb-2007 09:13:19.87 40a5.2.0 tcp_local - O "
              "TCP|206.184.139.12|5900|206.184.139.66|25 "
              "SMTP/hostb.example.com/mailhub.example.com")
SEED_OUT_C = ("28-Feb-2007 09:13:20.50 40a5.2.6 tcp_local - C "
              "TCP|206.184.139.12|5901|206.184.139.70|25 "
              "SMTP/hosta.example.com/hosta.example.com")

# The shape of each field, as the seed writes it.
SHAPES = {
    "date": r"\d\d-[A-Z][a-z]{2}-\d{4}",
    "time": r"\d\d:\d\d:\d\d\.\d\d",
    "node": r"[A-Za-z0-9.-]+",
    "process": r"[0-9a-f]+\.[0-9a-f]+\.\d+",
    "channel": r"[a-z_-]+",
    "dir": r"[+-]",
    "code": r"[A-Z]+",
    "size": r"\d+",
    "from": r"\S*",
    "orig": r"rfc822;\S*",
    "to": r"\S+",
    "notary": r"\d+",
    "file": r"/\S+",
    "envid": r"\S+",
    "msgid": r"<\S+>",
    "user": r"\*?\S+",
    "transport": r"TCP\|[0-9.]+\|\d+\|[0-9.]+\|\d+",
    "app": r"SMTP\S*",
    "secs": r"\d+",
    "conn": r"\S+ \((\S+ )?\[[0-9.]+\]\)",
    "diag": r".+",
}


def split(line, names):
    """Split a text record into named fields: every name takes one blank-separated
    token, but the last, which takes the rest of the line."""
    toks = line.split(" ", len(names) - 1)
    assert len(toks) == len(names), (line, names)
    return dict(zip(names, toks))


def same_shape(ours, seed, names):
    """Field by field: both lines have the fields in the same order and each field
    of ours has the shape of the seed's (and the seed's sample fits the shape)."""
    for n in names:
        assert re.fullmatch(SHAPES[n], seed[n]), ("seed", n, seed[n])
        assert re.fullmatch(SHAPES[n], ours[n]), ("ours", n, ours[n])


MSG_NAMES = ["date", "time", "channel", "dst", "code", "size", "from", "orig", "to"]
CONN_NAMES = ["date", "time", "channel", "dir", "code", "transport", "app"]
SHAPES["dst"] = SHAPES["channel"]


@pytest.fixture(scope="module")
def mlog(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlog")
    inst = create_ldap_instance(root / "instance")
    disp = None
    try:
        inst.start()
        cert, key = make_cert(root)
        inst.cafile = str(cert)
        script = [f"set dispatcher.service:{svc}.interface_address 127.0.0.1"
                  for svc in ("SMTP", "SMTP_SUBMIT")]
        script += ["set dispatcher.service:SMTP.max_procs 1",
                   "set dispatcher.service:SMTP_SUBMIT.max_procs 1",
                   f"set base.sslcertfile {cert}", f"set base.sslkeyfile {key}",
                   "set channel:defaults.logging ''",
                   "unset mapping:PORT_ACCESS.rule",
                   "set mapping:PORT_ACCESS.rule 'TCP|*|*|127.0.0.3|* $N421$ Connection$ declined'",
                   "set mapping:PORT_ACCESS.rule '*|*|*|*|* $C$|INTERNAL_IP;$3|$Y$E'",
                   "set mapping:PORT_ACCESS.rule '* $YEXTERNAL'"]
        inst.script("\n".join(script) + "\nwrite -m 'mail log test'\n")
        inst.commadmin("user", "create", "-l", "joe", "-d", DOMAIN, "-W", PASSWORD,
                       "-F", "joe", "-L", "Log")
        cnf = inst.compiled.read_text()
        inst.port_smtp = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                                       cnf).group(1))
        inst.port_submit = int(re.search(r"dispatcher\.service:SMTP_SUBMIT\.tcp_ports\t(\d+)",
                                         cnf).group(1))
        disp = Dispatcher(inst)
        disp.start()
        inst.disp = disp
        yield inst
    finally:
        if disp is not None:
            disp.stop()
        inst.teardown()


LOG_OPTS = ("log_connection", "log_process", "log_notary", "log_username", "log_node",
            "log_envelope_id", "log_filename", "log_message_id", "log_queue_time",
            "separate_connection_log", "log_format")


def configure(inst, **opts):
    """Set every mta.log_* option this file uses (unnamed ones to their default)."""
    lines = []
    for name in LOG_OPTS:
        v = opts.get(name, 1 if name == "log_format" else 0)
        lines.append(f"set mta.{name} {v}")
    inst.script("\n".join(lines) + "\nwrite -m 'log options'\n")
    inst.disp.refresh()


class Tail:
    """The lines a log file gains from now on."""

    def __init__(self, inst, name="mail.log_current"):
        self.path = inst.root / "data" / "log" / name
        self.start = self.path.stat().st_size if self.path.exists() else 0

    def lines(self):
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode().splitlines()

    def wait(self, pred, what):
        return wait_until(lambda: [ln for ln in self.lines() if pred(ln)], timeout=15,
                          what=what)


def server_user(inst):
    """The user name the SMTP server processes run as (log_username's default)."""
    for pid in inst.disp.children():
        with open(f"/proc/{pid}/status") as f:
            uid = int(re.search(r"^Uid:\s+\d+\s+(\d+)", f.read(), re.M).group(1))
        return pwd.getpwuid(uid).pw_name
    pytest.fail("no SMTP server process")


def send(inst, rcpt=f"joe@{DOMAIN}", port=None, login=None, envid=None):
    """One message; returns (client port, queue id)."""
    c = smtplib.SMTP("127.0.0.1", port or inst.port_smtp, timeout=15)
    cport = c.sock.getsockname()[1]
    c.ehlo("client.example.org")
    if login is not None:
        c.starttls(context=ssl.create_default_context(cafile=inst.cafile))
        c.ehlo("client.example.org")
        code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(
            f"\0{login}\0wrong".encode()).decode())
        assert code == 535
        c.login(login, PASSWORD)
    code, _ = c.mail(f"sender@{DOMAIN}", [f"ENVID={envid}"] if envid else [])
    assert code == 250
    assert c.rcpt(rcpt)[0] == 250
    code, reply = c.data(f"Subject: log\r\nMessage-ID: <m1@{DOMAIN}>\r\n\r\nhello\r\n")
    assert code == 250, reply
    qid = re.search(r"queued as (\S+)", reply.decode()).group(1)
    c.quit()
    # the session's records are all written once the server has ended it
    inst.disp.closed(cport, "tcp_submit_server.log" if port == inst.port_submit
                     else "tcp_smtp_server.log")
    return cport, qid


def test_connection_records_match_the_seed(mlog):
    configure(mlog, log_connection=3)
    tail = Tail(mlog)
    cport, _ = send(mlog)
    tail.wait(lambda ln: " + C " in ln, "the C record")
    recs = tail.lines()
    assert len(recs) == 3, recs
    o, e, c = recs
    # O and C: same fields, in the same order, as the seed's inbound sample
    for ours_line, seed_line, code in ((o, SEED_O, "O"), (c, SEED_C, "C")):
        ours, seed = split(ours_line, CONN_NAMES), split(seed_line, CONN_NAMES)
        same_shape(ours, seed, CONN_NAMES)
        assert (ours["channel"], ours["dir"], ours["code"], ours["app"]) == \
            ("tcp_local", "+", code, "SMTP"), ours_line
        # TCP|local-ip|local-port|remote-ip|remote-port, from the server's side
        assert ours["transport"] == f"TCP|127.0.0.1|{mlog.port_smtp}|127.0.0.1|{cport}"
    # E: the seed's nine fields, then the connection information (bit 0)
    names = MSG_NAMES + ["conn"]
    ours, seed = split(e, names), split(SEED_E, names)
    same_shape(ours, seed, names)
    assert (ours["channel"], ours["dst"], ours["code"], ours["size"]) == \
        ("tcp_intranet", "ims-ms", "EE", "1"), e
    assert (ours["from"], ours["orig"], ours["to"]) == \
        (f"sender@{DOMAIN}", f"rfc822;joe@{DOMAIN}", "joe@ims-ms-daemon"), e
    # no reverse DNS lookup: the HELO name and [IP] only
    assert ours["conn"] == "client.example.org ([127.0.0.1])", e


def test_connection_records_follow_the_option(mlog):
    configure(mlog, log_connection=1)  # bit 0 only: fields, no O/C records
    tail = Tail(mlog)
    send(mlog)
    assert not [ln for ln in tail.lines() if " + O " in ln or " + C " in ln], tail.lines()
    assert tail.lines()[0].endswith(" client.example.org ([127.0.0.1])")
    configure(mlog, log_connection=0)
    tail = Tail(mlog)
    send(mlog)
    e = tail.wait(lambda ln: " EE " in ln, "the E record")[0]
    assert e.endswith(" joe@ims-ms-daemon"), e  # no connection field


def test_optional_fields_match_the_seed(mlog):
    configure(mlog, log_connection=1, log_process=1, log_notary=1, log_username=1,
              log_filename=1, log_message_id=1)
    tail = Tail(mlog)
    send(mlog)
    e = tail.wait(lambda ln: " EE " in ln, "the E record")[0]
    seed_names = ["date", "time", "process", "channel", "dst", "code", "size", "from", "orig",
                  "to", "notary", "file", "msgid", "user", "conn"]
    seed = split(SEED_OPT, seed_names)
    # The SMTP server's E record knows neither the queue file nor the
    # Message-ID (it does not parse the header), so those two fields are left
    # out; every other field is where the seed has it.
    names = [n for n in seed_names if n not in ("file", "msgid")]
    ours = split(e, names)
    same_shape(ours, seed, names)
    assert int(ours["process"].split(".")[0], 16) in mlog.disp.children(), e
    assert ours["process"].split(".")[1] == "0"
    assert ours["user"] == server_user(mlog), e
    assert ours["notary"] == "0", e  # no NOTIFY given
    assert ours["conn"] == "client.example.org ([127.0.0.1])"


def test_node_envelope_id_and_sasl_user(mlog):
    configure(mlog, log_connection=131, log_username=1, log_node=1, log_envelope_id=1,
              log_queue_time=1)
    node = socket.gethostname()
    tail = Tail(mlog)
    cport, _ = send(mlog, port=mlog.port_submit, login="joe", envid="env-42")
    tail.wait(lambda ln: " + C " in ln, "the C record")
    recs = tail.lines()
    assert [ln.split()[5] for ln in recs] == ["O", "U", "U", "EEAS", "C"], recs
    o, bad, good, e, c = recs
    names = ["date", "time", "node", "channel", "dir", "code", "transport", "app", "user"]
    ours = split(o, names)
    same_shape(ours, split(SEED_O.replace(" tcp_local", f" {node} tcp_local") + " mailsrv",
                           names), names)
    assert (ours["node"], ours["channel"], ours["user"]) == \
        (node, "tcp_submit", server_user(mlog)), o
    assert ours["transport"] == f"TCP|127.0.0.1|{mlog.port_submit}|127.0.0.1|{cport}"
    # U: the layout of O and C, the SASL user, the reply as the diagnostic
    assert split(bad, names + ["diag"])["user"] == "*joe"
    assert bad.endswith(" *joe 535 5.7.8 Authentication credentials invalid"), bad
    assert good.endswith(" *joe 235 2.7.0 Authentication successful"), good
    # E: node after the time, the envelope id before the user, the SASL user
    names = ["date", "time", "node", "channel", "dst", "code", "size", "from", "orig", "to",
             "envid", "user", "conn"]
    ours = split(e, names)
    assert (ours["node"], ours["channel"], ours["envid"], ours["user"]) == \
        (node, "tcp_submit", "env-42", "*joe"), e
    # C: the SASL user and the connection's length in seconds (log_queue_time)
    names = CONN_NAMES[:2] + ["node"] + CONN_NAMES[2:] + ["user", "secs"]
    ours = split(c, names)
    assert (ours["user"], ours["code"]) == ("*joe", "C") and int(ours["secs"]) < 30, c
    # without ENVID the queue id stands for the envelope id
    tail = Tail(mlog)
    _, qid = send(mlog)
    e = tail.wait(lambda ln: " EE " in ln, "the E record")[0]
    fields = e.split(" ")
    assert fields[10] == qid and fields[11] == server_user(mlog), e


def test_port_access_rejection_writes_x(mlog):
    configure(mlog, log_connection=3)
    tail = Tail(mlog)
    s = socket.create_connection(("127.0.0.1", mlog.port_smtp), timeout=15,
                                 source_address=("127.0.0.3", 0))
    cport = s.getsockname()[1]
    try:
        assert s.makefile("rb").readline().startswith(b"421 ")
    finally:
        s.close()
    x = tail.wait(lambda ln: " + X " in ln, "the X record")[0]
    ours = split(x, CONN_NAMES + ["diag"])
    assert ours["transport"] == f"TCP|127.0.0.1|{mlog.port_smtp}|127.0.0.3|{cport}"
    assert ours["diag"] == "Connection declined", x
    assert not [ln for ln in tail.lines() if " + O " in ln or " + C " in ln]


def test_separate_connection_log_in_xml(mlog):
    configure(mlog, log_connection=3, log_format=4, separate_connection_log=1,
              log_queue_time=1, log_process=1)
    mail, conn = Tail(mlog), Tail(mlog, "connection.log_current")
    cport, _ = send(mlog)
    conn.wait(lambda ln: 'ac="C"' in ln, "the C record")
    cos = [ET.fromstring(ln) for ln in conn.lines()]
    assert [(x.tag, x.get("ac"), x.get("dr"), x.get("sc")) for x in cos] == \
        [("co", "O", "+", "tcp_local"), ("co", "C", "+", "tcp_local")]
    for x in cos:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d", x.get("ts"))
        assert x.get("tr") == f"TCP|127.0.0.1|{mlog.port_smtp}|127.0.0.1|{cport}"
        assert x.get("ap") == "SMTP" and re.fullmatch(SHAPES["process"], x.get("pi"))
        assert ("us" in x.attrib) is False  # log_username is off
    assert "ct" not in cos[0].attrib and int(cos[1].get("ct")) < 30
    ens = [ET.fromstring(ln) for ln in mail.lines()]
    assert [x.tag for x in ens] == ["en"], mail.lines()  # no connection record here
    assert ens[0].get("ss") == "client.example.org ([127.0.0.1])"


class Peer:
    """A minimal next hop on 127.0.0.1 that takes every message."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.messages = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as f:
                self.session(conn, f)

    def session(self, conn, f):
        conn.sendall(b"220 peer.example.net ESMTP\r\n")
        for line in f:
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-peer.example.net\r\n250 PIPELINING\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                for body in f:
                    if body in (b".\r\n", b".\n"):
                        break
                self.messages += 1
                conn.sendall(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 ok\r\n")

    def close(self):
        self.sock.close()


def test_outbound_connection_records_match_the_seed(mlog):
    """The SMTP client (mta_deliver) writes - O and - C around its session."""
    peer = Peer()
    try:
        configure(mlog, log_connection=3, log_process=1)
        # a domain literal goes out on tcp_local; its port points at the peer
        mlog.run("set", "channel:tcp_local.port", str(peer.port))
        send(mlog, rcpt="someone@[127.0.0.1]")
        tail = Tail(mlog)
        cp = subprocess.run([str(DELIVER), "tcp_local"], env=mlog.env, timeout=60,
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr
        assert peer.messages == 1
        recs = [ln for ln in tail.lines() if re.search(r" tcp_local - [A-Z] ", ln)]
        assert [ln.split()[5] for ln in recs] == ["O", "C"], tail.lines()
        names = ["date", "time", "process", "channel", "dir", "code", "transport", "app"]
        for ours_line, seed_line in zip(recs, (SEED_OUT_O, SEED_OUT_C)):
            ours, seed = split(ours_line, names), split(seed_line, names)
            same_shape(ours, seed, names)
            assert ours["channel"] == "tcp_local" and ours["dir"] == "-"
            # TCP|local-ip|local-port|remote-ip|remote-port, from the client's side
            assert re.fullmatch(rf"TCP\|127\.0\.0\.1\|\d+\|127\.0\.0\.1\|{peer.port}",
                                ours["transport"]), ours_line
            # SMTP/initial-host/host-connected-to
            assert ours["app"] == "SMTP/[127.0.0.1]/127.0.0.1", ours_line
        assert recs[0].split()[6] == recs[1].split()[6]  # one connection
        d = [ln for ln in tail.lines() if re.search(r" tcp_local DE[A-Z]* ", ln)]
        assert len(d) == 1, tail.lines()
    finally:
        peer.close()
        mlog.run("unset", "channel:tcp_local.port", check=False)
