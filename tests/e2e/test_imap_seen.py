"""Per-user \\Seen on shared folders (store.privatesharedfolders.shareflags).

One instance for the module (its own slapd, users ava, bob and cat, the
real imapd), Python's imaplib as the client.  ava owns the folder Club and
shares it; bob and cat read it as "Shared Folders/User/ava/Club".  With
shareflags 0 (the default) each reader has their own \\Seen, kept in the
reader's database; other flags stay shared; with 1 every flag is shared
(docs/store.md, "Per-user \\Seen").
"""
import re
import sqlite3

import pytest

from imap_fixtures import imapd_instance, login, raw

PASSWORD = "Seen-Pass-1"
SHARED = '"Shared Folders/User/ava/Club"'


def msg(n):
    return (f"Subject: seen {n}\r\nFrom: a@example.com\r\nTo: ava@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\nbody of {n}\r\n").encode()


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("imapseen"), ("ava", "bob", "cat"), PASSWORD,
                        "Seen") as inst:
        c = login(inst, "ava")
        assert c.create("Club")[0] == "OK"
        for n in (1, 2, 3, 4):
            assert c.append("Club", "", None, msg(n))[0] == "OK"
        ok(c, "SETACL Club bob lrswit")
        ok(c, "SETACL Club cat lr")
        c.logout()
        yield inst


def ok(c, line):
    status, untagged = raw(c, line)
    assert status.startswith("OK"), (line, status)
    return untagged


def select(c, mailbox):
    untagged = ok(c, f"SELECT {mailbox}")
    c.state = "SELECTED"
    return untagged


def flags(c):
    """UID -> set of flags, from UID FETCH 1:* FLAGS."""
    out = {}
    for ln in ok(c, "UID FETCH 1:* (FLAGS)"):
        m = re.match(r"\* \d+ FETCH \((?=.*UID (\d+))(?=.*FLAGS \(([^)]*)\)).*\)$", ln)
        assert m, ln
        out[int(m.group(1))] = set(m.group(2).split())
    return out


def seen(c):
    return {u for u, f in flags(c).items() if "\\Seen" in f}


def search(c, key):
    untagged = ok(c, f"UID SEARCH {key}")
    assert untagged[0].startswith("* SEARCH"), untagged
    return {int(x) for x in untagged[0].split()[2:] if x.isdigit()}


def status_unseen(c, mailbox):
    untagged = ok(c, f"STATUS {mailbox} (UNSEEN)")
    return int(re.search(r"UNSEEN (\d+)", untagged[0]).group(1))


def restart(inst):
    inst.imapd.stop()
    inst.imapd.start()


def user_db(inst, user):
    dbs = [p for p in (inst.root / "data").rglob("store.db") if p.parent.name == f"={user}"]
    assert len(dbs) == 1, dbs
    return dbs[0]


def test_owner_and_sharee_each_have_their_own_seen(imap):
    a, b, k = login(imap, "ava"), login(imap, "bob"), login(imap, "cat")
    select(a, "Club")
    untagged = select(b, SHARED)
    assert "* OK [UNSEEN 1] First unseen" in untagged
    # bob marks 1 seen: his answer shows it, ava's and cat's messages do not
    untagged = ok(b, "UID STORE 1 +FLAGS (\\Seen)")
    assert any(re.search(r"UID 1\b.*FLAGS \(\\Seen\)|FLAGS \(\\Seen\).*UID 1\b", ln)
               for ln in untagged), untagged
    assert seen(b) == {1}
    assert seen(a) == set()
    select(k, SHARED)
    assert seen(k) == set()
    # ava marks 2 seen: not seen for bob
    ok(a, "UID STORE 2 +FLAGS (\\Seen)")
    assert seen(a) == {2}
    assert seen(b) == {1}
    # FETCH BODY[] (not PEEK) by bob sets his \Seen only
    untagged = ok(b, "UID FETCH 3 (BODY[])")
    assert any("\\Seen" in ln for ln in untagged), untagged
    assert seen(b) == {1, 3}
    assert seen(a) == {2}
    # SEARCH SEEN/UNSEEN and SELECT [UNSEEN] per user
    assert search(b, "SEEN") == {1, 3} and search(b, "UNSEEN") == {2, 4}
    assert search(a, "SEEN") == {2} and search(a, "UNSEEN") == {1, 3, 4}
    assert search(k, "UNSEEN") == {1, 2, 3, 4}
    assert "* OK [UNSEEN 2] First unseen" in select(b, SHARED)
    assert "* OK [UNSEEN 1] First unseen" in select(a, "Club")
    for x in (a, b, k):
        x.logout()


