"""Database snapshots end to end (docs/store.md "Database snapshots").

One instance for the module (its own slapd, users made with commadmin,
mail put in with the real `deliver`).  stored takes snapshots of the
mailbox database on its schedule (shortened with MS_STORED_SNAPSHOT_MS)
and keeps store.snapshotdirs verified ones.  With everything stopped, the
mailbox database is damaged (a page in the middle overwritten, then its
header) or deleted; at start stored moves the bad file into
mboxlist/removed/, restores the newest verified snapshot, logs the seed's
line, resynchronises the list with the partitions, and the users (also one
created after the last snapshot) log in with IMAP and see their mail.
Without a verified snapshot it rebuilds the list from the partitions and
never restores an unverified one.
"""
import imaplib
import pathlib
import re
import sqlite3
import ssl

import pytest

from conftest import wait_until
from server_fixtures import StoreServer, mail_instance
from test_store_tools import MBOXUTIL, RECONSTRUCT, deliver, tool, user_dir
from test_stored import Stored

PASSWORD = "Snap-Pass-1"
SEED_LINE = ("General Warning: Recovering database from snapshot. Run reconstruct -m "
             "soon after startup to resync redundant data")
TAKEN = re.compile(r"\] \S+ stored\[\d+\]: General Notice: snapshot (\S+)/(\d{14}(?:\.\d\d)?) "
                   r"of the mailbox database \((\d+) users\) taken and verified")


def msg(n):
    return (f"Subject: snap {n}\nFrom: a@example.com\nTo: joe@example.com\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\n\nbody {n}\n")


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    root = tmp_path_factory.mktemp("snap")
    inst = None
    d = None
    try:
        inst = mail_instance(root, "imap", 143, 993, ("joe", "ann", "kim", "lee"), PASSWORD, "Snap",
                             (("store.snapshotdirs", 2),))
        d = Stored(inst)
        inst.stored = d
        inst.imapd = StoreServer(inst, "imapd", "imap")
        yield inst
    finally:
        if inst is not None:
            inst.imapd.stop()
        if d is not None:
            d.stop()
        if inst is not None:
            inst.teardown()


def store_dir(inst):
    return inst.root / "data" / "store"


def live_db(inst):
    return store_dir(inst) / "mboxlist" / "mboxlist.db"


def snapdir(inst):
    return store_dir(inst) / "dbdata" / "snapshots"


def listed_users(inst):
    db = sqlite3.connect(f"file:{live_db(inst)}?mode=ro", uri=True, timeout=30)
    try:
        return sorted(r[0] for r in db.execute("SELECT userid FROM users"))
    finally:
        db.close()


def lright(inst):
    db = sqlite3.connect(f"file:{live_db(inst)}?mode=ro", uri=True, timeout=30)
    try:
        return {(r[0], r[1]) for r in db.execute("SELECT identifier, owner FROM lright")}
    finally:
        db.close()


def integrity(path):
    db = sqlite3.connect(str(path), timeout=30)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        db.close()


def scribble(path, offset, length):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\xa5" * length)


def imap_login(inst, user):
    c = imaplib.IMAP4("127.0.0.1", inst.port_plain, timeout=10)
    c.starttls(ssl_context=ssl.create_default_context(cafile=inst.cafile))
    typ, _ = c.login(user, PASSWORD)
    assert typ == "OK"
    return c


def inbox(inst, user):
    """(message count, subjects, mailbox names) seen by user over IMAP."""
    c = imap_login(inst, user)
    typ, data = c.select("INBOX")
    assert typ == "OK"
    n = int(data[0])
    subjects = []
    if n:
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects = sorted(p[1].decode().strip() for p in data if isinstance(p, tuple))
    typ, data = c.list()
    names = sorted(ln.decode().rsplit(" ", 1)[-1].strip('"') for ln in data)
    c.logout()
    return n, subjects, names


def stored_log(inst):
    return inst.stored.log_text()


def test_scheduled_snapshots_rotate(snap):
    deliver(snap, "joe", message=msg(1), check=0)
    deliver(snap, "joe", message=msg(2), check=0)
    deliver(snap, "ann", message=msg(3), check=0)
    deliver(snap, "lee", message=msg(5), check=0)
    snap.env["MS_STORED_SNAPSHOT_MS"] = "150"
    try:
        snap.stored.start()
        wait_until(lambda: len(TAKEN.findall(stored_log(snap))) >= 4, timeout=20,
                   what="four scheduled snapshots")
        assert snap.stored.stop() == 0
    finally:
        del snap.env["MS_STORED_SNAPSHOT_MS"]
    log = stored_log(snap)
    taken = TAKEN.findall(log)
    assert all(t[0] == str(snapdir(snap)) and t[2] == "3" for t in taken), taken
    assert "Recovering database" not in log
    # store.snapshotdirs 2: the two newest are kept, each verified and sound
    kept = sorted(p.name for p in snapdir(snap).iterdir())
    assert kept == sorted(t[1] for t in taken)[-2:], (kept, taken)
    for name in kept:
        assert (snapdir(snap) / name / ".verified").is_file()
        assert integrity(snapdir(snap) / name / "mboxlist.db") == "ok"


