"""The SMTP server's limits, set with msconfig (docs/mta.md, "The SMTP server").

One instance for the module (its own slapd) and the real dispatcher with
its tcp_smtp_server processes, started without the MS_SMTP_* test
overrides, so every limit here comes from the configuration:

- the size limit: the source channel's blocklimit and sourceblocklimit in
  mta.block_size blocks (EHLO SIZE, MAIL SIZE= and the data: 552 5.3.4);
- the recipient limit: the source channel's recipientlimit (452 4.5.3);
- the idle timeout: dispatcher.service:SMTP.idletimeout (421 4.4.2);
- a refresh applies to new sessions, a session keeps its snapshot.

Clients connect from 127.0.0.1, which the default INTERNAL_IP mapping
switches to the tcp_intranet channel (relaying to remote domains allowed).
"""
import re
import smtplib
import socket
import time

import pytest

from conftest import wait_until
from mta_fixtures import Dispatcher
from ldap_fixtures import create_ldap_instance

BLOCKS = 10        # channel:defaults.blocklimit
SOURCE_BLOCKS = 8  # channel:tcp_intranet.sourceblocklimit: the smaller one wins
RCPTS = 3          # channel:tcp_intranet.recipientlimit
IDLE_S = 2         # dispatcher.service:SMTP.idletimeout


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    inst = create_ldap_instance(root / "instance")
    disp = None
    try:
        inst.start()
        for svc in ("SMTP", "SMTP_SUBMIT"):
            inst.run("set", f"dispatcher.service:{svc}.interface_address", "127.0.0.1")
        inst.run("set", "dispatcher.service:SMTP.max_procs", "1")
        inst.run("set", "dispatcher.service:SMTP.idletimeout", str(IDLE_S))
        inst.run("set", "channel:defaults.blocklimit", str(BLOCKS))
        inst.run("set", "channel:tcp_intranet.sourceblocklimit", str(SOURCE_BLOCKS))
        inst.run("set", "channel:tcp_intranet.recipientlimit", str(RCPTS))
        cnf = inst.compiled.read_text()
        inst.port_smtp = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                                       cnf).group(1))
        disp = Dispatcher(inst)
        disp.start()
        inst.disp = disp
        yield inst
    finally:
        if disp is not None:
            disp.stop()
        inst.teardown()


def client(inst):
    return smtplib.SMTP("127.0.0.1", inst.port_smtp, timeout=15)


def body(size):
    text = "From: a@example.com\r\nTo: b@remote.example.net\r\nSubject: size\r\n\r\n"
    while len(text) < size:
        text += "y" * 70 + "\r\n"
    return text


def queued(inst):
    q = inst.root / "data" / "queue"
    if not q.exists():
        return set()
    return {p.name for ch in q.iterdir() if ch.is_dir() and not ch.name.startswith(".")
            for p in ch.iterdir() if p.is_file()}


def test_compiled_options(srv):
    cnf = srv.compiled.read_text()
    assert "dispatcher.service:SMTP.idletimeout\t2\n" in cnf
    # the schema default for the other service: ten minutes
    assert "dispatcher.service:SMTP_SUBMIT.idletimeout\t600\n" in cnf
    assert "channel:tcp_intranet.recipientlimit\t3\n" in cnf


def test_size_limit_from_options(srv):
    limit = SOURCE_BLOCKS * 1024
    c = client(srv)
    c.ehlo("limits.example.org")
    assert c.esmtp_features["size"] == str(limit), c.esmtp_features
    # declared too large: refused at MAIL
    code, text = c.docmd("MAIL", f"FROM:<a@example.com> SIZE={limit + 1}")
    assert code == 552 and text.startswith(b"5.3.4"), (code, text)
    # declared within the limit but larger data: refused after the data
    assert c.docmd("MAIL", "FROM:<a@example.com> SIZE=100")[0] == 250
    assert c.rcpt("b@remote.example.net")[0] == 250
    before = queued(srv)
    code, text = c.data(body(limit + 2000))
    assert code == 552 and text.startswith(b"5.3.4"), (code, text)
    assert queued(srv) == before
    # just under the limit: queued
    assert c.mail("a@example.com")[0] == 250
    assert c.rcpt("b@remote.example.net")[0] == 250
    code, text = c.data(body(limit - 1500))
    assert code == 250, (code, text)
    c.quit()


def test_recipient_limit_from_option(srv):
    c = client(srv)
    c.ehlo("limits.example.org")
    assert c.mail("a@example.com")[0] == 250
    for i in range(RCPTS):
        assert c.rcpt(f"r{i}@remote.example.net")[0] == 250
    code, text = c.rcpt("one-too-many@remote.example.net")
    assert code == 452 and text.startswith(b"4.5.3"), (code, text)
    # a new transaction counts again
    assert c.rset()[0] == 250
    assert c.mail("a@example.com")[0] == 250
    assert c.rcpt("again@remote.example.net")[0] == 250
    c.quit()


def test_idle_timeout_from_option(srv):
    s = socket.create_connection(("127.0.0.1", srv.port_smtp), timeout=15)
    f = s.makefile("rb")
    try:
        assert f.readline().startswith(b"220 ")
        t0 = time.monotonic()
        line = f.readline()
        waited = time.monotonic() - t0
        assert line.startswith(b"421 4.4.2"), line
        assert IDLE_S - 0.5 <= waited < IDLE_S + 5, waited
        assert f.readline() == b""  # and the server closed the connection
    finally:
        f.close()
        s.close()


def test_bad_values_refused(srv):
    for name, value in (("dispatcher.service:SMTP.idletimeout", "0"),
                        ("dispatcher.service:SMTP.idletimeout", "soon"),
                        ("channel:tcp_intranet.recipientlimit", "-1")):
        cp = srv.run("set", name, value, check=False)
        assert cp.returncode != 0, (name, value, cp.stdout)
        assert name.rsplit(".", 1)[1] in (cp.stdout + cp.stderr), cp.stderr
    assert "channel:tcp_intranet.recipientlimit\t3\n" in srv.compiled.read_text()


def test_refresh_applies_to_new_sessions(srv):
    old = client(srv)
    old.ehlo("old.example.org")
    assert old.esmtp_features["size"] == str(SOURCE_BLOCKS * 1024)
    srv.run("set", "channel:tcp_intranet.sourceblocklimit", "20")
    srv.run("set", "channel:tcp_intranet.recipientlimit", "5")
    try:
        srv.disp.refresh()
        new = client(srv)
        new.ehlo("new.example.org")
        assert new.esmtp_features["size"] == str(BLOCKS * 1024)  # defaults' 10 now wins
        assert new.mail("a@example.com")[0] == 250
        for i in range(5):
            assert new.rcpt(f"n{i}@remote.example.net")[0] == 250
        assert new.rcpt("n5@remote.example.net")[0] == 452
        new.quit()
        # the session opened before the refresh keeps its configuration
        assert old.mail("a@example.com")[0] == 250
        for i in range(RCPTS):
            assert old.rcpt(f"o{i}@remote.example.net")[0] == 250
        assert old.rcpt("o3@remote.example.net")[0] == 452
        old.quit()
    finally:
        srv.run("set", "channel:tcp_intranet.sourceblocklimit", str(SOURCE_BLOCKS))
        srv.run("set", "channel:tcp_intranet.recipientlimit", str(RCPTS))
        srv.disp.refresh()
