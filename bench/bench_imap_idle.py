#!/usr/bin/python3
"""The IDLE memory benchmark (bench/README.md): bench_imap_idle.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), USERS users
made with commadmin, and runs the real stored and imapd attached (as the
watcher runs them) with imap.numprocesses PROCS.  Then it opens SESSIONS
concurrent IMAP sessions on the plain port (one client process, asyncio),
each doing LOGIN, SELECT INBOX and IDLE, and once all of them idle it
prints:

  sessions idling            how many reached IDLE (and why the rest did not)
  imapd RSS                  the sum of VmRSS of every imapd process, before
                             the sessions and with them
  stored RSS                 the same for stored
  bytes per session          (imapd + stored with sessions - without) / sessions.
                             Goal: everything under 1 GB for 10,000 sessions.
  deliver -> EXISTS          one delivery to a user with idling sessions: the
                             time until every one of its sessions has read
                             the untagged EXISTS (push through stored's relay)

Environment: MS_BENCH_SESSIONS (10000), MS_BENCH_USERS (50),
MS_BENCH_PROCS (imap.numprocesses, 4), MS_BENCH_STAGE (greeting, login,
select or idle: how far each session goes, to see what each step costs),
MS_BENCH_KEEP=1 keeps the instance.
RLIMIT_NOFILE is raised to what the sessions need (soft to hard, and the
hard limit too when running as root); when a limit of the machine stops
it earlier, it says how far it got and reports the figures for that many.
A missed goal is printed but does not make the program fail; it exits 1
when something did not work.  Everything it started is stopped by PID.
"""
import asyncio
import os
import pathlib
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
SESSIONS = int(os.environ.get("MS_BENCH_SESSIONS", "10000"))
USERS = int(os.environ.get("MS_BENCH_USERS", "50"))
PROCS = int(os.environ.get("MS_BENCH_PROCS", "4"))
# how far each session goes (to see what each step costs): greeting,
# login, select or idle (the default)
STAGE = os.environ.get("MS_BENCH_STAGE", "idle")
PASSWORD = "Bench-Idle-1"
GOAL = 1 << 30
INIT_CONFIG = BUILD / "msconfig" / "init-config"
LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
MSCONFIG = BUILD / "msconfig" / "msconfig"
IMAPD = BUILD / "workers" / "store" / "imapd"
DELIVER = BUILD / "workers" / "store" / "deliver"
STORED = BUILD / "workers" / "store" / "stored"
# descriptors per session in imapd: the socket, the user's database and
# its write-ahead log; and one in this client
FDS_PER_SESSION = 4


def die(msg):
    sys.exit(f"bench_imap_idle: {msg}")


def run(env, prog, *args, input=None):
    cp = subprocess.run([str(prog), *args], env=env, capture_output=True, text=True,
                        input=input, timeout=120)
    if cp.returncode != 0:
        die(f"{prog.name} {' '.join(args)} exited {cp.returncode}\n{cp.stdout}{cp.stderr}")
    return cp


