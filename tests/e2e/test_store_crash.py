"""Crash tests of the store: kill -9 at any point loses nothing acknowledged.

- deliver processes (several at once, to users that exist and to users
  created on the fly) are killed with SIGKILL at random moments, many times;
- mboxutil -e runs while deliveries go on and is killed at random moments;
- every step named in docs/store.md ("Crash points") is hit exactly with
  MS_TEST_CRASHPOINT, which makes the program SIGKILL itself there.

Afterwards: every message whose deliver exited 0 is present exactly once
(by its X-Test-Id), no message is present twice, and reconstruct -n finds
no inconsistency (leftovers are allowed: they are what a crash leaves);
reconstruct then removes the leftovers and a second check is clean.

The random schedule is seeded (STORE_CRASH_SEED, printed on failure), so a
failing run can be repeated.
"""
import collections
import os
import random
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from test_store_tools import (DELIVER, MBOXUTIL, RECONSTRUCT, deliver, listing, messages,
                              tool, user_dir)

SEED = int(os.environ.get("STORE_CRASH_SEED", str(random.randrange(1 << 30))))


def message(i, size=0):
    return f"Subject: crash {i}\nX-Test-Id: {i}\n\nbody {i}\n" + "z" * size + "\n"


def ids_in(inst, userid, mailbox="INBOX"):
    """Counter of X-Test-Id values of the messages the index names."""
    found = collections.Counter()
    listdb = inst.root / "data" / "store" / "mboxlist" / "mboxlist.db"
    with sqlite3.connect(str(listdb), timeout=30) as db:
        if db.execute("SELECT 1 FROM users WHERE userid = ?", (userid,)).fetchone() is None:
            return found  # never created, or its creation was killed
    if mailbox is None:
        return found
    for _, _, _, body in messages(inst, userid, mailbox):
        m = re.search(rb"X-Test-Id: (\d+)", body)
        assert m, body[:80]
        found[int(m.group(1))] += 1
    return found


def consistent(inst):
    """No inconsistency now; repair removes the leftovers; then clean."""
    cp = tool(inst, RECONSTRUCT, "-n", "-r")
    assert cp.returncode == 0, f"seed {SEED}\n{cp.stdout}\n{cp.stderr}"
    tool(inst, RECONSTRUCT, "-m", "-n", check=0)
    tool(inst, RECONSTRUCT, "-r", check=0)
    cp = tool(inst, RECONSTRUCT, "-n", "-r", check=0)
    assert "0 problem(s), 0 leftover(s)" in cp.stdout, cp.stdout


