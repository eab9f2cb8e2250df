"""More supervision tests (issue 5, "Checked by"): a refreshable option
applied on a live worker that holds an open TCP connection across the
refresh.  The worker is the test-only service program tests/svc/ms_testsvc.c
(built as build/tests/ms_testsvc), supervised under the name mshttpd (the
service http, which reads base.proxyadmin): it loads the compiled
configuration with ms_reload, re-reads it on SIGHUP, and answers
"GET OPTION" with the value it has in effect."""
import os
import re
import socket
import time

import pytest

from conftest import BUILD, create_instance, wait_until
from watcher_fixtures import Supervised, alive, write_stubs

TESTSVC = BUILD / "tests" / "ms_testsvc"


@pytest.fixture
def live_http(tmp_path):
    """Stub store family, with ms_testsvc as mshttpd; everything started."""
    inst = create_instance(tmp_path / "instance")
    stubs = write_stubs(tmp_path / "stubs")
    (stubs / "mshttpd").unlink()
    (stubs / "mshttpd").symlink_to(TESTSVC)
    sup = Supervised(inst, stubs)
    inst.script("set ens.enable 0\nset mta.enable 0\nset schedule.enable 0\n"
                "set store.purge.enable 0\nwrite -m 'http only'\n")
    try:
        sup.start_msg()
        port = int(inst.compiled_values()["http.port"][0])
        wait_until(lambda: sup.pid("http") and alive(sup.pid("http")), what="http running")
        yield sup, port
    finally:
        sup.stop_all()
        inst.kill_all()


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def ask(self, line):
        self.sock.sendall(line.encode() + b"\n")
        ans = self.f.readline().decode().strip()
        assert ans, f"connection closed answering {line!r}"
        return ans

    def value(self, name):
        m = re.fullmatch(rf"VALUE {re.escape(name)}=(\S*) gen=(\d+)", self.ask(f"GET {name}"))
        assert m
        return m.group(1), int(m.group(2))

    def close(self):
        self.f.close()
        self.sock.close()


def test_refresh_keeps_connections_and_applies_value(live_http):
    sup, port = live_http
    pid = sup.pid("http")
    c = Client(port)
    try:
        assert c.ask("PING").startswith(f"PONG pid={pid} ")
        old, gen = c.value("base.proxyadmin")
        assert old != "refreshed-admin"
        t0 = time.monotonic()
        cp = sup.set_option("base.proxyadmin", "refreshed-admin")
        assert f"watcher: Refreshing http server {pid} .... done" in cp.stdout, cp.stdout
        # The same connection, still open, sees the new value in effect.
        got = wait_until(lambda: (lambda v: v if v[0] == "refreshed-admin" else None)(
            c.value("base.proxyadmin")), timeout=5, what="the refreshed value in the worker")
        elapsed = time.monotonic() - t0
        print(f"\nmsconfig set -> new value in effect in the worker: {elapsed * 1000:.0f} ms")
        assert got[1] > gen
        assert c.ask("PING") == f"PONG pid={pid} gen={got[1]}"
        # Not restarted: the same process, and a new connection agrees.
        assert sup.pid("http") == pid and alive(pid)
        c2 = Client(port)
        assert c2.value("base.proxyadmin") == got
        c2.close()
        # An option the worker does not read: no refresh, the value stays put.
        cp = sup.set_option("schedule.task:expire.crontab", "0 22 * * * bin/imexpire")
        assert "Refreshing http" not in cp.stdout, cp.stdout
        assert c.value("base.proxyadmin") == got
    finally:
        c.close()


def test_kill9_of_worker_answers_again(live_http):
    """kill -9 of a supervised worker: a new one answers on its port within 2 s."""
    sup, port = live_http
    old = sup.pid("http")
    t0 = time.monotonic()
    os.kill(old, 9)

    def answers():
        try:
            c = Client(port)
        except OSError:
            return None
        try:
            ans = c.ask("PING")
        except (OSError, AssertionError):
            return None
        finally:
            c.close()
        return ans if not ans.startswith(f"PONG pid={old} ") else None

    ans = wait_until(answers, timeout=2.0, what="a new http worker answering")
    assert time.monotonic() - t0 < 2.0
    new = int(re.match(r"PONG pid=(\d+)", ans).group(1))
    assert new != old and sup.pid("http") == new
    sup.wait_log(rf"^Watched 'mshttpd' process {old} exited abnormally$")


def test_control_port_refuses_non_loopback_and_keyless(live_http):
    """The watcher's control port: bound to 127.0.0.1 only (checked in
    /proc/net/tcp, and by connecting to a non-loopback address of this
    host), and a loopback client must send the key first."""
    from watcher_fixtures import ctl_frame, ctl_read
    sup, _ = live_http
    port = int(sup.inst.compiled_values()["watcher.port"][0])
    # Every listening socket on that port is bound to 127.0.0.1.
    binds = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":  # LISTEN
                binds.append(addr)
    assert binds == ["0100007F"], binds  # 127.0.0.1, nothing else
    # A connection to a non-loopback address is refused.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet sent: picks the outgoing address
        addr = s.getsockname()[0]
    except OSError:
        addr = None
    finally:
        s.close()
    if addr and not addr.startswith("127."):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((addr, port), timeout=2)
    # Loopback without the key: a request gets the connection closed, no answer.
    for first in (ctl_frame("status"), ctl_frame("stop"), ctl_frame("hello", "x" * 64)):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(first + ctl_frame("ping"))
        msg = ctl_read(s)
        assert msg is None or msg == ("done", ["77", "wrong key"]), msg
        if msg is not None:
            assert ctl_read(s) is None
        s.close()
    assert sup.pid("http") and alive(sup.pid("watcher"))


def test_stop_msg_with_open_connection_leaves_nothing(live_http):
    """stop-msg while a client holds a connection to a worker: the worker
    goes, the client sees the connection closed, and no process of the
    instance is left (checked by SERVERROOT in /proc/*/environ)."""
    sup, port = live_http
    c = Client(port)
    assert c.ask("PING").startswith("PONG")
    pids = {n: sup.pid(n) for n in ("watcher", "store", "imap", "pop", "http")}
    assert all(pids.values()), pids
    cp = sup.stop_msg(check=0)
    assert cp.stdout.splitlines()[-1] == f"Stopping watcher {pids['watcher']} .... done"
    assert c.f.readline() == b""  # closed by the worker's exit
    c.close()
    for name, pid in pids.items():
        assert not alive(pid), name
    assert [p for p in sup.inst.pids() if alive(p)] == []
    assert list(sup.run_dir.iterdir()) == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
