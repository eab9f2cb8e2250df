"""kill -9 of the MTA's processes under load, with the whole server running
under the watcher (issue 8; system_fixtures.System, started by start-msg).

SENDERS concurrent SMTP clients send MESSAGES small messages in all, each
tagged with a unique Subject and Message-ID, to three local users through
the dispatcher's SMTP port.  Meanwhile a killer sends SIGKILL, at random
moments, to a random one of: a tcp_smtp_server process (the dispatcher
starts another), the job controller (the watcher restarts it; when the
watcher gives up by its rule, twice within base.autorestart.timeout, the
test runs `start-msg job_controller` as an administrator would), a
running channel program (mta_deliver, found by name in /proc) and, once,
the dispatcher itself (the watcher restarts it; its server processes must
release the ports).  A client retries, on a new connection, every message
that did not get its 250.

At the end every message that got a 250 must be in the store at least
once (read back with IMAP); duplicates (a 250 lost with the process that
sent it, then the client's retry; or a delivery killed after the store
had it) are counted and printed, and the queue must be empty once the
job controller has settled.
"""
import os
import random
import re
import signal
import smtplib
import threading
import time

import pytest

from conftest import DOMAIN, wait_until
from system_fixtures import System
from watcher_fixtures import alive

PASSWORD = "Crash-Pass-1"
SENDERS = 5
MESSAGES = 500
PACE = 0.15  # seconds between two messages of a sender: a load of about 15 s
USERS = ("joe", "ann", "kim")


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    s = System(root, USERS, PASSWORD, settings=(
        "set dispatcher.service:SMTP.min_procs 3",
        "set job_controller.rescan 5",
        "set channel:ims-ms.backoff pt1s"))
    try:
        s.start()
        yield s
    finally:
        s.teardown()


class Load:
    def __init__(self, s):
        self.s = s
        self.accepted = {}  # subject -> user
        self.tries = 0
        self.failures = 0
        self.lock = threading.Lock()
        self.errors = []

    def message(self, subject, user):
        return (f"From: ann@{DOMAIN}\r\nTo: {user}@{DOMAIN}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject}@crash.test>\r\n\r\n" + "z" * 60 + "\r\nend\r\n")

    def sender(self, idx, count, deadline):
        c = None
        i = 0
        while i < count:
            if time.monotonic() > deadline:
                self.errors.append(f"sender {idx}: out of time at message {i}")
                return
            subject = f"crash-{idx}-{i}"
            user = USERS[i % len(USERS)]
            with self.lock:
                self.tries += 1
            try:
                if c is None:
                    c = smtplib.SMTP("127.0.0.1", self.s.port_smtp, timeout=20)
                    c.ehlo("load.example.com")
                c.mail(f"ann@{DOMAIN}")
                code, _ = c.rcpt(f"{user}@{DOMAIN}")
                if code == 250:
                    code, _ = c.data(self.message(subject, user))
                if code == 250:
                    with self.lock:
                        self.accepted[subject] = user
                    i += 1
                    time.sleep(PACE)
                    continue
                c.rset()
            except (OSError, smtplib.SMTPException):
                if c is not None:
                    c.close()
                c = None
            with self.lock:
                self.failures += 1
            time.sleep(0.05)  # a client's pause before it tries again
        if c is not None:
            try:
                c.quit()
            except (OSError, smtplib.SMTPException):
                c.close()


