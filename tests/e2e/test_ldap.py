"""
The directory against real slapd servers: the private server of an
instance (init-config --local-directory, ldap-local), and the directory
module of libms (lookups, authentication, cache, failover, reconnection,
TLS, filter injection), driven through tests/unit/test_directory --driver.
"""
import os
import signal
import subprocess
import time

from conftest import DOMAIN, parse_cnf, wait_until
from ldap_fixtures import (ADMIN_DN, LDAP_LOCAL, READY, SUFFIX, domain_dn, enable_tls,
                           make_cert, populate, read_line, slapd_alive, user_dn)
from ldap_fixtures import ldap_factory, ldap_instance  # noqa: F401 (fixtures)

JOE = user_dn("joe")


# ---- the private slapd ----

def test_local_directory_instance(ldap_factory):
    inst = ldap_factory("one", start=False)
    cnf = parse_cnf(inst.compiled)
    assert cnf["base.ugldaphost"] == [f"127.0.0.1:{inst.port}"]
    assert cnf["ldap.port"] == [str(inst.port)]
    assert cnf["ldap.enable"] == ["1"]
    assert cnf["base.ugldapbinddn"] == [ADMIN_DN]
    assert cnf["base.ugldapbasedn"] == [SUFFIX]
    assert cnf["base.proxyadmin"] == ["admin"]
    proxy_pw = parse_cnf(inst.compiled_xpass)["base.proxyadminpass"][0]
    assert len(proxy_pw) >= 20
    # Nothing runs yet.
    cp = inst.ldap_local("status", check=False)
    assert cp.returncode == 3, cp.stdout
    assert "not running" in cp.stdout
    # Background start: ready means a search as the administrator worked.
    cp = inst.ldap_local("start")
    assert cp.stdout.startswith(f"{READY} ldap://127.0.0.1:{inst.port} (pid ")
    pid = inst.slapd_pid()
    assert slapd_alive(pid)
    try:
        assert inst.ldap_local("status").stdout.startswith("ldap-local: slapd is running")
        assert "already running" in inst.ldap_local("start").stdout
        # The base tree: the default domain, its folders, the proxy administrator.
        cp = inst.ldapsearch(SUFFIX, "(objectClass=*)", "1.1")
        dns = {ln[4:] for ln in cp.stdout.splitlines() if ln.startswith("dn: ")}
        assert {SUFFIX, ADMIN_DN, domain_dn(), f"ou=People,{domain_dn()}",
                f"ou=Groups,{domain_dn()}", user_dn("admin")} <= dns, dns
        cp = inst.ldapsearch(domain_dn(), "(objectClass=mailDomain)", scope="base")
        assert "associatedDomain: example.com" in cp.stdout
        assert "mailDomainStatus: active" in cp.stdout
        # The proxy administrator can bind with base.proxyadminpass, stored hashed.
        cp = subprocess.run(["ldapwhoami", "-x", "-H", inst.url, "-D", user_dn("admin"),
                             "-w", proxy_pw], capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr
        cp = inst.ldapsearch(user_dn("admin"), "(objectClass=*)", "userPassword", scope="base")
        assert "userPassword:: e1NTSEE1MTJ9" in cp.stdout  # base64 of "{SSHA512}"
        # Only 127.0.0.1 listens, and init refuses to overwrite a live directory.
        cp = inst.ldap_local("init", "--force", check=False)
        assert cp.returncode == 1 and "stop it first" in cp.stderr
    finally:
        cp = inst.ldap_local("stop")
    assert f"slapd (pid {pid}) stopped" in cp.stdout
    wait_until(lambda: not slapd_alive(pid), what="slapd to exit")
    assert inst.ldap_local("status", check=False).returncode == 3
    assert "not running" in inst.ldap_local("stop").stdout
    # init twice is refused without --force; with it the directory starts over.
    cp = inst.ldap_local("init", check=False)
    assert cp.returncode == 1 and "--force" in cp.stderr
    assert "Created the directory" in inst.ldap_local("init", "--force").stdout


def test_run_attached_forwards_sigterm(ldap_factory):
    inst = ldap_factory("one", start=False)
    proc = subprocess.Popen([str(LDAP_LOCAL), "run"], env=inst.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc.stdout, 20, "the readiness line")
        assert line == f"{READY} ldap://127.0.0.1:{inst.port} (pid {inst.slapd_pid()})"
        slapd = inst.slapd_pid()
        assert slapd != proc.pid and slapd_alive(slapd)
        log = (inst.root / "data" / "log" / "ldap").read_text()
        assert "ready on ldap://127.0.0.1:" in log
        # A second run refuses: one slapd per instance.
        cp = subprocess.run([str(LDAP_LOCAL), "run"], env=inst.env, capture_output=True,
                            text=True, timeout=30)
        assert cp.returncode == 1 and "already running" in cp.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not slapd_alive(slapd)
        assert not inst.pidfile.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ldap_local_without_instance(tmp_path):
    cp = subprocess.run([str(LDAP_LOCAL), "-s", str(tmp_path), "status"], capture_output=True,
                        text=True)
    assert cp.returncode == 78, cp.stderr
    cp = subprocess.run([str(LDAP_LOCAL), "frobnicate"], capture_output=True, text=True)
    assert cp.returncode == 64


# ---- lookups ----

def test_lookups(ldap_instance):
    populate(ldap_instance)
    d = ldap_instance.driver()
    # By login name: uid, uid@domain, any case, the default domain.
    for login in ("joe", "joe@example.com", "JOE@Example.COM"):
        f = d.ok(f"login {login}")
        assert f["dn"] == JOE and f["match"] == "login", login
    f = d.ok("login joe")
    assert f["mailhost"] == "store1.example.com"
    assert f["mail"] == "joe@example.com"
    assert f["domain"] == "example.com"
    assert f["status"] == "active"
    assert f["quota"] == "1048576" and f["msgquota"] == "-2"
    assert f["delivery"] == "3"  # mailbox | forward
    assert f["forward"] == "joe@elsewhere.example"
    # A virtual domain and its alias.
    f = d.ok("login ann@other.org")
    assert f["dn"] == user_dn("ann", "other.org") and f["msgquota"] == "5000"
    assert f["lang"] == "fr"  # the domain's preferred language
    assert d.ok("login ann@alias.org")["dn"] == user_dn("ann", "other.org")
    d.err("login ann", "MS_E_NOUSER")  # not in the default domain
    # By address: mail, alternate, equivalent, domain alias, catch-all.
    for addr, match in (("joe@example.com", "mail"), ("<JS@example.com>", "alternate"),
                        ("joe@legacy.example.com", "equivalent"), ("joe", "mail"),
                        ("ann@alias.org", "domainalias"), ("whoever@other.org", "catchall"),
                        ("whoever@alias.org", "catchall")):
        f = d.ok(f"address {addr}")
        assert f["match"] == match, (addr, f)
    assert d.ok("address ann@alias.org")["dn"] == user_dn("ann", "other.org")
    assert d.ok("address whoever@other.org")["dn"] == user_dn("catch", "other.org")
    f = d.ok("address staff@example.com")
    assert f["kind"] == "group"
    assert f["members"] == JOE
    assert f["rfc822"] == "friend@elsewhere.example"
    # Unknown things are "no such user" (the directory answered).
    d.err("login nobody", "MS_E_NOUSER")
    d.err("login joe@nowhere.example", "MS_E_NOUSER")
    d.err("address nobody@example.com", "MS_E_NOUSER")
    d.err("address joe@nowhere.example", "MS_E_NOUSER")
    d.err("address not-an-address@", "MS_E_SYNTAX")
    # Domains by name and alias.
    f = d.ok("domain alias.org")
    assert f["name"] == "other.org" and f["aliases"] == "alias.org"
    assert d.ok("domain example.com")["dn"] == domain_dn()
    d.err("domain nowhere.example", "MS_E_NOUSER")
    # Several at once through the asynchronous API.
    out = d.cmd_until_done("async address joe@example.com nobody@example.com ann@alias.org "
                           "staff@example.com")
    assert sorted(ln.split()[0] for ln in out) == ["ERR", "OK", "OK", "OK"], out
    d.cmd("clear")
    assert d.ok("cancel joe")["pending"] == "0"
    assert "BUG" not in d.cmd("stats")


def test_status_values(ldap_instance):
    populate(ldap_instance)
    c = ldap_instance.commadmin
    d = ldap_instance.driver("--ttl", "0", "--alias-ttl", "0")
    for status, login_err in (("active", None), ("overquota", None), ("hold", "MS_E_NOPERM"),
                              ("inactive", "MS_E_NOPERM"), ("removed", "MS_E_NOPERM")):
        c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", f"mailUserStatus:{status}")
        # Lookups still find the entry, with the status for the MTA to act on
        # (hold: the hold queue; never a bounce for lack of an entry).
        f = d.ok("address joe@example.com")
        assert f["status"] == status and f["userstatus"] == status
        if login_err is None:
            d.ok("auth joe Joe-Pass-1 imap")
        else:
            ans = d.err("auth joe Joe-Pass-1 imap", login_err)
            assert status in ans
        # A wrong password says so whatever the status: no hint about the account.
        d.err("auth joe wrong imap", "MS_E_AUTHFAIL")
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", "mailUserStatus:active")
    # The domain's status applies to its users.
    c("domain", "modify", "-d", "other.org", "-A", "mailDomainStatus:hold")
    f = d.ok("address ann@other.org")
    assert f["status"] == "hold" and f["userstatus"] == "active" and f["domainstatus"] == "hold"
    d.err("auth ann@other.org Ann-Pass-1", "MS_E_NOPERM")
    d.ok("auth joe Joe-Pass-1")
    # mailAllowedServiceAccess.
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", "mailAllowedServiceAccess:+pop:*")
    d.ok("auth joe Joe-Pass-1 pop 192.0.2.1")
    d.err("auth joe Joe-Pass-1 imap 192.0.2.1", "MS_E_NOPERM")


def test_authentication_and_no_password_in_logs(ldap_instance, tmp_path):
    populate(ldap_instance)
    log = tmp_path / "auth.log"
    d = ldap_instance.driver(log=log)
    secret = "Joe-Pass-1"
    f = d.ok(f"auth joe {secret} imap 127.0.0.1")
    assert f["dn"] == JOE
    d.ok(f"auth joe@example.com {secret}")
    d.err("auth joe Joe-Pass-2", "MS_E_AUTHFAIL")
    d.err("auth nobody whatever", "MS_E_AUTHFAIL")  # not MS_E_NOUSER: no user probing
    d.err("auth joe@nowhere.example whatever", "MS_E_AUTHFAIL")
    d.ok("auth ann@alias.org Ann-Pass-1")
    # A group cannot log in, even with a matching name.
    d.err("auth staff whatever", "MS_E_AUTHFAIL")
    st = d.stats()
    # joe, the wrong password and ann were binds; joe@example.com came from
    # the authentication cache.
    assert (st["binds"], st["auth_cache_hits"]) == ("3", "1"), st
    d.close()
    text = log.read_text() + d.output_text()
    assert "MS_E_AUTHFAIL" in text
    for pw in (secret, "Joe-Pass-2", "Ann-Pass-1", ldap_instance.admin_pw):
        assert pw not in text, f"a password appears in the log: {pw}"
    for p in (ldap_instance.root / "data" / "log").glob("*"):
        assert secret not in p.read_text(errors="replace")


def test_cache_ttl(ldap_instance):
    populate(ldap_instance)
    c = ldap_instance.commadmin
    d = ldap_instance.driver("--fake-clock", "--ttl", "60", "--alias-ttl", "30",
                             "--negative-ttl", "5")
    assert d.ok("login joe")["mailhost"] == "store1.example.com"
    assert d.ok("address js@example.com")["mailhost"] == "store1.example.com"
    searches = int(d.stats()["searches"])
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", "mailHost:store9.example.com")
    # Within the TTL: the old value, from the cache (no search).
    assert d.ok("login joe")["mailhost"] == "store1.example.com"
    assert int(d.stats()["searches"]) == searches
    d.cmd("tick 31")  # past the alias TTL, within the login TTL
    assert d.ok("address js@example.com")["mailhost"] == "store9.example.com"
    assert d.ok("login joe")["mailhost"] == "store1.example.com"
    d.cmd("tick 30")
    assert d.ok("login joe")["mailhost"] == "store9.example.com"
    # Negative answers are cached, for the shorter negative TTL.
    d.err("login newbie", "MS_E_NOUSER")
    c("user", "create", "-l", "newbie", "-d", DOMAIN, "-W", "Newbie-Pass-1")
    d.err("login newbie", "MS_E_NOUSER")
    d.cmd("tick 6")
    assert d.ok("login newbie")["dn"] == user_dn("newbie")
    # Successful authentications are cached (authcachettl), failures are not.
    d.ok("auth newbie Newbie-Pass-1")
    binds = int(d.stats()["binds"])
    d.ok("auth newbie Newbie-Pass-1")
    st = d.stats()
    assert int(st["binds"]) == binds and int(st["auth_cache_hits"]) == 1
    d.err("auth newbie wrong", "MS_E_AUTHFAIL")
    assert int(d.stats()["binds"]) == binds + 1
    # TTL 0: nothing cached, every lookup asks the server.
    d0 = ldap_instance.driver("--ttl", "0", "--alias-ttl", "0")
    d0.ok("login joe")
    n = int(d0.stats()["searches"])
    d0.ok("login joe")
    assert int(d0.stats()["searches"]) > n
    assert d0.stats()["cache_hits"] == "0"


def test_filter_injection(ldap_instance):
    populate(ldap_instance)
    d = ldap_instance.driver()
    for evil in ("*)(uid=*", "*", "joe)(|(uid=*", "*)(objectClass=*", "j*", "\\2a",
                 "joe)(uid=ann"):
        d.err(f"login {evil}", "MS_E_NOUSER")
        d.err(f"auth {evil} Joe-Pass-1", "MS_E_AUTHFAIL")
        ans = d.cmd(f"address {evil}@example.com")
        assert ans.startswith("ERR"), (evil, ans)
    d.err("address *@example.com", "MS_E_NOUSER")
    d.err("domain *", "MS_E_NOUSER")
    d.err("address joe@*", "MS_E_NOUSER")
    # The real names still work.
    d.ok("login joe")


# ---- faults ----

def test_unreachable_is_temporary(ldap_instance):
    populate(ldap_instance)
    d = ldap_instance.driver("--timeout-ms", "2000")
    d.ok("login joe")
    ldap_instance.stop()
    d.cmd("clear")
    for line in ("login joe", "address joe@example.com", "address nobody@example.com",
                 "domain example.com", "auth joe Joe-Pass-1"):
        ans = d.err(line, "MS_E_TEMPFAIL")
        assert "Connection refused" in ans or "answer" in ans, ans


def test_wrong_service_password_is_temporary(ldap_instance):
    """A directory that refuses our bind is a configuration fault, not 'no such user'."""
    d = ldap_instance.driver("--bind-password", "not-the-password")
    for line in ("login admin", "address nobody@example.com", "auth admin whatever"):
        ans = d.err(line, "MS_E_TEMPFAIL")
        assert f"bind as {ADMIN_DN} refused: Invalid credentials" in ans, ans
        assert "not-the-password" not in ans


def test_reconnect_after_restart(ldap_instance):
    populate(ldap_instance)
    d = ldap_instance.driver("--ttl", "0", "--alias-ttl", "0")
    d.ok("login joe")
    d.ok("auth joe Joe-Pass-1")
    st = d.stats()
    assert st["connects"] == "2"  # the search and one authentication connection
    ldap_instance.stop()
    ldap_instance.start()
    # The old connections are dead; the next requests reconnect by themselves.
    d.ok("login joe")
    d.ok("auth joe Joe-Pass-1")
    d.ok("address js@example.com")
    st = d.stats()
    assert int(st["connects"]) >= 4, st
    assert st["server"] == f"127.0.0.1:{ldap_instance.port}"


def test_failover(ldap_factory):
    first = ldap_factory("first")
    second = ldap_factory("second")
    for inst in (first, second):
        inst.commadmin("user", "create", "-l", "joe", "-d", DOMAIN, "-W", "Joe-Pass-1",
                       "-H", f"host-{inst.port}.example.com")
    hosts = f"127.0.0.1:{first.port} 127.0.0.1:{second.port}"
    d = first.driver("--hosts", hosts, "--ttl", "0", "--alias-ttl", "0", "--timeout-ms", "3000")
    assert d.ok("login joe")["mailhost"] == f"host-{first.port}.example.com"
    assert d.stats()["server"] == f"127.0.0.1:{first.port}"
    first.stop()
    # The first server is gone: the same request goes to the second.
    assert d.ok("login joe")["mailhost"] == f"host-{second.port}.example.com"
    d.ok("auth joe Joe-Pass-1")
    st = d.stats()
    assert st["server"] == f"127.0.0.1:{second.port}"
    assert int(st["failovers"]) >= 1
    # A fresh process with the first server down starts on the second.
    d2 = first.driver("--hosts", hosts, "--ttl", "0")
    assert d2.ok("address joe@example.com")["mailhost"] == f"host-{second.port}.example.com"
    # Both down: a temporary failure.
    second.stop()
    d.err("login joe", "MS_E_TEMPFAIL")
    # The first comes back: found again, on the first server.
    first.start()
    assert d.ok("login joe")["mailhost"] == f"host-{first.port}.example.com"


def test_hung_server_times_out(ldap_factory):
    """A server that takes connections and never answers (SIGSTOP): after
    base.ugldaptimeout the request moves on to the next server."""
    first = ldap_factory("first")
    second = ldap_factory("second")
    for inst in (first, second):
        inst.commadmin("user", "create", "-l", "joe", "-d", DOMAIN, "-W", "Joe-Pass-1",
                       "-H", f"host-{inst.port}.example.com")
    hosts = f"127.0.0.1:{first.port} 127.0.0.1:{second.port}"
    d = first.driver("--hosts", hosts, "--ttl", "0", "--alias-ttl", "0", "--timeout-ms", "1000")
    assert d.ok("login joe")["mailhost"] == f"host-{first.port}.example.com"
    slapd = first.slapd_pid()
    os.kill(slapd, signal.SIGSTOP)
    wait_until(lambda: open(f"/proc/{slapd}/stat").read().rsplit(")", 1)[1].split()[0] == "T",
               what="slapd to stop")
    try:
        t0 = time.monotonic()
        assert d.ok("login joe")["mailhost"] == f"host-{second.port}.example.com"
        assert d.ok("auth joe Joe-Pass-1")["dn"] == JOE
        assert time.monotonic() - t0 < 8
        # Alone, a hung server is a temporary failure after the timeout.
        d1 = first.driver("--hosts", f"127.0.0.1:{first.port}", "--ttl", "0",
                          "--timeout-ms", "1000")
        ans = d1.err("login joe", "MS_E_TEMPFAIL")
        assert "timed out" in ans or "did not answer" in ans, ans
    finally:
        os.kill(slapd, signal.SIGCONT)


def test_ldaps_and_starttls(ldap_factory, tmp_path):
    inst = ldap_factory("tls", start=False)
    cert, key = make_cert(tmp_path)
    enable_tls(inst, cert, key)
    ldaps_port = inst.port + 1
    slapd = subprocess.Popen(["/usr/sbin/slapd", "-d", "0", "-F",
                              str(inst.root / "data/ldap/slapd.d"), "-h",
                              f"ldap://127.0.0.1:{inst.port}/ ldaps://127.0.0.1:{ldaps_port}/"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: inst.ldap_local("status", check=False).returncode == 0,
                   timeout=20, what="slapd with TLS")
        ldaps = f"127.0.0.1:{ldaps_port}"
        d = inst.driver("--hosts", ldaps, "--ssl", "--ca", cert)
        f = d.ok("login admin")
        assert f["dn"] == user_dn("admin")
        proxy_pw = parse_cnf(inst.compiled_xpass)["base.proxyadminpass"][0]
        d.ok(f"auth admin {proxy_pw}")
        assert d.stats()["server"] == ldaps
        # StartTLS on the plain port.
        d = inst.driver("--starttls", "--ca", cert)
        d.ok("login admin")
        # A certificate nobody vouches for is refused: temporary failure.
        d = inst.driver("--hosts", ldaps, "--ssl", "--ca", "/etc/ssl/certs/ca-certificates.crt")
        ans = d.err("login admin", "MS_E_TEMPFAIL")
        assert "TLS" in ans
    finally:
        slapd.send_signal(signal.SIGTERM)
        slapd.wait(timeout=15)


def test_benchmark(ldap_instance, capsys):
    """Lookups per second with a cold and a warm cache, authentications per second."""
    populate(ldap_instance)
    cold = ldap_instance.driver("--ttl", "0", "--alias-ttl", "0")
    warm = ldap_instance.driver()
    rates = {
        "lookups/s, cold cache": cold.ok("bench 300 login joe"),
        "lookups/s, warm cache": warm.ok("bench 20000 login joe"),
        "address lookups/s, cold": cold.ok("bench 300 address js@example.com"),
        "authentications/s (binds)": cold.ok("bench 200 auth joe Joe-Pass-1"),
        "authentications/s, cached": warm.ok("bench 5000 auth joe Joe-Pass-1"),
    }
    with capsys.disabled():
        print()
        for name, f in rates.items():
            assert f["ok"] == f["count"], (name, f)
            print(f"  directory benchmark: {name:28} {f['persecond']:>9}")
    assert float(rates["lookups/s, warm cache"]["persecond"]) > \
        float(rates["lookups/s, cold cache"]["persecond"])
