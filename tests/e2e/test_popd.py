"""popd end to end: the real POP3 server against a real slapd.

One instance for the module (init-config --local-directory, slapd under
ldap-local run), users made with commadmin, messages put in with the real
`deliver`, a certificate made with openssl, and Python's poplib as the
client (docs/man/popd.8).  popd runs attached to the test, the way the
watcher runs it, and its readiness line in data/log/pop is awaited.
"""
import base64
import os
import pathlib
import poplib
import pwd
import signal
import socket
import ssl
import time

import pytest

from conftest import DOMAIN, wait_until
from server_fixtures import StoreServer, mail_instance
from test_store_tools import deliver

PASSWORD = "Pop-Pass-1"


def msg(n):
    return f"Subject: message {n}\nFrom: a@example.com\nTo: joe@example.com\n\nline one of {n}\n.dotted\nline three\n"


def Popd(inst, env=None):
    return StoreServer(inst, "popd", "pop", env)


@pytest.fixture(scope="module")
def pop(tmp_path_factory):
    root = tmp_path_factory.mktemp("pop")
    inst = None
    p = None
    try:
        inst = mail_instance(root, "pop", 110, 995, ("joe", "ann", "kim", "lee"), PASSWORD, "Pop")
        p = Popd(inst)
        p.start()
        inst.popd = p
        yield inst
    finally:
        if p is not None:
            p.stop()
        if inst is not None:
            inst.teardown()


def tls_context(inst):
    return ssl.create_default_context(cafile=inst.cafile)


def connect(inst):
    return poplib.POP3("127.0.0.1", inst.port_plain, timeout=10)


def login(inst, user="joe"):
    c = connect(inst)
    c.stls(context=tls_context(inst))
    c.user(user)
    c.pass_(PASSWORD)
    return c


def relogin(inst, user):
    """Log in once popd has seen the previous session of user end (its lock)."""
    def attempt():
        try:
            return login(inst, user)
        except poplib.error_proto as e:
            assert b"[IN-USE]" in e.args[0], e
            return None
    return wait_until(attempt, timeout=5, what="the maildrop lock to be released")


def err(excinfo):
    return excinfo.value.args[0].decode()


def test_capa_and_plaintext_refused_before_stls(pop):
    c = connect(pop)
    assert c.getwelcome().startswith(b"+OK")
    caps = c.capa()
    for cap in ("TOP", "UIDL", "RESP-CODES", "PIPELINING", "STLS"):
        assert cap in caps, caps
    assert "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto) as e:
        c.user("joe")
    assert err(e).startswith("-ERR [AUTH]")
    with pytest.raises(poplib.error_proto) as e:
        c._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0joe\0" + PASSWORD.encode()).decode())
    assert err(e).startswith("-ERR [AUTH]")
    # STLS then login
    c.stls(context=tls_context(pop))
    caps = c.capa()
    assert "USER" in caps and caps.get("SASL") == ["PLAIN"] and "STLS" not in caps
    c.user("joe")
    assert c.pass_(PASSWORD).startswith(b"+OK")
    assert c.quit().startswith(b"+OK")


def test_user_pass_failure_then_success_and_log(pop):
    c = connect(pop)
    c.stls(context=tls_context(pop))
    c.user("joe")
    with pytest.raises(poplib.error_proto) as e:
        c.pass_("wrong")
    assert err(e).startswith("-ERR [AUTH]")
    c.user("nosuchuser")
    with pytest.raises(poplib.error_proto) as e:
        c.pass_(PASSWORD)
    assert err(e).startswith("-ERR [AUTH]")  # the same answer as a wrong password
    with pytest.raises(poplib.error_proto) as e:
        c.pass_(PASSWORD)  # PASS without USER: the last USER was used up
    assert err(e) == "-ERR USER first"
    c.user("joe")
    assert c.pass_(PASSWORD).startswith(b"+OK")
    c.quit()
    log = wait_until(lambda: (t := pop.popd.log_text()) and " close [127.0.0.1:" in t and t,
                     what="the close record")
    assert "badlogin: [127.0.0.1:" in log and "plaintext joe authentication failure" in log
    assert "plaintext nosuchuser authentication failure" in log
    assert "login [127.0.0.1:" in log and " joe plaintext" in log
    assert "wrong" not in log and PASSWORD not in log
    assert "Messaging Server POP3 " in log and " ready on port" in log
    # the close record ends with login time, duration, bytes in, bytes out, 1
    closes = [ln for ln in log.splitlines() if " close [127.0.0.1:" in ln and " joe " in ln]
    assert closes and closes[-1].split()[-1] == "1"