def test_status_unseen_per_user(imap):
    a, b, k = login(imap, "ava"), login(imap, "bob"), login(imap, "cat")
    assert status_unseen(a, "Club") == 3
    assert status_unseen(b, SHARED) == 2
    assert status_unseen(k, SHARED) == 4
    for x in (a, b, k):
        x.logout()


def test_remove_and_replace_touch_only_the_readers_seen(imap):
    a, b = login(imap, "ava"), login(imap, "bob")
    select(b, SHARED)
    ok(b, "UID STORE 1 -FLAGS (\\Seen)")
    assert seen(b) == {3}
    # FLAGS replaces bob's \Seen and the shared flags, leaving ava's \Seen
    ok(b, "UID STORE 2 FLAGS (\\Seen \\Flagged)")
    f = flags(b)
    assert f[2] == {"\\Seen", "\\Flagged"}
    select(a, "Club")
    assert flags(a)[2] == {"\\Seen", "\\Flagged"}
    ok(b, "UID STORE 2 FLAGS (\\Answered)")
    assert flags(b)[2] == {"\\Answered"}
    assert flags(a)[2] == {"\\Seen", "\\Answered"}      # ava's own \Seen stays
    # other flags are shared: ava's \Flagged shows to bob
    ok(a, "UID STORE 4 +FLAGS (\\Flagged)")
    assert "\\Flagged" in flags(b)[4] and "\\Seen" not in flags(b)[4]
    ok(a, "UID STORE 4 -FLAGS (\\Flagged)")
    ok(b, "UID STORE 2 -FLAGS (\\Answered)")
    for x in (a, b):
        x.logout()


def test_without_s_right_no_seen(imap):
    k = login(imap, "cat")           # cat has lr: read-only selection
    untagged = select(k, SHARED)
    assert untagged is not None
    st, _ = raw(k, "UID STORE 1 +FLAGS (\\Seen)")
    assert st.startswith("NO"), st
    ok(k, "UID FETCH 1 (BODY[])")
    assert seen(k) == set()
    k.logout()


def test_condstore_modseq_and_seen(imap):
    a, b = login(imap, "ava"), login(imap, "bob")
    ok(a, "ENABLE CONDSTORE")
    ok(b, "ENABLE CONDSTORE")
    untagged = select(a, "Club")
    hms = int(re.search(r"HIGHESTMODSEQ (\d+)", " ".join(untagged)).group(1))
    select(b, SHARED)
    # bob's own \Seen gives no new MODSEQ: the message keeps its own
    untagged = ok(b, "UID STORE 4 +FLAGS (\\Seen)")
    m = re.search(r"MODSEQ \((\d+)\)", " ".join(untagged))
    assert m and int(m.group(1)) <= hms, untagged
    assert ok(a, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})") == []
    assert "HIGHESTMODSEQ %d" % hms in ok(a, "STATUS Club (HIGHESTMODSEQ)")[0]
    # a shared flag does bump it, for both
    ok(b, "UID STORE 4 +FLAGS (\\Flagged)")
    untagged = ok(a, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {hms})")
    assert len(untagged) == 1 and "UID 4" in untagged[0] and "\\Seen" not in untagged[0]
    # UNCHANGEDSINCE below the message's MODSEQ: refused, bob's \Seen untouched
    st, _ = raw(b, "UID STORE 4 (UNCHANGEDSINCE 1) -FLAGS (\\Seen)")
    assert st.startswith("OK [MODIFIED 4]"), st
    assert 4 in seen(b)
    ok(b, "UID STORE 4 -FLAGS (\\Seen \\Flagged)")
    for x in (a, b):
        x.logout()