def raise_nofile(want):
    """Raise this process's RLIMIT_NOFILE (inherited by the servers); the
    limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            nr_open = int(pathlib.Path("/proc/sys/fs/nr_open").read_text())
            hard = min(want, nr_open)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = hard if hard == resource.RLIM_INFINITY else min(max(soft, want), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def pids_of(prog, root):
    """PIDs of the processes running prog for this instance."""
    out = []
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            exe = os.readlink(d / "exe")
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if exe == str(prog) and f"SERVERROOT={root}".encode() in env:
            out.append(int(d.name))
    return out


def rss(pids):
    total = 0
    for pid in pids:
        try:
            for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def wait_log(path, text, proc, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text(errors="replace")):
        if proc.poll() is not None or time.monotonic() > deadline:
            die(f"{what} did not become ready")
        time.sleep(0.05)


class Session:
    """One client: LOGIN, SELECT INBOX, IDLE; then it waits for EXISTS."""

    def __init__(self, idx):
        self.idx = idx
        self.user = f"user{idx % USERS}"
        self.reader = self.writer = None
        self.exists = None

    async def line(self):
        ln = await self.reader.readline()
        if not ln:
            raise ConnectionError("closed")
        return ln

    async def command(self, tag, text):
        self.writer.write(f"{tag} {text}\r\n".encode())
        while True:
            ln = await self.line()
            if ln.startswith(tag.encode() + b" "):
                return ln
            m = re.match(rb"\* (\d+) EXISTS", ln)
            if m:
                self.exists = int(m.group(1))

    async def open(self, port):
        for attempt in range(8):
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port,
                                                                     limit=8192)
            if not (await self.line()).startswith(b"* OK"):
                raise RuntimeError("no greeting")
            if STAGE == "greeting":
                return
            ln = await self.command("a1", f"LOGIN {self.user} {PASSWORD}")
            if b" OK " in ln:
                break
            self.writer.close()
            if b"UNAVAILABLE" not in ln or attempt == 7:
                raise RuntimeError(f"LOGIN: {ln!r}")
            await asyncio.sleep(0.1 * (attempt + 1))
        if STAGE == "login":
            return
        ln = await self.command("a2", "SELECT INBOX")
        if b" OK " not in ln:
            raise RuntimeError(f"SELECT: {ln!r}")
        if STAGE == "select":
            return
        self.writer.write(b"a3 IDLE\r\n")
        while not (await self.line()).startswith(b"+"):
            pass

    async def wait_exists(self, n):
        while True:
            m = re.match(rb"\* (\d+) EXISTS", await self.line())
            if m and int(m.group(1)) >= n:
                return


async def open_all(port, n, errors):
    sessions = []
    sem = asyncio.Semaphore(64)

    async def one(i):
        s = Session(i)
        async with sem:
            try:
                await s.open(port)
                sessions.append(s)
            except (OSError, RuntimeError, ConnectionError) as e:
                errors.append(f"session {i}: {e!r}")

    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    for k, t in enumerate(tasks):
        await t
        if (k + 1) % 2000 == 0:
            print(f"  {k + 1} sessions opened ({time.monotonic() - t0:.0f} s)", flush=True)
    return sessions


async def push_latency(sessions, env):
    mine = [s for s in sessions if s.user == "user0"]
    if not mine:
        return None, 0
    exists = max(s.exists or 0 for s in mine)
    t0 = time.monotonic()
    p = await asyncio.create_subprocess_exec(str(DELIVER), "user0", env=env,
                                             stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
    await p.communicate(b"Subject: push\n\nhello\n")
    await asyncio.wait_for(asyncio.gather(*(s.wait_exists(exists + 1) for s in mine)), 60)
    return (time.monotonic() - t0) * 1000, len(mine)


async def bench(port, env, root):
    errors = []
    before = rss(pids_of(IMAPD, root)), rss(pids_of(STORED, root))
    sessions = await open_all(port, SESSIONS, errors)
    await asyncio.sleep(1.0)  # the last answers flushed, the loops quiet
    imapd_pids = pids_of(IMAPD, root)
    after = rss(imapd_pids), rss(pids_of(STORED, root))
    n = len(sessions)
    print(f"IDLE sessions: {n} of {SESSIONS} idling ({len(imapd_pids)} imapd processes, "
          f"{USERS} users)")
    for e in errors[:5]:
        print(f"  not idling: {e}")
    if len(errors) > 5:
        print(f"  ... and {len(errors) - 5} more")
    total = after[0] + after[1]
    print(f"imapd RSS: {before[0] / 2**20:.1f} MiB without sessions, "
          f"{after[0] / 2**20:.1f} MiB with {n}")
    print(f"stored RSS: {before[1] / 2**20:.1f} MiB without sessions, "
          f"{after[1] / 2**20:.1f} MiB with {n}")
    if n:
        per = (total - before[0] - before[1]) / n
        print(f"bytes per IDLE session: {per:.0f} (imapd + stored, above the idle processes)")
        scaled = before[0] + before[1] + per * 10000
        print(f"total with {n} sessions: {total / 2**20:.1f} MiB; for 10,000: "
              f"{scaled / 2**20:.1f} MiB (goal < 1 GiB{'' if scaled < GOAL else ': MISSED'})")
        ms, k = await push_latency(sessions, env) if STAGE == "idle" else (None, 0)
        if ms is not None:
            print(f"deliver -> EXISTS in all {k} IDLE sessions of one user: {ms:.0f} ms "
                  f"(with {n} sessions open)")
    for s in sessions:
        s.writer.close()
    return n


def main():
    for p in (INIT_CONFIG, LDAP_LOCAL, COMMADMIN, IMAPD, DELIVER, MSCONFIG, STORED):
        if not p.exists():
            die(f"{p} is not built")
    if not pathlib.Path("/usr/sbin/slapd").exists():
        print("bench_imap_idle: /usr/sbin/slapd is not installed; nothing measured")
        return
    limit = raise_nofile(SESSIONS * FDS_PER_SESSION + 1000)
    if limit < SESSIONS + 200:
        print(f"note: RLIMIT_NOFILE {limit}: the client cannot hold {SESSIONS} sockets")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-idle-"))
    root = tmp / "instance"
    offset = random.randint(5000, 15000)
    env = dict(os.environ, MS_DATADIR=str(BUILD / "schema"), SERVERROOT=str(root))
    procs = []
    pidfile = root / "data" / "run" / "ldap.pid"
    try:
        run(env, INIT_CONFIG, "-y", "--hostname", "mail.example.com", "--domain",
            "example.com", "--postmaster", "postmaster@example.com",
            "--ldap-bind-password", "Bench-Idle-Secret-1", "--port-offset", str(offset),
            "--local-directory")
        server = subprocess.Popen([str(LDAP_LOCAL), "run"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        procs.append(server)
        line = server.stdout.readline().decode()
        if not line.startswith("ldap-local: ready on"):
            die(f"ldap-local said {line!r}")
        port = 143 + offset
        per_proc = SESSIONS // PROCS + 1000
        for name, value in (("imap.port", str(port)), ("imap.numprocesses", str(PROCS)),
                            ("imap.maxsessions", str(per_proc)),
                            ("imap.plaintextmincipher", "-1")):
            run(env, MSCONFIG, "set", name, value)
        for i in range(USERS):
            run(env, COMMADMIN, "user", "create", "-l", f"user{i}", "-d", "example.com",
                "-W", PASSWORD, "-F", "User", "-L", str(i))
            run(env, DELIVER, f"user{i}", input="Subject: first\n\nhello\n")
        stored = subprocess.Popen([str(STORED)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        procs.append(stored)
        wait_log(root / "data" / "log" / "store", "ready (pid", stored, "stored")
        imapd = subprocess.Popen([str(IMAPD)], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(imapd)
        wait_log(root / "data" / "log" / "imap", "ready on port", imapd, "imapd")
        print(f"IDLE memory benchmark: {SESSIONS} sessions, {USERS} users, "
              f"imap.numprocesses {PROCS}, RLIMIT_NOFILE {limit}", flush=True)
        n = asyncio.run(bench(port, env, root))
        if n == 0:
            sys.exit(1)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        try:
            pid = int(pidfile.read_text().split()[0])
            if re.search(r"slapd", open(f"/proc/{pid}/comm").read()):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
        if os.environ.get("MS_BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
