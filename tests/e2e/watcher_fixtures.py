"""
Fixtures of the supervision tests (watcher, start-msg, stop-msg, imsched,
msprobe): a throwaway instance (conftest's init-config --port-offset N)
whose programs come from the build tree through MS_PROGPATH.

The real programs that exist are used: the watcher, imsched, msprobe,
start-msg, stop-msg, refresh and msconfig.  The store family's servers do
not exist yet, so `stub_services` writes a small test-only service
program under the names the service table gives them (stored, imapd,
popd, mshttpd, impurge): it reports ready on MS_READY_FD as every server
must, notes each SIGHUP in a file, and exits on SIGTERM.  Those stubs are
only there to be supervised; nothing tests what they serve.

No sleeps: every wait is wait_until (a bounded poll on a log line, a file
or a process), and whatever a test starts is stopped at teardown: by
stop-msg, then by PID (conftest's Instance.kill_all).
"""
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import BUILD, create_instance, run_prog, wait_until

WATCHER_DIR = BUILD / "workers" / "watcher"
START_MSG = WATCHER_DIR / "start-msg"
STOP_MSG = WATCHER_DIR / "stop-msg"
REFRESH = WATCHER_DIR / "refresh"
MSPROBE = WATCHER_DIR / "msprobe"
IMSCHED = WATCHER_DIR / "imsched"

STUB_NAMES = ("stored", "impurge", "imapd", "popd", "mshttpd")

STUB = f"""#!{sys.executable}
# Test-only service (tests/e2e/watcher_fixtures.py): ready, then wait.
import os, signal, sys
name = os.path.basename(sys.argv[0])
root = os.environ["SERVERROOT"]
if os.path.exists(os.path.join(root, "stub-fail-" + name)):
    sys.exit(3)
def hup(*a):
    with open(os.path.join(root, "data", "log", name + ".hup"), "a") as f:
        f.write("hup\\n")
signal.signal(signal.SIGHUP, hup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
fd = os.environ.get("MS_READY_FD")
if fd:
    os.write(int(fd), b"READY\\n")
    os.close(int(fd))
while True:
    signal.pause()
"""

# The control protocol (include/ms/ctl.h), for tests that speak it directly.
CTL = {"hello": 1, "ping": 2, "status": 3, "start": 4, "stop": 5, "restart": 6,
       "refresh": 7, "config_changed": 8, "hung": 9, "attach": 10, "detach": 11,
       "run": 12, "line": 13, "service": 14, "done": 15}


def ctl_frame(kind, *args):
    body = struct.pack(">BBH", 1, CTL[kind], len(args))
    for a in args:
        b = a.encode()
        body += struct.pack(">H", len(b)) + b
    return struct.pack(">I", len(body)) + body


def ctl_read(sock, timeout=10.0):
    """One message: (type name, [args]); None when the peer closed."""
    sock.settimeout(timeout)
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            return None
        data += chunk
    (length,) = struct.unpack(">I", data)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    _, t, n = struct.unpack(">BBH", body[:4])
    off, args = 4, []
    for _ in range(n):
        (alen,) = struct.unpack(">H", body[off:off + 2])
        args.append(body[off + 2:off + 2 + alen].decode())
        off += 2 + alen
    name = {v: k for k, v in CTL.items()}[t]
    return name, args


class Supervised:
    """An instance with the watcher family's programs at hand."""

    def __init__(self, inst, stubdir):
        self.inst = inst
        self.root = inst.root
        self.env = dict(inst.env)
        path = [str(WATCHER_DIR), str(BUILD / "msconfig")]
        if stubdir is not None:
            path.insert(0, str(stubdir))
        self.env["MS_PROGPATH"] = ":".join(path)
        inst.env = self.env  # msconfig runs with the same environment

    # -- files
    @property
    def run_dir(self):
        return self.root / "data" / "run"

    @property
    def watcher_log_path(self):
        return self.root / "data" / "log" / "watcher"

    @property
    def default_log_path(self):
        return self.root / "data" / "log" / "default"

    def watcher_log(self):
        p = self.watcher_log_path
        return p.read_text() if p.exists() else ""

    def default_log(self):
        p = self.default_log_path
        return p.read_text() if p.exists() else ""

    def pid(self, service):
        p = self.run_dir / f"{service}.pid"
        try:
            return int(p.read_text().strip())
        except (OSError, ValueError):
            return None

    def wait_log(self, pattern, timeout=10.0, log="watcher", after=0):
        """Wait for a regex in a log (from character offset after); the match."""
        reader = self.watcher_log if log == "watcher" else self.default_log
        rx = re.compile(pattern, re.M)
        return wait_until(lambda: rx.search(reader(), after), timeout=timeout,
                          what=f"/{pattern}/ in the {log} log")

    def wait_new_pid(self, service, old, timeout=10.0):
        return wait_until(lambda: (lambda p: p if p and p != old and alive(p) else None)(
            self.pid(service)), timeout=timeout, what=f"a new {service} pid")

    def set_option(self, name, value):
        return self.inst.run("set", name, value)

    # -- programs
    def _run(self, prog, *args, check=None, timeout=60):
        cp = run_prog(prog, args, self.env, check=False, timeout=timeout)
        if check is not None and cp.returncode != check:
            pytest.fail(f"{prog.name} {' '.join(map(str, args))} exited {cp.returncode}, "
                        f"wanted {check}\nstdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
        return cp

    def start_msg(self, *args, check=None):
        return self._run(START_MSG, *args, check=check)

    def stop_msg(self, *args, check=None):
        return self._run(STOP_MSG, *args, check=check)

    def refresh(self, *args, check=None):
        return self._run(REFRESH, *args, check=check)

    def msprobe(self, *args, check=None):
        return self._run(MSPROBE, *args, check=check)

    def imsched(self, *args, check=None):
        return self._run(IMSCHED, *args, check=check)

    def control_socket(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(self.run_dir / "watcher.sock"))
        return s

    def stop_all(self):
        wpid = self.pid("watcher")
        if wpid and alive(wpid):
            run_prog(STOP_MSG, [], self.env, check=False, timeout=60)


def alive(pid):
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


def write_stubs(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for name in STUB_NAMES:
        p = directory / name
        p.write_text(STUB)
        p.chmod(0o755)
    return directory


@pytest.fixture
def supervised(tmp_path):
    """An instance with stub store-family servers; nothing started yet."""
    inst = create_instance(tmp_path / "instance")
    sup = Supervised(inst, write_stubs(tmp_path / "stubs"))
    yield sup
    sup.stop_all()
    inst.kill_all()


@pytest.fixture
def sched_only(tmp_path):
    """An instance where only real programs run: store, mta, ens and http off."""
    inst = create_instance(tmp_path / "instance")
    sup = Supervised(inst, None)
    script = "".join(f"set {o} 0\n" for o in (
        "store.enable", "store.purge.enable", "imap.enable", "pop.enable", "http.enable",
        "mta.enable", "ens.enable")) + "write -m 'scheduler only'\n"
    inst.script(script)
    yield sup
    sup.stop_all()
    inst.kill_all()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def lines_of(text, *prefixes):
    """The lines of text that start with one of prefixes, in order."""
    return [ln for ln in text.splitlines() if ln.startswith(prefixes)]


STOPPED_SIGNAL = signal.SIGSTOP
