"""Shared folders beyond test_imap_acl.py: public folders, readership,
group=ADDR identifiers, the private-folder restrictions and the p right.

One instance for the module (its own slapd; users ava, bob and cat made
with commadmin, bob's entry given aclGroupAddr with ldapmodify), with
store.publicsharedfolders.user set to "public" before the real imapd
starts.  The public folders are made with mboxutil -c and shared with
readership -s, as the seed's "Managing Shared Folders" does
(docs/store.md, "Access control and shared folders").
"""
import re

import pytest

from conftest import DOMAIN
from ldap_fixtures import user_dn
from imap_fixtures import imapd_instance, login, raw
from test_imap_acl import PASSWORD, append, listed, msg, ok, q, sel
from test_store_tools import DELIVER, MBOXUTIL, STORE_BIN, tool

READERSHIP = STORE_BIN / "readership"
PUBLIC = "Shared Folders/Public/"
OTHER = "Shared Folders/User/"
GROUP = f"tennis@{DOMAIN}"


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("imapaclmore"), ("ava", "bob", "cat"), PASSWORD,
                        "More", settings=(("store.publicsharedfolders.user", "public"),)) as inst:
        # before bob's first login, so that no cached entry lacks it
        inst.ldapmodify(f"dn: {user_dn('bob')}\nchangetype: modify\n"
                        f"add: aclGroupAddr\naclGroupAddr: {GROUP}\n"
                        f"aclGroupAddr: golfers@{DOMAIN}\n")
        yield inst


def readership(inst, *args, check=0):
    return tool(inst, READERSHIP, *args, check=check)


def status(c, mailbox, what="MESSAGES"):
    untagged = ok(c, f"STATUS {q(mailbox)} ({what})")
    m = re.search(rf"{what} (\d+)", untagged[0])
    return int(m.group(1))


def restart(inst):
    inst.imapd.stop()
    inst.imapd.start()


# ---- public folders ---------------------------------------------------------------

def test_namespace_has_the_public_root(imap):
    c = login(imap, "bob")
    assert ok(c, "NAMESPACE") == [
        '* NAMESPACE (("" "/")) (("Shared Folders/User/" "/")) (("Shared Folders/Public/" "/"))']
    # one's own folders cannot hide under the shared root
    assert raw(c, 'CREATE "Shared Folders/Mine"')[0].startswith("NO [CANNOT]")
    c.logout()


def test_public_folder_made_by_mboxutil_and_readership(imap):
    # the public user is made with its first folder
    tool(imap, MBOXUTIL, "-c", "user/public/gardening", check=0)
    b = login(imap, "bob")
    assert not any(n.startswith(PUBLIC) for n in listed(b))        # no rights yet
    assert raw(b, f"SELECT {q(PUBLIC + 'gardening')}")[0].startswith("NO [NONEXISTENT]")
    readership(imap, "-s", "user/public/gardening", f"anyone@{DOMAIN}", "lrsi")
    names = listed(b)
    assert names[PUBLIC + "gardening"] == "\\HasNoChildren"
    assert "\\Noselect" in names["Shared Folders/Public"]
    assert "\\Noselect" in names["Shared Folders"]
    assert not any(n.startswith(OTHER + "public") for n in names)  # only under Public
    assert PUBLIC + "gardening" in listed(b, "Shared Folders/Public/%")
    # APPEND, STATUS, SELECT, FETCH through the public namespace
    assert append(b, q(PUBLIC + "gardening"), 1)[0] == "OK"
    assert status(b, PUBLIC + "gardening") == 1
    st, untagged = sel(b, q(PUBLIC + "gardening"))
    assert st.startswith("OK [READ-WRITE]"), st
    assert b.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1][0][1].strip() == b"Subject: acl 1"
    b.close()
    # COPY from one's own INBOX into it
    k = login(imap, "cat")
    assert append(k, "INBOX", 2)[0] == "OK"
    k.select("INBOX")
    assert k.copy("1", q(PUBLIC + "gardening"))[0] == "OK"
    k.close()
    assert status(k, PUBLIC + "gardening") == 2
    # LSUB shows a subscribed public folder
    ok(k, f"SUBSCRIBE {q(PUBLIC + 'gardening')}")
    assert any(PUBLIC + "gardening" in ln for ln in raw(k, 'LSUB "" "Shared Folders/*"')[1])
    # rights are the public user's ACL: no a, no k
    assert raw(k, f"GETACL {q(PUBLIC + 'gardening')}")[0].startswith("NO [NOPERM]")
    assert raw(k, f"CREATE {q(PUBLIC + 'gardening/sub')}")[0].startswith("NO [NOPERM]")
    assert raw(k, f"CREATE {q(PUBLIC + 'weeds')}")[0].startswith("NO")
    # a negative entry hides it from one user
    readership(imap, "-s", "user/public/gardening", "-cat", "lr")
    assert PUBLIC + "gardening" not in listed(k)
    assert raw(k, f"SELECT {q(PUBLIC + 'gardening')}")[0].startswith("NO [NONEXISTENT]")
    assert PUBLIC + "gardening" in listed(b)
    readership(imap, "-s", "user/public/gardening", "-cat", "")
    assert PUBLIC + "gardening" in listed(k)
    # a name under the public root that is no folder
    assert raw(k, f"SELECT {q(PUBLIC + 'nothing')}")[0].startswith("NO [NONEXISTENT]")
    assert raw(k, f"STATUS {q('Shared Folders/Public')} (MESSAGES)")[0].startswith("NO")
    k.logout()
    b.logout()


