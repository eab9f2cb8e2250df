"""
commadmin against a real slapd (the instance's own, from ldap-local):
round trips of domains, users and groups, checked with ldapsearch and
ldapwhoami; passwords hashed by the server; clear errors.
"""
import base64
import pathlib
import subprocess

from conftest import DOMAIN, REPO
from ldap_fixtures import COMMADMIN, SUFFIX, domain_dn, user_dn
from ldap_fixtures import ldap_instance  # noqa: F401 (fixture)


def attrs_of(ldif):
    """ldapsearch -LLL output of one entry -> {attr: [values]} (base64 decoded)."""
    out = {}
    for ln in ldif.splitlines():
        if ln.startswith(" ") or ":" not in ln:
            continue
        k, _, v = ln.partition(":")
        if v.startswith(":"):
            v = base64.b64decode(v[1:].strip()).decode("utf-8", "replace")
        else:
            v = v.strip()
        out.setdefault(k, []).append(v)
    return out


def entry(inst, dn, *attrs):
    cp = inst.ldapsearch(dn, "(objectClass=*)", *attrs, scope="base")
    assert cp.returncode in (0, 32), cp.stderr
    return attrs_of(cp.stdout) if cp.returncode == 0 else None


def can_bind(inst, dn, pw):
    cp = subprocess.run(["ldapwhoami", "-x", "-H", inst.url, "-D", dn, "-w", pw],
                        capture_output=True, text=True, timeout=30)
    return cp.returncode == 0


def test_help_and_man_page():
    cp = subprocess.run([str(COMMADMIN), "--help"], capture_output=True, text=True)
    assert cp.returncode == 0
    for word in ("domain create", "user   create", "group  create", "-A [+|-]attr"):
        assert word in cp.stdout, word
    man = (REPO / "docs" / "man" / "commadmin.8").read_text()
    for word in (".SH SYNOPSIS", "user create", "mailUserStatus", ".SH EXIT STATUS"):
        assert word in man, word
    cp = subprocess.run([str(COMMADMIN), "user"], capture_output=True, text=True)
    assert cp.returncode == 64 and "usage:" in cp.stderr
    cp = subprocess.run([str(COMMADMIN), "mailbox", "create"], capture_output=True, text=True)
    assert cp.returncode == 64 and "unknown object" in cp.stderr


def test_user_round_trip(ldap_instance):
    inst = ldap_instance
    c = inst.commadmin
    secret = "Zebra-Horse-77"
    cp = c("user", "create", "-l", "joe", "-d", DOMAIN, "-W", secret, "-F", "Joe", "-L", "Smith",
           "-E", "Joe.Smith@Example.com", "-H", "store1.example.com", "-Q", "2000000")
    assert cp.stdout == "OK\n"
    assert secret not in cp.stdout + cp.stderr
    e = entry(inst, user_dn("joe"))
    assert "inetMailUser" in e["objectClass"] and "inetOrgPerson" in e["objectClass"]
    assert e["uid"] == ["joe"] and e["cn"] == ["Joe Smith"] and e["sn"] == ["Smith"]
    assert e["mail"] == ["joe.smith@example.com"]
    assert e["mailHost"] == ["store1.example.com"]
    assert e["mailQuota"] == ["2000000"]
    assert e["mailUserStatus"] == ["active"] and e["mailDeliveryOption"] == ["mailbox"]
    # The server hashed the password: no clear text is stored.
    pw = e["userPassword"][0]
    assert pw.startswith(("{SSHA512}", "{SSHA256}", "{SSHA}", "{ARGON2}")), pw
    assert secret not in pw
    assert can_bind(inst, user_dn("joe"), secret)
    assert not can_bind(inst, user_dn("joe"), "wrong")
    # Search shows the entry, never the password.
    cp = c("user", "search", "-l", "joe", "-d", DOMAIN)
    assert f"dn: {user_dn('joe')}" in cp.stdout and "mailHost: store1.example.com" in cp.stdout
    assert "userPassword" not in cp.stdout and cp.stdout.endswith("OK\n")
    cp = c("user", "search")
    assert "uid: admin" in cp.stdout and "uid: joe" in cp.stdout
    # Modify: replace, add and remove values; a new password (from stdin).
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", "mailHost:store2.example.com",
      "-A", "+mailAlternateAddress:js@example.com", "-A", "+mailAlternateAddress:j@example.com",
      "-A", "mailUserStatus:hold", "-A", "preferredLanguage:de")
    e = entry(inst, user_dn("joe"))
    assert e["mailHost"] == ["store2.example.com"]
    assert sorted(e["mailAlternateAddress"]) == ["j@example.com", "js@example.com"]
    assert e["mailUserStatus"] == ["hold"] and e["preferredLanguage"] == ["de"]
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", "-mailAlternateAddress:j@example.com",
      "-A", "-preferredLanguage")
    e = entry(inst, user_dn("joe"))
    assert e["mailAlternateAddress"] == ["js@example.com"] and "preferredLanguage" not in e
    c("user", "modify", "-l", "joe", "-d", DOMAIN, "-W", "-", input="Newer-Secret-88\n")
    assert can_bind(inst, user_dn("joe"), "Newer-Secret-88")
    assert not can_bind(inst, user_dn("joe"), secret)
    # Delete marks the user deleted; domain purge removes it.
    c("user", "delete", "-l", "joe", "-d", DOMAIN)
    e = entry(inst, user_dn("joe"))
    assert e["mailUserStatus"] == ["removed"] and e["inetUserStatus"] == ["deleted"]
    cp = c("domain", "purge", "-d", DOMAIN)
    assert "purged 1 user of example.com" in cp.stdout
    assert entry(inst, user_dn("joe")) is None
    assert entry(inst, user_dn("admin")) is not None  # the others stay