def test_restart_keeps_per_user_seen(imap):
    restart(imap)
    a, b = login(imap, "ava"), login(imap, "bob")
    select(a, "Club")
    select(b, SHARED)
    assert seen(b) == {3}
    assert seen(a) == {2}
    for x in (a, b):
        x.logout()


def test_older_database_is_upgraded(imap):
    imap.imapd.stop()
    path = user_db(imap, "bob")
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        db.execute("DROP TABLE peruser")      # as a version 1 database was
        db.execute("PRAGMA user_version = 1")
        db.commit()
    finally:
        db.close()
    imap.imapd.start()
    b = login(imap, "bob")
    select(b, SHARED)
    assert seen(b) == set()                   # what it had is gone with the table
    ok(b, "UID STORE 1 +FLAGS (\\Seen)")
    assert seen(b) == {1}
    b.logout()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        row = db.execute("SELECT owner, seen FROM peruser").fetchall()
        assert row == [("ava", "1")], row
    finally:
        db.close()


def test_shareflags_1_shares_seen(imap):
    imap.run("set", "store.privatesharedfolders.shareflags", "1")
    restart(imap)
    try:
        a, b = login(imap, "ava"), login(imap, "bob")
        select(a, "Club")
        select(b, SHARED)
        assert seen(b) == {2}                 # the messages' (ava's) \Seen
        ok(b, "UID STORE 4 +FLAGS (\\Seen)")
        assert seen(a) == {2, 4}
        assert status_unseen(b, SHARED) == 2
        ok(a, "UID STORE 4 -FLAGS (\\Seen)")
        for x in (a, b):
            x.logout()
    finally:
        imap.run("set", "store.privatesharedfolders.shareflags", "0")
        restart(imap)
    b = login(imap, "bob")
    select(b, SHARED)
    assert seen(b) == {1}                     # bob's own again
    b.logout()


def test_append_by_reader_with_seen(imap):
    b = login(imap, "bob")
    st, _ = raw(b, f"APPEND {SHARED} (\\Seen \\Flagged) {{{len(msg(5))}+}}\r\n"
                   f"{msg(5).decode()}")
    m = re.search(r"APPENDUID \d+ (\d+)", st)
    assert st.startswith("OK") and m, st
    uid = int(m.group(1))
    select(b, SHARED)
    assert flags(b)[uid] == {"\\Seen", "\\Flagged"}
    b.logout()
    a = login(imap, "ava")
    select(a, "Club")
    assert flags(a)[uid] == {"\\Flagged"}            # bob's \Seen is his own
    a.logout()


def test_ranges_set_and_cleared(imap):
    b = login(imap, "bob")
    select(b, SHARED)
    uids = set(flags(b))
    assert len(uids) == 5
    ok(b, "UID STORE 1:* +FLAGS.SILENT (\\Seen)")
    assert seen(b) == uids
    ok(b, "UID STORE 2:3 -FLAGS.SILENT (\\Seen)")
    assert seen(b) == uids - {2, 3}
    ok(b, "STORE 1 -FLAGS.SILENT (\\Seen)")
    assert seen(b) == uids - {1, 2, 3}
    b.logout()
    a = login(imap, "ava")
    assert status_unseen(a, "Club") == 4                 # ava has seen only 2
    a.logout()
    db = sqlite3.connect(user_db(imap, "bob"))
    try:
        assert db.execute("SELECT seen FROM peruser").fetchall() == [("4:5",)]
    finally:
        db.close()
