"""readership -d days and -p months: the readers of shared folders.

One instance for the module (its own slapd, users ava, bob and cat, the
real imapd).  ava shares Club and Café; bob and cat read them as
"Shared Folders/User/ava/...".  Each reader's selections are rows of the
reader's own database (peruser, with last_access); a selection "long ago"
is made by editing that database with sqlite3 while imapd is stopped
(docs/store.md, "Readers of shared folders").
"""
import re
import sqlite3
import time

import pytest

from imap_fixtures import imapd_instance, login, raw
from test_store_tools import STORE_BIN, tool

READERSHIP = STORE_BIN / "readership"
PASSWORD = "Readers-Pass-1"
CLUB = '"Shared Folders/User/ava/Club"'
CAFE = '"Shared Folders/User/ava/Caf&AOk-"'
DAY = 86400


def msg(n):
    return (f"Subject: readers {n}\r\nFrom: a@example.com\r\nTo: ava@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\nbody of {n}\r\n").encode()


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("readers"), ("ava", "bob", "cat"), PASSWORD,
                        "Readers") as inst:
        c = login(inst, "ava")
        for box in ("Club", "Caf&AOk-", "Private"):
            assert c.create(box)[0] == "OK"
        for n in (1, 2, 3):
            assert c.append("Club", "", None, msg(n))[0] == "OK"
        ok(c, "SETACL Club bob lrs")
        ok(c, "SETACL Club cat lrs")
        ok(c, "SETACL Caf&AOk- bob lr")
        c.logout()
        yield inst


def ok(c, line):
    status, untagged = raw(c, line)
    assert status.startswith("OK"), (line, status)
    return untagged


def readership(inst, *args, check=0):
    return tool(inst, READERSHIP, *args, check=check)


def report(inst, days):
    """-d days as {folder: readers}, checking the line format."""
    cp = readership(inst, "-d", days)
    lines = cp.stdout.splitlines()
    assert all(re.fullmatch(r"[1-9]\d* user/\S+/.+", ln) for ln in lines), lines
    assert lines == sorted(lines, key=lambda ln: ln.split(" ", 1)[1]), lines
    return {ln.split(" ", 1)[1]: int(ln.split(" ", 1)[0]) for ln in lines}


def user_db(inst, user):
    dbs = [p for p in (inst.root / "data").rglob("store.db") if p.parent.name == f"={user}"]
    assert len(dbs) == 1, dbs
    return dbs[0]


def peruser(inst, user):
    db = sqlite3.connect(user_db(inst, user))
    try:
        return db.execute("SELECT owner, seen, last_access FROM peruser"
                          " ORDER BY mailbox").fetchall()
    finally:
        db.close()


def age(inst, user, days):
    """Move user's selections days into the past, imapd stopped."""
    inst.imapd.stop()
    try:
        db = sqlite3.connect(user_db(inst, user))
        try:
            db.execute("UPDATE peruser SET last_access = ?", (int(time.time()) - days * DAY,))
            db.commit()
        finally:
            db.close()
    finally:
        inst.imapd.start()


def seen(c):
    out = set()
    for ln in ok(c, "UID FETCH 1:* (FLAGS)"):
        m = re.search(r"UID (\d+)", ln)
        if m and "\\Seen" in ln:
            out.add(int(m.group(1)))
    return out


def test_no_readers_no_lines(imap):
    a = login(imap, "ava")
    ok(a, "SELECT Club")                     # the owner is not a reader
    a.logout()
    assert readership(imap, "-d", "30").stdout == ""


def test_readers_counted_expired_and_counted_again(imap):
    b, k = login(imap, "bob"), login(imap, "cat")
    ok(b, f"EXAMINE {CLUB}")                 # EXAMINE counts, with no \Seen change
    ok(b, f"SELECT {CAFE}")
    ok(k, f"SELECT {CLUB}")
    ok(k, "UID STORE 2 +FLAGS (\\Seen)")
    assert seen(k) == {2}
    b.logout()
    k.logout()
    assert [r[:2] for r in peruser(imap, "bob")] == [("ava", ""), ("ava", "")]
    assert report(imap, 1) == {"user/ava/Café": 1, "user/ava/Club": 2}

    age(imap, "cat", 400)                    # cat read Club 400 days ago
    assert report(imap, 30) == {"user/ava/Café": 1, "user/ava/Club": 1}
    assert report(imap, 3650) == {"user/ava/Café": 1, "user/ava/Club": 2}
    assert report(imap, 401) == {"user/ava/Café": 1, "user/ava/Club": 2}
    assert report(imap, 399) == {"user/ava/Café": 1, "user/ava/Club": 1}

    cp = readership(imap, "-p", "1")
    assert cp.stdout == "1 per-user entries removed\n", cp.stdout
    assert peruser(imap, "cat") == []
    assert len(peruser(imap, "bob")) == 2    # bob's recent rows stay
    assert readership(imap, "-p", "1").stdout == "0 per-user entries removed\n"
    assert report(imap, 3650) == {"user/ava/Café": 1, "user/ava/Club": 1}

    # cat's own \Seen for Club went with the row; reading again counts again
    k = login(imap, "cat")
    ok(k, f"SELECT {CLUB}")
    assert seen(k) == set()
    k.logout()
    assert report(imap, 30) == {"user/ava/Café": 1, "user/ava/Club": 2}


def test_selection_renews_an_old_entry(imap):
    age(imap, "bob", 100)
    assert report(imap, 30) == {"user/ava/Club": 1}       # cat only
    b = login(imap, "bob")
    ok(b, f"SELECT {CLUB}")
    b.logout()
    assert report(imap, 30) == {"user/ava/Club": 2}
    assert report(imap, 200) == {"user/ava/Café": 1, "user/ava/Club": 2}
    a = login(imap, "ava")
    ok(a, "SELECT Club")
    ok(a, "UID STORE 1 +FLAGS (\\Seen)")
    a.logout()
    assert peruser(imap, "ava") == []        # owners get no rows


def test_deleted_folder_is_not_reported(imap):
    a = login(imap, "ava")
    assert a.delete("Caf&AOk-")[0] == "OK"
    a.logout()
    assert report(imap, 3650) == {"user/ava/Club": 2}


@pytest.mark.parametrize("args,text", [
    (("-d", "0"), "days must be a whole number from 1 to 36500"),
    (("-d", "abc"), "days must be a whole number"),
    (("-d", "-3"), "days must be a whole number"),
    (("-d", "+3"), "days must be a whole number"),
    (("-d", "36501"), "from 1 to 36500"),
    (("-d", "99999999999999999999"), "days must be a whole number"),
    (("-p", "0"), "months must be a whole number from 1 to 1200"),
    (("-p", "1201"), "from 1 to 1200"),
    (("-p", "2x"), "months must be a whole number"),
    (("-d",), "requires an argument"),
    (("-d", "30", "extra"), "wrong arguments for -d"),
    (("-p", "3", "extra"), "wrong arguments for -p"),
    (("-d", "3", "-p", "2"), "cannot be combined"),
    (("-l", "-d", "3"), "cannot be combined"),
])
def test_bad_arguments(imap, args, text):
    cp = readership(imap, *args, check=64)
    assert text in cp.stderr, cp.stderr
    assert cp.stdout == ""


def test_help_describes_both(imap):
    cp = readership(imap, "--help")
    assert "readership -d days" in cp.stdout and "readership -p months" in cp.stdout
    assert "<readers> user/<owner>/<folder>" in cp.stdout