def test_user_errors(ldap_instance):
    inst = ldap_instance
    c = inst.commadmin
    c("user", "create", "-l", "ann", "-d", DOMAIN, "-W", "Ann-Pass-1")
    cases = [
        (("user", "create", "-l", "ann", "-d", DOMAIN, "-W", "x"), 1,
         "user ann already exists in example.com"),
        (("user", "create", "-l", "bob", "-d", "nowhere.org", "-W", "x"), 1,
         "domain nowhere.org does not exist (create it with: commadmin domain create -d "
         "nowhere.org)"),
        (("user", "modify", "-l", "ann", "-d", DOMAIN, "-A", "mailQuotaX:5"), 64,
         "unknown attribute 'mailQuotaX' for a user; did you mean mailQuota?"),
        (("user", "modify", "-l", "ann", "-d", DOMAIN, "-A", "mailUserStatus:sleepy"), 64,
         "mailUserStatus takes active, inactive, hold, overquota or removed, not 'sleepy'"),
        (("user", "modify", "-l", "ann", "-d", DOMAIN, "-A", "mailQuota:lots"), 64,
         "mailQuota takes a number"),
        (("user", "modify", "-l", "ann", "-d", DOMAIN, "-A", "userPassword:clear"), 64,
         "set passwords with -W"),
        (("user", "modify", "-l", "ann", "-d", DOMAIN, "-A", "associatedDomain:x.org"), 64,
         "a user has no attribute associatedDomain"),
        (("user", "modify", "-l", "nobody", "-d", DOMAIN, "-A", "mailHost:h.example.com"), 1,
         "user nobody does not exist in example.com"),
        (("user", "create", "-l", "bob", "-d", DOMAIN), 64, "needs -W PASSWORD"),
        (("user", "create", "-l", "b*b", "-d", DOMAIN, "-W", "x"), 64, "is not a user ID"),
        (("user", "create", "-l", "bob", "-d", DOMAIN, "-W", "x", "-E", "ann@example.com"), 1,
         "the address ann@example.com is already used by " + user_dn("ann")),
        (("user", "create", "-l", "bob", "-d", DOMAIN, "-W", "x", "-E", "not-an-address"), 64,
         "-E not-an-address: mail takes a mail address"),
        (("user", "frobnicate", "-l", "ann", "-d", DOMAIN), 64, "unknown action"),
    ]
    for args, status, message in cases:
        cp = c(*args, check=False)
        assert cp.returncode == status, (args, cp.returncode, cp.stderr)
        assert message in cp.stderr, (args, cp.stderr)
        assert "OK" not in cp.stdout
    # Nothing was created by the refusals.
    assert entry(inst, user_dn("bob")) is None


def test_domain_round_trip(ldap_instance):
    inst = ldap_instance
    c = inst.commadmin
    c("domain", "create", "-d", "Other.ORG", "-A", "+associatedDomain:alias.org",
      "-A", "preferredLanguage:fr")
    dn = f"o=other.org,{SUFFIX}"
    e = entry(inst, dn)
    assert "mailDomain" in e["objectClass"]
    assert sorted(e["associatedDomain"]) == ["alias.org", "other.org"]
    assert e["mailDomainStatus"] == ["active"] and e["inetDomainStatus"] == ["active"]
    assert entry(inst, f"ou=People,{dn}") is not None
    assert entry(inst, f"ou=Groups,{dn}") is not None
    cp = c("domain", "search")
    assert f"dn: {domain_dn()}" in cp.stdout and f"dn: {dn}" in cp.stdout
    cp = c("domain", "search", "-d", "alias.org")
    assert f"dn: {dn}" in cp.stdout and f"dn: {domain_dn()}" not in cp.stdout
    # Users go into a domain named by any of its names.
    c("user", "create", "-l", "ann", "-d", "alias.org", "-W", "Ann-Pass-1")
    assert entry(inst, user_dn("ann", "other.org"))["mail"] == ["ann@alias.org"]
    for args, status, message in (
            (("domain", "create", "-d", "other.org"), 1, "domain other.org already exists"),
            (("domain", "create", "-d", "third.org", "-A", "+associatedDomain:alias.org"), 1,
             "the domain name alias.org is already used by"),
            (("domain", "create", "-d", "bad domain"), 64, "is not a domain name"),
            (("domain", "modify", "-d", "other.org", "-A", "mailDomainStatus:gone"), 64,
             "mailDomainStatus takes"),
            (("domain", "delete", "-d", "nowhere.org"), 1, "domain nowhere.org does not exist")):
        cp = c(*args, check=False)
        assert cp.returncode == status and message in cp.stderr, (args, cp.stderr)
    c("domain", "modify", "-d", "other.org", "-A", "mailDomainStatus:hold")
    assert entry(inst, dn)["mailDomainStatus"] == ["hold"]
    # Delete marks, purge removes the whole domain.
    c("domain", "delete", "-d", "other.org")
    e = entry(inst, dn)
    assert e["mailDomainStatus"] == ["removed"] and e["inetDomainStatus"] == ["deleted"]
    c("domain", "purge", "-d", "other.org")
    assert entry(inst, dn) is None
    assert entry(inst, user_dn("ann", "other.org")) is None
    assert entry(inst, domain_dn()) is not None


