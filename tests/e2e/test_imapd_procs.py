"""imapd and popd with numprocesses > 1: the supervisor and its workers
(docs/store.md "Worker processes").

One instance for the module (its own slapd, users made with commadmin);
imapd with imap.numprocesses 3 and popd with pop.numprocesses 2 run
attached to the test.  The process the test started is the supervisor;
its workers are found as its children in /proc, and the worker serving a
connection by the accepted socket's inode (/proc/net/tcp, /proc/PID/fd).
imapd runs with MS_STORE_FAIL_START naming a file: while it exists a new
worker exits at start (fault injection, server.c).
"""
import imaplib
import os
import pathlib
import poplib
import re
import signal
import socket
import time

import pytest

from conftest import wait_until
from ldap_fixtures import create_ldap_instance
from server_fixtures import StoreServer

PASSWORD = "Procs-Pass-1"
USERS = ("ann", "bob", "cy")


def children(pid):
    """Live (not zombie) children of pid."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            st = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == pid and st[0] != "Z":
            out.append(int(d.name))
    return sorted(out)


def alive(pid):
    try:
        st = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return st[0] != "Z"


def age(pid):
    """Seconds since pid started."""
    start = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(pathlib.Path("/proc/uptime").read_text().split()[0])
    return uptime - start / os.sysconf("SC_CLK_TCK")


def sock_inodes(pid):
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                found.add(link[8:-1])
    except OSError:
        pass
    return found


def server_inode(server_port, client_port):
    """The inode of the accepted socket of a loopback connection (IPv4, or
    IPv4-mapped on a dual-stack listener)."""
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(name).read_text().splitlines()[1:]:
            f = line.split()
            if (f[1].endswith(f":{server_port:04X}") and f[2].endswith(f":{client_port:04X}")
                    and f[9] != "0"):
                return f[9]
    return None


def serving(sock, server_port, pids):
    """Which of pids holds the server side of the connection sock."""
    inode = server_inode(server_port, sock.getsockname()[1])
    if inode is None:
        return None
    for pid in pids:
        if inode in sock_inodes(pid):
            return pid
    return None


def worker_of(sock, server_port, pids):
    return wait_until(lambda: serving(sock, server_port, pids), timeout=5,
                      what="the worker that accepted the connection")


def greet(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the greeting")
        data += chunk
    return s, data.split(b"\r\n", 1)[0].decode()


def imap_login(inst, user="ann"):
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=10)
    c.login(user, PASSWORD)
    return c


def pid_lines(server, pid, text):
    """Log lines of process pid holding text."""
    tag = f"[{pid}]:"
    return [ln for ln in server.log_text().splitlines() if tag in ln and text in ln]


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    root = tmp_path_factory.mktemp("procs")
    inst = create_ldap_instance(root / "instance")
    servers = []
    try:
        inst.start()
        inst.imap_port = 143 + inst.offset
        inst.pop_port = 110 + inst.offset
        inst.fail_file = root / "fail-start"
        for name, value in (("imap.port", inst.imap_port), ("imap.plaintextmincipher", -1),
                            ("imap.numprocesses", 3), ("pop.port", inst.pop_port),
                            ("pop.plaintextmincipher", -1), ("pop.numprocesses", 2),
                            ("imap.logfile.loglevel", "Information"),
                            ("pop.logfile.loglevel", "Information")):
            inst.run("set", name, str(value))
        for uid in USERS:
            inst.commadmin("user", "create", "-l", uid, "-d", "example.com", "-W", PASSWORD,
                           "-F", uid, "-L", "Procs")
        inst.imapd = StoreServer(inst, "imapd", "imap",
                                 {"MS_STORE_FAIL_START": str(inst.fail_file)})
        inst.imapd.start()
        servers.append(inst.imapd)
        inst.popd = StoreServer(inst, "popd", "pop")
        inst.popd.start()
        servers.append(inst.popd)
        yield inst
    finally:
        for s in servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        inst.teardown()


def kids_of(server, n):
    return wait_until(lambda: len(children(server.proc.pid)) == n and children(server.proc.pid),
                      timeout=10, what=f"{n} worker processes")


def test_supervisor_and_workers(inst):
    kids = kids_of(inst.imapd, 3)
    assert "ready on port" in inst.imapd.log_text()
    assert "(3 processes)" in inst.imapd.log_text()
    kids_of(inst.popd, 2)
    # the supervisor serves no session: every connection is a worker's
    socks = [greet(inst.imap_port)[0] for _ in range(6)]
    for s in socks:
        assert worker_of(s, inst.imap_port, kids + [inst.imapd.proc.pid]) in kids
        s.close()


def test_killed_worker_is_replaced(inst):
    kids = kids_of(inst.imapd, 3)
    sessions = [imap_login(inst, USERS[i % 3]) for i in range(6)]
    where = [worker_of(c.sock, inst.imap_port, kids) for c in sessions]
    # a victim such that some session lives on another worker
    victim = next(k for k in kids if any(w != k for w in where))
    os.kill(victim, signal.SIGKILL)
    new = wait_until(lambda: (len(children(inst.imapd.proc.pid)) == 3
                              and set(children(inst.imapd.proc.pid)) - set(kids)),
                     timeout=5, what="a new worker")
    assert victim not in children(inst.imapd.proc.pid)
    assert len(new) == 1
    line = wait_until(lambda: pid_lines(inst.imapd, inst.imapd.proc.pid,
                                        f"imapd process {victim} was killed by signal 9"),
                      timeout=5, what="the supervisor's log line")
    assert "starting another" in line[0] and "Error" in line[0]
    for c, w in zip(sessions, where):
        if w != victim:
            assert c.noop()[0] == "OK"  # the sessions of the other workers stay up
            c.logout()
    fresh = [imap_login(inst, u) for u in USERS]
    for c in fresh:
        assert c.select("INBOX")[0] == "OK"
        c.logout()


def test_pop_killed_worker_is_replaced(inst):
    kids = kids_of(inst.popd, 2)
    os.kill(kids[0], signal.SIGKILL)
    wait_until(lambda: (len(children(inst.popd.proc.pid)) == 2
                        and kids[0] not in children(inst.popd.proc.pid)),
               timeout=5, what="a new popd worker")
    c = poplib.POP3("127.0.0.1", inst.pop_port, timeout=10)
    c.user("bob")
    c.pass_(PASSWORD)
    assert c.stat()[0] == 0
    c.quit()


def failures(server, since):
    pid = server.proc.pid
    return [ln for ln in pid_lines(server, pid, "exited with status 1")[since:]]


def test_failing_starts_back_off(inst):
    kids = kids_of(inst.imapd, 3)
    # the oldest worker, past the start grace (2 s), so its death is a plain one
    kids.sort(key=age, reverse=True)
    wait_until(lambda: age(kids[0]) > 2.2, timeout=5, what="a worker older than 2 s")
    before = len(pid_lines(inst.imapd, inst.imapd.proc.pid, "exited with status 1"))
    inst.fail_file.write_text("")
    try:
        t0 = time.monotonic()
        os.kill(kids[0], signal.SIGKILL)
        # replaced at once; the replacement fails; then 1 s, 2 s, 4 s...
        wait_until(lambda: len(failures(inst.imapd, before)) >= 3, timeout=6,
                   what="three failed starts")
        elapsed = time.monotonic() - t0
        assert elapsed >= 2.8, elapsed  # 0 + 1 + 2 s of back-off at least
        got = failures(inst.imapd, before)
        waits = [int(re.search(r"starting another in (\d+) s", ln).group(1)) for ln in got]
        assert waits[:3] == [1, 2, 4], got
        # the service still answers on the two workers left
        c = imap_login(inst, "cy")
        c.logout()
        assert len(failures(inst.imapd, before)) == 3  # nothing before the 4 s are up
    finally:
        inst.fail_file.unlink()
    # the next start (4 s after the last failure) lives: back to 3 workers
    wait_until(lambda: len(children(inst.imapd.proc.pid)) == 3, timeout=8,
               what="the third worker back")



def test_sighup_reaches_every_worker(inst):
    kids = kids_of(inst.imapd, 3)
    inst.run("set", "imap.banner", "procs banner two")
    marks = {k: len(pid_lines(inst.imapd, k, "config generation")) for k in kids}
    os.kill(inst.imapd.proc.pid, signal.SIGHUP)
    for k in kids:
        wait_until(lambda: len(pid_lines(inst.imapd, k, "config generation")) > marks[k],
                   timeout=5, what=f"worker {k} to reload")
    # Every worker logged its reload above; the kernel decides which worker
    # accepts a connection, so new connections are checked whichever
    # workers they reach (not necessarily all three).
    seen = set()
    socks = []
    for _ in range(30):
        s, banner = greet(inst.imap_port)
        assert "procs banner two" in banner, banner
        seen.add(worker_of(s, inst.imap_port, kids))
        socks.append(s)
        if seen == set(kids):
            break
    for s in socks:
        s.close()
    assert seen and seen <= set(kids)


def test_refresh_changes_numprocesses(inst):
    kids = kids_of(inst.popd, 2)
    inst.run("set", "pop.numprocesses", "3")
    os.kill(inst.popd.proc.pid, signal.SIGHUP)
    three = kids_of(inst.popd, 3)
    assert set(kids) < set(three)
    inst.run("set", "pop.numprocesses", "1")
    os.kill(inst.popd.proc.pid, signal.SIGHUP)
    one = kids_of(inst.popd, 1)
    assert one[0] in kids  # the newest were retired
    assert "pop.numprocesses 1 (was 3): retiring processes" in inst.popd.log_text()
    c = poplib.POP3("127.0.0.1", inst.pop_port, timeout=10)
    assert c.getwelcome().startswith(b"+OK")
    c.quit()


def test_sigterm_stops_every_worker(inst):
    for server, n in ((inst.imapd, 3), (inst.popd, 1)):
        kids = kids_of(server, n)
        session = imap_login(inst) if server is inst.imapd else None
        pid = server.proc.pid
        os.kill(pid, signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
        # the supervisor reaped them before it exited: none is left
        assert not any(alive(k) for k in kids)
        if session is not None:
            with pytest.raises((imaplib.IMAP4.abort, OSError)):
                session.noop()
        server.proc = None


def test_killed_supervisor_takes_its_workers(inst):
    imapd = StoreServer(inst, "imapd", "imap")
    imapd.start()
    try:
        kids = kids_of(imapd, 3)
        c = imap_login(inst)
        os.kill(imapd.proc.pid, signal.SIGKILL)
        imapd.proc.wait()
        t0 = time.monotonic()
        wait_until(lambda: not any(alive(k) for k in kids), timeout=1.0,
                   what="the workers to exit")
        assert time.monotonic() - t0 < 1.0
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            c.noop()
        imapd.proc = None
        # the ports are free: the family can start again
        again = StoreServer(inst, "imapd", "imap")
        again.start()
        again.stop()
    finally:
        if imapd.proc is not None and imapd.proc.poll() is None:
            imapd.proc.kill()
            imapd.proc.wait()


# -- under the watcher: it sees the supervisor alone --------------------------

@pytest.fixture(scope="module")
def system(tmp_path_factory):
    from system_fixtures import System  # the whole server under start-msg
    sys_ = System(tmp_path_factory.mktemp("procs-system"), ("dee",), PASSWORD,
                  settings=["set imap.numprocesses 3", "set pop.enable 0",
                            "set mta.enable 0"])
    try:
        sys_.start()
        yield sys_
    finally:
        sys_.teardown()


def test_watcher_sees_the_supervisor(system):
    sup = wait_until(lambda: system.pid("imap"), what="imap's pid file")
    kids = wait_until(lambda: len(children(sup)) == 3 and children(sup), timeout=10,
                      what="three imapd workers")
    # a worker's death is the supervisor's business: the watcher does not restart imap
    os.kill(kids[1], signal.SIGKILL)
    wait_until(lambda: len(children(sup)) == 3 and kids[1] not in children(sup),
               timeout=5, what="the worker replaced")
    assert system.pid("imap") == sup and alive(sup)
    assert f"process {kids[1]}" not in system.log("watcher")
    c = system.imap("dee")
    assert c.noop()[0] == "OK"
    c.logout()
    # msconfig write: numprocesses is applied on refresh (SIGHUP from the watcher)
    system.msconfig("set", "imap.numprocesses", "2")
    wait_until(lambda: len(children(sup)) == 2, timeout=10, what="a worker retired")
    kids = children(sup)
    # the supervisor's death restarts the family; its workers go with it
    os.kill(sup, signal.SIGKILL)
    wait_until(lambda: f"Watched 'imapd' process {sup} exited abnormally"
               in system.log("watcher"), timeout=10, what="the watcher to see it")
    wait_until(lambda: not any(alive(k) for k in kids), timeout=2, what="the workers to exit")
    new = wait_until(lambda: (lambda p: p if p and p != sup and alive(p) else None)(
        system.pid("imap")), timeout=30, what="a new imapd")
    wait_until(lambda: len(children(new)) == 2, timeout=10, what="the new workers")
    c = wait_until(lambda: _try_imap(system), timeout=10, what="a login after the restart")
    c.logout()


def _try_imap(system):
    try:
        return system.imap("dee")
    except (OSError, imaplib.IMAP4.error):
        return None
