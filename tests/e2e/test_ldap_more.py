"""More directory tests (issue 6, "Checked by"), against a real slapd
(ldap_fixtures): what commadmin writes is what the directory module of
libms reads (round trips through the consumer, not only ldapsearch), a
status change takes effect when the cache entry expires, and commadmin's
own searches and names are not filter injection points."""
from conftest import DOMAIN
from ldap_fixtures import (ldap_instance, populate, user_dn)  # noqa: F401 (fixture)

JOE = user_dn("joe")


def test_commadmin_round_trip_through_directory_module(ldap_instance):
    c = ldap_instance.commadmin
    d = ldap_instance.driver("--ttl", "0", "--alias-ttl", "0", "--negative-ttl", "0")
    d.err("login kim", "MS_E_NOUSER")
    c("user", "create", "-l", "kim", "-d", DOMAIN, "-W", "Kim-Pass-1", "-F", "Kim", "-L", "Lee",
      "-E", "Kim.Lee@example.com", "-H", "store3.example.com", "-Q", "4096")
    f = d.ok("login kim")
    assert f["dn"] == user_dn("kim") and f["mail"] == "kim.lee@example.com"
    assert (f["mailhost"], f["quota"], f["status"]) == ("store3.example.com", "4096", "active")
    assert d.ok("address kim.lee@example.com")["dn"] == user_dn("kim")
    d.ok("auth kim Kim-Pass-1 imap")
    # modify: routing facts and addresses, then the password.
    c("user", "modify", "-l", "kim", "-d", DOMAIN, "-A", "mailHost:store4.example.com",
      "-A", "+mailAlternateAddress:kl@example.com", "-A", "+mailDeliveryOption:forward",
      "-A", "+mailForwardingAddress:kim@elsewhere.example")
    f = d.ok("address kl@example.com")
    assert f["match"] == "alternate" and f["mailhost"] == "store4.example.com"
    assert f["delivery"] == "3" and f["forward"] == "kim@elsewhere.example"
    c("user", "modify", "-l", "kim", "-d", DOMAIN, "-W", "-", input="Kim-Pass-2\n")
    d.err("auth kim Kim-Pass-1", "MS_E_AUTHFAIL")
    d.ok("auth kim Kim-Pass-2")
    # A group made and changed with commadmin expands through the module.
    c("group", "create", "-G", "team", "-d", DOMAIN, "-m", "kim")
    f = d.ok("address team@example.com")
    assert f["kind"] == "group" and f["members"] == user_dn("kim")
    c("group", "modify", "-G", "team", "-d", DOMAIN, "-M", "kim", "-m", "friend@elsewhere.example")
    f = d.ok("address team@example.com")
    assert f["rfc822"] == "friend@elsewhere.example" and "members" not in f, f
    c("group", "delete", "-G", "team", "-d", DOMAIN)
    d.err("address team@example.com", "MS_E_NOUSER")
    # A domain made with commadmin, with an alias; its users are found by both names.
    c("domain", "create", "-d", "new.org", "-A", "+associatedDomain:new-alias.org")
    c("user", "create", "-l", "pat", "-d", "new.org", "-W", "Pat-Pass-1")
    assert d.ok("domain new-alias.org")["name"] == "new.org"
    assert d.ok("address pat@new-alias.org")["dn"] == user_dn("pat", "new.org")
    d.ok("auth pat@new.org Pat-Pass-1")
    # delete: the entry stays (removed) and cannot log in; purge: no such user.
    c("user", "delete", "-l", "kim", "-d", DOMAIN)
    assert d.ok("login kim")["status"] == "removed"
    d.err("auth kim Kim-Pass-2", "MS_E_NOPERM")
    c("domain", "purge", "-d", DOMAIN)
    d.err("login kim", "MS_E_NOUSER")
    d.err("auth kim Kim-Pass-2", "MS_E_AUTHFAIL")


def test_status_change_seen_when_cache_expires(ldap_instance):
    """Each status's effect after a change, with the caches on: the old
    answer until the TTL passes, then the new status for lookups and logins."""
    populate(ldap_instance)
    c = ldap_instance.commadmin
    d = ldap_instance.driver("--fake-clock", "--ttl", "60", "--alias-ttl", "60")
    d.ok("auth joe Joe-Pass-1")
    assert d.ok("address joe@example.com")["status"] == "active"
    for status, can_login in (("inactive", False), ("hold", False), ("overquota", True),
                              ("removed", False), ("active", True)):
        c("user", "modify", "-l", "joe", "-d", DOMAIN, "-A", f"mailUserStatus:{status}")
        d.cmd("tick 61")
        f = d.ok("address joe@example.com")
        assert f["dn"] == JOE and f["status"] == status, (status, f)  # found, never NOUSER
        assert d.ok("login joe")["status"] == status
        if can_login:
            d.ok("auth joe Joe-Pass-1 imap")
        else:
            assert status in d.err("auth joe Joe-Pass-1 imap", "MS_E_NOPERM")


def test_commadmin_is_not_an_injection_point(ldap_instance):
    populate(ldap_instance)
    c = ldap_instance.commadmin
    for args in (("user", "search", "-l", "*)(uid=*", "-d", DOMAIN),
                 ("user", "search", "-l", "*"), ("user", "search", "-l", "j*"),
                 ("domain", "search", "-d", "*"), ("group", "search", "-G", "*", "-d", DOMAIN)):
        cp = c(*args, check=False)
        assert cp.returncode == 1 and cp.stdout == "", (args, cp.stdout)
        assert "nothing matches" in cp.stderr
    for args in (("user", "delete", "-l", "*", "-d", DOMAIN),
                 ("user", "modify", "-l", "*)(uid=*", "-d", DOMAIN, "-A", "mailHost:x")):
        cp = c(*args, check=False)
        assert cp.returncode == 64 and "is not a user ID" in cp.stderr, (args, cp.stderr)
    # Nothing was changed by the attempts.
    d = ldap_instance.driver("--ttl", "0")
    f = d.ok("login joe")
    assert f["mailhost"] == "store1.example.com" and f["status"] == "active"
    assert d.ok("login ann@other.org")["status"] == "active"
