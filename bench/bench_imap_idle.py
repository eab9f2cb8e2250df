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
import re
import resource
import subprocess
import sys
import time

from benchlib import COMMADMIN, DELIVER, IMAPD, INIT_CONFIG, LDAP_LOCAL, MSCONFIG, STORED
from benchlib import Instance, ready_to_run

SESSIONS = int(os.environ.get("MS_BENCH_SESSIONS", "10000"))
USERS = int(os.environ.get("MS_BENCH_USERS", "50"))
PROCS = int(os.environ.get("MS_BENCH_PROCS", "4"))
# how far each session goes (to see what each step costs): greeting,
# login, select or idle (the default)
STAGE = os.environ.get("MS_BENCH_STAGE", "idle")
PASSWORD = "Bench-Idle-1"
GOAL = 1 << 30
# descriptors per session in imapd: the socket, the user's database and
# its write-ahead log; and one in this client
FDS_PER_SESSION = 4


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
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, IMAPD, DELIVER, MSCONFIG, STORED):
        return
    limit = raise_nofile(SESSIONS * FDS_PER_SESSION + 1000)
    if limit < SESSIONS + 200:
        print(f"note: RLIMIT_NOFILE {limit}: the client cannot hold {SESSIONS} sockets")
    with Instance("bench-idle-", "Bench-Idle-Secret-1", offsets=(5000, 15000)) as inst:
        inst.create()
        port = 143 + inst.offset
        per_proc = SESSIONS // PROCS + 1000
        inst.set(("imap.port", str(port)), ("imap.numprocesses", str(PROCS)),
                 ("imap.maxsessions", str(per_proc)), ("imap.plaintextmincipher", "-1"))
        inst.users(USERS, PASSWORD)
        for i in range(USERS):
            inst.run(DELIVER, f"user{i}", input="Subject: first\n\nhello\n")
        inst.start(STORED, log="store", ready="ready (pid", timeout=30)
        inst.start(IMAPD, log="imap", ready="ready on port", timeout=30)
        print(f"IDLE memory benchmark: {SESSIONS} sessions, {USERS} users, "
              f"imap.numprocesses {PROCS}, RLIMIT_NOFILE {limit}", flush=True)
        n = asyncio.run(bench(port, inst.env, inst.root))
        if n == 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
