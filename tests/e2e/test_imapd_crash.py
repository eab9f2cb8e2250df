"""Crash tests of imapd: kill -9 in the middle of APPEND, COPY and EXPUNGE.

One instance for the module (its own slapd, a user made with commadmin),
imapd run attached to the test and restarted by it after every kill (no
watcher).  Each kind of operation is killed ROUNDS times at a random
moment:

- APPEND of a large literal (2 MB), killed once the server has read part of
  it (more than the socket buffers hold has been sent), at a random delay;
- APPEND killed right after its tagged OK, and APPEND killed at a random
  moment around its commit (acknowledged only if the OK arrived first);
- UID COPY of a few hundred messages into a new folder, killed at random;
- EXPUNGE of a random half of a folder, killed at random.

Afterwards every APPEND that got a tagged OK is present exactly once (by
Message-ID), nothing is present twice, a COPY is all or nothing, an
EXPUNGE removed only \\Deleted messages, and reconstruct -n finds no
inconsistency.  The schedule is seeded (IMAP_CRASH_SEED, printed on failure).
"""
import collections
import os
import random
import re
import socket
import time

import pytest

from conftest import DOMAIN
from ldap_fixtures import create_ldap_instance
from test_store_crash import consistent
from test_store_tools import deliver
from server_fixtures import StoreServer

PASSWORD = "Crash-Pass-1"
ROUNDS = int(os.environ.get("IMAP_CRASH_ROUNDS", "20"))
SEED = int(os.environ.get("IMAP_CRASH_SEED", str(random.randrange(1 << 30))))


def Imapd(inst):
    return StoreServer(inst, "imapd", "imap")


