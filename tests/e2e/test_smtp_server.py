"""The dispatcher and tcp_smtp_server end to end (docs/mta.md).

One instance for the module: its own slapd (init-config --local-directory,
ldap-local run), users made with commadmin, a certificate made with
openssl, and the real dispatcher started the way the watcher starts it; it
runs the SMTP (25+N) and SMTP_SUBMIT (587+N) services' tcp_smtp_server
processes on 127.0.0.1.  Clients are smtplib, raw sockets (pipelining in
one write, BDAT, a truncated DATA) and swaks when installed.

"Outside" clients connect from 127.0.0.2: the test narrows INTERNAL_IP to
127.0.0.1, so 127.0.0.2 stays on tcp_local (relaying refused) while
127.0.0.1 switches to tcp_intranet.  127.0.0.3 is refused by PORT_ACCESS.
"""
import base64
import os
import pathlib
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BUILD, DOMAIN, wait_until
from mta_fixtures import Dispatcher
from ldap_fixtures import create_ldap_instance, make_cert

PASSWORD = "Smtp-Pass-1"
IDLE_MS = 4000
MAX_RCPTS = 6
LIMIT_BLOCKS = 200  # channel:defaults.blocklimit: 200 * 1024 bytes


MAPPINGS = [
    ("INTERNAL_IP", "$(127.0.0.1/32) $Y"),
    ("INTERNAL_IP", "* $N"),
    ("PORT_ACCESS", "TCP|*|*|127.0.0.3|* $N421$ Connection$ declined"),
    ("PORT_ACCESS", "*|*|*|*|* $C$|INTERNAL_IP;$3|$Y$E"),
    ("PORT_ACCESS", "* $YEXTERNAL"),
    ("ORIG_SEND_ACCESS", "tcp_local|*|tcp_local|* $NRelaying$ not$ permitted"),
    ("ORIG_SEND_ACCESS", "*|*|*|blocked@example.com $X5.7.2|$NRecipient$ blocked$ by$ policy"),
    ("MAIL_ACCESS", "TCP|*|*|*|*|SMTP*|MAIL|*|spammer@*|*|* $NSender$ refused"),
]


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    root = tmp_path_factory.mktemp("smtp")
    inst = create_ldap_instance(root / "instance")
    disp = None
    try:
        inst.start()
        cert, key = make_cert(root)
        inst.cafile = str(cert)
        for svc in ("SMTP", "SMTP_SUBMIT"):
            inst.run("set", f"dispatcher.service:{svc}.interface_address", "127.0.0.1")
        inst.run("set", "dispatcher.service:SMTP.min_procs", "2")
        inst.port_ssl = 465 + inst.offset
        inst.run("set", "dispatcher.service:SMTP_SUBMIT.ssl_ports", str(inst.port_ssl))
        inst.run("set", "base.sslcertfile", str(cert))
        inst.run("set", "base.sslkeyfile", str(key))
        inst.run("set", "channel:defaults.blocklimit", str(LIMIT_BLOCKS))
        inst.run("set", "channel:defaults.logging", "")
        inst.run("set", "base.postmaster", f"ann@{DOMAIN}")
        for table in ("INTERNAL_IP", "PORT_ACCESS", "ORIG_SEND_ACCESS"):
            inst.run("unset", f"mapping:{table}.rule")
        for table, rule in MAPPINGS:
            inst.run("set", f"mapping:{table}.rule", rule)
        for uid in ("joe", "ann", "kim", "lee"):
            inst.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD,
                           "-F", uid, "-L", "Smtp")
        inst.commadmin("domain", "create", "-d", "hosted.org")
        inst.commadmin("user", "create", "-l", "eve", "-d", "hosted.org", "-W", PASSWORD,
                       "-F", "eve", "-L", "Smtp")
        ports = inst.compiled.read_text()
        inst.port_smtp = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                                       ports).group(1))
        inst.port_submit = int(re.search(r"dispatcher\.service:SMTP_SUBMIT\.tcp_ports\t(\d+)",
                                         ports).group(1))
        disp = Dispatcher(inst, env={"MS_SMTP_IDLE_MS": str(IDLE_MS),
                                     "MS_SMTP_MAX_RCPTS": str(MAX_RCPTS)}, strict=True)
        disp.start()
        inst.disp = disp
        inst.queue = inst.root / "data" / "queue"
        yield inst
    finally:
        if disp is not None:
            disp.stop()
        inst.teardown()


