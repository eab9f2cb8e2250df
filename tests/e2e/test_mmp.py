"""The MMP end to end: the IMAP, POP and submission proxy in front of two
real stores.

One slapd (the directory instance "dir", which also runs the MMP) and a
replica of it ("dir2", the failover server), two back-end store instances
"a" and "b" made by init-config against them, each running imapd and popd
on its own ports, a small SMTP peer in the test for the submission proxy,
and the MMP attached to the test the way the watcher runs it
(docs/man/mmp.8).  One test runs the MMP under the watcher instead.

How a user's mailHost becomes a host and port here (docs/mmp.md "Finding
the store"): users carry mailHost "store-a" or "store-b"; the MMP's
configuration maps each with proxy:store-a.storehostlist 127.0.0.1 and
proxy:store-a.imapport / .popport set to back end a's ports (same for b);
"store-slow" lists HOST:PORT entries, a hung one first.  A mailHost
without such a group ("store-gone") is used as the host name itself.

Clients are Python's imaplib, poplib and smtplib, and raw sockets where
the test needs exact bytes or a chosen source address (127.0.0.3 for the
connection limit; the vdomain tests reach the MMP on 127.0.0.2).
"""
import base64
import imaplib
import poplib
import re
import signal
import smtplib
import socket
import ssl
import threading

import pytest

from conftest import BUILD, DOMAIN, create_instance, parse_cnf, wait_until
from ldap_fixtures import ADMIN_DN, SHARED_PW, create_ldap_instance, make_cert
from server_fixtures import AttachedServer, StoreServer
from test_store_tools import deliver
from watcher_fixtures import Supervised, alive

PASSWORD = "Mmp-Pass-1"
STOREADMIN, STOREADMIN_PW = "mmpstore", "Mmp-Store-Admin-9"
MMP = BUILD / "workers" / "mmp" / "mmp"


def msg(subject):
    return (f"Subject: {subject}\nFrom: a@example.com\nTo: x@example.com\n"
            "Date: Mon, 30 Nov 2026 07:00:00 +0000\n\nbody\n")


class MmpServer(AttachedServer):
    """The mmp program attached to the test; readiness from data/log/mmp."""

    def __init__(self, inst):
        super().__init__(inst, MMP, "mmp", ready=" ready on ", clean_stderr=True)

    def refresh(self):
        before = self.log_text().count("config generation")
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log_text().count("config generation") > before,
                   what="mmp to load the new configuration")


