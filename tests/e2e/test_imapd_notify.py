"""IDLE push: imapd hears of changes through stored's relay (docs/store.md
"IDLE notifications").

One instance for the module (its own slapd, users made with commadmin),
stored, imapd with imap.numprocesses 2 and popd, all attached to the test.
imapd runs with MS_IMAP_IDLE_POLL_MS=60000, so within these tests a
session can only hear of a change through the relay (the fallback poll
would take a minute); the poll itself is tested with its own imapd.
"""
import poplib
import re
import select
import signal
import socket
import statistics
import subprocess
import time

import pytest

from conftest import DOMAIN, wait_until
from ldap_fixtures import create_ldap_instance
from server_fixtures import StoreServer
from test_stored import Stored
from test_store_tools import deliver

PASSWORD = "Notify-Pass-1"
NO_POLL = {"MS_IMAP_IDLE_POLL_MS": "60000"}


def msg(n):
    return (f"Message-ID: <{n}@notify.test>\nSubject: {n}\nFrom: a@example.com\n"
            f"To: ann@example.com\n\nbody of {n}\n")


class Client:
    """A raw IMAP client on the plain port (plaintext login allowed here)."""

    def __init__(self, port, user="ann", password=PASSWORD):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        assert self.line().startswith("* OK")
        self.cmd(f"LOGIN {user} {password}")

    def line(self, timeout=10):
        while b"\r\n" not in self.buf:
            self.s.settimeout(timeout)
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln.decode()

    def quiet(self, seconds):
        """Nothing arrives within seconds."""
        if self.buf:
            return False
        return not select.select([self.s], [], [], seconds)[0]

    def cmd(self, text):
        self.n += 1
        tag = f"t{self.n}"
        self.s.sendall(f"{tag} {text}\r\n".encode())
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(tag + " "):
                assert ln.split()[1] == "OK", (text, ln)
                return untagged
            untagged.append(ln)

    def select(self, mailbox="INBOX"):
        untagged = self.cmd(f"SELECT {mailbox}")
        return int(next(u.split()[1] for u in untagged if u.endswith(" EXISTS")))

    def idle(self):
        self.n += 1
        self.idle_tag = f"t{self.n}"
        self.s.sendall(f"{self.idle_tag} IDLE\r\n".encode())
        assert self.line().startswith("+ ")

    def done(self):
        self.s.sendall(b"DONE\r\n")
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith(self.idle_tag + " "):
                assert " OK " in ln, ln
                return untagged
            untagged.append(ln)

    def append(self, mailbox, text):
        data = text.replace("\n", "\r\n")
        return self.cmd("APPEND %s {%d+}\r\n%s" % (mailbox, len(data), data))

    def close(self):
        self.s.close()


def stop_all(servers):
    """SIGTERM each server (a clean exit expected); kill -9 what is left
    when that fails, so nothing outlives the module."""
    failed = None
    for s in reversed(servers):
        try:
            s.stop()
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            failed = failed or e
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
    if failed is not None:
        raise failed


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    root = tmp_path_factory.mktemp("notify")
    inst = create_ldap_instance(root / "instance")
    servers = []
    try:
        inst.start()
        inst.imap_port = 143 + inst.offset
        inst.pop_port = 110 + inst.offset
        for name, value in (("imap.port", inst.imap_port), ("imap.plaintextmincipher", -1),
                            ("imap.numprocesses", 2), ("pop.port", inst.pop_port),
                            ("pop.plaintextmincipher", -1),
                            ("imap.logfile.loglevel", "Information")):
            inst.run("set", name, str(value))
        for uid in ("ann", "bob", "cy"):
            inst.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD,
                           "-F", uid, "-L", "Notify")
            deliver(inst, uid, message=msg(f"first-{uid}"))
        inst.stored = Stored(inst)
        inst.stored.start()
        servers.append(inst.stored)
        inst.imapd = StoreServer(inst, "imapd", "imap", NO_POLL)
        inst.imapd.start()
        servers.append(inst.imapd)
        inst.popd = StoreServer(inst, "popd", "pop")
        inst.popd.start()
        servers.append(inst.popd)
        yield inst
    finally:
        try:
            stop_all(servers)
        finally:
            inst.teardown()


def relay_on(inst, count=1):
    """imapd's processes logged that the relay is up (count times)."""
    wait_until(lambda: inst.imapd.log_text().count("change notifications from stored are on")
               >= count, timeout=10, what="the relay up in imapd")


def test_deliver_wakes_idle_at_once(inst):
    relay_on(inst, 2)  # both processes of imap.numprocesses 2
    sessions = [Client(inst.imap_port) for _ in range(6)]  # spread over both processes
    for c in sessions:
        n = c.select()
        c.idle()
    times = []
    for i in range(8):
        deliver(inst, "ann", message=msg(f"idle{i}"))
        t0 = time.monotonic()
        n += 1
        for c in sessions:
            assert c.line(timeout=5) == f"* {n} EXISTS"
        times.append(time.monotonic() - t0)
    # the sessions of another user hear nothing of it
    other = Client(inst.imap_port, "bob")
    other.select()
    other.idle()
    deliver(inst, "ann", message=msg("not-bob"))
    n += 1
    for c in sessions:
        assert c.line(timeout=5) == f"* {n} EXISTS"
    assert other.quiet(0.3)
    deliver(inst, "bob", message=msg("bob"))
    assert other.line(timeout=5) == "* 2 EXISTS"
    for c in sessions + [other]:
        c.done()
        c.close()
    # the relay, not the minute-long poll: well under a second each
    assert max(times) < 2.0 and statistics.median(times) < 0.5, times


