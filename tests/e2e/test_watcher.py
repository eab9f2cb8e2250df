"""The watcher, start-msg, stop-msg, refresh and msprobe on a live instance
(issue 5; seed 002:1450-1672).  Fixtures are in watcher_fixtures.py."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import wait_until
from watcher_fixtures import (alive, ctl_frame, ctl_read, free_port, lines_of,
                              sched_only, supervised)  # noqa: F401 (fixtures)

STARTING = re.compile(r"^Starting (\S+) server \.+ (\d+)$")
CTIME = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d \d{4}"


def started(text):
    """[(service, pid)] of the "Starting NAME server .... PID" lines."""
    return [(m.group(1), int(m.group(2))) for m in map(STARTING.match, text.splitlines()) if m]


def test_start_order_output_and_pid_files(supervised):
    sup = supervised
    cp = sup.start_msg()
    out = cp.stdout.splitlines()
    assert out[0] == "Connecting to watcher ..."
    assert re.fullmatch(r"Launching watcher \.\.\. \d+", out[1]), out
    wpid = int(out[1].split()[-1])
    assert sup.pid("watcher") == wpid and alive(wpid)
    # Enabled services in the seed's order; the ones not built yet say so.
    names = [n for n, _ in started(cp.stdout)]
    assert names == ["store", "purge", "imap", "pop", "http", "sched"], cp.stdout
    assert out.index("Checking store server status ..... ready") == \
        out.index(next(ln for ln in out if ln.startswith("Starting store"))) + 1
    assert "Starting ens server .... not installed (no program enpd)" in out
    assert "Starting dispatcher server .... not installed (no program dispatcher)" in out
    assert not any("mmp" in ln for ln in out)  # mmp.enable is 0
    assert cp.returncode == 1  # not every enabled service could start
    for name, pid in started(cp.stdout):
        assert sup.pid(name) == pid and alive(pid), name
        assert os.getppid() != pid
        with open(f"/proc/{pid}/stat") as f:  # the watcher is the parent
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == wpid
    log = sup.watcher_log()
    assert re.search(rf"^watcher process {wpid} started at {CTIME}$", log, re.M), log
    assert "Starting imap server" in log

    # Again: the same watcher, nothing started twice.
    cp2 = sup.start_msg("store", "imap", "sched")
    assert cp2.returncode == 0, cp2.stdout + cp2.stderr
    assert "Launching" not in cp2.stdout
    assert f"imap server is already running (PID {sup.pid('imap')})" in cp2.stdout
    assert started(cp2.stdout) == []
    # A disabled service named explicitly is refused; an unknown name is a usage error.
    cp3 = sup.start_msg("mmp")
    assert cp3.returncode == 1 and "mmp server is not enabled (mmp.enable is 0)" in cp3.stdout
    assert sup.start_msg("nosuch").returncode == 64
    st = sup.start_msg("--status", check=0).stdout
    assert re.search(r"^imap\s+running\s+\d+$", st, re.M) and re.search(r"^mmp\s+disabled", st, re.M)


def test_stop_order_and_nothing_left(supervised):
    sup = supervised
    sup.start_msg()
    pids = {n: sup.pid(n) for n in ("store", "purge", "imap", "pop", "http", "sched")}
    wpid = sup.pid("watcher")
    # One service: only it stops.
    cp = sup.stop_msg("pop", check=0)
    assert cp.stdout.splitlines()[1] == f"Stopping pop server {pids['pop']} .... done"
    assert not alive(pids["pop"]) and sup.pid("pop") is None
    assert sup.stop_msg("pop", check=0).stdout.splitlines()[1] == "pop server is not running"
    # Everything: reverse order, then the watcher.
    cp = sup.stop_msg(check=0)
    stops = lines_of(cp.stdout, "Stopping")
    assert [ln.split()[1] for ln in stops] == ["sched", "http", "imap", "purge", "store",
                                               "watcher"], cp.stdout
    assert stops[-1] == f"Stopping watcher {wpid} .... done"
    for pid in pids.values():
        assert not alive(pid)
    assert not alive(wpid)
    assert [p for p in sup.inst.pids() if alive(p)] == []
    assert sorted(p.name for p in sup.run_dir.iterdir()) == []
    assert re.search(rf"^watcher process {wpid} stopped at {CTIME}$", sup.watcher_log(), re.M)
    # No watcher: stop-msg says so and succeeds.
    cp = sup.stop_msg("imap", check=0)
    assert "imap server is not running" in cp.stdout


def test_crash_restart_then_give_up(sched_only):
    sup = sched_only
    sup.start_msg(check=0)
    old = sup.pid("sched")
    t0 = time.monotonic()
    os.kill(old, signal.SIGKILL)
    new = sup.wait_new_pid("sched", old, timeout=2.0)
    wait_until(lambda: sup.imsched("-run", "nosuch").returncode == 1, timeout=2.0,
               what="the new imsched answering")
    restart_s = time.monotonic() - t0
    print(f"\nbench: kill -9 imsched -> the new imsched answers in {restart_s * 1000:.0f} ms")
    assert restart_s < 2.0
    sup.wait_log(rf"^Watched 'imsched' process {old} exited abnormally$")
    sup.wait_log(r"^Received request to restart:  sched$")
    sup.wait_log(rf"^Starting sched server \.+ {new}$")
    # A second failure inside base.autorestart.timeout: given up, and said so.
    os.kill(new, signal.SIGKILL)
    sup.wait_log(r"^Watched 'imsched' not restarted: failed twice within 600 seconds")
    wait_until(lambda: sup.pid("sched") is None, what="sched.pid removed")
    st = sup.start_msg("--status", check=0).stdout
    assert re.search(r"^sched\s+given_up\s+-$", st, re.M), st
    assert "failed twice" in sup.default_log()
    # The administrator starts it again.
    cp = sup.start_msg("sched", check=0)
    assert started(cp.stdout)[0][0] == "sched"


def test_autorestart_off(sched_only):
    sup = sched_only
    sup.start_msg(check=0)
    cp = sup.set_option("base.autorestart.enable", "0")
    assert "watcher:" not in cp.stdout or "restart" not in cp.stdout.split("watcher:")[1]
    old = sup.pid("sched")
    os.kill(old, signal.SIGKILL)
    sup.wait_log(rf"^Watched 'imsched' process {old} exited abnormally$")
    sup.wait_log(r"^sched server not restarted: base.autorestart.enable is 0$")
    assert sup.pid("sched") is None


def test_store_family_restarts_together(supervised):
    sup = supervised
    sup.start_msg()
    before = {n: sup.pid(n) for n in ("store", "purge", "imap", "pop", "http")}
    sched = sup.pid("sched")
    mark = len(sup.watcher_log())
    os.kill(before["imap"], signal.SIGKILL)
    sup.wait_log(rf"^Watched 'imapd' process {before['imap']} exited abnormally$", after=mark)
    sup.wait_log(r"^Received request to restart:  store purge imap pop http$", after=mark)
    sup.wait_log(r"^Starting http server", after=mark)
    after = {n: sup.wait_new_pid(n, before[n]) for n in before}
    log = sup.watcher_log()[mark:].splitlines()
    # Stop in reverse order (the dead one is "not running"), start in order.
    seq = [ln for ln in log if ln.startswith(("Stopping", "Starting", "checking", "imap server"))]
    assert seq == [
        f"Stopping http server {before['http']} .... done",
        f"Stopping pop server {before['pop']} .... done",
        "imap server is not running",
        f"Stopping purge server {before['purge']} .... done",
        f"Stopping store server {before['store']} .... done",
        f"Starting store server .... {after['store']}",
        "checking store server status ..... ready",
        f"Starting purge server .... {after['purge']}",
        f"Starting imap server .... {after['imap']}",
        f"Starting pop server .... {after['pop']}",
        f"Starting http server .... {after['http']}",
    ], log
    assert "Connecting to watcher ..." in log
    assert sup.pid("sched") == sched  # not in the family: untouched


def test_store_utility_dying_with_locks(supervised):
    sup = supervised
    sup.start_msg()
    store = sup.pid("store")
    # A store utility holds a control connection while it may hold store locks.
    code = ("import socket,sys,time\n"
            "sys.path.insert(0, %r)\n"
            "from watcher_fixtures import ctl_frame, ctl_read\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(%r)\n"
            "s.sendall(ctl_frame('attach', 'mboxutil')); print(ctl_read(s), flush=True)\n"
            "time.sleep(60)\n") % (os.path.dirname(__file__), str(sup.run_dir / "watcher.sock"))
    util = subprocess.Popen(["/usr/bin/python3", "-c", code], stdout=subprocess.PIPE, text=True)
    assert util.stdout.readline().strip() == "('done', ['0'])"
    # A clean utility detaches; this one is killed while attached.
    util.kill()
    util.wait()
    sup.wait_log(rf"^Watched 'mboxutil' process {util.pid} exited abnormally$")
    sup.wait_log(r"^Received request to restart:  store purge imap pop http$")
    sup.wait_new_pid("store", store)
    # Detached, then gone: nothing happens.
    s = sup.control_socket()
    s.sendall(ctl_frame("attach", "reconstruct"))
    assert ctl_read(s) == ("done", ["0"])
    s.sendall(ctl_frame("detach"))
    assert ctl_read(s) == ("done", ["0"])
    s.close()
    s = sup.control_socket()
    s.sendall(ctl_frame("ping"))
    assert ctl_read(s)[1][0] == "0"
    assert "reconstruct" not in sup.watcher_log()


def test_refresh_on_live_worker(sched_only):
    """msconfig write -> the watcher -> SIGHUP -> imsched loads the new generation
    without a restart (same PID)."""
    sup = sched_only
    sup.start_msg(check=0)
    pid = sup.pid("sched")
    gen_before = sup.inst.active_seq()
    t0 = time.monotonic()
    cp = sup.set_option("schedule.task:expire.crontab", "0 22 * * * bin/imexpire")
    gen = gen_before + 1
    sup.wait_log(rf"imsched\[{pid}\]: General Notice: config generation {gen} loaded",
                 log="default", timeout=5)
    elapsed = time.monotonic() - t0
    print(f"\nbench: msconfig set -> imsched loaded generation {gen} in {elapsed * 1000:.0f} ms")
    assert f"watcher: Refreshing sched server {pid} .... done" in cp.stdout, cp.stdout
    assert sup.pid("sched") == pid and alive(pid)
    # A change that needs a restart is reported with the command.
    cp = sup.set_option("watcher.port", str(free_port()))
    assert "watcher: the watcher itself needs a restart" in cp.stdout, cp.stdout
    # refresh by hand
    cp = sup.refresh("sched", check=0)
    assert f"Refreshing sched server {pid} .... done" in cp.stdout
    sup.wait_log(rf"imsched\[{pid}\]: General Notice: config generation {gen + 1} loaded",
                 log="default")


def test_write_restart(supervised):
    sup = supervised
    sup.start_msg()
    imap = sup.pid("imap")
    port = free_port()
    cp = sup.inst.script(f"set imap.port {port}\nwrite --restart\n")
    assert "watcher: Received request to restart:  imap" in cp.stdout, cp.stdout
    assert sup.wait_new_pid("imap", imap)
    # The stubs note SIGHUP: http reads http.sessiontimeout (refresh), imap does not.
    sup.set_option("http.sessiontimeout", "3600")
    hup = sup.root / "data" / "log" / "mshttpd.hup"
    wait_until(hup.exists, what="SIGHUP noted by the http stub")
    assert not (sup.root / "data" / "log" / "imapd.hup").exists()


def test_msprobe_restarts_a_hung_worker(sched_only):
    sup = sched_only
    sup.set_option("msprobe.timeout", "1")
    sup.start_msg(check=0)
    pid = sup.pid("sched")
    ok = sup.msprobe("-r", "sched", check=0)
    assert re.fullmatch(r'sched,0,\d+,OK,"No error"\n', ok.stdout), ok.stdout
    os.kill(pid, signal.SIGSTOP)
    try:
        # -n: reported, not restarted.
        cp = sup.msprobe("-r", "-n", "sched", check=1)
        assert re.fullmatch(r'sched,0,\d+,BAD,"Timed out"\n', cp.stdout), cp.stdout
        assert sup.pid("sched") == pid
        cp = sup.msprobe("-r", "sched", check=1)
        new = sup.wait_new_pid("sched", pid)
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGCONT)
    sup.wait_log(rf"^Watched 'imsched' process {pid} is not responding: Timed out$")
    sup.wait_log(rf"^Starting sched server \.+ {new}$")
    assert "the watcher restarts it" in sup.default_log()


class TinyServer:
    """A real socket on a port, answering one protocol script (or nothing)."""

    def __init__(self, port, greeting, answers, hang=False):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.greeting, self.answers, self.hang = greeting, answers, hang
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.hang:
                continue
            f = c.makefile("rb")
            c.sendall(self.greeting)
            try:
                for line in f:
                    word = line.split(b" ")[0].strip().upper()
                    if line.upper().startswith(b"A1 NOOP"):
                        c.sendall(b"* 3 EXISTS\r\nA1 OK NOOP completed\r\n")
                    elif word in self.answers:
                        c.sendall(self.answers[word])
                    if word in (b"QUIT", b"A2"):
                        break
            except OSError:
                pass
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
        except OSError:
            pass
        self.sock.close()
        self.thread.join(timeout=5)
        for c in self.conns:
            c.close()


def test_msprobe_protocol_probes(sched_only):
    sup = sched_only
    off = sup.inst.offset
    ports = {"imap": 143 + off, "pop": 110 + off, "smtp": 25 + off, "submit": 587 + off}
    lmtp = free_port()
    sup.inst.script(f"set dispatcher.service:LMTPSS.tcp_ports {lmtp}\n"
                    "set dispatcher.service:LMTPSS.enable 1\n"
                    "set msprobe.probe:pop.timeout 1\nwrite\n")
    ehlo = {b"EHLO": b"250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            b"QUIT": b"221 bye\r\n"}
    servers = [
        TinyServer(ports["imap"], b"* OK IMAP ready\r\n", {b"A2": b"* BYE\r\nA2 OK\r\n"}),
        TinyServer(ports["smtp"], b"220 mail.example.com ESMTP\r\n", ehlo),
        TinyServer(ports["submit"], b"220-mail.example.com\r\n220 ESMTP\r\n", ehlo),
        TinyServer(lmtp, b"220 lmtp ready\r\n", {b"LHLO": b"250-mail\r\n250 PIPELINING\r\n",
                                                 b"QUIT": b"221 bye\r\n"}),
        TinyServer(ports["pop"], b"", {}, hang=True),  # accepts, never answers
    ]
    try:
        cp = sup.msprobe("-r", "-n", "imap", "smtp", "submit", "lmtp", "pop", "http")
    finally:
        for s in servers:
            s.close()
    lines = cp.stdout.splitlines()
    assert re.fullmatch(rf'imap,{ports["imap"]},\d+,OK,"No error"', lines[0]), lines
    assert re.fullmatch(rf'pop,{ports["pop"]},\d+,BAD,"Timed out"', lines[1]), lines
    assert re.fullmatch(rf'http,{8990 + off},-1,BAD,"Connection refused"', lines[2]), lines
    assert re.fullmatch(rf'smtp,{ports["smtp"]},\d+,OK,"No error"', lines[3]), lines
    assert re.fullmatch(rf'submit,{ports["submit"]},\d+,OK,"No error"', lines[4]), lines
    assert re.fullmatch(rf'lmtp,{lmtp},\d+,OK,"No error"', lines[5]), lines
    assert cp.returncode == 1
    log = sup.default_log()
    assert f"msprobe: pop port {ports['pop']}: Timed out" in log
    # A wrong answer is BAD too.
    bad = TinyServer(ports["imap"], b"* BYE go away\r\n", {})
    try:
        cp = sup.msprobe("-r", "-n", "imap", check=1)
    finally:
        bad.close()
    assert cp.stdout.startswith(f'imap,{ports["imap"]},') and \
        'BAD,"Unexpected reply: * BYE go away"' in cp.stdout
    assert sup.msprobe("-x").returncode == 64


def test_control_port_is_loopback_only(sched_only):
    sup = sched_only
    sup.start_msg(check=0)
    port = sup.inst.compiled_values()["watcher.port"][0]
    port = int(port)
    key = (sup.run_dir / "watcher.key").read_text()
    assert oct((sup.run_dir / "watcher.key").stat().st_mode & 0o777) == "0o600"
    assert oct((sup.run_dir / "watcher.sock").stat().st_mode & 0o777) == "0o600"
    # Loopback with the key: requests work.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(ctl_frame("hello", key) + ctl_frame("ping"))
    assert ctl_read(s) == ("done", ["0"])
    assert ctl_read(s)[1][0] == "0"
    s.close()
    # A wrong key, or no hello: closed.
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(ctl_frame("hello", "0" * 64))
    assert ctl_read(s) == ("done", ["77", "wrong key"])
    assert ctl_read(s) is None
    s.close()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(ctl_frame("stop"))
    assert ctl_read(s) is None
    s.close()
    # Malformed frames close the connection too.
    s = sup.control_socket()
    s.sendall(b"\x00\x00\x00\x04\x02\x02\x00\x00")
    assert ctl_read(s) is None
    s.close()
    # Any other address of this host: nobody listens there.
    addrs = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        addrs |= {a for a in out if ":" not in a}
    except OSError:
        pass
    addrs = {a for a in addrs if not a.startswith("127.")}
    if not addrs:
        pytest.skip("this host has no non-loopback IPv4 address")
    for a in addrs:
        with pytest.raises(OSError):
            socket.create_connection((a, port), timeout=2)
    assert sup.pid("watcher") and alive(sup.pid("watcher"))


def test_private_directory_as_a_service(tmp_path):
    """The LDAP engineer's ldap-local (the service "ldap") under the watcher:
    first in the start order, ready when it says so, stopped with the rest."""
    from conftest import INIT_CONFIG, Instance, init_config_args, random_offset, run_prog
    from watcher_fixtures import Supervised
    offset = random_offset()
    inst = Instance(tmp_path / "instance", offset)
    args = init_config_args(offset, **{"--ldap-url": None, "--ldap-bind-dn": None,
                                       "--ldap-bind-password": None})
    run_prog(INIT_CONFIG, args + ["--local-directory"], inst.env)
    sup = Supervised(inst, None)
    try:
        port = int(inst.compiled_values()["ldap.port"][0])
        cp = sup.start_msg("sched", "ldap", check=0)
        assert [n for n, _ in started(cp.stdout)] == ["ldap", "sched"], cp.stdout
        # (data/run/ldap.pid: ldap-local keeps slapd's PID there too; see docs/watcher.md)
        pid = dict(started(cp.stdout))["ldap"]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        cp = sup.stop_msg(check=0)
        assert f"Stopping ldap server {pid} .... done" in cp.stdout
        assert not alive(pid)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    finally:
        sup.stop_all()
        inst.kill_all()