# ---- readership ------------------------------------------------------------------

def test_readership_set_forms_and_list(imap):
    tool(imap, MBOXUTIL, "-c", "user/public/news", check=0)
    readership(imap, "-s", "user/public/news", f"anyone@{DOMAIN}", "lr")
    c = login(imap, "ava")
    c.create("Club")
    readership(imap, "-s", "user/ava/Club", "bob", "lrcd")        # c = k, d = x t e
    assert ok(c, "GETACL Club") == ["* ACL Club ava lrswipkxteancd bob lrkxtecd"]
    readership(imap, "-s", "user/ava/Club", "bob", "-d")
    readership(imap, "-s", "user/ava/Club", "bob", "+w")
    readership(imap, "-s", "user/ava/Club", "-cat", "lr")
    readership(imap, "-s", "user/ava/Club", f"group={GROUP}", "lrp")
    assert ok(c, "GETACL Club") == [
        f"* ACL Club ava lrswipkxteancd -cat lr bob lrwkc group={GROUP} lrp"]
    readership(imap, "-s", "user/ava/Club", "bob", "")
    assert ok(c, "GETACL Club") == [f"* ACL Club ava lrswipkxteancd -cat lr group={GROUP} lrp"]
    # the lookup-rights index: one line per identifier, negative entries not in it
    out = readership(imap, "-l").stdout.splitlines()
    assert any(re.match(rf"anyone@{DOMAIN}:( user/\S+)* user/public/news( |$)", ln)
               for ln in out), out
    assert f"group={GROUP}: user/ava/Club" in out
    assert not any(ln.startswith(("-cat", "bob:")) for ln in out), out
    assert all(re.match(r"^\S+: user/\S+(?: user/\S+)*$", ln) for ln in out), out
    c.logout()


@pytest.mark.parametrize("args,code,text", [
    ((), 64, "say what to do"),
    (("-s", "user/ava/Club", "bob"), 64, "wrong arguments"),
    (("-l", "extra"), 64, "wrong arguments"),
    (("-s", "-l"), 64, "cannot be combined"),
    (("-x",), 64, "usage"),
    (("-s", "user/ava/Club", "bob", "lrQ"), 64, "unknown right 'Q'"),
    (("-s", "user/ava/Club", "bad id", "lr"), 64, "bad ACL identifier"),
    (("-s", "Club", "bob", "lr"), 64, "Club"),
    (("-s", "user/nobody/Club", "bob", "lr"), 2, "user/nobody/Club"),
    (("-s", "user/ava/Nothing", "bob", "lr"), 2, "user/ava/Nothing"),
])
def test_readership_errors(imap, args, code, text):
    cp = readership(imap, *args, check=code)
    assert text in cp.stderr, cp.stderr


def test_readership_help(imap):
    cp = readership(imap, "--help")
    assert cp.stdout.startswith("usage: readership -s folder identifier rights")
    assert "readership -d days" in cp.stdout


# ---- group=ADDR ------------------------------------------------------------------

def test_group_rights_come_from_aclgroupaddr(imap):
    c = login(imap, "ava")
    c.create("Tennis")
    ok(c, f"SETACL Tennis group={GROUP} lrs")
    b = login(imap, "bob")          # bob's entry has aclGroupAddr: tennis@...
    k = login(imap, "cat")          # cat's has none
    assert OTHER + "ava/Tennis" in listed(b)
    assert OTHER + "ava/Tennis" not in listed(k)
    assert b.select(q(OTHER + "ava/Tennis"), readonly=True)[0] == "OK"
    b.close()
    assert raw(k, f"SELECT {q(OTHER + 'ava/Tennis')}")[0].startswith("NO [NONEXISTENT]")
    assert ok(b, f"MYRIGHTS {q(OTHER + 'ava/Tennis')}") == [
        f'* MYRIGHTS "{OTHER}ava/Tennis" lrs']
    # a second group address of the same entry adds up; a negative group entry denies
    ok(c, f"SETACL Tennis group=golfers@{DOMAIN} +i")
    assert ok(b, f"MYRIGHTS {q(OTHER + 'ava/Tennis')}") == [
        f'* MYRIGHTS "{OTHER}ava/Tennis" lrsi']
    ok(c, f"SETACL Tennis -group={GROUP} r")
    assert raw(b, f"SELECT {q(OTHER + 'ava/Tennis')}")[0].startswith("NO [NOPERM]")
    # a group object's address is not a group= identifier: only aclGroupAddr counts
    ok(c, "SETACL Tennis group=ava@example.com lr")
    assert OTHER + "ava/Tennis" not in listed(k)
    for x in (b, c, k):
        x.logout()