def tls_context(inst):
    return ssl.create_default_context(cafile=inst.cafile)


def client(inst, port=None, source="127.0.0.1"):
    c = smtplib.SMTP("127.0.0.1", port or inst.port_smtp, timeout=15,
                     source_address=(source, 0))
    return c


def queue_files(inst, channel=None):
    base = inst.queue
    if not base.exists():
        return set()
    out = set()
    for ch in base.iterdir():
        if ch.name.startswith(".") or not ch.is_dir():
            continue
        if channel is not None and ch.name != channel:
            continue
        out |= {p for p in ch.iterdir() if p.is_file()}
    return out


def queue_file_of(inst, qid, channel):
    files = [p for p in (inst.queue / channel).iterdir() if qid in p.name]
    assert len(files) == 1, (qid, channel, list((inst.queue / channel).iterdir()))
    return files[0]


def tmp_files(inst):
    d = inst.queue / ".tmp"
    return list(d.iterdir()) if d.exists() else []


def qid_of(reply):
    m = re.search(r"queued as ([0-9a-f]{24})", reply)
    assert m, reply
    return m.group(1)


def msg(subject="hello", size=0):
    body = "x" * 70 + "\r\n"
    text = f"From: a@remote.example.net\r\nTo: joe@{DOMAIN}\r\nSubject: {subject}\r\n\r\n"
    while len(text) < size:
        text += body
    return text + "last line\r\n"


class Raw:
    """A raw SMTP connection: send bytes, read replies."""

    def __init__(self, inst, port=None, source="127.0.0.1"):
        self.s = socket.create_connection(("127.0.0.1", port or inst.port_smtp), timeout=15,
                                          source_address=(source, 0))
        self.f = self.s.makefile("rb")

    def reply(self):
        lines = []
        while True:
            ln = self.f.readline().decode()
            assert ln, f"connection closed after {lines}"
            lines.append(ln.rstrip("\r\n"))
            if len(ln) < 4 or ln[3] != "-":
                return "\n".join(lines)

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def close(self):
        self.f.close()
        self.s.close()


# ---- EHLO, STARTTLS, AUTH ---------------------------------------------------

def test_ehlo_capabilities(smtp):
    c = client(smtp)
    code, text = c.ehlo("client.example.org")
    assert code == 250
    caps = text.decode().split("\n")
    for want in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS", "DSN",
                 "SMTPUTF8", "CHUNKING", f"SIZE {LIMIT_BLOCKS * 1024}"):
        assert want in caps, (want, caps)
    # AUTH only under TLS: a password never crosses the network in clear.
    assert not any(cap.startswith("AUTH") for cap in caps), caps
    assert c.noop()[0] == 250
    c.quit()


def test_banner_and_helo(smtp):
    c = client(smtp)
    code, text = c.helo("client.example.org")
    assert code == 250
    code, text = c.docmd("EHLO", "bad..name")
    assert code == 501
    c.quit()


def test_submit_requires_auth_after_tls(smtp):
    c = client(smtp, smtp.port_submit)
    c.ehlo("me.example.org")
    assert "auth" not in c.esmtp_features
    assert c.mail("joe@example.com")[0] == 530  # mustsaslserver: 530 5.7.0
    code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        f"\0joe\0{PASSWORD}".encode()).decode())
    assert code == 538 and b"5.7.11" in text
    c.starttls(context=tls_context(smtp))
    c.ehlo("me.example.org")
    assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        c.login("joe", "wrong-password")
    assert e.value.smtp_code == 535
    c.login("joe", PASSWORD)
    before = queue_files(smtp, "tcp_local")
    c.mail("joe@example.com")
    code, _ = c.rcpt("friend@remote.example.net")
    assert code == 250
    code, reply = c.data(msg("relay after auth"))
    assert code == 250
    qid = qid_of(reply.decode())
    f = queue_file_of(smtp, qid, "tcp_local")
    assert f not in before
    head = f.read_text().split("\n\n", 1)[0]
    assert "\nauth joe\n" in head and "\nsource tcp_submit\n" in head, head
    assert "rcpt <friend@remote.example.net>" in head
    c.quit()