def test_restore_after_damage(snap):
    # after the last snapshot: a new user, a new mailbox, a user deleted
    deliver(snap, "kim", message=msg(4), check=0)
    tool(snap, MBOXUTIL, "-c", "user/joe/Later", check=0)
    tool(snap, MBOXUTIL, "-A", "user/joe/Later", "ann", "lr", check=0)
    lee_dir = user_dir(snap, "lee")
    assert lee_dir.is_dir()
    tool(snap, MBOXUTIL, "-d", "user/lee", check=0)
    assert not lee_dir.exists()
    db = live_db(snap)
    size = db.stat().st_size
    assert size >= 4 * 4096 and not db.with_name("mboxlist.db-wal").exists()
    pages = size // 4096
    scribble(db, (pages // 2) * 4096, 4096)  # one whole page in the middle
    assert integrity(db) != "ok"
    seed_lines = stored_log(snap).count(SEED_LINE)
    snap.stored.start()
    log = stored_log(snap)
    assert log.count(SEED_LINE) == seed_lines + 1, log
    assert re.search(r"General Warning: the mailbox database \S+/mboxlist\.db is damaged: ", log)
    m = re.search(r"the bad mailbox database was moved to (\S+)", log)
    assert m and "/mboxlist/removed/" in m.group(1), log
    removed = pathlib.Path(m.group(1)) / "mboxlist.db"
    assert removed.is_file() and integrity(removed) != "ok"
    newest = sorted(p.name for p in snapdir(snap).iterdir())[-1]
    assert re.search(rf"recovery: restored snapshot \S+/{re.escape(newest)}\n", log), log
    # stored's own resync (what reconstruct -m does) put kim back
    assert re.search(r"recovery: the mailbox list checked against the partitions "
                     r"\(reconstruct -m\): 3 users, \d+ problems, [1-9]\d* repaired", log), log
    assert integrity(db) == "ok"
    # lee, in the snapshot but deleted since, is dropped, not brought back
    assert listed_users(snap) == ["ann", "joe", "kim"]
    assert not lee_dir.exists()
    # the grant made after the snapshot is in the ACL lookup index again
    assert ("ann", "joe") in lright(snap)
    snap.imapd.start()
    try:
        n, subjects, names = inbox(snap, "joe")
        assert (n, subjects) == (2, ["Subject: snap 1", "Subject: snap 2"])
        assert "Later" in names, names
        n, subjects, names = inbox(snap, "ann")
        assert (n, subjects) == (1, ["Subject: snap 3"])
        assert any(name.endswith("joe/Later") for name in names), names
        assert inbox(snap, "kim")[:2] == (1, ["Subject: snap 4"])
    finally:
        snap.imapd.stop()
    # the seed's advice, followed: nothing is left to repair
    cp = tool(snap, RECONSTRUCT, "-m", check=0)
    assert re.search(r"checked 3 user\(s\).*: 0 problem\(s\)", cp.stdout), cp.stdout
    assert snap.stored.stop() == 0


def test_missing_database_restored(snap):
    for suffix in ("", "-wal", "-shm"):
        live_db(snap).with_name("mboxlist.db" + suffix).unlink(missing_ok=True)
    seed_lines = stored_log(snap).count(SEED_LINE)
    snap.stored.start()
    log = stored_log(snap)
    assert log.count(SEED_LINE) == seed_lines + 1
    assert re.search(r"mboxlist\.db is missing: missing while user directories exist", log)
    assert listed_users(snap) == ["ann", "joe", "kim"]
    assert snap.stored.stop() == 0


def test_unverified_snapshot_never_restored(snap):
    for p in snapdir(snap).iterdir():
        (p / ".verified").unlink()
    scribble(live_db(snap), 0, 100)  # the header: not a database any more
    log_before = stored_log(snap)
    snap.stored.start()
    log = stored_log(snap)[len(log_before):]
    assert "Recovering database from snapshot" not in log
    assert "restored snapshot" not in log
    assert re.search(r"recovery: no verified snapshot in \S+: rebuilding the mailbox "
                     r"database from the partitions", log), log
    assert listed_users(snap) == ["ann", "joe", "kim"]
    assert snap.stored.stop() == 0
    snap.imapd.start()
    try:
        assert inbox(snap, "joe")[:2] == (2, ["Subject: snap 1", "Subject: snap 2"])
    finally:
        snap.imapd.stop()
    # the next snapshot removes the unverified leftovers
    unverified = {p.name for p in snapdir(snap).iterdir()}
    snap.env["MS_STORED_SNAPSHOT_MS"] = "100"
    try:
        snap.stored.start()
        wait_until(lambda: len(TAKEN.findall(stored_log(snap)[len(log_before):])) >= 1,
                   timeout=10, what="a snapshot")
        assert snap.stored.stop() == 0
    finally:
        del snap.env["MS_STORED_SNAPSHOT_MS"]
    left = {p.name for p in snapdir(snap).iterdir()}
    assert not (left & unverified), (left, unverified)
    assert all((snapdir(snap) / n / ".verified").is_file() for n in left)