def test_group_round_trip(ldap_instance):
    inst = ldap_instance
    c = inst.commadmin
    c("user", "create", "-l", "joe", "-d", DOMAIN, "-W", "Joe-Pass-1")
    c("user", "create", "-l", "ann", "-d", DOMAIN, "-W", "Ann-Pass-1")
    c("group", "create", "-G", "staff", "-d", DOMAIN, "-m", "joe", "-m", "ann@example.com",
      "-m", "Friend@Elsewhere.example", "-A", "mgrpErrorsTo:postmaster@example.com")
    dn = f"cn=staff,ou=Groups,{domain_dn()}"
    e = entry(inst, dn)
    assert "inetMailGroup" in e["objectClass"]
    assert e["mail"] == ["staff@example.com"]
    assert sorted(e["member"]) == sorted([user_dn("joe"), user_dn("ann")])
    assert e["mgrpRFC822MailMember"] == ["friend@elsewhere.example"]
    assert e["mgrpErrorsTo"] == ["postmaster@example.com"]
    c("group", "modify", "-G", "staff", "-d", DOMAIN, "-M", "joe", "-M", "friend@elsewhere.example",
      "-m", "other@elsewhere.example")
    e = entry(inst, dn)
    assert e["member"] == [user_dn("ann")]
    assert e["mgrpRFC822MailMember"] == ["other@elsewhere.example"]
    cp = c("group", "search", "-G", "staff", "-d", DOMAIN)
    assert f"dn: {dn}" in cp.stdout
    for args, status, message in (
            (("group", "create", "-G", "staff", "-d", DOMAIN), 1, "group staff already exists"),
            (("group", "modify", "-G", "staff", "-d", DOMAIN, "-m", "nobody"), 1,
             "no user nobody in example.com"),
            (("group", "create", "-G", "x", "-d", DOMAIN, "-E", "joe@example.com"), 1,
             "is already used by"),
            (("group", "delete", "-G", "ghosts", "-d", DOMAIN), 1, "group ghosts does not exist")):
        cp = c(*args, check=False)
        assert cp.returncode == status and message in cp.stderr, (args, cp.stderr)
    c("group", "delete", "-G", "staff", "-d", DOMAIN)
    assert entry(inst, dn) is None


def test_credentials_and_unreachable(ldap_instance, tmp_path):
    inst = ldap_instance
    # Explicit credentials: the proxy administrator may bind but not write.
    proxy_pw = (inst.compiled_xpass.read_text().split("base.proxyadminpass\t")[1]
                .split("\n")[0])
    cp = inst.commadmin("-D", user_dn("admin"), "-w", proxy_pw, "user", "create", "-l", "x",
                        "-d", DOMAIN, "-W", "X-Pass-1", check=False)
    assert cp.returncode == 1, cp.stderr
    cp = inst.commadmin("-D", user_dn("admin"), "-w", "wrong", "domain", "search", check=False)
    assert cp.returncode == 1 and "refused" in cp.stderr and "wrong" not in cp.stderr
    pwfile = tmp_path / "pw"
    pwfile.write_text(inst.admin_pw + "\n")
    cp = inst.commadmin("-D", f"cn=admin,{SUFFIX}", "-j", pwfile, "domain", "search")
    assert cp.stdout.endswith("OK\n")
    # No server: a temporary failure, said plainly.
    inst.stop()
    cp = inst.commadmin("user", "search", check=False)
    assert cp.returncode == 75
    assert "no directory server answered" in cp.stderr and "Connection refused" in cp.stderr
    # No instance at all.
    cp = subprocess.run([str(COMMADMIN), "-s", str(tmp_path / "none"), "domain", "search"],
                        capture_output=True, text=True)
    assert cp.returncode == 78


def test_man_pages_exist():
    for name in ("commadmin.8", "ldap-local.8"):
        text = pathlib.Path(REPO / "docs" / "man" / name).read_text()
        assert text.startswith(".TH"), name
