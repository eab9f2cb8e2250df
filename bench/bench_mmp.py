#!/usr/bin/python3
"""The MMP benchmark (bench/README.md): bench_mmp.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), USERS users
made with commadmin whose mailHost is "store", the real imapd as that
store and the real mmp in front of it (both attached, awaiting their
readiness lines), the MMP routing "store" to imapd with
proxy:store.storehostlist and proxy:store.imapport and logging in there as
the proxy administrator (base.proxyadmin, made by init-config).  Clients
are Python's imaplib in clear text (the MMP's cost, not TLS's, is what is
compared), in worker processes with threads.

Figures, one per line:
  IMAP ops/s direct      commands answered OK per second over SECONDS s
  IMAP ops/s via MMP     (default 5) by CLIENTS (default 10) concurrent
                         sessions, each in its own folder (40 messages)
                         doing a loop of SELECT, UID FETCH of the headers of
                         10 messages, UID FETCH of one whole message, NOOP;
                         direct to imapd, then through the MMP, twice each
                         in turn, the better run of each kept.  Goal: the
                         MMP keeps at least 90 % of the direct rate.
  MMP memory per idle session   growth of the mmp process's resident memory
                         (VmRSS) with IDLE_SESSIONS (default 400) logged-in,
                         idle sessions, divided by their number; once with
                         clear-text clients, once with TLS clients (the
                         store leg is clear text in both).
A missed goal is printed but does not make the program fail; it exits 1
when something did not work.  Everything it started is stopped by PID.
"""
import imaplib
import os
import random
import socket
import ssl
import time

from benchlib import COMMADMIN, IMAPD, INIT_CONFIG, LDAP_LOCAL, MMP, MSCONFIG
from benchlib import Instance, clients_rate, message, ok, ready_to_run, rss_kib

SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "5"))
CLIENTS = int(os.environ.get("MS_BENCH_CLIENTS", "10"))
IDLE_SESSIONS = int(os.environ.get("MS_BENCH_IDLE_SESSIONS", "400"))
USERS = 10
PASSWORD = "Bench-Mmp-1"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect(port, user):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
    c.login(user, PASSWORD)
    return c


def client_loop(port, idx, start_at, stop_at, counts, errors):
    try:
        rnd = random.Random(idx)
        c = connect(port, f"user{idx % USERS}")
        box = f"bench{idx}"
        n = 0
        time.sleep(max(0.0, start_at - time.time()))  # all logged in: start
        while time.time() < stop_at:
            typ, data = c.select(box)
            ok((typ, data), "SELECT")
            typ, data = c.uid("SEARCH", None, "ALL")
            ok((typ, data), "UID SEARCH")
            uids = data[0].split()
            ok(c.uid("FETCH", b",".join(rnd.sample(uids, 10)),
                     "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])"),
               "FETCH headers")
            ok(c.uid("FETCH", rnd.choice(uids), "(BODY.PEEK[])"), "FETCH body")
            ok(c.noop(), "NOOP")
            n += 5
            counts[idx] = n
        c.logout()
    except Exception as e:  # reported by the parent
        errors.append(f"client {idx}: {e!r}")


def prepare(port):
    for i in range(CLIENTS):
        c = connect(port, f"user{i % USERS}")
        c.create(f"bench{i}")
        for k in range(40):
            ok(c.append(f"bench{i}", None, None, message(f"pre{i}-{k}")), "APPEND")
        c.logout()


def idle_memory(mmp_pid, port, cafile=None):
    """KiB of mmp resident memory per logged-in idle session."""
    def open_one(i):
        if cafile is None:
            c = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        else:
            c = imaplib.IMAP4_SSL("127.0.0.1", port, timeout=60,
                                  ssl_context=ssl.create_default_context(cafile=cafile))
        c.login(f"user{i % USERS}", PASSWORD)
        return c
    warm = [open_one(i) for i in range(20)]  # allocator and caches warmed up
    for c in warm:
        c.logout()
    time.sleep(0.3)
    before = rss_kib(mmp_pid)
    sessions = [open_one(i) for i in range(IDLE_SESSIONS)]
    time.sleep(0.3)
    after = rss_kib(mmp_pid)
    for c in sessions:
        c.sock.close()
    return (after - before) / IDLE_SESSIONS


def main():
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, IMAPD, MMP, MSCONFIG):
        return
    with Instance("bench-mmp-", "Bench-Mmp-Secret-1") as inst:
        inst.create()
        cert, key = inst.cert()
        offset = inst.offset
        direct, proxy, proxy_ssl = 143 + offset, 20143 + offset % 1000, 21993 + offset % 1000
        inst.set(("imap.port", str(direct)), ("imap.plaintextmincipher", "-1"),
                 ("store.admins", "admin"),
                 ("base.sslcertfile", str(cert)), ("base.sslkeyfile", str(key)),
                 ("imapproxy.tcp_listen:imapproxy1.tcp_ports", str(proxy)),
                 ("imapproxy.tcp_listen:imapproxy1.ssl_ports", str(proxy_ssl)),
                 ("popproxy.tcp_listen:popproxy1.tcp_ports", "0"),
                 ("imapproxy.connlimits", ":100000"),
                 ("proxy:store.storehostlist", "127.0.0.1"),
                 ("proxy:store.imapport", str(direct)))
        inst.users(USERS, PASSWORD, "-H", "store")
        imapd = inst.start(IMAPD, log="imap", ready="ready on port")
        mmp = inst.start(MMP, log="mmp", ready=" ready on ")
        prepare(direct)
        rates = {"direct": 0.0, "mmp": 0.0}
        cpu = {"mmp": 0.0, "imapd": 0.0}
        for _ in range(2):
            rates["direct"] = max(rates["direct"],
                                  clients_rate(client_loop, direct, CLIENTS, SECONDS))
            m0, i0 = cpu_seconds(mmp.pid), cpu_seconds(imapd.pid)
            rate = clients_rate(client_loop, proxy, CLIENTS, SECONDS)
            cpu["mmp"] += cpu_seconds(mmp.pid) - m0
            cpu["imapd"] += cpu_seconds(imapd.pid) - i0
            rates["mmp"] = max(rates["mmp"], rate)
        share = 100.0 * rates["mmp"] / rates["direct"] if rates["direct"] else 0.0
        what = (f"{CLIENTS} clients, {SECONDS:.0f} s, clear text, SELECT/UID SEARCH/"
                "FETCH headers/FETCH body/NOOP")
        print(f"IMAP ops/s direct to imapd: {rates['direct']:.0f} ({what})")
        print(f"IMAP ops/s through the MMP: {rates['mmp']:.0f} = {share:.0f} % of direct "
              f"(goal >= 90 %{'' if share >= 90 else ': MISSED'})")
        print(f"CPU through the MMP: mmp {cpu['mmp']:.2f} s, imapd {cpu['imapd']:.2f} s "
              f"(2 runs of {SECONDS + 1:.0f} s on {os.cpu_count()} CPUs)")
        plain = idle_memory(mmp.pid, proxy)
        tls = idle_memory(mmp.pid, proxy_ssl, cafile=str(cert))
        print(f"MMP memory per idle proxied session: {plain:.1f} KiB clear text, "
              f"{tls:.1f} KiB with TLS to the client ({IDLE_SESSIONS} sessions, VmRSS growth)")


if __name__ == "__main__":
    socket.setdefaulttimeout(60)
    main()