def test_auth_login_mechanism(smtp):
    c = client(smtp, smtp.port_submit)
    c.starttls(context=tls_context(smtp))
    c.ehlo("me.example.org")
    c.user, c.password = "ann", PASSWORD
    code, _ = c.auth("LOGIN", c.auth_login)
    assert code == 235
    code, text = c.docmd("AUTH", "PLAIN")
    assert code == 503  # already authenticated
    c.quit()


def test_starttls_twice(smtp):
    c = client(smtp)
    c.starttls(context=tls_context(smtp))
    code, text = c.docmd("STARTTLS")
    assert code == 503, (code, text)
    c.quit()


def test_implicit_tls_port(smtp):
    c = smtplib.SMTP_SSL("127.0.0.1", smtp.port_ssl, context=tls_context(smtp), timeout=15)
    c.ehlo("ssl.example.org")
    assert "STARTTLS" not in text_caps(c)
    c.login("kim", PASSWORD)
    c.quit()


def text_caps(c):
    return {k.upper() for k in c.esmtp_features}


# ---- routing, relaying, directory -------------------------------------------

def test_relay_from_outside_refused(smtp):
    c = client(smtp, source="127.0.0.2")
    c.ehlo("outside.example.net")
    c.mail("someone@outside.example.net")
    code, text = c.rcpt("victim@elsewhere.example.org")
    assert code == 550 and text.startswith(b"5.7.1") and b"Relaying not permitted" in text
    code, _ = c.rcpt(f"joe@{DOMAIN}")  # local users are always reachable
    assert code == 250
    # a source route is ignored: no relaying through an internal channel's host
    code, text = c.docmd("RCPT", "TO:<@ims-ms-daemon:victim@elsewhere.example.org>")
    assert code == 550 and b"Relaying not permitted" in text, (code, text)
    c.quit()


def test_authenticated_outside_client_may_relay(smtp):
    c = client(smtp, source="127.0.0.2")  # tcp_local: maysaslserver, saslswitchchannel
    c.starttls(context=tls_context(smtp))
    c.ehlo("roaming.example.net")
    c.login("joe", PASSWORD)
    c.mail(f"joe@{DOMAIN}")
    code, text = c.rcpt("friend@elsewhere.example.org")
    assert code == 250, (code, text)
    code, reply = c.data(msg("roaming"))
    assert code == 250
    head = queue_file_of(smtp, qid_of(reply.decode()), "tcp_local").read_text()
    assert "\nsource tcp_auth\n" in head and "\nauth joe\n" in head
    c.quit()


def test_internal_client_may_relay(smtp):
    c = client(smtp)  # 127.0.0.1 is in INTERNAL_IP: switched to tcp_intranet
    c.ehlo("inside.example.com")
    c.mail("joe@example.com")
    assert c.rcpt("friend@elsewhere.example.org")[0] == 250
    c.rset()
    c.quit()


def test_unknown_user(smtp):
    c = client(smtp)
    c.ehlo("x.example.org")
    c.mail("a@remote.example.net")
    code, text = c.rcpt(f"nobody@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.1.1")
    code, text = c.rcpt("joe@bad_domain..")
    assert code == 501
    assert c.rcpt(f"JOE@{DOMAIN.upper()}")[0] == 250
    c.quit()