def test_every_change_wakes_idle(inst):
    """APPEND, STORE, COPY, MOVE, EXPUNGE (imapd) and DELE+QUIT (popd) made
    elsewhere reach an idling session through the relay."""
    watcher = Client(inst.imap_port, "cy")
    n = watcher.select()
    actor = Client(inst.imap_port, "cy")
    actor.cmd("CREATE Other")
    actor.append("Other", msg("in-other"))
    watcher.idle()

    actor.append("INBOX", msg("appended"))
    n += 1
    assert watcher.line() == f"* {n} EXISTS"

    actor.select("INBOX")
    actor.cmd(f"STORE {n} +FLAGS.SILENT (\\Flagged)")
    ln = watcher.line()
    assert re.fullmatch(rf"\* {n} FETCH \(.*FLAGS \(\\Flagged\).*\)", ln), ln

    actor.select("Other")
    actor.cmd("COPY 1 INBOX")
    n += 1
    assert watcher.line() == f"* {n} EXISTS"

    actor.select("INBOX")
    actor.cmd(f"MOVE {n} Other")
    assert watcher.line() == f"* {n} EXPUNGE"
    n -= 1

    actor.cmd(f"STORE {n} +FLAGS.SILENT (\\Deleted)")
    ln = watcher.line()
    assert ln.startswith(f"* {n} FETCH"), ln
    actor.cmd("EXPUNGE")
    assert watcher.line() == f"* {n} EXPUNGE"
    n -= 1
    actor.cmd("LOGOUT")
    actor.close()

    deliver(inst, "cy", message=msg("deliver"))
    n += 1
    assert watcher.line() == f"* {n} EXISTS"

    p = poplib.POP3("127.0.0.1", inst.pop_port, timeout=10)
    p.user("cy")
    p.pass_(PASSWORD)
    p.dele(1)
    p.quit()
    ln = watcher.line()
    if ln.startswith("* 1 FETCH"):  # popd may commit the \\Deleted mark first
        ln = watcher.line()
    assert ln == "* 1 EXPUNGE"
    assert watcher.done() == []
    watcher.close()


def test_exists_between_commands(inst):
    """A selected session that is not idling hears of new messages (EXISTS)
    between commands, but of expunges only with its next command."""
    c = Client(inst.imap_port, "bob")
    n = c.select()
    deliver(inst, "bob", message=msg("between"))
    n += 1
    assert c.line() == f"* {n} EXISTS"
    assert c.cmd("NOOP") == []  # reported once, no flags echo
    other = Client(inst.imap_port, "bob")
    other.select()
    other.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd("EXPUNGE")
    assert c.quiet(0.4)  # RFC 3501 7.4.1: no EXPUNGE while no command is in progress
    assert "* 1 EXPUNGE" in c.cmd("NOOP")
    other.close()
    c.close()


def test_stored_restart(inst):
    """kill -9 of stored: a delivery made while it is down reaches the IDLE
    session once stored is back (the relay reconnects and looks), and the
    next one is pushed again."""
    c = Client(inst.imap_port)
    n = c.select()
    c.idle()
    inst.stored.proc.send_signal(signal.SIGKILL)
    inst.stored.proc.wait()
    wait_until(lambda: "notifications from stored are off" in inst.imapd.log_text(),
               timeout=10, what="imapd noticing that stored is gone")
    deliver(inst, "ann", message=msg("while-down"))
    n += 1
    assert c.quiet(0.5)  # no relay, and the poll is a minute here
    before = inst.imapd.log_text().count("change notifications from stored are on")
    inst.stored.start()
    relay_on(inst, before + 2)
    assert c.line(timeout=5) == f"* {n} EXISTS"
    deliver(inst, "ann", message=msg("after-restart"))
    n += 1
    assert c.line(timeout=5) == f"* {n} EXISTS"
    c.done()
    c.close()


def test_poll_while_stored_is_down(inst):
    """Without stored, an idling session falls back to polling."""
    imapd = StoreServer(inst, "imapd", "imap", {"MS_IMAP_IDLE_POLL_MS": "100"})
    inst.imapd.stop()
    inst.stored.stop()
    try:
        imapd.start()
        c = Client(inst.imap_port)
        n = c.select()
        c.idle()
        deliver(inst, "ann", message=msg("polled"))
        assert c.line(timeout=5) == f"* {n + 1} EXISTS"
        c.done()
        c.close()
    finally:
        imapd.stop()
        inst.stored.start()
        inst.imapd.start()