class PeerMta(threading.Thread):
    """The MTA the submission proxy relays to: a minimal SMTP peer in the
    test that records what it is told (the MMP under test is real; only
    its peer is small).  It offers AUTH PLAIN, accepts PASSWORD only, and
    keeps each message with the identity that authenticated it."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.auths, self.messages, self.helos = [], [], []
        self.running = True

    def run(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        w = conn.sendall
        user = None
        w(b"220 peer-mta ESMTP\r\n")
        try:
            while True:
                ln = f.readline().decode().rstrip("\r\n")
                if not ln:
                    return
                verb = ln.split(" ")[0].upper()
                if verb == "EHLO":
                    self.helos.append(ln[5:])
                    w(b"250-peer-mta\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
                elif verb == "AUTH":
                    _, authc, pw = base64.b64decode(ln.split(" ")[2]).decode().split("\0")
                    self.auths.append(authc)
                    if pw == PASSWORD:
                        user = authc
                        w(b"235 2.7.0 ok\r\n")
                    else:
                        w(b"535 5.7.8 no\r\n")
                elif verb in ("MAIL", "RCPT"):
                    w(b"250 2.1.0 ok\r\n" if user else b"530 5.7.0 auth first\r\n")
                elif verb == "DATA":
                    w(b"354 go\r\n")
                    data = b""
                    while (chunk := f.readline()) not in (b".\r\n", b""):
                        data += chunk
                    self.messages.append((user, data))
                    w(b"250 2.0.0 queued\r\n")
                elif verb == "QUIT":
                    w(b"221 2.0.0 bye\r\n")
                    return
                else:
                    w(b"500 5.5.1 what\r\n")
        finally:
            f.close()
            conn.close()

    def stop(self):
        self.running = False
        self.sock.close()


def backend(root, name, d, cert, key, ldaphosts):
    """A store instance using the directory of d (and its replica: ldaphosts),
    with imapd and popd started."""
    inst = create_instance(root / name, extra={"--ldap-url": d.url, "--ldap-bind-dn": ADMIN_DN,
                                               "--ldap-bind-password": SHARED_PW})
    inst.imap_port, inst.imap_ssl = 143 + inst.offset, 993 + inst.offset
    inst.pop_port, inst.pop_ssl = 110 + inst.offset, 995 + inst.offset
    for opt, val in (("imap.port", inst.imap_port), ("imap.sslport", inst.imap_ssl),
                     ("imap.enablesslport", 1), ("pop.port", inst.pop_port),
                     ("pop.sslport", inst.pop_ssl), ("pop.enablesslport", 1),
                     ("imap.plaintextmincipher", -1), ("pop.plaintextmincipher", -1),
                     ("imap.logfile.loglevel", "Information"),
                     ("pop.logfile.loglevel", "Information"),
                     ("store.admins", f"{STOREADMIN} admin"),
                     ("base.ugldaphost", ldaphosts),
                     ("base.sslcertfile", cert), ("base.sslkeyfile", key)):
        inst.run("set", opt, str(val))
    inst.imapd = StoreServer(inst, "imapd", "imap")
    inst.popd = StoreServer(inst, "popd", "pop")
    inst.imapd.start()
    inst.popd.start()
    return inst


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmp")
    made = []
    mmp = None
    peer = PeerMta()
    peer.start()
    hung = socket.socket()  # accepts connections (the kernel does) and never greets
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    try:
        d = create_ldap_instance(root / "dir")
        made.append(d)
        d.start()
        # a second directory with the same entries: the failover server
        d2 = create_ldap_instance(root / "dir2")
        made.append(d2)
        d2.start()
        d.admin_pass = parse_cnf(d.compiled_xpass)["base.proxyadminpass"][0]
        cert, key = make_cert(root)
        d.cafile = str(cert)
        for dd in (d, d2):
            dd.commadmin("domain", "create", "-d", "other.org")
            for uid, dom, host in USERS:
                pw = STOREADMIN_PW if uid == STOREADMIN else PASSWORD
                dd.commadmin("user", "create", "-l", uid, "-d", dom, "-W", pw, "-F", uid,
                             "-L", "Proxy", "-H", host)
        d2.ldapmodify(f"dn: uid=admin,ou=People,o={DOMAIN},dc=example,dc=com\n"
                      f"changetype: modify\nreplace: userPassword\nuserPassword: "
                      f"{d.admin_pass}\n")
        ldaphosts = f"127.0.0.1:{d.port} 127.0.0.1:{d2.port}"
        a = backend(root, "a", d, cert, key, ldaphosts)
        made.append(a)
        b = backend(root, "b", d, cert, key, ldaphosts)
        made.append(b)
        o = d.offset
        d.imap, d.imaps, d.pop, d.pops = 143 + o, 993 + o, 110 + o, 995 + o
        d.submit = 587 + o
        d.peer = peer
        settings = [
            ("imapproxy.tcp_listen:imapproxy1.tcp_ports", d.imap),
            ("imapproxy.tcp_listen:imapproxy1.ssl_ports", d.imaps),
            ("popproxy.tcp_listen:popproxy1.tcp_ports", d.pop),
            ("popproxy.tcp_listen:popproxy1.ssl_ports", d.pops),
            ("submitproxy.tcp_listen:submitproxy1.tcp_ports", d.submit),
            ("submitproxy.smtprelays", f"127.0.0.1:{dead_port()} 127.0.0.1:{peer.port}"),
            ("imapproxy.sslenable", 1), ("popproxy.sslenable", 1), ("submitproxy.sslenable", 1),
            ("imapproxy.storeadmin", STOREADMIN), ("imapproxy.storeadminpass", STOREADMIN_PW),
            ("imapproxy.connlimits", "127.0.0.3:2 :50"),
            ("imapproxy.ldapcachettl", 1), ("imapproxy.preauth", 1),
            ("vdomain:127.0.0.2.defaultdomain", "other.org"),
            ("vdomain:127.0.0.2.failovertimeout", 1),
            # a store served by two hosts, the first hung: HOST:PORT entries
            ("proxy:store-slow.storehostlist",
             f"127.0.0.1:{hung.getsockname()[1]} 127.0.0.1:{a.imap_port}"),
            ("base.sslcertfile", cert), ("base.sslkeyfile", key), ("base.sslcafile", cert),
            ("mmp.logfile.loglevel", "Information"),
            # failover: the first directory server is down from the start,
            # the third takes over when the test stops the second
            ("base.ugldaphost", f"127.0.0.1:{dead_port()} {ldaphosts}"),
        ]
        for name, inst in (("store-a", a), ("store-b", b)):
            settings += [(f"proxy:{name}.storehostlist", "127.0.0.1"),
                         (f"proxy:{name}.imapport", inst.imap_port),
                         (f"proxy:{name}.popport", inst.pop_port)]
        for opt, val in settings:
            d.run("set", opt, str(val))
        d.a, d.b, d.d2 = a, b, d2
        mmp = MmpServer(d)
        mmp.start()
        d.mmp = mmp
        deliver(a, "joe", message=msg("joe on a"))
        deliver(b, "ann", message=msg("ann on b"))
        deliver(a, "kim", message=msg("kim of example.com"))
        deliver(b, "kim@other.org", message=msg("kim of other.org"))
        deliver(a, "late", message=msg("late on a"))
        deliver(a, "slow", message=msg("slow on a"))
        yield d
    finally:
        # Everything is stopped even when one stop fails; the first failure
        # (an unclean exit, a sanitizer report) is raised at the end.
        failures = []

        def attempt(fn):
            try:
                fn()
            except BaseException as e:  # noqa: B902 - re-raised below
                failures.append(e)
        peer.stop()
        hung.close()
        if mmp is not None:
            attempt(mmp.stop)
            if mmp.proc is not None and mmp.proc.poll() is None:
                mmp.proc.kill()
        for inst in reversed(made):
            for srv in ("imapd", "popd"):
                if hasattr(inst, srv):
                    attempt(getattr(inst, srv).stop)
            attempt(inst.teardown if hasattr(inst, "teardown") else inst.kill_all)
            attempt(inst.kill_all)
        if failures:
            raise failures[0]


USERS = (("joe", DOMAIN, "store-a"), ("ann", DOMAIN, "store-b"), ("kim", DOMAIN, "store-a"),
         ("kim", "other.org", "store-b"), ("max", DOMAIN, "store-a"),
         ("lost", DOMAIN, "store-gone"), ("idler", DOMAIN, "store-a"),
         ("late", DOMAIN, "store-a"), ("slow", DOMAIN, "store-slow"),
         (STOREADMIN, DOMAIN, "store-a"))


def tls_ctx(d):
    return ssl.create_default_context(cafile=d.cafile)


def imap(d, host="127.0.0.1"):
    return imaplib.IMAP4(host, d.imap, timeout=10)


def login(d, user, host="127.0.0.1", tls=True):
    c = imap(d, host)
    if tls:
        c.starttls(ssl_context=tls_ctx(d))
    assert c.login(user, PASSWORD)[0] == "OK"
    return c


def subjects(c, mailbox="INBOX"):
    typ, data = c.select(mailbox)
    assert typ == "OK", data
    if int(data[0]) == 0:
        return []
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    return [part[1].decode().strip().split(": ", 1)[1] for part in data
            if isinstance(part, tuple)]


def raw(port, host="127.0.0.1", source=None):
    s = socket.create_connection((host, port), timeout=10,
                                 source_address=(source, 0) if source else None)
    return s, s.makefile("rb")


def send(s, f, line):
    s.sendall(line.encode() + b"\r\n")
    return f.readline().decode().rstrip("\r\n")


# ---- the store's side: proxy authorization ------------------------------------

def test_store_accepts_store_admin_authorization_only(env):
    a = env.a
    c = imaplib.IMAP4("127.0.0.1", a.imap_port, timeout=10)
    creds = base64.b64encode(f"joe\0ann\0{PASSWORD}".encode()).decode()
    typ, data = c._simple_command("AUTHENTICATE", "PLAIN", creds)
    assert typ == "NO" and b"AUTHENTICATIONFAILED" in data[-1], data
    creds = base64.b64encode(f"joe\0{STOREADMIN}\0{STOREADMIN_PW}".encode()).decode()
    typ, data = c._simple_command("AUTHENTICATE", "PLAIN", creds)
    assert typ == "OK", data
    c.state = "AUTH"
    assert "joe on a" in subjects(c)
    c.logout()
    assert "not a store administrator" in a.imapd.log_text()
    p = poplib.POP3("127.0.0.1", a.pop_port, timeout=10)
    p._shortcmd("AUTH PLAIN " + base64.b64encode(
        f"joe\0admin\0{env.admin_pass}".encode()).decode())
    assert p.stat()[0] == 1
    p.quit()


# ---- routing by mailHost ------------------------------------------------------

def test_imap_routed_to_each_users_store(env):
    c = imap(env)
    assert c.welcome.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    assert "STARTTLS" in c.capabilities
    c.starttls(ssl_context=tls_ctx(env))
    typ, data = c.login("joe", PASSWORD)
    assert typ == "OK"
    # the store's capabilities come back with the login
    assert b"[CAPABILITY IMAP4rev1" in data[0] and b"QUOTA" in data[0], data
    assert subjects(c) == ["joe on a"]
    assert c.create("Proxied")[0] == "OK"
    c.logout()
    c = login(env, "ann")
    assert subjects(c) == ["ann on b"]
    c.logout()
    log = wait_until(lambda: (t := env.mmp.log_text()).count(" close imapproxy ") >= 2 and t,
                     what="the close records")
    assert re.search(r"Proxy connect for client 127\.0\.0\.1:\d+ \(TLS\) canonical user "
                     r"'joe@example\.com' original user 'joe' auth 'plaintext' via MMP "
                     r"127\.0\.0\.1:\d+ to backend 127\.0\.0\.1:%d \(cleartext\)" % env.a.imap_port,
                     log), log
    assert f"to backend 127.0.0.1:{env.b.imap_port}" in log
    assert PASSWORD not in log and STOREADMIN_PW not in log
    assert re.search(r"\d{14} \(sid 0x[0-9a-f]+\) joe@example\.com pre-authenticated - "
                     r"127\.0\.0\.1, 127\.0\.0\.1", log), log
    # each store saw its own user, logged in by the store administrator
    assert " joe PLAIN" in env.a.imapd.log_text()
    assert " ann PLAIN" in env.b.imapd.log_text()
    assert " ann PLAIN" not in env.a.imapd.log_text()


def test_authenticate_plain_and_pipelining(env):
    s, f = raw(env.imap)
    f.readline()
    creds = base64.b64encode(f"\0max\0{PASSWORD}".encode()).decode()
    # LOGIN and the commands behind it in one write: relayed once logged in
    s.sendall(f"a1 AUTHENTICATE PLAIN {creds}\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n".encode())
    lines = []
    while True:
        ln = f.readline().decode()
        assert ln, lines
        lines.append(ln)
        if ln.startswith("a3 "):
            break
    assert lines[0].startswith("a1 OK [CAPABILITY "), lines
    assert any(ln.startswith("a2 OK [READ-WRITE]") for ln in lines), lines
    assert lines[-1].startswith("a3 OK"), lines
    s.close()


def test_idle_and_large_messages_through_the_relay(env):
    c = login(env, "idler")
    # 3 MB up and down: more than the relay's queue limits in each direction
    big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 3000
    assert c.create("Big")[0] == "OK"
    assert c.append("Big", None, None, big)[0] == "OK"
    typ, data = c.select("Big")
    n = int(data[0])
    typ, data = c.fetch(str(n), "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == big
    c.select("INBOX")
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+ ")
    deliver(env.a, "idler", message=msg("while idle"))
    assert re.match(rb"\* \d+ EXISTS\r\n", c.readline())
    c.send(b"DONE\r\n")
    assert c.readline().startswith(f"{tag} OK".encode())
    c.logout()


def test_pop_routed(env):
    p = poplib.POP3("127.0.0.1", env.pop, timeout=10)
    assert p.getwelcome().startswith(b"+OK")
    assert "STLS" in p.capa()
    p.stls(context=tls_ctx(env))
    p.user("joe")
    assert p.pass_(PASSWORD).startswith(b"+OK Maildrop has 1 messages")
    assert b"joe on a" in b"\n".join(p.retr(1)[1])
    p.quit()
    p = poplib.POP3_SSL("127.0.0.1", env.pops, context=tls_ctx(env), timeout=10)
    p._shortcmd("AUTH PLAIN " + base64.b64encode(f"\0ann\0{PASSWORD}".encode()).decode())
    assert b"ann on b" in b"\n".join(p.retr(1)[1])
    p.quit()
    # POP goes through base.proxyadmin (no popproxy.storeadmin)
    assert " ann PLAIN" in env.b.popd.log_text()


def test_vdomain_defaultdomain_by_server_address(env):
    c = login(env, "kim")
    assert subjects(c) == ["kim of example.com"]
    c.logout()
    c = login(env, "kim", host="127.0.0.2", tls=False)  # the certificate names 127.0.0.1
    assert subjects(c) == ["kim of other.org"]
    c.logout()
    assert "canonical user 'kim@other.org' original user 'kim'" in env.mmp.log_text()


def test_submission_proxy(env):
    s = smtplib.SMTP("127.0.0.1", env.submit, timeout=10)
    s.ehlo("client.example")
    assert s.has_extn("starttls") and s.has_extn("auth")
    code, text = s.mail("joe@example.com")
    assert code == 530, text
    s.starttls(context=tls_ctx(env))
    s.ehlo("client.example")
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        s.login("joe", "wrong-one")
    assert e.value.smtp_code == 535
    s.login("joe", PASSWORD)
    s.sendmail("joe@example.com", ["ann@example.com"],
               b"Subject: through the MMP\r\n\r\nhello\r\n")
    s.quit()
    # relayed to the first MTA of smtprelays that answers, as the user
    user, data = env.peer.messages[-1]
    assert user == "joe@example.com" and b"Subject: through the MMP" in data
    assert env.peer.helos[-1] == "client.example"
    assert "wrong-one" not in env.mmp.log_text()
    assert re.search(r"original user 'joe' auth 'PLAIN' via MMP \S+ to backend "
                     r"127\.0\.0\.1:%d" % env.peer.port, env.mmp.log_text())


# ---- TLS on both legs and refresh ------------------------------------------------

def test_implicit_tls_and_tls_to_the_store_after_refresh(env):
    old = login(env, "joe")
    old.select("INBOX")
    env.run("set", "imapproxy.sslbacksideport", str(env.a.imap_ssl))
    env.mmp.refresh()
    try:
        c = imaplib.IMAP4_SSL("127.0.0.1", env.imaps, ssl_context=tls_ctx(env), timeout=10)
        assert "STARTTLS" not in c.capabilities
        assert c.login("joe", PASSWORD)[0] == "OK"
        assert subjects(c) == ["joe on a"]
        c.logout()
        log = env.mmp.log_text()
        assert re.search(r"original user 'joe' .* to backend 127\.0\.0\.1:%d \(TLSv1\.[23] "
                         % env.a.imap_ssl, log), log
        # the session opened before the refresh goes on
        assert old.noop()[0] == "OK"
    finally:
        env.run("unset", "imapproxy.sslbacksideport")
        env.mmp.refresh()
    old.logout()


# ---- failures --------------------------------------------------------------------

def test_wrong_password_and_unknown_user(env):
    c = imap(env)
    c.starttls(ssl_context=tls_ctx(env))
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("joe", "wrong-one")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("nobody", PASSWORD)
    assert "AUTHENTICATIONFAILED" in str(e.value)
    assert c.login("joe", PASSWORD)[0] == "OK"
    c.logout()
    log = env.mmp.log_text()
    assert "badlogin: 127.0.0.1:" in log and "wrong-one" not in log


def test_unreachable_mailhost_is_a_temporary_error(env):
    c = imap(env)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("lost", PASSWORD)
    assert "[UNAVAILABLE]" in str(e.value)
    # the session is still usable
    assert c.login("joe", PASSWORD)[0] == "OK"
    c.logout()
    assert "store store-gone" in env.mmp.log_text()


def test_hung_host_skipped_after_failovertimeout(env):
    # vdomain:127.0.0.2.failovertimeout is 1 s: the hung first host of
    # store-slow is given up for the second one
    c = login(env, "slow@example.com", host="127.0.0.2", tls=False)
    assert subjects(c) == ["slow on a"]
    c.logout()
    assert "no answer in time" in env.mmp.log_text()


def test_connection_limit_per_client_address(env):
    conns = []
    for _ in range(2):
        s, f = raw(env.imap, source="127.0.0.3")
        assert f.readline().startswith(b"* OK")
        conns.append((s, f))
    s, f = raw(env.imap, source="127.0.0.3")
    assert f.readline().startswith(b"* BYE Too many connections")
    assert f.readline() == b""
    s.close()
    # other addresses are not limited by that entry
    c = imap(env)
    assert c.noop()[0] == "OK"
    c.logout()
    conns[0][1].close()
    conns[0][0].close()
    wait_until(lambda: env.mmp.log_text().count(" close imapproxy client 127.0.0.3:") >= 2,
               what="the closed session to be counted out")
    s, f = raw(env.imap, source="127.0.0.3")
    assert f.readline().startswith(b"* OK")
    s.close()
    conns[1][1].close()
    conns[1][0].close()
    assert "over the limit of 2 (imapproxy.connlimits)" in env.mmp.log_text()


def test_malformed_commands_before_login(env):
    s, f = raw(env.imap)
    f.readline()
    assert send(s, f, "garbage") == "garbage BAD Missing command"
    assert send(s, f, "a1 SELECT INBOX") == "a1 BAD Please log in first"
    assert send(s, f, "a2 FROB") == "a2 BAD Unknown command"
    assert send(s, f, "a3 LOGIN onlyuser") == "a3 BAD Invalid arguments to LOGIN"
    assert send(s, f, "a4 AUTHENTICATE PLAIN !!!!") == "a4 BAD Invalid base64 data"
    assert send(s, f, "+tag NOOP") == "* BAD Missing or invalid tag"
    assert send(s, f, "a5 " + "x" * 10000) == "* BAD Line too long"
    assert send(s, f, "a6 NOOP") == "a6 OK NOOP completed"
    # a literal login works
    s.sendall(b"a7 LOGIN {3}\r\n")
    assert f.readline().startswith(b"+ ")
    s.sendall(f'joe "{PASSWORD}"\r\n'.encode())
    assert f.readline().startswith(b"a7 OK [CAPABILITY ")
    s.close()
    # too many errors: BYE
    s, f = raw(env.imap)
    f.readline()
    for i in range(9):
        assert " BAD " in send(s, f, f"x{i} BOGUS")
    assert send(s, f, "x9 BOGUS") == "x9 BAD Unknown command"
    assert f.readline().startswith(b"* BYE Too many invalid commands")
    assert f.readline() == b""
    s.close()
    # a literal too large before login
    s, f = raw(env.imap)
    f.readline()
    s.sendall(b"a1 LOGIN {100000}\r\n")
    assert f.readline().startswith(b"* BYE Literal too large")
    s.close()
    # POP
    s, f = raw(env.pop)
    assert f.readline().startswith(b"+OK")
    assert send(s, f, "RETR 1") == "-ERR Please log in first"
    assert send(s, f, "PASS secret") == "-ERR USER first"
    assert send(s, f, "XYZZY") == "-ERR Unknown command"
    assert send(s, f, "AUTH PLAIN ***") == "-ERR Invalid base64 data"
    assert send(s, f, "USER") == "-ERR Wrong number of arguments"
    assert send(s, f, "QUIT").startswith("+OK")
    s.close()


def test_idle_timeout_applies_to_new_sessions_after_refresh(env):
    env.run("set", "popproxy.idletimeout", "1")
    env.mmp.refresh()
    try:
        s, f = raw(env.pop)
        assert f.readline().startswith(b"+OK")
        s.settimeout(10)
        assert f.readline().startswith(b"-ERR Idle timeout")
        assert f.readline() == b""
        s.close()
    finally:
        env.run("unset", "popproxy.idletimeout")
        env.mmp.refresh()


def test_user_moved_goes_to_the_new_store(env):
    c = login(env, "max")
    assert subjects(c) == []
    c.logout()
    # move: the mailbox is copied to b, then mailHost changes
    deliver(env.b, "max", message=msg("max moved to b"))
    env.ldapmodify(f"dn: uid=max,ou=People,o={DOMAIN},dc=example,dc=com\nchangetype: modify\n"
                   "replace: mailHost\nmailHost: store-b\n")

    def on_b():
        c = login(env, "max")
        try:
            return subjects(c) == ["max moved to b"]
        finally:
            c.logout()
    # imapproxy.ldapcachettl is 1 s: a later login reads the new mailHost
    wait_until(on_b, timeout=15, interval=0.3, what="max's login to reach store b")


def test_store_down_is_a_temporary_error(env):
    env.b.imapd.stop()
    env.b.popd.stop()
    try:
        c = imap(env)
        c.starttls(ssl_context=tls_ctx(env))
        with pytest.raises(imaplib.IMAP4.error) as e:
            c.login("ann", PASSWORD)
        assert "[UNAVAILABLE]" in str(e.value)
        assert c.login("joe", PASSWORD)[0] == "OK"  # store a is still served
        c.logout()
        p = poplib.POP3("127.0.0.1", env.pop, timeout=10)
        p.user("ann")
        with pytest.raises(poplib.error_proto) as e:
            p.pass_(PASSWORD)
        assert b"[SYS/TEMP]" in e.value.args[0]
        p.quit()
        assert "Connection refused" in env.mmp.log_text()
    finally:
        env.b.imapd.start()
        env.b.popd.start()
    c = login(env, "ann")
    assert subjects(c) == ["ann on b"]
    c.logout()


def test_directory_server_stopped_fails_over(env):
    # base.ugldaphost names a dead server first: every login above went to
    # the second one.  Stop that one: logins go to the replica (for the
    # MMP and for the stores), for a user nobody has looked up yet.
    env.stop()
    try:
        c = login(env, "late")
        assert subjects(c) == ["late on a"]
        c.logout()
        p = poplib.POP3("127.0.0.1", env.pop, timeout=10)
        p.user("late")
        assert p.pass_(PASSWORD).startswith(b"+OK")
        p.quit()
    finally:
        env.start()


def test_clean_stop_with_a_relayed_session(env):
    # the MMP stops cleanly (exit 0) with a relayed session open
    c = login(env, "joe")
    c.select("INBOX")
    env.mmp.stop()
    with pytest.raises((imaplib.IMAP4.abort, OSError, EOFError)):
        c.noop()
    env.mmp.start()
    c = login(env, "joe")
    c.logout()
    assert "shutting down" in env.mmp.log_text()


def test_under_the_watcher(tmp_path):
    """start-msg mmp, its status, refresh mmp, the probe, stop-msg mmp."""
    inst = create_instance(tmp_path / "w")
    sup = Supervised(inst, None)
    sup.env["MS_PROGPATH"] = str(BUILD / "workers" / "mmp") + ":" + sup.env["MS_PROGPATH"]
    try:
        port = 143 + inst.offset + 7
        inst.run("set", "imapproxy.tcp_listen:imapproxy1.tcp_ports", str(port))
        inst.run("set", "popproxy.tcp_listen:popproxy1.tcp_ports", "0")
        inst.run("set", "submitproxy.tcp_listen:submitproxy1.tcp_ports", "0")
        cp = sup.start_msg("mmp", check=None)
        assert "mmp" in cp.stdout + cp.stderr and sup.pid("mmp") is None  # mmp.enable 0
        inst.run("set", "mmp.enable", "1")
        cp = sup.start_msg("mmp", check=0)
        pid = sup.pid("mmp")
        assert pid and alive(pid), cp.stdout
        assert re.search(rf"mmp\b.*running.*\b{pid}\b", sup.start_msg("--status", check=0).stdout)
        log = inst.root / "data" / "log" / "mmp"
        assert f"ready on IMAP plain port {port}" in log.read_text()
        before = log.read_text().count("config generation")
        sup.refresh("mmp", check=0)
        wait_until(lambda: log.read_text().count("config generation") > before,
                   what="mmp to reload")
        assert sup.pid("mmp") == pid
        sup.msprobe("mmp", check=0)
        sup.stop_msg("mmp", check=0)
        wait_until(lambda: not alive(pid), what="mmp to exit")
    finally:
        sup.stop_all()
        inst.kill_all()