def test_hosted_domain_and_subaddress(smtp):
    c = client(smtp, source="127.0.0.2")  # outside: hosted domains are not relaying
    c.ehlo("x.example.org")
    c.mail("a@remote.example.net")
    assert c.rcpt("eve@hosted.org")[0] == 250
    assert c.rcpt("nobody@hosted.org")[0] == 550
    assert c.rcpt(f"joe+lists@{DOMAIN}")[0] == 250
    assert c.rcpt(f"nobody+x@{DOMAIN}")[0] == 550
    assert c.rcpt("<postmaster>")[0] == 250  # RFC 5321 4.5.1: base.postmaster
    code, reply = c.data(msg("hosted"))
    assert code == 250
    head = queue_file_of(smtp, qid_of(reply.decode()), "ims-ms").read_text().split("\n\n")[0]
    assert "rcpt <eve%hosted.org@ims-ms-daemon>" in head, head
    assert "rcpt <joe+2Blists@ims-ms-daemon>" in head, head  # xtext in the file
    assert "rcpt <ann@ims-ms-daemon> orig=<postmaster>" in head, head
    c.quit()


def test_access_mappings(smtp):
    c = client(smtp)
    c.ehlo("x.example.org")
    # MAIL_ACCESS sees sender and recipient, so it answers at RCPT
    assert c.mail("spammer@spam.example.net")[0] == 250
    code, text = c.rcpt(f"joe@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.7.1") and b"Sender refused" in text
    c.rset()
    c.mail("ok@remote.example.net")
    code, text = c.rcpt(f"blocked@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.7.2") and b"blocked by policy" in text
    c.quit()
    s = socket.create_connection(("127.0.0.1", smtp.port_smtp), timeout=10,
                                 source_address=("127.0.0.3", 0))
    banner = s.recv(1000).decode()
    s.close()
    assert banner.startswith("421 ") and "Connection declined" in banner, banner


# ---- the message ------------------------------------------------------------

def test_message_queued_and_durable_before_250(smtp):
    c = client(smtp)
    c.ehlo("x.example.org")
    c.mail("sender@remote.example.net")
    c.rcpt(f"joe@{DOMAIN}")
    c.rcpt(f"ann@{DOMAIN}")
    code, reply = c.data(msg("two recipients"))
    # at the moment 250 arrives the file is in its channel directory
    qid = qid_of(reply.decode())
    f = queue_file_of(smtp, qid, "ims-ms")
    assert code == 250
    text = f.read_bytes()
    head, body = text.split(b"\n\n", 1)
    assert b"rcpt <joe@ims-ms-daemon>" in head and b"rcpt <ann@ims-ms-daemon>" in head
    assert b"from <sender@remote.example.net>" in head
    assert body.startswith(b"Received: from x.example.org ([127.0.0.1])\r\n by ")
    assert f" id {qid}".encode() in body
    assert body.endswith(b"last line\r\n")
    assert tmp_files(smtp) == []
    c.quit()


def test_enqueue_and_reject_records_in_mail_log(smtp):
    log = smtp.root / "data" / "log" / "mail.log_current"
    c = client(smtp, source="127.0.0.2")
    c.ehlo("logger.example.org")
    c.mail("writer@remote.example.net")
    assert c.rcpt("victim@elsewhere.example.org")[0] == 550
    c.rcpt(f"kim@{DOMAIN}")
    code, reply = c.data(msg("logged"))
    assert code == 250
    c.quit()
    text = log.read_text()
    assert re.search(r"tcp_local JE 0 writer@remote\.example\.net rfc822; "
                     r"victim@elsewhere\.example\.org .*550 5\.7\.1 Relaying not permitted",
                     text), text
    assert re.search(r"tcp_local ims-ms EE \d+ writer@remote\.example\.net "
                     rf"rfc822;kim@{DOMAIN} kim@ims-ms-daemon", text), text


