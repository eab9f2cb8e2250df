"""The store utilities end to end: hashdir, deliver, mboxutil, reconstruct.

Each test runs the real programs of the build tree on a throwaway instance
made by init-config (the `instance` fixture of conftest.py), and checks
their output, exit status, the files they leave and, read-only, the user
databases (sqlite3), as docs/man/{hashdir,deliver,mboxutil,reconstruct}.8
describe them.
"""
import os
import pathlib
import re
import sqlite3
import subprocess

import pytest

from conftest import BUILD

STORE_BIN = BUILD / "workers" / "store"
DELIVER = STORE_BIN / "deliver"
HASHDIR = STORE_BIN / "hashdir"
MBOXUTIL = STORE_BIN / "mboxutil"
RECONSTRUCT = STORE_BIN / "reconstruct"

MESSAGE = "Subject: test\nFrom: a@example.com\nTo: joe@example.com\n\nhello\n"


# ---- helpers shared with test_store_crash.py ---------------------------------

def tool(inst, prog, *args, input=None, env=None, check=None, timeout=60):
    """Run a store program on inst; check=N asserts the exit status."""
    e = dict(inst.env)
    if env:
        e.update(env)
    cp = subprocess.run([str(prog), *map(str, args)], env=e, input=input,
                        capture_output=True, text=True, timeout=timeout)
    if check is not None:
        assert cp.returncode == check, (
            f"{prog.name} {' '.join(map(str, args))}: exit {cp.returncode}, want {check}\n"
            f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    return cp


def deliver(inst, *args, message=MESSAGE, check=0, env=None):
    return tool(inst, DELIVER, *args, input=message, check=check, env=env)


def hashdir_of(inst, userid):
    return tool(inst, HASHDIR, userid, check=0).stdout.strip()


def partition_path(inst, name="primary"):
    return inst.root / "data" / "store" / "partition" / name


def user_dir(inst, userid, base=None):
    base = base or partition_path(inst)
    return base / "=user" / hashdir_of(inst, userid).rstrip("/") / f"={userid}"


def user_db(inst, userid, base=None):
    db = sqlite3.connect(str(user_dir(inst, userid, base) / "store.db"), timeout=30)
    db.row_factory = sqlite3.Row
    return db


def mailbox_rows(inst, userid, base=None):
    with user_db(inst, userid, base) as db:
        return {r["name"]: dict(r) for r in db.execute("SELECT * FROM mailbox")}


def messages(inst, userid, mailbox="INBOX", base=None):
    """[(uid, flags, keywords, file bytes)] of a mailbox, read through the index."""
    out = []
    with user_db(inst, userid, base) as db:
        mid = db.execute("SELECT id FROM mailbox WHERE name = ?", (mailbox,)).fetchone()[0]
        for r in db.execute("SELECT uid, flags, keywords FROM message WHERE mailbox = ?"
                            " ORDER BY uid", (mid,)):
            path = (user_dir(inst, userid, base) / f"m{mid}" / f"{(r[0] // 100) % 100:02d}"
                    / f"{r[0]}.msg")
            out.append((r[0], r[1], r[2], path.read_bytes()))
    return out


def listing(inst, *args, check=0):
    """mboxutil -l rows as {mailbox: [msgs, kbytes, date, time, partition, quotaroot]}."""
    cp = tool(inst, MBOXUTIL, "-l", *args, check=check)
    lines = cp.stdout.splitlines()
    assert lines[0].split() == ["msgs", "Kbytes", "last", "msg", "partition", "quotaroot",
                                "mailbox"], lines[0]
    rows = {}
    for ln in lines[1:]:
        if ln.startswith("    ") or ln.startswith("Total:"):
            continue
        f = ln.split(None, 6)
        rows[f[6]] = f[:6]
    return rows


# ---- hashdir -------------------------------------------------------------------

def test_hashdir(instance):
    out = tool(instance, HASHDIR, "user1", check=0).stdout
    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/\n", out)
    assert out == "f9/2c/\n"  # docs/store.md's test vector: the layout depends on it
    assert tool(instance, HASHDIR, "-a", "user1@domain.com", check=0).stdout == \
        "80/c1/user1@domain.com\n"
    assert tool(instance, HASHDIR, "User1", check=0).stdout != out  # case-sensitive
    cp = tool(instance, HASHDIR, "-i", input="user1\n\njoe\n", check=0)
    assert cp.stdout == "f9/2c/\n49/2e/\n"
    assert "usage: hashdir" in tool(instance, HASHDIR, "--help", check=0).stdout
    assert "no user ID" in tool(instance, HASHDIR, check=64).stderr
    tool(instance, HASHDIR, "-z", "x", check=64)
    # It names where deliver puts the user.
    deliver(instance, "user1")
    assert (user_dir(instance, "user1") / "store.db").exists()


# ---- deliver ---------------------------------------------------------------------

def test_deliver_creates_user_with_standard_folders(instance):
    deliver(instance, "joe")
    rows = listing(instance, "-p", "user/joe/*")
    assert list(rows) == ["user/joe/INBOX", "user/joe/Drafts", "user/joe/Junk",
                          "user/joe/Sent", "user/joe/Trash"]
    assert rows["user/joe/INBOX"][0] == "1"
    assert rows["user/joe/INBOX"][4] == "primary"
    assert rows["user/joe/INBOX"][5] == "-1"  # unlimited by default
    assert rows["user/joe/Sent"][5] == "-"
    mb = mailbox_rows(instance, "joe")
    assert mb["Sent"]["specialuse"] == "\\Sent"
    assert mb["Junk"]["specialuse"] == "\\Junk"
    [(uid, flags, kw, body)] = messages(instance, "joe")
    assert uid == 1 and flags == 0 and kw == ""
    assert body == MESSAGE.replace("\n", "\r\n").encode()  # stored with CRLF
    assert mb["INBOX"]["bytes"] == len(body)


def test_deliver_flags_folders_return_path(instance):
    deliver(instance, "joe")
    # -m to an existing folder, -g flags, -r Return-Path
    deliver(instance, "-m", "Sent", "-g", "\\Flagged", "-g", "\\Seen", "-g", "$Work",
            "-r", "bounce@example.com", "joe")
    [(uid, flags, kw, body)] = messages(instance, "joe", "Sent")
    assert flags == 1 | 4 and kw == "$Work"
    assert body.startswith(b"Return-Path: <bounce@example.com>\r\nSubject: test\r\n")
    # -m to a missing folder: INBOX; with -c: created
    deliver(instance, "-m", "Projects", "joe")
    assert len(messages(instance, "joe")) == 2
    deliver(instance, "-c", "-m", "Projects/2024", "joe")
    assert len(messages(instance, "joe", "Projects/2024")) == 1
    # -E: a folder name in the local character set or in modified UTF-7
    deliver(instance, "-c", "-m", "caf\u00e9", "joe")
    assert len(messages(instance, "joe", "caf&AOk-")) == 1
    deliver(instance, "-E", "MUTF-7", "-m", "caf&AOk-", "joe")
    assert len(messages(instance, "joe", "caf&AOk-")) == 2
    # An mbox "From " line is dropped.
    deliver(instance, "kim", message="From a@b Sat Jan  1 00:00:00 2000\n" + MESSAGE)
    [(_, _, _, body)] = messages(instance, "kim")
    assert body.startswith(b"Subject: test")


def test_deliver_several_users_and_patterns(instance):
    deliver(instance, "amy", "bob@example.com", "carl@example.com")
    for u in ["amy", "bob@example.com", "carl@example.com"]:
        assert len(messages(instance, u)) == 1
    deliver(instance, "-p", "*@example.com")
    assert len(messages(instance, "bob@example.com")) == 2
    assert len(messages(instance, "amy")) == 1
    deliver(instance, "-p", "*")
    assert len(messages(instance, "amy")) == 2
    cp = deliver(instance, "-p", "nobody*", check=1)
    assert "no user matches" in cp.stderr
    # Single copy: the same message for several users of a partition is one inode.
    deliver(instance, "dan", "eve", message="Subject: shared\n\nsame\n")
    a = user_dir(instance, "dan") / "m1" / "00" / "1.msg"
    b = user_dir(instance, "eve") / "m1" / "00" / "1.msg"
    assert os.stat(a).st_ino == os.stat(b).st_ino


def test_deliver_exit_statuses(instance):
    assert "usage: deliver" in tool(instance, DELIVER, "--help", check=0).stdout
    tool(instance, DELIVER, "-h", check=0)
    tool(instance, DELIVER, "-Z", "joe", input=MESSAGE, check=64)
    assert "no recipient" in tool(instance, DELIVER, input=MESSAGE, check=64).stderr
    tool(instance, DELIVER, "-g", "\\Recent", "joe", input=MESSAGE, check=64)
    tool(instance, DELIVER, "-E", "UTF-16", "joe", input=MESSAGE, check=64)
    assert "empty" in deliver(instance, "joe", message="", check=2).stderr
    assert "not a message" in deliver(instance, "joe", message="hello world\n", check=2).stderr
    cp = deliver(instance, "../../etc", check=1)
    assert "permanent failure" in cp.stderr
    # One bad recipient among good ones: the good ones get it, status 1.
    cp = deliver(instance, "ok1", "bad/id", "ok2", check=1)
    assert "bad/id" in cp.stderr
    assert len(messages(instance, "ok1")) == 1 and len(messages(instance, "ok2")) == 1


def test_deliver_quota(instance):
    instance.run("set", "store.defaultmailboxquota", "1K")
    small = "Subject: q\n\n" + "x" * 400 + "\n"
    deliver(instance, "joe", message=small)
    deliver(instance, "joe", message=small)
    cp = deliver(instance, "joe", message=small, check=75)  # over quota: retry later
    assert "over quota" in cp.stderr and "temporary" in cp.stderr
    cp = deliver(instance, "kim", message="Subject: big\n\n" + "y" * 4000 + "\n", check=1)
    assert "larger than the whole quota" in cp.stderr  # bounces, whatever the setting
    deliver(instance, "-q", "joe", message=small)  # -q skips the check
    assert len(messages(instance, "joe")) == 3
    rows = listing(instance, "-p", "user/joe/INBOX")
    assert rows["user/joe/INBOX"][5] == "1"  # the quota root's limit in KB
    instance.run("set", "store.quotaenforcement", "0")
    deliver(instance, "joe", message=small)
    assert len(messages(instance, "joe")) == 4


def test_deliver_load_test(instance):
    cp = deliver(instance, "-t", "0.5", "joe")
    m = re.search(r"deliver: (\d+) messages delivered to joe in [\d.]+ seconds "
                  r"\(([\d.]+) messages/second\)", cp.stdout)
    assert m, cp.stdout
    n = int(m.group(1))
    assert n > 0
    assert len(messages(instance, "joe")) == n


# ---- mboxutil ---------------------------------------------------------------------

def test_mboxutil_create_list_delete(instance):
    tool(instance, MBOXUTIL, "-c", "user/daphne/INBOX", check=0)
    assert "already exists" in tool(instance, MBOXUTIL, "-c", "user/daphne/INBOX",
                                    check=2).stderr
    tool(instance, MBOXUTIL, "-c", "user/daphne/projx", check=0)
    cp = tool(instance, MBOXUTIL, "-c", "user/nobody/projx", check=2)
    assert "create user/nobody/INBOX first" in cp.stderr
    tool(instance, MBOXUTIL, "-c", "user/daphne/a/../b", check=2)
    tool(instance, MBOXUTIL, "-c", "user/daphne/foo*bar", check=2)
    tool(instance, MBOXUTIL, "-c", "user/crowe/INBOX", check=0)
    # -s: the stable names-only format
    cp = tool(instance, MBOXUTIL, "-l", "-s", "-p", "user/%/INBOX", check=0)
    assert cp.stdout == "user/crowe/INBOX\nuser/daphne/INBOX\n"
    # -x: path and ACL; -z: total
    cp = tool(instance, MBOXUTIL, "-l", "-x", "-z", "-p", "user/daphne/projx", check=0)
    assert re.search(r"^    Path: .*/=user/[0-9a-f]{2}/[0-9a-f]{2}/=daphne/m\d+$", cp.stdout, re.M)
    assert "    ACL: daphne lrswipkxtean" in cp.stdout
    assert "Total: 1 mailbox(es)" in cp.stdout
    # -P: a POSIX regular expression over the whole name
    cp = tool(instance, MBOXUTIL, "-l", "-s", "-P", "user/d[a-z]*/(INBOX|projx)", check=0)
    assert cp.stdout == "user/daphne/INBOX\nuser/daphne/projx\n"
    # -B: columns joined by the bound
    cp = tool(instance, MBOXUTIL, "-l", "-B", "|", "-p", "user/crowe/INBOX", check=0)
    assert cp.stdout.splitlines()[1].split("|")[-1] == "user/crowe/INBOX"
    # -d one folder, then the user with everything
    tool(instance, MBOXUTIL, "-d", "user/daphne/projx", check=0)
    assert "user/daphne/projx" not in listing(instance)
    assert "no mailbox" in tool(instance, MBOXUTIL, "-d", "user/daphne/projx", check=2).stderr
    d = user_dir(instance, "daphne")
    tool(instance, MBOXUTIL, "-d", "user/daphne/INBOX", check=0)
    assert not d.exists()
    assert not any(k.startswith("user/daphne/") for k in listing(instance))
    # -d -p: every match
    for u in ["usr441", "usr442"]:
        tool(instance, MBOXUTIL, "-c", f"user/{u}/INBOX", check=0)
    tool(instance, MBOXUTIL, "-d", "-p", "user/usr44*", check=0)
    assert list(listing(instance)) == [f"user/crowe/{m}" for m in
                                       ["INBOX", "Drafts", "Junk", "Sent", "Trash"]]
    # -d -f: names from a file (the 6.x "mboxutil -d NAME" lines too)
    tool(instance, MBOXUTIL, "-c", "user/gone1/INBOX", check=0)
    tool(instance, MBOXUTIL, "-c", "user/gone2/INBOX", check=0)
    f = instance.root / "orphans.cmd"
    f.write_text("user/gone1/INBOX\nmboxutil -d user/gone2/INBOX\n")
    tool(instance, MBOXUTIL, "-d", "-f", f, check=0)
    assert not any("gone" in k for k in listing(instance))
    # One failing name of several: status 1, the others done.
    tool(instance, MBOXUTIL, "-c", "user/x1/INBOX", check=0)
    f.write_text("user/x1/INBOX\nuser/nosuch/INBOX\n")
    cp = tool(instance, MBOXUTIL, "-d", "-f", f, check=1)
    assert "user/nosuch/INBOX" in cp.stderr
    assert not any("x1" in k for k in listing(instance))


def test_mboxutil_names_in_utf8_and_mutf7(instance):
    tool(instance, MBOXUTIL, "-c", "user/han/INBOX", check=0)
    name = "\u9001\u4fe1\u6e08\u307f\u30a2\u30a4\u30c6\u30e0"
    tool(instance, MBOXUTIL, "-c", f"user/han/{name}", check=0)
    assert f"user/han/{name}" in listing(instance, "-p", "user/han/*")
    rows = listing(instance, "-E", "MUTF-7", "-p", "user/han/*")
    assert "user/han/&kAFP4W4IMH8wojCkMMYw4A-" in rows  # the seed's vector
    tool(instance, MBOXUTIL, "-c", "-E", "MUTF-7", "user/han/&kAFP4W4IMH8-", check=0)
    assert "user/han/\u9001\u4fe1\u6e08\u307f" in listing(instance)
    tool(instance, MBOXUTIL, "-l", "-E", "MUTF-7", "-P", "x", check=64)


def test_mboxutil_rename(instance):
    tool(instance, MBOXUTIL, "-c", "user/desdemona/INBOX", check=0)
    tool(instance, MBOXUTIL, "-c", "user/desdemona/memos", check=0)
    tool(instance, MBOXUTIL, "-c", "user/desdemona/memos/old", check=0)
    deliver(instance, "-m", "memos", "desdemona")
    cp = tool(instance, MBOXUTIL, "-r", "user/desdemona/memos", "user/desdemona/memos-april",
              check=0)
    assert cp.stdout == "rename user/desdemona/memos to user/desdemona/memos-april\n"
    rows = listing(instance, "-p", "user/desdemona/*")
    assert "user/desdemona/memos-april" in rows and "user/desdemona/memos-april/old" in rows
    assert rows["user/desdemona/memos-april"][0] == "1"
    tool(instance, MBOXUTIL, "-r", "user/desdemona/nosuch", "user/desdemona/x", check=2)
    tool(instance, MBOXUTIL, "-r", "user/desdemona/Sent", "user/desdemona/Trash", check=2)
    # Renaming a user; onto an existing user fails.
    cp = tool(instance, MBOXUTIL, "-r", "user/desdemona/INBOX", "user/othello/INBOX", check=0)
    assert cp.stdout == "rename user/desdemona/INBOX to user/othello/INBOX\n"
    assert len(messages(instance, "othello", "memos-april")) == 1
    assert not user_dir(instance, "desdemona").exists()
    tool(instance, MBOXUTIL, "-c", "user/iago/INBOX", check=0)
    assert "already exists" in tool(instance, MBOXUTIL, "-r", "user/othello/INBOX",
                                    "user/iago/INBOX", check=2).stderr
    # Batch file of pairs; one pair fails, the rest go on.
    f = instance.root / "mvtest"
    f.write_text("user/othello/Junk\nuser/othello/Spam\nuser/nosuch/a\nuser/nosuch/b\n"
                 "user/iago/Junk\nuser/iago/Spam\n")
    cp = tool(instance, MBOXUTIL, "-r", "-f", f, check=1)
    assert cp.stdout == ("rename user/othello/Junk to user/othello/Spam\n"
                         "rename user/iago/Junk to user/iago/Spam\n")
    f.write_text("user/a/INBOX\n")
    assert "pairs" in tool(instance, MBOXUTIL, "-r", "-f", f, check=64).stderr


def test_mboxutil_move_partition(instance, tmp_path):
    second = tmp_path / "second"
    second.mkdir(mode=0o700)
    instance.run("set", "partition:second.path", str(second))
    deliver(instance, "dimitria")
    tool(instance, MBOXUTIL, "-c", "user/dimitria/personal", check=0)
    cp = tool(instance, MBOXUTIL, "-r", "user/dimitria/INBOX", "user/dimitria/INBOX", "second",
              check=0)
    assert cp.stdout == "rename user/dimitria/INBOX to user/dimitria/INBOX\n"
    rows = listing(instance, "-p", "user/dimitria/*")
    assert rows["user/dimitria/INBOX"][4] == "second"
    assert rows["user/dimitria/personal"][4] == "second"
    assert len(messages(instance, "dimitria", base=second)) == 1
    assert not user_dir(instance, "dimitria").exists()
    cp = tool(instance, MBOXUTIL, "-r", "user/dimitria/personal", "user/dimitria/personal",
              "primary", check=2)
    assert "one partition" in cp.stderr
    cp = tool(instance, MBOXUTIL, "-r", "user/dimitria/INBOX", "user/dimitria/INBOX", "nosuch",
              check=2)
    assert "Unknown/invalid partition" in cp.stderr
    deliver(instance, "dimitria")
    assert len(messages(instance, "dimitria", base=second)) == 2


def test_mboxutil_expunge_restore_cleanup(instance):
    for _ in range(3):
        deliver(instance, "joe")
    deliver(instance, "-g", "\\Deleted", "joe")
    deliver(instance, "-g", "\\Deleted", "joe")
    cp = tool(instance, MBOXUTIL, "-e", "-p", "user/joe/*", check=0)
    assert cp.stdout == "user/joe/INBOX: expunged 2 message(s)\n"
    assert [m[0] for m in messages(instance, "joe")] == [1, 2, 3]
    # Restore UID 5 into Trash, without \Deleted, with a new UID.
    cp = tool(instance, MBOXUTIL, "-R", "-m", "user/joe/Trash", "-U", "5",
              "user/joe/INBOX", check=0)
    assert "restored 1 message(s) into user/joe/Trash" in cp.stdout
    [(uid, flags, _, _)] = messages(instance, "joe", "Trash")
    assert uid == 1 and flags == 0
    # Cleanup honours store.cleanupage (24 hours by default): nothing yet.
    cp = tool(instance, MBOXUTIL, "-C", "-g", "1", check=0)
    assert "removed the files of 0" in cp.stdout
    instance.run("set", "store.cleanupage", "0")
    cp = tool(instance, MBOXUTIL, "-C", "-g", "1", check=0)
    assert cp.stdout == "user/joe/INBOX: removed the files of 1 expunged message(s)\n"
    cp = tool(instance, MBOXUTIL, "-R", "user/joe/INBOX", check=0)
    assert "restored 0 message(s)" in cp.stdout
    tool(instance, MBOXUTIL, "-C", "-g", "0", check=64)
    tool(instance, RECONSTRUCT, "-n", "-r", check=0)


def test_mboxutil_subscriptions_and_acl(instance):
    tool(instance, MBOXUTIL, "-c", "user/gregk/INBOX", check=0)
    tool(instance, MBOXUTIL, "-c", "user/gregk/gardening", check=0)
    cp = tool(instance, MBOXUTIL, "-S", check=0)
    assert cp.stdout.split() == [f"user/gregk/{m}" for m in
                                 ["Drafts", "INBOX", "Junk", "Sent", "Trash"]]
    tool(instance, MBOXUTIL, "-d", "user/gregk/Junk", check=0)
    assert tool(instance, MBOXUTIL, "-S", "-n", check=0).stdout == "user/gregk/Junk\n"
    f = instance.root / "subs"
    f.write_text("user/gregk/Junk\n")
    tool(instance, MBOXUTIL, "-S", "-u", "-f", f, check=0)
    assert tool(instance, MBOXUTIL, "-S", "-n", check=0).stdout == ""
    tool(instance, MBOXUTIL, "-S", "-u", check=64)
    # ACLs: set, RFC 2086 letters, negative rights, removal.
    tool(instance, MBOXUTIL, "-A", "user/gregk/gardening", "group=tennis@example.com", "lrp",
         check=0)
    tool(instance, MBOXUTIL, "-A", "user/gregk/gardening", "kelly@example.com", "lrswipcdan",
         check=0)
    tool(instance, MBOXUTIL, "-A", "user/gregk/gardening", "-jsmith@example.com", "lwr", check=0)
    cp = tool(instance, MBOXUTIL, "-l", "-x", "-p", "user/gregk/gardening", check=0)
    assert ("    ACL: gregk lrswipkxtean -jsmith@example.com lrw group=tennis@example.com lrp"
            " kelly@example.com lrswipkxtean") in cp.stdout
    tool(instance, MBOXUTIL, "-A", "user/gregk/gardening", "kelly@example.com", "", check=0)
    assert "kelly" not in tool(instance, MBOXUTIL, "-l", "-x", "-p", "user/gregk/gardening",
                               check=0).stdout
    assert "unknown right" in tool(instance, MBOXUTIL, "-A", "user/gregk/gardening", "kim",
                                   "lrz", check=2).stderr


def test_mboxutil_usage(instance):
    assert "usage: mboxutil" in tool(instance, MBOXUTIL, "--help", check=0).stdout
    assert "say what to do" in tool(instance, MBOXUTIL, check=64).stderr
    tool(instance, MBOXUTIL, "-l", "-c", check=64)
    tool(instance, MBOXUTIL, "-l", "-x", "-s", check=64)
    tool(instance, MBOXUTIL, "-c", check=64)
    tool(instance, MBOXUTIL, "-r", "user/a/INBOX", check=64)
    tool(instance, MBOXUTIL, "-l", "-P", "(", check=64)
    assert "directory" in tool(instance, MBOXUTIL, "-o", check=2).stderr
    # -D: deleted mailboxes are removed at once, so none are listed.
    assert tool(instance, MBOXUTIL, "-l", "-D", check=0).stdout.count("\n") == 1


# ---- reconstruct -------------------------------------------------------------------

def test_reconstruct_check_and_repair(instance):
    for _ in range(3):
        deliver(instance, "dulcinea")
    tool(instance, MBOXUTIL, "-c", "user/dulcinea/legal", check=0)
    cp = tool(instance, RECONSTRUCT, "-n", "-r", check=0)
    assert cp.stdout == ("reconstruct: checked 1 user(s), 6 mailbox(es), 3 message(s): "
                         "0 problem(s), 0 leftover(s), 0 repaired\n")
    # Damage: a message file removed, a file the index lost, a partial delivery.
    d = user_dir(instance, "dulcinea") / "m1" / "00"
    (d / "2.msg").unlink()
    (d / "7.msg").write_text("Subject: partial\r\n\r\n")
    with user_db(instance, "dulcinea") as db:
        db.execute("DELETE FROM message WHERE uid = 3")
    cp = tool(instance, RECONSTRUCT, "-n", "user/dulcinea/INBOX", check=1)
    assert "user/dulcinea/INBOX: message UID 2 has no file (index entry removed)\n" in cp.stdout
    assert "user/dulcinea/INBOX: file of UID 3 has no index entry (adopted)\n" in cp.stdout
    assert ("user/dulcinea/INBOX: file of UID 7 from an interrupted delivery or copy "
            "[leftover]\n") in cp.stdout
    assert (d / "7.msg").exists()  # -n changes nothing
    cp = tool(instance, RECONSTRUCT, "user/dulcinea/INBOX", check=0)
    assert "message UID 2 has no file (index entry removed) [repaired]" in cp.stdout
    assert "[leftover, removed]" in cp.stdout
    assert not (d / "7.msg").exists()
    assert [m[0] for m in messages(instance, "dulcinea")] == [1, 3]
    cp = tool(instance, RECONSTRUCT, "-n", "-r", "user/dulcinea", check=0)
    assert "0 problem(s), 0 leftover(s)" in cp.stdout
    # A lost database is rebuilt from the files and the mailbox.meta names.
    (user_dir(instance, "dulcinea") / "store.db").unlink()
    cp = tool(instance, RECONSTRUCT, "-n", "-r", check=1)
    assert "is missing" in cp.stdout
    cp = tool(instance, RECONSTRUCT, "-r", check=0)
    assert "rebuilt from the files: 6 mailboxes, 2 messages" in cp.stdout
    assert "user/dulcinea/legal" in listing(instance)
    tool(instance, RECONSTRUCT, "-n", "-r", "-f", check=64)  # -f repairs: not with -n
    tool(instance, RECONSTRUCT, "-r", "-f", check=0)
    tool(instance, RECONSTRUCT, "-n", "-r", check=0)


def test_reconstruct_mailbox_list(instance):
    deliver(instance, "annie")
    deliver(instance, "oliver")
    (instance.root / "data" / "store" / "mboxlist" / "mboxlist.db").unlink()
    assert listing(instance) == {}
    cp = tool(instance, RECONSTRUCT, "-m", "-n", check=1)
    assert "user/annie: user directory not in the mailbox list" in cp.stdout
    cp = tool(instance, RECONSTRUCT, "-m", check=0)
    assert "[repaired]" in cp.stdout
    assert "user/annie/INBOX" in listing(instance) and "user/oliver/INBOX" in listing(instance)
    tool(instance, RECONSTRUCT, "-m", "-n", check=0)
    tool(instance, RECONSTRUCT, "-m", "-p", "primary", "-u", "annie", check=0)
    tool(instance, RECONSTRUCT, "-m", "-p", "nosuch", check=64)
    tool(instance, RECONSTRUCT, "-q", check=0)
    cp = tool(instance, RECONSTRUCT, "-l", check=0)
    assert "rebuilt the ACL lookup index of 2 user(s)" in cp.stdout


def test_reconstruct_usage(instance):
    assert "usage: reconstruct" in tool(instance, RECONSTRUCT, "--help", check=0).stdout
    assert "give -r" in tool(instance, RECONSTRUCT, check=64).stderr
    tool(instance, RECONSTRUCT, "-n", check=64)
    tool(instance, RECONSTRUCT, "-m", "user/a", check=64)
    tool(instance, RECONSTRUCT, "-u", "a", "-r", check=64)
    cp = tool(instance, RECONSTRUCT, "user/nosuch", check=2)
    assert "no user nosuch" in cp.stderr