# ---- store.privatesharedfolders.restrictanyone / restrictdomain ------------------------

def test_private_folder_restrictions(imap):
    c = login(imap, "ava")
    c.create("Private")
    c.logout()
    imap.run("set", "store.privatesharedfolders.restrictanyone", "1")
    imap.run("set", "store.privatesharedfolders.restrictdomain", "1")
    restart(imap)
    try:
        c = login(imap, "ava")
        st, _ = raw(c, "SETACL Private anyone lr")
        assert st.startswith("NO [NOPERM]") and "restrictanyone" in st, st
        for ident in ("dan@other.org", "anyone@other.org", "group=golf@other.org"):
            st, _ = raw(c, f"SETACL Private {ident} lr")
            assert st.startswith("NO [NOPERM]") and "restrictdomain" in st, (ident, st)
        # a malformed identifier is still BAD, not a refusal
        assert raw(c, 'SETACL Private "bad id" lr')[0].startswith("BAD")
        for ident in ("bob", f"anyone@{DOMAIN}", f"group={GROUP}", f"cat@{DOMAIN}"):
            ok(c, f"SETACL Private {ident} lr")
        # taking rights away and denying stay allowed
        ok(c, "SETACL Private -anyone lr")
        ok(c, "SETACL Private bob -r")
        ok(c, "DELETEACL Private -anyone")
        assert ok(c, "GETACL Private") == [
            f"* ACL Private ava lrswipkxteancd anyone@{DOMAIN} lr bob l cat@{DOMAIN} lr "
            f"group={GROUP} lr"]
        # the administrator's tool is not restricted
        readership(imap, "-s", "user/ava/Private", "anyone", "lr")
        # a public folder is not a private one: whoever has a on it may share it
        tool(imap, MBOXUTIL, "-c", "user/public/notices", check=0)
        readership(imap, "-s", "user/public/notices", "bob", "lrsia")
        b = login(imap, "bob")
        ok(b, f"SETACL {q(PUBLIC + 'notices')} anyone lr")
        b.logout()
        c.logout()
    finally:
        imap.run("set", "store.privatesharedfolders.restrictanyone", "0")
        imap.run("set", "store.privatesharedfolders.restrictdomain", "0")
        restart(imap)
    c = login(imap, "ava")
    ok(c, "SETACL Private dan@other.org lr")       # allowed again without the options
    ok(c, "SETACL Private anyone lrs")
    c.logout()


# ---- posting needs p --------------------------------------------------------------

def test_post_right_decides_delivery_into_a_shared_folder(imap):
    tool(imap, MBOXUTIL, "-c", "user/public/tennis", check=0)
    readership(imap, "-s", "user/public/tennis", f"anyone@{DOMAIN}", "lr")
    b = login(imap, "bob")
    before = status(b, PUBLIC + "tennis")
    # bob (a default-domain user, matched by anyone@<domain>) lacks p: INBOX
    tool(imap, DELIVER, "-a", "bob", "-m", "tennis", "public", input=msg(10).decode(), check=0)
    assert status(b, PUBLIC + "tennis") == before
    readership(imap, "-s", "user/public/tennis", f"anyone@{DOMAIN}", "+p")
    tool(imap, DELIVER, "-a", "bob", "-m", "tennis", "public", input=msg(11).decode(), check=0)
    assert status(b, PUBLIC + "tennis") == before + 1
    # a deny entry takes p away from one sender
    readership(imap, "-s", "user/public/tennis", "-cat", "p")
    tool(imap, DELIVER, "-a", "cat", "-m", "tennis", "public", input=msg(12).decode(), check=0)
    assert status(b, PUBLIC + "tennis") == before + 1
    # a sender's address in the default domain is that user's ID
    tool(imap, DELIVER, "-a", f"cat@{DOMAIN}", "-m", "tennis", "public", input=msg(13).decode(),
         check=0)
    assert status(b, PUBLIC + "tennis") == before + 1
    tool(imap, DELIVER, "-a", f"bob@{DOMAIN}", "-m", "tennis", "public", input=msg(14).decode(),
         check=0)
    assert status(b, PUBLIC + "tennis") == before + 2
    # a user of another domain is not anyone@<default domain>
    tool(imap, DELIVER, "-a", "dan@other.org", "-m", "tennis", "public", input=msg(15).decode(),
         check=0)
    assert status(b, PUBLIC + "tennis") == before + 2
    b.logout()