def test_refresh_applies_to_new_sessions(smtp):
    smtp.run("set", "mapping:ORIG_SEND_ACCESS.rule",
             "*|*|*|ann@example.com $X4.2.1|$NTry$ later")
    logf = smtp.root / "data" / "log" / "tcp_smtp_server.log"
    before = logf.read_text().count("config generation")
    try:
        os.kill(smtp.disp.proc.pid, signal.SIGHUP)  # forwarded to both SMTP processes
        wait_until(lambda: logf.read_text().count("config generation") >= before + 2,
                   what="the servers to reload")
        c = client(smtp)
        c.ehlo("x.example.org")
        c.mail("a@remote.example.net")
        code, text = c.rcpt(f"ann@{DOMAIN}")
        assert code == 450 and text.startswith(b"4.2.1 Try later"), (code, text)
        c.quit()
    finally:
        smtp.run("unset", "mapping:ORIG_SEND_ACCESS.rule",
                 "*|*|*|ann@example.com $X4.2.1|$NTry$ later")
        os.kill(smtp.disp.proc.pid, signal.SIGHUP)
        wait_until(lambda: logf.read_text().count("config generation") >= before + 4,
                   what="the servers to reload again")


def test_dsn_parameters_in_queue_file(smtp):
    c = client(smtp)
    c.ehlo("x.example.org")
    code, _ = c.mail("sender@remote.example.net", ["RET=HDRS", "ENVID=abc+2Bdef"])
    assert code == 250
    code, _ = c.rcpt(f"joe@{DOMAIN}", ["NOTIFY=SUCCESS,FAILURE",
                                        f"ORCPT=rfc822;joe+40{DOMAIN}"])
    assert code == 250
    code, reply = c.data(msg("dsn"))
    assert code == 250
    head = queue_file_of(smtp, qid_of(reply.decode()), "ims-ms").read_text().split("\n\n")[0]
    assert "\nenvid abc+2Bdef\n" in head or "\nenvid abc+def\n" in head, head
    assert "\nret hdrs\n" in head
    rcpt = [ln for ln in head.split("\n") if ln.startswith("rcpt ")][0]
    assert "notify=success,failure" in rcpt and f"orcpt=rfc822;joe@{DOMAIN}" in \
        rcpt.replace("+40", "@"), rcpt
    code, _ = c.docmd("MAIL", "FROM:<a@b.example> RET=SOMETIMES")
    assert code == 555
    c.quit()


def test_size_limit(smtp):
    limit = LIMIT_BLOCKS * 1024
    c = client(smtp)
    c.ehlo("x.example.org")
    code, text = c.docmd("MAIL", f"FROM:<a@remote.example.net> SIZE={limit + 1}")
    assert code == 552 and text.startswith(b"5.3.4")
    before = queue_files(smtp)
    c.mail("a@remote.example.net")
    c.rcpt(f"joe@{DOMAIN}")
    code, text = c.data(msg("big", size=limit + 1000))
    assert code == 552
    assert queue_files(smtp) == before and tmp_files(smtp) == []
    # the session goes on
    c.mail("a@remote.example.net")
    c.rcpt(f"joe@{DOMAIN}")
    assert c.data(msg("small"))[0] == 250
    c.quit()


def test_pipelining_in_one_write(smtp):
    r = Raw(smtp)
    assert r.reply().startswith("220 ")
    r.send("EHLO pipe.example.org\r\nMAIL FROM:<p@remote.example.net>\r\n"
           f"RCPT TO:<joe@{DOMAIN}>\r\nRCPT TO:<nobody@{DOMAIN}>\r\n"
           f"RCPT TO:<ann@{DOMAIN}>\r\nRCPT TO:<Joe@{DOMAIN}>\r\nDATA\r\n")
    assert "PIPELINING" in r.reply()
    assert r.reply().startswith("250 2.1.0")
    assert r.reply().startswith("250 2.1.5")
    assert r.reply().startswith("550 5.1.1")
    assert r.reply().startswith("250 2.1.5")
    assert r.reply().startswith("250 2.1.5")  # joe again: one copy
    assert r.reply().startswith("354 ")
    r.send(msg("pipelined") + ".\r\nQUIT\r\n")
    reply = r.reply()
    assert reply.startswith("250 2.5.0"), reply
    assert r.reply().startswith("221 ")
    r.close()
    head = queue_file_of(smtp, qid_of(reply), "ims-ms").read_text().split("\n\n")[0]
    assert head.count("\nrcpt ") == 2