def test_auth_plain(pop):
    c = connect(pop)
    c.stls(context=tls_context(pop))
    assert c._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0kim\0" + PASSWORD.encode()).decode()).startswith(b"+OK")
    c.quit()
    # without an initial response: a "+ " continuation
    c = connect(pop)
    c.stls(context=tls_context(pop))
    c._putcmd("AUTH PLAIN")
    assert c._getline()[0].startswith(b"+")
    c._putcmd(base64.b64encode(b"\0kim\0wrong").decode())
    assert c._getline()[0].startswith(b"-ERR [AUTH]")
    with pytest.raises(poplib.error_proto):
        c._shortcmd("AUTH CRAM-MD5")
    c.quit()


def test_ssl_port(pop):
    c = poplib.POP3_SSL("127.0.0.1", pop.port_ssl, context=tls_context(pop), timeout=10)
    assert c.getwelcome().startswith(b"+OK")
    assert "STLS" not in c.capa()
    c.user("ann")
    c.pass_(PASSWORD)
    assert c.stat() == (0, 0)
    c.quit()


def test_transaction_commands(pop):
    for n in (1, 2, 3):
        deliver(pop, "lee", message=msg(n))
    c = login(pop, "lee")
    count, octets = c.stat()
    assert count == 3
    resp, lines, _ = c.list()
    sizes = [int(ln.split()[1]) for ln in lines]
    assert len(sizes) == 3 and sum(sizes) == octets
    assert c.list(2).split()[2] == str(sizes[1]).encode()
    resp, uidls, _ = c.uidl()
    uids = [ln.split()[1] for ln in uidls]
    assert len(set(uids)) == 3
    resp, body, size = c.retr(1)
    assert resp == f"+OK {sizes[0]} octets".encode()
    assert b"Subject: message 1" in body and b".dotted" in body  # dot-stuffing undone by poplib
    resp, top, _ = c.top(2, 1)
    assert top[-1] == b"line one of 2" and b"Subject: message 2" in top
    assert c.noop().startswith(b"+OK")
    c.dele(1)
    with pytest.raises(poplib.error_proto):
        c.retr(1)
    with pytest.raises(poplib.error_proto):
        c.dele(1)
    assert c.stat()[0] == 2
    c.rset()
    assert c.stat()[0] == 3
    c.dele(2)
    # the deletion is applied only at QUIT: another look meanwhile sees 3
    c.sock.shutdown(socket.SHUT_RDWR)  # gone without QUIT
    c.close()
    c = relogin(pop, "lee")
    assert c.stat()[0] == 3
    assert [ln.split()[1] for ln in c.uidl()[1]] == uids  # stable across sessions
    c.dele(2)
    assert b"2 messages left" in c.quit()
    c = login(pop, "lee")
    assert c.stat()[0] == 2
    assert [ln.split()[1] for ln in c.uidl()[1]] == [uids[0], uids[2]]
    c.quit()


def test_malformed_commands_and_long_line(pop):
    c = connect(pop)
    for bad in ("", "FROB", "RETR 1", "STAT", "USER", "CAPA extra"):
        with pytest.raises(poplib.error_proto):
            c._shortcmd(bad)
    c.stls(context=tls_context(pop))
    c.user("joe")
    c.pass_(PASSWORD)
    for bad in ("RETR abc", "RETR 0", "RETR 99", "TOP 1", "LIST 1 2", "DELE -1", "STLS", "USER x"):
        with pytest.raises(poplib.error_proto):
            c._shortcmd(bad)
    c._putcmd("NOOP " + "x" * 400)
    assert c._getline()[0].startswith(b"-ERR")
    assert c.noop().startswith(b"+OK")  # the session goes on
    c.quit()


def test_second_session_in_use(pop):
    a = login(pop, "kim")
    b = connect(pop)
    b.stls(context=tls_context(pop))
    b.user("kim")
    with pytest.raises(poplib.error_proto) as e:
        b.pass_(PASSWORD)
    assert err(e).startswith("-ERR [IN-USE]")
    a.quit()
    b.user("kim")
    assert b.pass_(PASSWORD).startswith(b"+OK")
    b.quit()


