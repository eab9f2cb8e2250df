"""The MMP's certificate login (docs/mmp.md "Client certificates"): a client
certificate verified against base.sslcafile, mapped to a directory entry
by base.certmap:default.dncomps / filtercomps, logs in with SASL EXTERNAL
(IMAP AUTHENTICATE EXTERNAL, POP AUTH EXTERNAL) and no password.

One slapd (instance "dir", which also runs the MMP) and one store instance
"a" (imapd and popd); the certificates are made here with openssl: a CA
whose client certificates the MMP trusts, a second CA it does not, the
MMP's own server certificate (self-signed), and client certificates.
"""
import base64
import imaplib
import poplib
import re
import socket
import ssl
import subprocess

import pytest

from conftest import DOMAIN, parse_cnf, wait_until
from ldap_fixtures import create_ldap_instance, make_cert
from test_mmp import PASSWORD, STOREADMIN, STOREADMIN_PW, MmpServer, backend
from test_store_tools import deliver


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    cert, key = d / f"{name}.pem", d / f"{name}-key.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/O=example.com/CN={name}", "-keyout", str(key), "-out", str(cert))
    return cert, key


def client_cert(d, name, subject, ca):
    """A client certificate for subject (openssl's /A=x/B=y form) signed by ca."""
    key, csr, cert = d / f"{name}-key.pem", d / f"{name}.csr", d / f"{name}.pem"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", str(key),
            "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
            "-CAcreateserial", "-days", "2", "-out", str(cert))
    return cert, key


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmpcert")
    made = []
    mmp = None
    try:
        d = create_ldap_instance(root / "dir")
        made.append(d)
        d.start()
        d.admin_pass = parse_cnf(d.compiled_xpass)["base.proxyadminpass"][0]
        cert, key = make_cert(root)
        d.server_cert = cert
        for uid, pw in (("alice", PASSWORD), ("bob", PASSWORD), ("held", PASSWORD),
                        (STOREADMIN, STOREADMIN_PW)):
            d.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", pw, "-F", uid,
                        "-L", "Cert", "-H", "store-a")
        d.commadmin("user", "modify", "-l", "held", "-d", DOMAIN, "-A", "mailUserStatus:hold")
        a = backend(root, "a", d, cert, key, f"127.0.0.1:{d.port}")
        made.append(a)
        ca = make_ca(root, "Client CA")
        other = make_ca(root, "Other CA")
        partner = make_ca(root, "Partner CA")
        trusted = root / "trusted.pem"  # base.sslcafile: both trusted CAs
        trusted.write_text(ca[0].read_text() + partner[0].read_text())
        subj = "/O=example.com/OU=People/UID={}/CN={} Cert"
        d.certs = {
            "alice": client_cert(root, "alice", subj.format("alice", "alice"), ca),
            "bob": client_cert(root, "bob", subj.format("bob", "bob"), ca),
            "held": client_cert(root, "held", subj.format("held", "held"), ca),
            "nobody": client_cert(root, "nobody", subj.format("nobody", "nobody"), ca),
            "elsewhere": client_cert(root, "elsewhere",
                                     "/O=other.org/OU=People/UID=alice/CN=alice", ca),
            "forged": client_cert(root, "forged", subj.format("alice", "alice"), other),
            # the seed's example subject, from the CA with a group of its own
            "pilar": client_cert(root, "pilar", "/O=example.com/OU=bob/CN=Pilar Lorca", partner),
        }
        o = d.offset
        d.imap, d.imaps, d.pop, d.pops = 143 + o, 993 + o, 110 + o, 995 + o
        for opt, val in (
                ("imapproxy.tcp_listen:imapproxy1.tcp_ports", d.imap),
                ("imapproxy.tcp_listen:imapproxy1.ssl_ports", d.imaps),
                ("popproxy.tcp_listen:popproxy1.tcp_ports", d.pop),
                ("popproxy.tcp_listen:popproxy1.ssl_ports", d.pops),
                ("imapproxy.sslenable", 1), ("popproxy.sslenable", 1),
                ("imapproxy.storeadmin", STOREADMIN), ("imapproxy.storeadminpass", STOREADMIN_PW),
                ("imapproxy.preauth", 1),
                # tcpaccess (mailAllowedServiceAccess grammar): IMAP refuses
                # 127.0.0.3, POP serves 127.0.0.1 only, and clients of the
                # server address 127.0.0.2 get its vdomain's rule instead
                ("imapproxy.tcpaccess", "-imap:127.0.0.3"),
                ("popproxy.tcpaccess", "+pop:127.0.0.1"),
                ("vdomain:127.0.0.2.tcpaccess", "-imap,pop:127.0.0.1"),
                # the subject's OU and O name the search base (below the
                # directory's suffix), its UID the filter
                ("base.certmap:default.dncomps", "ou=ou o=o"),
                ("base.certmap:default.filtercomps", "uid=uid"),
                ("base.sslcertfile", cert), ("base.sslkeyfile", key),
                # the issuer's own group: the seed's "filtercomps ou=uid"
                ("base.certmap:CN=Partner CA,O=example.com.filtercomps", "ou=uid"),
                ("base.sslcafile", trusted),
                ("mmp.logfile.loglevel", "Information"),
                ("base.ugldaphost", f"127.0.0.1:{d.port}"),
                ("proxy:store-a.storehostlist", "127.0.0.1"),
                ("proxy:store-a.imapport", a.imap_port),
                ("proxy:store-a.popport", a.pop_port)):
            d.run("set", opt, str(val))
        d.a = a
        mmp = MmpServer(d)
        mmp.start()
        d.mmp = mmp
        deliver(a, "alice", message="Subject: for alice\nFrom: x@example.com\n\nbody\n")
        yield d
    finally:
        failures = []

        def attempt(fn):
            try:
                fn()
            except BaseException as e:  # noqa: B902 - re-raised below
                failures.append(e)
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