def test_half_closed_client_is_answered(smtp):
    """A client that sends a whole transaction and shuts its side (as
    `printf ... | nc` does) still gets every reply, and the message."""
    r = Raw(smtp)
    r.reply()
    r.send(f"EHLO half.example.org\r\nMAIL FROM:<h@remote.example.net>\r\n"
           f"RCPT TO:<joe@{DOMAIN}>\r\nDATA\r\n" + msg("half-closed") + ".\r\nQUIT\r\n")
    r.s.shutdown(socket.SHUT_WR)
    replies = [r.reply() for _ in range(6)]
    assert replies[4].startswith("250 2.5.0") and replies[5].startswith("221"), replies
    queue_file_of(smtp, qid_of(replies[4]), "ims-ms")
    r.close()


def test_bdat(smtp):
    r = Raw(smtp)
    r.reply()
    r.send("EHLO chunk.example.org\r\n")
    assert "CHUNKING" in r.reply()
    part1 = b"Subject: chunks\r\n\r\n.line starting with a dot\r\n"
    part2 = b"second chunk, no dot stuffing\r\n.\r\nend\r\n"
    r.send(f"MAIL FROM:<c@remote.example.net>\r\nRCPT TO:<joe@{DOMAIN}>\r\n"
           f"BDAT {len(part1)}\r\n".encode() + part1)
    assert r.reply().startswith("250")
    assert r.reply().startswith("250")
    assert r.reply().startswith("250 2.0.0")
    r.send(f"BDAT {len(part2)} LAST\r\n".encode() + part2)
    reply = r.reply()
    assert reply.startswith("250 2.5.0"), reply
    body = queue_file_of(smtp, qid_of(reply), "ims-ms").read_bytes().split(b"\n\n", 1)[1]
    assert body.endswith(part1 + part2)
    r.send("DATA\r\n")
    assert r.reply().startswith("503")
    r.send("QUIT\r\n")
    r.close()


def test_truncated_data_leaves_nothing(smtp):
    before = queue_files(smtp)
    logf = smtp.root / "data" / "log" / "tcp_smtp_server.log"
    r = Raw(smtp)
    r.reply()
    r.send(f"EHLO cut.example.org\r\nMAIL FROM:<t@remote.example.net>\r\n"
           f"RCPT TO:<joe@{DOMAIN}>\r\nDATA\r\n")
    for _ in range(4):
        r.reply()
    n = logf.read_text().count("connection lost during the message")
    r.send("Subject: cut\r\n\r\nhalf of a message\r\n")
    r.close()
    wait_until(lambda: logf.read_text().count("connection lost during the message") > n,
               timeout=10, what="the server to see the disconnect")
    assert queue_files(smtp) == before
    assert tmp_files(smtp) == []


def test_utf8_and_8bitmime_in_queue_file(smtp):
    r = Raw(smtp)
    r.reply()
    r.send("EHLO u.example.org\r\n")
    assert "SMTPUTF8" in r.reply()
    r.send("MAIL FROM:<jos\u00e9@r\u00e9mote.example.net> SMTPUTF8 BODY=8BITMIME\r\n")
    assert r.reply().startswith("250")
    r.send(f"RCPT TO:<joe@{DOMAIN}>\r\nDATA\r\n")
    assert r.reply().startswith("250")
    assert r.reply().startswith("354")
    r.send("Subject: caf\u00e9\r\n\r\nna\u00efve\r\n.\r\n".encode())
    reply = r.reply()
    assert reply.startswith("250 2.5.0"), reply
    head = queue_file_of(smtp, qid_of(reply), "ims-ms").read_bytes().split(b"\n\n")[0]
    assert b"\nsmtputf8 1\n" in head and b"\nbody 8bitmime\n" in head, head
    # without SMTPUTF8 a UTF-8 address is refused
    r.send("MAIL FROM:<jos\u00e9@remote.example.net>\r\n")
    assert r.reply().startswith("553 5.1.7")
    r.send("QUIT\r\n")
    r.close()


