"""More crash tests of the store: kill -9 of popd and of stored.

One instance for the module (its own slapd, users made with commadmin),
stored, imapd and popd attached to the test and restarted by it.

- popd is killed at a random moment of its QUIT after DELE of many
  messages (the \\Deleted marks and the expunge are its commits), many
  times: every message not deleted is there exactly once, a deleted one at
  most once (and not at all after +OK);
- stored is killed many times while deliver processes and IMAP APPENDs
  run and IMAP sessions idle: every acknowledged message is there exactly
  once, nothing twice, the idling sessions stay connected and hear of new
  mail again once stored is back;

then reconstruct -n finds every index consistent (test_store_crash's
consistent).  The schedule is seeded (STORE_CRASH_SEED, printed on
failure).
"""
import os
import random
import signal
import socket
import subprocess
import time

import pytest

from conftest import DOMAIN
from ldap_fixtures import create_ldap_instance
from server_fixtures import StoreServer
from test_imapd_notify import Client
from test_store_crash import DELIVER, Runner, consistent, ids_in
from test_store_tools import deliver, messages
from test_stored import Stored

PASSWORD = "Crash-More-1"
SEED = int(os.environ.get("STORE_CRASH_SEED", str(random.randrange(1 << 30))))
DELETED = 1 << 3  # STORE_FLAG_DELETED (store.h)
POP_ROUNDS = int(os.environ.get("POP_CRASH_ROUNDS", "10"))
STORED_KILLS = int(os.environ.get("STORED_CRASH_KILLS", "12"))


def message(i):
    return f"Subject: crash {i}\nX-Test-Id: {i}\nFrom: a@example.com\n\nbody {i}\n"


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    root = tmp_path_factory.mktemp("crashmore")
    inst = create_ldap_instance(root / "instance")
    servers = []
    try:
        inst.start()
        inst.imap_port = 143 + inst.offset
        inst.pop_port = 110 + inst.offset
        for name, value in (("imap.port", inst.imap_port), ("imap.plaintextmincipher", -1),
                            ("pop.port", inst.pop_port), ("pop.plaintextmincipher", -1)):
            inst.run("set", name, str(value))
        for uid in ("pat", "sam", "tia"):
            inst.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD,
                           "-F", uid, "-L", "Crash")
        inst.stored = Stored(inst)
        inst.stored.start()
        servers.append(inst.stored)
        # the poll is a minute: the sessions hear of mail through the relay
        inst.imapd = StoreServer(inst, "imapd", "imap", {"MS_IMAP_IDLE_POLL_MS": "60000"})
        inst.imapd.start()
        servers.append(inst.imapd)
        inst.popd = StoreServer(inst, "popd", "pop")
        servers.append(inst.popd)
        yield inst
    finally:
        try:
            for s in reversed(servers):
                if s.proc is not None and s.proc.poll() is None:
                    s.proc.send_signal(signal.SIGTERM)
                    try:
                        s.proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:  # a session a failed test left open
                        s.proc.kill()
                        s.proc.wait()
        finally:
            inst.teardown()


def fill(inst, user, ids):
    """APPEND ids to INBOX, pipelined; all acknowledged."""
    c = Client(inst.imap_port, user, PASSWORD)
    data = b""
    for i in ids:
        m = message(i).replace("\n", "\r\n").encode()
        data += b"f%d APPEND INBOX {%d+}\r\n%s\r\n" % (i, len(m), m)
    c.s.sendall(data)
    for i in ids:
        ln = c.line()
        while not ln.startswith(f"f{i} "):
            ln = c.line()
        assert " OK " in ln, ln
    c.close()


class Pop:
    def __init__(self, port, user):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")
        assert self.f.readline().startswith(b"+OK")
        for cmd in (f"USER {user}", f"PASS {PASSWORD}"):
            assert self.cmd(cmd).startswith(b"+OK"), cmd

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.f.readline()

    def close(self):
        self.f.close()
        self.s.close()