def test_plaintext_policy_reload_and_pipelining(pop):
    pop.run("set", "pop.plaintextmincipher", "-1")
    try:
        before = pop.popd.log_text().count("config generation")
        pop.popd.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: pop.popd.log_text().count("config generation") > before,
                   what="the reload")
        s = socket.create_connection(("127.0.0.1", pop.port_plain), timeout=10)
        f = s.makefile("rb")
        assert f.readline().startswith(b"+OK")
        deliver(pop, "kim", message=msg(7))
        s.sendall(f"CAPA\r\nUSER kim\r\nPASS {PASSWORD}\r\nSTAT\r\nRETR 1\r\nQUIT\r\n".encode())
        lines = []
        while True:
            ln = f.readline()
            if not ln:
                break
            lines.append(ln.rstrip(b"\r\n"))
        assert b"USER" in lines
        tail = lines[lines.index(b".") + 1:]
        assert [ln[:3] for ln in tail[:3]] == [b"+OK"] * 3, lines
        assert tail[3].startswith(b"+OK") and tail[3].endswith(b" octets"), lines
        body = tail[4:tail.index(b".", 4)]
        assert b"Subject: message 7" in body and b"..dotted" in body  # dot-stuffed on the wire
        assert tail[-1].startswith(b"+OK"), lines
        s.close()
    finally:
        pop.run("set", "pop.plaintextmincipher", "0")
        pop.popd.proc.send_signal(signal.SIGHUP)


def test_disabled_account(pop):
    pop.commadmin("user", "create", "-l", "held", "-d", DOMAIN, "-W", PASSWORD)
    pop.commadmin("user", "modify", "-l", "held", "-d", DOMAIN, "-A", "mailUserStatus:hold")
    c = connect(pop)
    c.stls(context=tls_context(pop))
    c.user("held")
    with pytest.raises(poplib.error_proto) as e:
        c.pass_(PASSWORD)
    assert err(e) == "-ERR [AUTH] Authentication failed"  # the same answer as a wrong password
    c.quit()
    wait_until(lambda: "plaintext held account disabled (hold)" in pop.popd.log_text(),
               what="the badlogin record of a held account")


def test_maxsessions_and_sigterm_drain(pop):
    pop.popd.stop()
    pop.run("set", "pop.maxsessions", "1")
    try:
        p = Popd(pop)
        p.start()
        a = login(pop, "joe")
        # the second connection waits in the backlog until the first ends
        b = socket.create_connection(("127.0.0.1", pop.port_plain), timeout=0.5)
        with pytest.raises(socket.timeout):
            b.recv(100)
        p.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "shutting down" in p.log_text(), what="popd to start draining")
        assert p.proc.poll() is None  # draining: the open session goes on
        assert a.stat()[0] >= 0
        a.quit()
        assert p.proc.wait(timeout=10) == 0
        assert "shutting down" in p.log_text()
        b.close()
    finally:
        pop.run("set", "pop.maxsessions", "600")
        pop.popd = Popd(pop)
        pop.popd.start()


def alive(pid):
    try:
        return (pathlib.Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                st = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[1]) == pid and st[0] != "Z":
                out.append(int(d.name))
    return out


def test_numprocesses(pop):
    pop.popd.stop()
    pop.run("set", "pop.numprocesses", "3")
    try:
        p = Popd(pop)
        p.start()
        kids = wait_until(lambda: len(children(p.proc.pid)) == 3 and children(p.proc.pid),
                          what="three popd workers")
        assert "ready on port" in p.log_text() and "(3 processes)" in p.log_text()
        sessions = [login(pop, u) for u in ("joe", "ann", "kim", "lee")]
        for c in sessions:
            assert c.noop().startswith(b"+OK")
            c.quit()
        p.stop()  # SIGTERM reaches every worker; the supervisor waits for them
        wait_until(lambda: not any(alive(k) for k in kids), what="the other processes to exit")
    finally:
        pop.run("set", "pop.numprocesses", "1")
        pop.popd = Popd(pop)
        pop.popd.start()


def test_root_drops_to_restricted_user(pop):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    rc = pop.root / "config" / "restricted.cnf"
    saved = rc.read_text()
    pop.popd.stop()
    try:
        rc.write_text("user=nobody\ngroup=nogroup\n")
        p = Popd(pop)
        p.start()
        status = pathlib.Path(f"/proc/{p.proc.pid}/status").read_text()
        uids = next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:]
        assert uids == [str(pwd.getpwnam("nobody").pw_uid)] * 4
        c = connect(pop)  # it serves once it is nobody
        assert "STLS" in c.capa()
        c.quit()
        p.stop()
    finally:
        rc.write_text(saved)
        pop.popd = Popd(pop)
        pop.popd.start()


def test_idle_timeout(pop):
    pop.popd.stop()
    p = Popd(pop, env={"MS_POP_IDLE_MS": "700"})
    p.start()
    pop.popd = p
    c = connect(pop)
    t0 = time.monotonic()
    assert c._getline()[0].startswith(b"-ERR")
    assert time.monotonic() - t0 < 5
    assert c.file.readline() == b""
    assert "idle timeout" in p.log_text()