class Killer:
    def __init__(self, s):
        self.s = s
        self.stop = threading.Event()
        self.kills = {"tcp_smtp_server": 0, "job_controller": 0, "mta_deliver": 0,
                      "dispatcher": 0}
        self.admin_starts = 0
        self.rng = random.Random()
        self.errors = []

    def kill(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
            return True
        except ProcessLookupError:
            return False

    def service(self, name):
        """kill -9 of a service of the watcher, and wait for its restart."""
        old = self.s.pid(name)
        if not old or not alive(old) or not self.kill(old):
            return
        self.kills[name] += 1
        log_at = len(self.s.log("watcher"))

        def restarted():
            p = self.s.pid(name)
            if p and p != old and alive(p):
                return "restarted"
            if "not restarted" in self.s.log("watcher")[log_at:]:
                return "gave up"
            return None
        what = wait_until(restarted, timeout=20, what=f"the restart of {name}")
        if what == "gave up":  # the give-up rule: the administrator starts it
            self.s.start_msg(name)
            self.admin_starts += 1

    def run(self):
        try:
            while not self.stop.wait(self.rng.uniform(0.1, 0.8)):
                target = self.rng.choice(("tcp_smtp_server", "tcp_smtp_server",
                                          "mta_deliver", "mta_deliver", "job_controller",
                                          "dispatcher"))
                if target in ("job_controller", "dispatcher"):
                    if self.kills[target] < (3 if target == "job_controller" else 1):
                        self.service(target)
                    continue
                # the SMTP service's processes (the load's), keeping one
                # serving: the dispatcher throttles quick deaths
                pids = self.s.procs(target, "SMTP" if target == "tcp_smtp_server" else None)
                if target == "tcp_smtp_server" and len(pids) < 2:
                    continue
                if pids and self.kill(self.rng.choice(pids)):
                    self.kills[target] += 1
        except BaseException as e:  # reported by the test
            self.errors.append(repr(e))


def test_kill9_under_load(system):
    t0 = time.monotonic()
    load, killer = Load(system), Killer(system)
    deadline = t0 + 60
    per = MESSAGES // SENDERS
    threads = [threading.Thread(target=load.sender, args=(i, per, deadline))
               for i in range(SENDERS)]
    kt = threading.Thread(target=killer.run)
    kt.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    killer.stop.set()
    kt.join()
    sent_at = time.monotonic()
    assert not load.errors, load.errors
    assert not killer.errors, killer.errors
    assert len(load.accepted) == MESSAGES
    # the job controller settles: every copy delivered, the queue empty
    jc = wait_until(lambda: (lambda p: p if p and alive(p) else None)(
        system.pid("job_controller")), timeout=20, what="a running job controller")
    wait_until(lambda: not system.queue_files(), timeout=60, interval=0.2,
               what="an empty queue")
    drained = time.monotonic()
    counts, ids = {}, {}
    for user in USERS:
        for subj, qid in system.headers(user):
            if subj.startswith("crash-"):
                counts[subj] = counts.get(subj, 0) + 1
                ids.setdefault(subj, []).append(qid)
    missing = sorted(s for s in load.accepted if s not in counts)
    extra = sorted(s for s in counts if s not in load.accepted)
    dups = {s: n - 1 for s, n in counts.items() if n > 1}
    assert all(ids[s].count(None) == 0 for s in counts), "our Received: line names the queue id"
    # a copy with the queue id of another copy was delivered twice (a job
    # killed between the store and the queue); a new id is the client's
    # retry after a 250 that did not reach it
    twice = sum(len(ids[s]) - len(set(ids[s])) for s in dups)
    print(f"\ncrash test: {MESSAGES} messages by {SENDERS} senders, {load.tries} tries "
          f"({load.failures} failed and retried); kill -9: {killer.kills} "
          f"(start-msg after the watcher gave up: {killer.admin_starts}); "
          f"sending took {sent_at - t0:.1f} s, the queue drained "
          f"{drained - sent_at:.1f} s later; in the store: {len(counts)} distinct, "
          f"{sum(dups.values())} duplicate copies of {len(dups)} messages ({twice} delivered "
          f"twice from one queue file, {sum(dups.values()) - twice} sent again by the client "
          f"after a lost 250); "
          f"job controller {jc}")
    assert missing == [], f"accepted but not in the store: {missing}"
    assert extra == [], f"in the store but never sent: {extra}"
    assert sum(killer.kills.values()) >= 5, killer.kills
    assert killer.kills["tcp_smtp_server"] and killer.kills["job_controller"]
    assert not re.search(r"Address already in use", system.log("dispatcher.log"))
    bad = [p for p in (system.root / "data" / "queue").glob("*/.bad/*")]
    assert bad == [], bad
    # the services are still there and serve
    for svc in ("dispatcher", "store", "imap"):
        assert alive(system.pid(svc)), svc
    # the dispatcher is back to min_procs (after its back-off for quick deaths)
    wait_until(lambda: len(system.procs("tcp_smtp_server", "SMTP")) >= 3
               and system.procs("tcp_smtp_server", "SMTP_SUBMIT"), timeout=40,
               interval=0.2, what="three SMTP and one SMTP_SUBMIT server processes again")
    assert re.search(r"service SMTP: process \d+ exited \(signal 9\)",
                     system.log("dispatcher.log"))
    assert re.search(r"Watched 'job_controller' process \d+ exited abnormally",
                     system.log("watcher"))
