"""stored end to end (docs/man/stored.8, docs/store.md "stored").

stored runs on a fresh instance made by init-config: its readiness line in
data/log/store, recovery at start of what a killed `deliver` left
(MS_TEST_CRASHPOINT), change notifications relayed to a subscriber of
data/run/stored.sock, SIGTERM exit 0; and under the watcher: `start-msg
store`, `start-msg --status`, kill -9 and the restart.
"""
import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, create_instance, wait_until
from test_store_tools import deliver
from watcher_fixtures import Supervised, alive

STORED = BUILD / "workers" / "store" / "stored"
READY = re.compile(r"stored\[(\d+)\]: .*store \S+ ready \(pid (\d+)\)")


class Stored:
    def __init__(self, inst):
        self.inst = inst
        self.log = inst.root / "data" / "log" / "store"
        self.proc = None

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""

    def start(self):
        before = len(READY.findall(self.log_text()))
        self.proc = subprocess.Popen([str(STORED)], env=self.inst.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        wait_until(lambda: len(READY.findall(self.log_text())) > before
                   or self.proc.poll() is not None, timeout=15, what="stored's readiness line")
        assert self.proc.poll() is None, self.proc.stderr.read()
        return READY.findall(self.log_text())[-1]

    def stop(self):
        if self.proc is None:
            return None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def stored(tmp_path):
    inst = create_instance(tmp_path / "instance")
    d = Stored(inst)
    yield d
    d.stop()
    inst.kill_all()


def subscribe(inst, userid):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(inst.root / "data" / "run" / "stored.sock"))
    s.settimeout(5)
    s.sendall(userid.encode() + b"\n")
    f = s.makefile("rb")
    assert f.readline() == f"OK {userid}\n".encode()
    return s, f


def test_ready_notify_and_sigterm(stored):
    inst = stored.inst
    deliver(inst, "joe", check=0)  # the users exist before any subscription
    deliver(inst, "mary", check=0)
    logged_pid, line_pid = stored.start()
    assert int(logged_pid) == int(line_pid) == stored.proc.pid
    assert (inst.root / "data" / "run" / "stored.notify").exists()
    joe, joe_f = subscribe(inst, "joe")
    mary, _ = subscribe(inst, "mary")
    t0 = time.monotonic()
    deliver(inst, "joe", check=0)
    joe.settimeout(1.0)
    line = joe_f.readline().decode()
    assert time.monotonic() - t0 < 1.5
    assert re.fullmatch(r"APPEND joe \d+ \d+ \d+ \d+\n", line), line
    # nothing for another user: no byte becomes readable within 200 ms
    readable, _, _ = select.select([mary], [], [], 0.2)
    assert readable == []
    # a bad user id is refused and the connection stays usable
    joe.sendall(b"\n")
    assert joe_f.readline() == b"ERR bad user id\n"
    joe.close()
    mary.close()
    assert stored.stop() == 0
    assert "shutting down" in stored.log_text()
    assert not (inst.root / "data" / "run" / "stored.sock").exists()


def test_recovery_at_start(stored):
    inst = stored.inst
    deliver(inst, "joe", check=0)
    cp = deliver(inst, "joe", env={"MS_TEST_CRASHPOINT": "append-after-link"},
                 check=-signal.SIGKILL)
    assert cp.returncode == -signal.SIGKILL
    stage = inst.root / "data" / "store" / "partition" / "primary" / "=stage"
    assert list(stage.glob("*.tmp"))
    stored.start()
    log = stored.log_text()
    assert re.search(r"recovery: .*=stage/.*\.tmp: .*\(removed\)", log), log
    assert re.search(r"recovery: leftover user/joe/INBOX: .*UID 2.*\(repaired\)", log), log
    assert re.search(r"recovery: 1 partition leftovers removed; 1 users checked, 1 leftovers, "
                     r"0 problems", log), log
    assert not list(stage.glob("*.tmp"))
    assert stored.stop() == 0


def test_maintenance_timer(stored):
    inst = stored.inst
    inst.env["MS_STORED_MAINT_MS"] = "100"
    inst.run("set", "base.logfile.loglevel", "Information")
    deliver(inst, "joe", check=0)
    stored.start()
    wait_until(lambda: "maintenance: 0 expunged message files removed" in stored.log_text(),
               timeout=5, what="a maintenance run")
    assert stored.stop() == 0


@pytest.fixture
def supervised_store(tmp_path):
    inst = create_instance(tmp_path / "instance")
    sup = Supervised(inst, None)
    sup.env["MS_PROGPATH"] = str(BUILD / "workers" / "store") + ":" + sup.env["MS_PROGPATH"]
    yield sup
    sup.stop_all()
    inst.kill_all()


def test_under_the_watcher(supervised_store):
    sup = supervised_store
    cp = sup.start_msg("store", check=0)
    assert "ready" in cp.stdout, cp.stdout
    pid = sup.pid("store")
    assert pid and alive(pid)
    st = sup.start_msg("--status", check=0).stdout
    assert re.search(rf"store\b.*running.*\b{pid}\b", st), st
    assert READY.search((sup.root / "data" / "log" / "store").read_text())
    os.kill(pid, signal.SIGKILL)
    new = sup.wait_new_pid("store", pid, timeout=15)
    wait_until(lambda: f"ready (pid {new})" in (sup.root / "data" / "log" / "store").read_text(),
               timeout=15, what="the new stored's readiness line")
    st = sup.start_msg("--status", check=0).stdout
    assert re.search(rf"store\b.*running.*\b{new}\b", st), st