class Client:
    """A raw IMAP client on the plain port (plaintext login allowed here)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln

    def tag(self):
        self.n += 1
        return f"c{self.n}"

    def wait_tagged(self, tag):
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(tag.encode() + b" "):
                return ln, untagged
            untagged.append(ln)

    def cmd(self, text):
        t = self.tag()
        self.s.sendall(f"{t} {text}\r\n".encode())
        ln, untagged = self.wait_tagged(t)
        assert ln.split()[1] == b"OK", (SEED, text, ln)
        return untagged

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def message(mid, size=0):
    return (f"Message-ID: <{mid}@crash.test>\r\nSubject: {mid}\r\nFrom: a@example.com\r\n"
            f"To: joe@example.com\r\n\r\nbody of {mid}\r\n" + ("x" * 76 + "\r\n") * (size // 78)
            ).encode()


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    root = tmp_path_factory.mktemp("imapcrash")
    inst = create_ldap_instance(root / "instance")
    d = None
    try:
        inst.start()
        inst.imap_port = 143 + inst.offset
        inst.run("set", "imap.port", str(inst.imap_port))
        inst.run("set", "imap.plaintextmincipher", "-1")
        inst.commadmin("user", "create", "-l", "joe", "-d", DOMAIN, "-W", PASSWORD,
                       "-F", "Joe", "-L", "Crash")
        deliver(inst, "joe", message=message("first").decode())
        d = Imapd(inst)
        inst.imapd = d
        yield inst
    finally:
        if d is not None:
            d.kill()
        inst.teardown()


def session(inst, mailbox="INBOX"):
    if inst.imapd.proc is None:
        inst.imapd.start()
    c = Client(inst.imap_port)
    c.cmd(f"LOGIN joe {PASSWORD}")
    if mailbox:
        c.cmd(f"SELECT {mailbox}")
    return c


def kill_after(inst, c, tag, delay):
    """Kill imapd delay seconds from now; the tagged line if it came before."""
    time.sleep(delay)
    inst.imapd.kill()
    c.s.settimeout(2)
    try:
        ln, _ = c.wait_tagged(tag)
    except (socket.timeout, ConnectionError, OSError):
        ln = b""
    c.close()
    return ln


def timed(c, text):
    t0 = time.monotonic()
    c.cmd(text)
    return time.monotonic() - t0


def message_ids(inst, mailbox):
    """Counter of the Message-IDs in mailbox, through a fresh imapd."""
    c = session(inst, None)
    t = c.tag()
    c.s.sendall(f"{t} EXAMINE {mailbox}\r\n".encode())
    ln, _ = c.wait_tagged(t)
    if b" OK" not in ln:
        c.close()
        return None
    t = c.tag()
    c.s.sendall(f"{t} FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n".encode())
    found = collections.Counter()
    flags = {}
    while True:
        ln = c.line()
        if ln.startswith(t.encode() + b" "):
            break
        m = re.search(rb"\{(\d+)\}$", ln)
        if m:
            n = int(m.group(1))
            while len(c.buf) < n:
                c.buf += c.s.recv(65536)
            lit, c.buf = c.buf[:n], c.buf[n:]
            mid = re.search(rb"<([^>]+)@crash\.test>", lit)
            if mid:
                found[mid.group(1).decode()] += 1
                flags[mid.group(1).decode()] = re.search(rb"FLAGS \(([^)]*)\)", ln).group(1)
    c.close()
    return found, flags


def test_kill_during_append(imap):
    rnd = random.Random(SEED)
    acked, maybe, partial = set(), set(), set()
    for r in range(ROUNDS):
        # A large literal, killed after the server has read part of it.
        c = session(imap)
        mid = f"part{r}"
        data = message(mid, 2 * 1024 * 1024)
        t = c.tag()
        c.s.sendall(f"{t} APPEND INBOX {{{len(data)}}}\r\n".encode())
        assert c.line().startswith(b"+"), SEED
        # More than the socket buffers hold, so imapd has read some of it.
        c.s.sendall(data[:rnd.randint(len(data) // 3, len(data) - 100)])
        time.sleep(rnd.uniform(0, 0.01))
        imap.imapd.kill()
        c.close()
        partial.add(mid)

        # Killed right after the tagged OK.
        c = session(imap)
        mid = f"ok{r}"
        data = message(mid, rnd.randrange(0, 300000))
        t = c.tag()
        c.s.sendall(f"{t} APPEND INBOX {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
        ln, _ = c.wait_tagged(t)
        imap.imapd.kill()
        assert b" OK" in ln, (SEED, ln)
        acked.add(mid)
        c.close()

        # Killed at a random moment around the commit.
        c = session(imap)
        mid = f"rnd{r}"
        data = message(mid, rnd.randrange(0, 100000))
        t = c.tag()
        c.s.sendall(f"{t} APPEND INBOX {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
        c.s.settimeout(rnd.uniform(0, 0.006))
        try:
            ln, _ = c.wait_tagged(t)
        except (socket.timeout, ConnectionError):
            ln = b""
        imap.imapd.kill()
        (acked if b" OK" in ln else maybe).add(mid)
        c.close()
    found, _ = message_ids(imap, "INBOX")
    imap.imapd.stop()
    for mid in acked:
        assert found[mid] == 1, f"seed {SEED}: acknowledged {mid} present {found[mid]} times"
    for mid in partial:
        assert found[mid] == 0, f"seed {SEED}: incomplete {mid} present"
    assert all(n == 1 for n in found.values()), f"seed {SEED}: duplicates {found}"
    assert found["first"] == 1
    consistent(imap)
    # The server goes on normally afterwards.
    c = session(imap)
    c.cmd("APPEND INBOX {%d+}\r\n%s" % (len(message("after")), message("after").decode()))
    c.close()
    found, _ = message_ids(imap, "INBOX")
    assert found["after"] == 1 and all(found[m] == 1 for m in acked)
    imap.imapd.stop()


def test_kill_during_copy(imap):
    rnd = random.Random(SEED + 1)
    c = session(imap)
    c.cmd("CREATE Src")
    body = b"".join(b"a1%d APPEND Src {%d+}\r\n%s\r\n" % (i, len(message(f"src{i}")),
                                                          message(f"src{i}"))
                    for i in range(300))
    c.s.sendall(body)
    for i in range(300):
        ln = c.line()
        while not ln.startswith(b"a1"):
            ln = c.line()
        assert b" OK" in ln, ln
    c.close()
    srcs = {f"src{i}" for i in range(300)}
    c = session(imap, "Src")
    c.cmd("CREATE Cal")
    d = timed(c, "UID COPY 1:* Cal")
    c.close()
    outcome = {}
    for r in range(ROUNDS):
        c = session(imap, "Src")
        c.cmd(f"CREATE Dest{r}")
        t = c.tag()
        c.s.sendall(f"{t} UID COPY 1:* Dest{r}\r\n".encode())
        outcome[r] = b" OK" in kill_after(imap, c, t, rnd.uniform(0, 2.5 * d))
    for r, ok in outcome.items():
        found, _ = message_ids(imap, f"Dest{r}")
        if ok:
            assert found == collections.Counter(srcs), f"seed {SEED}: Dest{r} after OK"
        else:
            # All or nothing (RFC 3501 6.4.7), each message at most once.
            assert found in (collections.Counter(), collections.Counter(srcs)), \
                f"seed {SEED}: Dest{r} after a kill: {len(found)} of {len(srcs)}"
    found, _ = message_ids(imap, "Src")
    assert found == collections.Counter(srcs)
    imap.imapd.stop()
    consistent(imap)
    print("copy", d, collections.Counter(outcome.values()))
    assert any(outcome.values()) or ROUNDS < 5, SEED


def test_kill_during_expunge(imap):
    rnd = random.Random(SEED + 2)
    expunged_ok = 0
    c = session(imap, None)
    c.cmd("CREATE XCal")
    c.cmd("SELECT XCal")
    for i in range(60):
        c.cmd("APPEND XCal {%d+}\r\n%s" % (len(message(f"cal{i}")), message(f"cal{i}").decode()))
    c.cmd("STORE 1:30 +FLAGS.SILENT (\\Deleted)")
    d = timed(c, "EXPUNGE")
    c.close()
    for r in range(ROUNDS):
        c = session(imap, None)
        c.cmd(f"CREATE X{r}")
        c.cmd(f"SELECT X{r}")
        mids = [f"x{r}-{i}" for i in range(60)]
        for mid in mids:
            c.cmd("APPEND X%d {%d+}\r\n%s" % (r, len(message(mid)), message(mid).decode()))
        deleted = set(rnd.sample(mids, 30))
        seqs = ",".join(str(mids.index(m) + 1) for m in sorted(deleted))
        c.cmd(f"STORE {seqs} +FLAGS.SILENT (\\Deleted)")
        t = c.tag()
        c.s.sendall(f"{t} EXPUNGE\r\n".encode())
        ln = kill_after(imap, c, t, rnd.uniform(0, 1.0 * d))
        found, flags = message_ids(imap, f"X{r}")
        for mid in mids:
            if mid not in deleted:
                assert found[mid] == 1, f"seed {SEED}: kept {mid} present {found[mid]} times"
            elif b" OK" in ln:
                assert found[mid] == 0, f"seed {SEED}: {mid} still there after EXPUNGE OK"
            else:
                assert found[mid] <= 1 and (found[mid] == 0 or b"\\Deleted" in flags[mid]), SEED
        expunged_ok += b" OK" in ln
        imap.imapd.kill()
    print("expunge", d, expunged_ok)
    imap.imapd.stop()
    consistent(imap)