def test_line_too_long_in_data(smtp):
    before = queue_files(smtp)
    c = client(smtp)
    c.ehlo("x.example.org")
    c.mail("a@remote.example.net")
    c.rcpt(f"joe@{DOMAIN}")
    code, text = c.data("Subject: long\r\n\r\n" + "y" * 70000 + "\r\n")
    assert code == 500 and text.startswith(b"5.5.2"), (code, text)
    assert queue_files(smtp) == before and tmp_files(smtp) == []
    assert c.noop()[0] == 250
    c.quit()


def test_bdat_errors(smtp):
    r = Raw(smtp)
    r.reply()
    r.send("EHLO b.example.org\r\nMAIL FROM:<a@remote.example.net>\r\n"
           "BDAT 5 LAST\r\nhello")
    r.reply()
    assert r.reply().startswith("250")
    assert r.reply().startswith("554 5.5.1")  # no recipient: the chunk is read, refused
    r.send("BDAT 4 LAST\r\nabcd")
    assert r.reply().startswith("503 5.5.1")  # no MAIL any more
    r.send("BDAT ten\r\n")
    assert r.reply().startswith("501")
    assert r.reply().startswith("421")  # cannot find the next command
    r.close()


def test_auth_dialogue_errors(smtp):
    c = client(smtp, smtp.port_submit)
    c.starttls(context=tls_context(smtp))
    c.ehlo("me.example.org")
    assert c.docmd("AUTH", "PLAIN")[0] == 334
    code, text = c.docmd("*")
    assert code == 501 and b"cancelled" in text
    assert c.docmd("AUTH", "LOGIN")[0] == 334
    code, _ = c.docmd("not base64!")
    assert code == 501
    assert c.docmd("AUTH", "CRAM-MD5")[0] == 504
    code, _ = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        f"ann\0joe\0{PASSWORD}".encode()).decode())
    assert code == 535  # authorization identity differs
    c.quit()


def test_protocol_errors(smtp):
    r = Raw(smtp)
    r.reply()
    r.send("FROB\r\n")
    assert r.reply().startswith("500 5.5.1")
    r.send("X" * 5000 + "\r\n")
    assert r.reply().startswith("500 5.5.2")
    r.send("MAIL FROM:<a@b.example.org>\r\n")
    assert r.reply().startswith("503 5.5.1")  # HELO first
    r.send("EHLO e.example.org\r\n")
    r.reply()
    r.send("RCPT TO:<joe@example.com>\r\n")
    assert r.reply().startswith("503 5.5.1")
    r.send("MAIL FROM:a@b.example.org\r\n")
    assert r.reply().startswith("501")
    r.send("MAIL FROM:<a@b.example.org>\r\n")
    r.reply()
    for i in range(MAX_RCPTS):
        r.send(f"RCPT TO:<joe@{DOMAIN}>\r\n")
        assert r.reply().startswith("250")
    r.send(f"RCPT TO:<ann@{DOMAIN}>\r\n")
    assert r.reply().startswith("452 4.5.3")
    r.send("QUIT\r\n")
    assert r.reply().startswith("221")
    r.close()


def test_garbage_input(smtp):
    """Random bytes (NULs, 8-bit, bare CRs, long lines) get 5xx replies, then
    421 after 20 errors; the server process survives."""
    import random
    rnd = random.Random(8)
    logf = smtp.disp.log
    deaths = smtp.disp.log_text().count("exited")
    r = Raw(smtp)
    r.reply()
    lines = b""
    for i in range(21):  # the 21st error closes the session
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
        lines += junk.replace(b"\n", b"") + b"\r\n"
    r.send(lines)
    replies = []
    try:
        while True:
            replies.append(r.reply())
    except (AssertionError, ConnectionResetError):
        pass  # closed after the 421
    r.close()
    assert replies and replies[-1].startswith("421 4.7.0"), replies[-3:]
    assert all(x[0] in "45" for x in replies), replies
    c = client(smtp)
    assert c.noop()[0] == 250
    c.quit()
    assert smtp.disp.log_text().count("exited") == deaths, logf.read_text()


