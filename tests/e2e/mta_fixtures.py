"""The dispatcher as the MTA tests run it: started the way the watcher starts
it (attached, with the instance's environment), its server processes found
in /proc, refreshed with SIGHUP, and stopped by PID with its children.
"""
import os
import re
import signal
import subprocess

from conftest import BUILD, wait_until

DISPATCHER = BUILD / "workers" / "mta" / "dispatcher"


def _stat(pid):
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return st[0], int(st[1])


class Dispatcher:
    """env: variables added to the instance's (test overrides such as
    MS_SMTP_IDLE_MS); strict: stop() asserts a clean exit."""

    def __init__(self, inst, env=None, strict=False):
        self.inst = inst
        self.extra_env = dict(env or {})
        self.strict = strict
        self.log = inst.root / "data" / "log" / "dispatcher.log"
        self.proc = None

    def text(self, name="dispatcher.log"):
        p = self.inst.root / "data" / "log" / name
        return p.read_text(errors="replace") if p.exists() else ""

    def log_text(self):
        return self.text()

    def start(self):
        before = len(self.text())
        env = dict(self.inst.env)
        for k in ("MS_SMTP_IDLE_MS", "MS_SMTP_MAX_RCPTS"):
            env.pop(k, None)
        env["MS_DISPATCHER_IDLE_S"] = "1"
        env.update(self.extra_env)
        self.proc = subprocess.Popen([str(DISPATCHER)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        wait_until(lambda: re.search(r"dispatcher \S+ ready", self.text()[before:])
                   or self.proc.poll() is not None, timeout=15, what="dispatcher ready")
        assert self.proc.poll() is None, self.proc.stderr.read()

    def children(self, service=None):
        """Live server processes (of one dispatcher.service when named)."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            st = _stat(d)
            if st is None or st[1] != self.proc.pid or st[0] == "Z":
                continue
            if service is not None:
                try:
                    with open(f"/proc/{d}/environ", "rb") as f:
                        env = f.read().split(b"\0")
                except OSError:
                    continue
                if f"MS_DISPATCHER_SERVICE={service}".encode() not in env:
                    continue
            out.append(int(d))
        return out

    def refresh(self, logs=("tcp_smtp_server.log", "tcp_submit_server.log")):
        """SIGHUP (what the watcher sends); wait until every server process reloaded."""
        def count():
            return sum(self.text(n).count("configuration refreshed") for n in logs)

        before, procs = count(), len(self.children())
        self.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: count() >= before + procs, timeout=15, what="the servers to refresh")
        return procs

    def closed(self, cport, log="tcp_smtp_server.log"):
        """Wait until the server has ended the session of client port cport."""
        wait_until(lambda: f"close [127.0.0.1:{cport}]" in self.text(log), timeout=15,
                   what=f"the session of port {cport} to end")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.strict:
            assert self.proc.returncode == 0, self.proc.stderr.read()
        for k in kids:
            wait_until(lambda: (_stat(k) or ("Z",))[0] == "Z", timeout=10,
                       what=f"server process {k} to exit")