def test_kill_popd_during_quit(inst):
    rnd = random.Random(SEED)
    popd = inst.popd
    # Calibrate: how long a QUIT of 40 deletions takes here.
    fill(inst, "pat", range(100000, 100060))
    popd.start()
    p = Pop(inst.pop_port, "pat")
    for k in range(1, 41):
        assert p.cmd(f"DELE {k}").startswith(b"+OK")
    t0 = time.monotonic()
    assert p.cmd("QUIT").startswith(b"+OK")
    quit_time = time.monotonic() - t0
    p.close()
    kept = set(range(100040, 100060))
    gone = set()
    outcomes = []
    for r in range(POP_ROUNDS):
        ids = list(range(r * 1000, r * 1000 + 60))
        fill(inst, "pat", ids)
        if popd.proc is None:
            popd.start()
        p = Pop(inst.pop_port, "pat")
        listed = int(p.cmd("STAT").split()[1])
        # the messages of this round are the last 60
        dele = sorted(rnd.sample(range(listed - 59, listed + 1), 30))
        for k in dele:
            assert p.cmd(f"DELE {k}").startswith(b"+OK")
        deleted = {ids[k - (listed - 59)] for k in dele}
        p.s.sendall(b"QUIT\r\n")
        time.sleep(rnd.uniform(0, 1.5 * quit_time))
        popd.kill()
        try:
            answer = p.f.readline()
        except OSError:
            answer = b""
        p.close()
        outcomes.append(answer.startswith(b"+OK"))
        found = ids_in(inst, "pat")
        for i in set(ids) - deleted:
            assert found[i] == 1, f"seed {SEED}: kept message {i} present {found[i]} times"
        for i in deleted:
            assert found[i] <= (0 if answer.startswith(b"+OK") else 1), \
                f"seed {SEED}: deleted message {i} present {found[i]} times ({answer!r})"
        kept |= set(ids) - deleted
        gone |= {i for i in deleted if found[i] == 0}
    found = ids_in(inst, "pat")
    assert all(found[i] == 1 for i in kept) and all(n == 1 for n in found.values()), SEED
    assert not (gone & set(found)), SEED
    consistent(inst)
    # popd works normally afterwards: a new session sees what is left but
    # the messages a killed QUIT had already marked \Deleted (POP hides
    # those; the next expunge removes them).
    marked = sum(1 for _, flags, _, _ in messages(inst, "pat") if flags & DELETED)
    popd.start()
    p = Pop(inst.pop_port, "pat")
    assert int(p.cmd("STAT").split()[1]) == len(found) - marked
    assert p.cmd("QUIT").startswith(b"+OK")
    p.close()
    popd.stop()
    print("popd QUIT answered before the kill:", sum(outcomes), "of", len(outcomes))


def test_kill_stored_during_deliveries_and_sessions(inst):
    rnd = random.Random(SEED + 1)
    stored = inst.stored
    fill(inst, "sam", [1])
    fill(inst, "tia", [2])
    idlers = []
    for u in ("sam", "tia", "sam"):
        c = Client(inst.imap_port, u, PASSWORD)
        c.exists = c.select()
        c.idle()
        c.user = u
        idlers.append(c)
    appender = Client(inst.imap_port, "tia", PASSWORD)
    appended = set()
    run = Runner(inst, concurrency=4)
    target = {}
    i = 10
    for k in range(STORED_KILLS):
        for _ in range(rnd.randrange(3, 8)):
            i += 1
            target[i] = rnd.choice(("sam", "tia"))
            run.start(i, [DELIVER, target[i]], message(i), None)
        time.sleep(rnd.uniform(0, 0.05))
        stored.proc.send_signal(signal.SIGKILL)
        stored.proc.wait()
        # an APPEND while stored is gone: the store does not need it
        i += 1
        appender.append("INBOX", message(i))
        appended.add(i)
        target[i] = "tia"
        stored.start()  # recovery at start runs while deliveries go on
    results = run.finish()
    acked = {k for k, (rc, _) in results.items() if rc == 0} | appended
    assert all(rc in (0, 75) for rc, _ in results.values()), f"seed {SEED}: {results}"
    per_user = {u: ids_in(inst, u) for u in ("sam", "tia")}
    found = per_user["sam"] + per_user["tia"]
    for m in acked:
        assert found[m] == 1, f"seed {SEED}: acknowledged {m} present {found[m]} times"
    assert all(n == 1 for n in found.values()), f"seed {SEED}: duplicates {found}"
    for m, n in found.items():
        assert per_user[target.get(m, "sam" if m == 1 else "tia")][m] == n, (SEED, m)
    # The idling sessions are still there and hear of the next delivery
    # through the restarted stored's relay.
    for u in ("sam", "tia"):
        i += 1
        deliver(inst, u, message=message(i))
    for c in idlers:
        deadline = time.monotonic() + 10
        while True:
            ln = c.line(timeout=max(0.1, deadline - time.monotonic()))
            if ln.endswith(" EXISTS") and int(ln.split()[1]) == len(ids_in(inst, c.user)):
                break
        c.done()
        c.close()
    appender.close()
    log = stored.log_text()
    assert log.count("ready (pid") >= STORED_KILLS + 1
    inst.imapd.stop()
    consistent(inst)
    inst.imapd.start()