def test_idle_timeout_in_data(smtp):
    """A client that stops in the middle of DATA gets 421 after the idle
    timeout and leaves nothing in the queue."""
    before = queue_files(smtp)
    r = Raw(smtp)
    r.reply()
    r.send(f"EHLO slow.example.org\r\nMAIL FROM:<s@remote.example.net>\r\n"
           f"RCPT TO:<joe@{DOMAIN}>\r\nDATA\r\n")
    for _ in range(4):
        r.reply()
    r.send("Subject: slow\r\n\r\nfirst line\r\n")
    t0 = time.monotonic()
    reply = r.reply()
    assert reply.startswith("421 4.4.2"), reply
    assert time.monotonic() - t0 >= IDLE_MS / 1000 - 0.5
    r.close()
    assert queue_files(smtp) == before and tmp_files(smtp) == []


def test_swaks(smtp):
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed")
    cp = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp.port_submit),
                         "--to", "friend@remote.example.net", "--from", f"ann@{DOMAIN}",
                         "--tls", "--tls-verify", "--tls-ca-path", smtp.cafile,
                         "--auth", "PLAIN", "--auth-user", "ann",
                         "--auth-password", PASSWORD, "--pipeline"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "queued as" in cp.stdout


# ---- the dispatcher ----------------------------------------------------------

def test_sigterm_closes_idle_sessions(smtp):
    disp = smtp.disp
    wait_until(lambda: len(disp.children("SMTP")) == 2, what="two SMTP processes")
    r = Raw(smtp)
    assert r.reply().startswith("220")
    old = disp.children("SMTP")
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    assert r.reply().startswith("421 4.3.2")
    r.close()
    wait_until(lambda: len(disp.children("SMTP")) == 2
               and not set(old) & set(disp.children("SMTP")), timeout=20,
               what="the dispatcher to replace both processes")
    assert "exited (exit status 0)" in disp.log_text()


def test_dispatcher_processes_and_restart(smtp):
    disp = smtp.disp
    wait_until(lambda: len(disp.children("SMTP")) == 2, what="two SMTP processes (min_procs)")
    assert len(disp.children("SMTP_SUBMIT")) == 1
    victim = disp.children("SMTP")[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: "exited (signal 9)" in disp.log_text(), what="the dispatcher to notice")
    wait_until(lambda: len(disp.children("SMTP")) == 2 and victim not in disp.children("SMTP"),
               timeout=15, what="a new SMTP process")
    for _ in range(3):  # every process serves
        c = client(smtp)
        assert c.noop()[0] == 250
        c.quit()


def test_dispatcher_adds_and_retires_processes(smtp):
    """T42: one more process once every process holds min_conns (5)
    connections, and the surplus one stops when idle again."""
    disp = smtp.disp
    assert len(disp.children("SMTP_SUBMIT")) == 1
    conns = []
    try:
        for _ in range(5):
            r = Raw(smtp, smtp.port_submit)
            assert r.reply().startswith("220")
            conns.append(r)
        wait_until(lambda: len(disp.children("SMTP_SUBMIT")) == 2,
                   what="a second SMTP_SUBMIT process")
    finally:
        for r in conns:
            r.close()
    wait_until(lambda: len(disp.children("SMTP_SUBMIT")) == 1, timeout=15,
               what="the surplus process to stop")
    r = Raw(smtp, smtp.port_submit)
    assert r.reply().startswith("220")
    r.close()


def test_directory_down_is_temporary(smtp):
    """Last: stops slapd.  An address never looked up (no cache) gets 4xx."""
    smtp.stop()
    try:
        c = client(smtp)
        c.ehlo("x.example.org")
        c.mail("a@remote.example.net")
        code, text = c.rcpt(f"lee@{DOMAIN}")  # used by no other test
        assert code == 451 and text.startswith(b"4.4.3"), (code, text)
        c.quit()
    finally:
        smtp.start()
    c = client(smtp)  # the failure was not cached
    c.ehlo("x.example.org")
    c.mail("a@remote.example.net")
    assert c.rcpt(f"lee@{DOMAIN}")[0] == 250
    c.quit()