class Runner:
    """Start programs, kill some at scheduled moments, collect exit statuses."""

    def __init__(self, inst, concurrency=6):
        self.inst = inst
        self.concurrency = concurrency
        self.active = []  # (key, popen, kill_at)
        self.results = {}

    def start(self, key, argv, stdin_text=None, kill_after=None):
        while len(self.active) >= self.concurrency:
            self.step()
        p = subprocess.Popen([str(a) for a in argv], env=self.inst.env,
                             stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if stdin_text is not None:
            try:
                p.stdin.write(stdin_text.encode())
                p.stdin.close()
            except BrokenPipeError:
                pass
        kill_at = None if kill_after is None else time.monotonic() + kill_after
        self.active.append((key, p, kill_at))

    def step(self):
        now = time.monotonic()
        still = []
        for key, p, kill_at in self.active:
            if p.poll() is None and kill_at is not None and now >= kill_at:
                p.send_signal(signal.SIGKILL)
                kill_at = None
            if p.poll() is not None:
                err = p.stderr.read().decode(errors="replace")
                p.stderr.close()
                self.results[key] = (p.returncode, err)
            else:
                still.append((key, p, kill_at))
        self.active = still
        if self.active:
            time.sleep(0.0005)  # bounded: the loop ends when every process has ended

    def finish(self, timeout=60):
        deadline = time.monotonic() + timeout
        while self.active:
            assert time.monotonic() < deadline, "programs did not end"
            self.step()
        return self.results


def test_kill_deliver_at_random(instance):
    rnd = random.Random(SEED)
    users = ["u1", "u2", "u3@example.com"]
    target = {}
    for n, u in enumerate(users[:2]):
        # Existing users; the others are created under fire.
        deliver(instance, u, message=message(5000 + n))
        target[5000 + n] = u
    run = Runner(instance)
    for i in range(1, 201):
        user = rnd.choice(users + [f"new{i % 7}"])
        target[i] = user
        # A delivery takes a few milliseconds: kill inside that window.
        kill = rnd.uniform(0.0, 0.012) if rnd.random() < 0.6 else None
        run.start(i, [DELIVER, user], message(i, rnd.randrange(0, 20000)), kill)
    results = run.finish()
    killed = [i for i, (rc, _) in results.items() if rc == -signal.SIGKILL]
    acked = [i for i, (rc, _) in results.items() if rc == 0]
    others = {i: r for i, r in results.items() if r[0] not in (0, -signal.SIGKILL)}
    # Only temporary failures (a lock held too long) are acceptable besides kills.
    assert all(rc == 75 for rc, _ in others.values()), f"seed {SEED}: {others}"
    assert len(killed) >= 25 and len(acked) >= 50, (SEED, len(killed), len(acked))
    found = collections.Counter()
    for u in set(target.values()) | set(users):
        c = ids_in(instance, u)
        for i, n in c.items():
            assert target.get(i) == u, f"seed {SEED}: message {i} in {u}"
        found.update(c)
    for i in acked:
        assert found[i] == 1, f"seed {SEED}: acknowledged message {i} present {found[i]} times"
    assert all(n == 1 for n in found.values()), f"seed {SEED}: duplicates {found}"
    consistent(instance)
    # Deliveries go on normally afterwards, with the next UIDs.
    for u in users:
        deliver(instance, u, message=message(1000))
        assert ids_in(instance, u)[1000] == 1


def test_kill_expunge_while_delivering(instance):
    rnd = random.Random(SEED + 1)
    deliver(instance, "joe", message=message(0))
    run = Runner(instance, concurrency=5)
    deleted = set()
    for i in range(1, 101):
        flag = rnd.random() < 0.5
        if flag:
            deleted.add(i)
        argv = [DELIVER] + (["-g", "\\Deleted"] if flag else []) + ["joe"]
        run.start(("d", i), argv, message(i), None)
        if i % 4 == 0:
            kill = rnd.uniform(0.0, 0.01) if rnd.random() < 0.7 else None
            run.start(("e", i), [MBOXUTIL, "-e", "-p", "user/joe/INBOX"], None, kill)
    results = run.finish()
    acked = {k[1] for k, (rc, _) in results.items() if k[0] == "d" and rc == 0}
    bad = {k: r for k, r in results.items()
           if r[0] not in (0, -signal.SIGKILL) and not (k[0] == "d" and r[0] == 75)}
    assert not bad, f"seed {SEED}: {bad}"
    assert any(k[0] == "e" and r[0] == -signal.SIGKILL for k, r in results.items()), SEED
    found = ids_in(instance, "joe")
    acked.add(0)
    for i in acked - deleted:
        assert found[i] == 1, f"seed {SEED}: message {i} present {found[i]} times"
    assert all(n == 1 for n in found.values())
    consistent(instance)
    tool(instance, MBOXUTIL, "-e", check=0)
    assert set(ids_in(instance, "joe")) == acked - deleted


@pytest.mark.parametrize("point,present", [
    ("append-after-link", False),
    ("append-before-commit", False),
    ("append-after-commit", True),
])
def test_deliver_crash_points(instance, point, present):
    deliver(instance, "joe", message=message(1))
    cp = deliver(instance, "joe", message=message(2), env={"MS_TEST_CRASHPOINT": point},
                 check=-signal.SIGKILL)
    assert cp.returncode == -signal.SIGKILL
    found = ids_in(instance, "joe")
    assert found[1] == 1
    assert found[2] == (1 if present else 0)
    consistent(instance)
    deliver(instance, "joe", message=message(3))
    assert ids_in(instance, "joe")[3] == 1
    uids = [m[0] for m in messages(instance, "joe")]
    assert uids == sorted(set(uids))


def test_user_creation_crash(instance):
    deliver(instance, "kim", message=message(1), env={"MS_TEST_CRASHPOINT":
                                                        "user-create-before-commit"},
            check=-signal.SIGKILL)
    assert "user/kim/INBOX" not in listing(instance)
    consistent(instance)
    deliver(instance, "kim", message=message(2))
    assert ids_in(instance, "kim") == collections.Counter({2: 1})
    assert len([k for k in listing(instance) if k.startswith("user/kim/")]) == 5


@pytest.mark.parametrize("point,args,check_after", [
    ("mailbox-create-before-commit", ["-c", "user/joe/Projects"],
     lambda rows: "user/joe/Projects" not in rows),
    ("mailbox-delete-before-commit", ["-d", "user/joe/Old"],
     lambda rows: "user/joe/Old" in rows),
    ("mailbox-delete-after-commit", ["-d", "user/joe/Old"],
     lambda rows: "user/joe/Old" not in rows),
    ("mailbox-rename-before-commit", ["-r", "user/joe/Old", "user/joe/New"],
     lambda rows: "user/joe/Old" in rows and "user/joe/New" not in rows),
    ("expunge-before-commit", ["-e"], lambda rows: rows["user/joe/INBOX"][0] == "3"),
    ("user-delete-after-mark", ["-d", "user/joe/INBOX"], None),
    ("user-delete-after-rename", ["-d", "user/joe/INBOX"], None),
    ("user-rename-after-mark", ["-r", "user/joe/INBOX", "user/jim/INBOX"], None),
    ("user-rename-after-move", ["-r", "user/joe/INBOX", "user/jim/INBOX"], None),
    ("user-move-after-copy", ["-r", "user/joe/INBOX", "user/joe/INBOX", "second"], None),
])
def test_mboxutil_crash_points(instance, tmp_path, point, args, check_after):
    second = tmp_path / "second"
    second.mkdir(mode=0o700)
    instance.run("set", "partition:second.path", str(second))
    for i in (1, 2, 3):
        deliver(instance, *(["-g", "\\Deleted"] if i == 3 else []), "joe", message=message(i))
    tool(instance, MBOXUTIL, "-c", "user/joe/Old", check=0)
    cp = tool(instance, MBOXUTIL, *args, env={"MS_TEST_CRASHPOINT": point})
    assert cp.returncode == -signal.SIGKILL, (point, cp.stdout, cp.stderr)
    if check_after is not None:
        assert check_after(listing(instance)), point
    # Whole-user operations: the user is either fully there or fully gone,
    # under the old or the new name, never half; the next open finishes.
    if point.startswith("user-"):
        cp = tool(instance, RECONSTRUCT, "-m", check=0)
        rows = listing(instance)
        names = {k.split("/")[1] for k in rows}
        if point.startswith("user-delete"):
            assert "joe" not in names
        elif point.startswith("user-rename"):
            assert names == {"jim"}, rows
            assert ids_in(instance, "jim") == collections.Counter({1: 1, 2: 1, 3: 1})
        else:
            assert names == {"joe"}, rows
            assert len(messages(instance, "joe", base=None if rows["user/joe/INBOX"][4] ==
                                "primary" else second)) == 3
    consistent(instance)
    # The operation can be run again, or the store used, normally.
    deliver(instance, "joe", message=message(9))