def ctx(env, who=None):
    c = ssl.create_default_context(cafile=str(env.server_cert))
    if who is not None:
        cert, key = env.certs[who]
        c.load_cert_chain(str(cert), str(key))
    return c


def imaps(env, who=None):
    return imaplib.IMAP4_SSL("127.0.0.1", env.imaps, ssl_context=ctx(env, who), timeout=10)


def caps(c):
    typ, data = c.capability()
    assert typ == "OK"
    return data[0].decode().split()


def external_ir(c, ir="="):
    """AUTHENTICATE EXTERNAL with an initial response (SASL-IR)."""
    try:
        typ, data = c._simple_command("AUTHENTICATE", "EXTERNAL", ir)
    except imaplib.IMAP4.error as e:
        return "NO", [str(e).encode()]
    if typ == "OK":
        c.state = "AUTH"
    return typ, data


def test_imap_external_login_with_a_client_certificate(env):
    c = imaps(env, "alice")
    assert "AUTH=EXTERNAL" in caps(c)
    # no initial response: the "+" continuation and an empty response
    typ, data = c.authenticate("EXTERNAL", lambda _: b"")
    assert typ == "OK", data
    typ, data = c.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"for alice" in data[0][1]
    c.logout()
    log = wait_until(lambda: "auth 'EXTERNAL'" in (t := env.mmp.log_text()) and t,
                     what="the Proxy connect line")
    assert ("certificate CN=alice Cert,UID=alice,OU=People,O=example.com (issuer "
            "CN=Client CA,O=example.com) mapped by base.certmap:default to base "
            "'ou=People,o=example.com,dc=example,dc=com' filter (uid=alice)") in log, log
    assert re.search(r"canonical user 'alice@example\.com' original user 'alice' "
                     r"auth 'EXTERNAL'", log), log
    # pre-authentication (imapproxy.preauth) records certificate logins too
    assert re.search(r"\d{14} \(sid 0x[0-9a-f]+\) alice@example\.com pre-authenticated - "
                     r"127\.0\.0\.1, 127\.0\.0\.1", log), log
    # the store saw its administrator log in for alice
    assert " alice PLAIN" in env.a.imapd.log_text()


def test_imap_external_after_starttls_and_authzid(env):
    c = imaplib.IMAP4("127.0.0.1", env.imap, timeout=10)
    assert "AUTH=EXTERNAL" not in caps(c)  # in clear: no certificate yet
    c.starttls(ssl_context=ctx(env, "bob"))
    assert "AUTH=EXTERNAL" in caps(c)
    # the certificate of bob cannot act for alice (RFC 4422 appendix A)
    typ, data = external_ir(c, base64.b64encode(b"alice").decode())
    assert typ == "NO" and b"AUTHENTICATIONFAILED" in data[-1], data
    typ, data = external_ir(c, base64.b64encode(b"bob@example.com").decode())
    assert typ == "OK", data
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    assert "cannot act for alice" in env.mmp.log_text()


def test_pop_auth_external(env):
    p = poplib.POP3_SSL("127.0.0.1", env.pops, context=ctx(env, "alice"), timeout=10)
    assert "EXTERNAL" in p.capa().get("SASL", [])
    assert p._shortcmd("AUTH EXTERNAL =").startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()
    # STLS, then AUTH EXTERNAL without an initial response
    p = poplib.POP3("127.0.0.1", env.pop, timeout=10)
    assert "EXTERNAL" not in p.capa().get("SASL", [])
    p.stls(context=ctx(env, "alice"))
    assert "EXTERNAL" in p.capa()["SASL"]
    assert p._shortcmd("AUTH EXTERNAL").startswith(b"+")
    assert p._shortcmd("").startswith(b"+OK")
    assert p.stat()[0] == 1
    p.quit()


def test_certmap_group_of_the_issuer(env):
    line = "canonical user 'bob@example.com' original user 'bob' auth 'EXTERNAL'"
    before = env.mmp.log_text().count(line)
    c = imaps(env, "pilar")
    assert external_ir(c)[0] == "OK"
    assert c.select("INBOX")[0] == "OK"
    c.logout()
    log = wait_until(lambda: (t := env.mmp.log_text()).count(line) > before and t,
                     what="bob's Proxy connect line")
    # the group named by the issuer's DN, not default (which wants a UID)
    assert ("certificate CN=Pilar Lorca,OU=bob,O=example.com (issuer CN=Partner CA,"
            "O=example.com) mapped by base.certmap:CN=Partner CA,O=example.com to base "
            "'dc=example,dc=com' filter (uid=bob)") in log, log


def test_no_certificate_no_external(env):
    c = imaps(env)
    assert "AUTH=EXTERNAL" not in caps(c)
    typ, data = external_ir(c)
    assert typ == "NO" and b"No verified client certificate" in data[-1], data
    # a password login still works
    assert c.login("alice", PASSWORD)[0] == "OK"
    c.logout()
    p = poplib.POP3_SSL("127.0.0.1", env.pops, context=ctx(env), timeout=10)
    with pytest.raises(poplib.error_proto, match="No verified client certificate"):
        p._shortcmd("AUTH EXTERNAL =")
    p.quit()


def test_certificate_of_another_ca_refused(env):
    c = imaps(env, "forged")  # the handshake completes; the certificate is not trusted
    assert "AUTH=EXTERNAL" not in caps(c)
    typ, data = external_ir(c)
    assert typ == "NO", data
    assert c.login("alice", PASSWORD)[0] == "OK"
    c.logout()


def test_certificates_that_map_to_no_usable_entry(env):
    for who, why in (("nobody", "no entry for (uid=nobody)"),
                     ("held", "account disabled (hold)"),
                     ("elsewhere", "is not under ou=People,o=other.org,dc=example,dc=com")):
        c = imaps(env, who)
        assert "AUTH=EXTERNAL" in caps(c)
        typ, data = external_ir(c)
        assert typ == "NO" and b"AUTHENTICATIONFAILED" in data[-1], (who, data)
        c.logout()
        wait_until(lambda: why in env.mmp.log_text(), what=f"the badlogin of {who}")
    assert "badlogin: 127.0.0.1" in env.mmp.log_text()


def greeting(port, host="127.0.0.1", source=None, refused=False):
    """The first line the MMP sends; with refused, also that it then closes."""
    s = socket.create_connection((host, port), timeout=10,
                                 source_address=(source, 0) if source else None)
    with s, s.makefile("rb") as f:
        first = f.readline().decode().rstrip("\r\n")
        if refused:
            assert f.read() == b""
    return first


def test_tcpaccess_refuses_client_addresses(env):
    assert greeting(env.imap, source="127.0.0.3", refused=True) == "* BYE Access denied"
    assert greeting(env.pop, source="127.0.0.3", refused=True) == \
        "-ERR [SYS/PERM] Access denied"
    # allowed addresses get the greeting (and a login)
    assert greeting(env.imap, source="127.0.0.2").startswith("* OK [CAPABILITY")
    p = poplib.POP3("127.0.0.1", env.pop, timeout=10)
    assert p.getwelcome().startswith(b"+OK")
    assert p._shortcmd("USER alice").startswith(b"+OK")
    assert p.pass_(PASSWORD).startswith(b"+OK")
    p.quit()
    # the vdomain of the server address 127.0.0.2 overrides the proxy's rule
    assert greeting(env.imap, host="127.0.0.2", refused=True) == "* BYE Access denied"
    assert greeting(env.imap, host="127.0.0.2", source="127.0.0.3").startswith("* OK")
    # a TLS port closes without a word
    s = socket.create_connection(("127.0.0.1", env.imaps), timeout=10,
                                 source_address=("127.0.0.3", 0))
    with pytest.raises(OSError):  # ssl.SSLError or a reset: no TLS session
        ctx(env).wrap_socket(s, server_hostname="127.0.0.1").recv(100)
    s.close()
    log = env.mmp.log_text()
    assert re.search(r"imapproxy: access denied to 127\.0\.0\.3:\d+ by tcpaccess", log), log
    assert re.search(r"popproxy: access denied to 127\.0\.0\.3:\d+ by tcpaccess", log), log


def test_malformed_external_responses(env):
    s = socket.create_connection(("127.0.0.1", env.imaps), timeout=10)
    t = ctx(env, "alice").wrap_socket(s, server_hostname="127.0.0.1")
    f = t.makefile("rb")
    assert f.readline().startswith(b"* OK")
    for line, want in ((b"a AUTHENTICATE EXTERNAL !!!!", b"a BAD Invalid base64"),
                       (b"b AUTHENTICATE EXTERNAL " + base64.b64encode(b"x\0y"),
                        b"b BAD Malformed EXTERNAL"),
                       (b"c AUTHENTICATE EXTERNAL", b"+ ")):
        t.sendall(line + b"\r\n")
        assert f.readline().startswith(want), line
    t.sendall(b"*\r\n")
    assert f.readline().startswith(b"c BAD AUTHENTICATE cancelled")
    t.sendall(b"d LOGOUT\r\n")
    assert f.readline().startswith(b"* BYE")
    t.close()
