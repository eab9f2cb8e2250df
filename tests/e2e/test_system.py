"""The whole MTA as an administrator runs it (issue 8; spec T45).

One instance for the module (system_fixtures.System): its own slapd, the
store, IMAP, POP, the dispatcher with its tcp_smtp_server processes and
the job controller, all started by `start-msg` under the watcher.  Mail
comes in by SMTP on the dispatcher's ports and is read back with IMAP and
POP; submission needs AUTH after STARTTLS and relays to a next hop played
by a small SMTP server on 127.0.0.1 (system_fixtures.Peer), tcp_local's
smart host (`daemon`, `port`); a second channel, reached through a rewrite
rule, leads to a port where nothing listens.  All of it is set with
msconfig.  The administrator's commands are exercised as such: msconfig
edit mappings, imsimta refresh, imsimta restart (new ports and process
counts), imsimta stop/start, imsimta qm list/summarize/requeue, stop-msg;
and kill -9 of the dispatcher.

"Outside" is 127.0.0.2: a new instance's INTERNAL_IP holds 127.0.0.0/8, so
the relay test narrows it to 127.0.0.1/32 with `msconfig edit mappings`
and makes the running servers take it with `imsimta refresh`.  The tests
run in file order and share the instance.
"""
import base64
import os
import poplib
import re
import signal
import smtplib
import sys
import time

import pytest

from conftest import DOMAIN, wait_until
from system_fixtures import Peer, System
from watcher_fixtures import alive

PASSWORD = "System-Pass-1"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    root = tmp_path_factory.mktemp("system")
    peer, dead = Peer(), Peer()
    dead.stop()  # a next hop that refuses connections: its port is closed
    s = System(root, ("joe", "ann", "kim"), PASSWORD)
    s.peer, s.dead = peer, dead
    try:
        # outbound routing as an administrator sets it up: the smart host
        # (daemon, port) of tcp_local is the peer; dead.test goes to a channel
        # of its own through a rewrite rule, covered by the relay blocking too
        s.msconfig("set", "channel:tcp_local.daemon", "127.0.0.1")
        s.msconfig("set", "channel:tcp_local.port", str(peer.port))
        for opt, val in (("smtp", ""), ("official_host_name", "tcp_dead-daemon"),
                         ("daemon", "127.0.0.1"), ("port", str(dead.port)),
                         ("backoff", "pt1h")):
            s.msconfig("set", f"channel:tcp_dead.{opt}", *([val] if val else []))
        s.msconfig("set", "rewrite.rule", "dead.test $U%$D@tcp_dead-daemon")
        s.msconfig("set", "mapping:ORIG_SEND_ACCESS.rule",
                   "tcp_local|*|tcp_dead|* $NRelaying$ not$ permitted")
        s.start()
        yield s
    finally:
        s.teardown()
        peer.stop()
        dead.stop()


def message(subject, to=f"joe@{DOMAIN}", size=0):
    text = (f"From: ann@{DOMAIN}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@system.test>\r\n\r\n")
    while len(text) < size:
        text += "y" * 70 + "\r\n"
    return text + "the end\r\n"


def smtp(s, port=None, source="127.0.0.1"):
    return smtplib.SMTP("127.0.0.1", port or s.port_smtp, timeout=20,
                        source_address=(source, 0))


def send(s, subject, rcpt=f"joe@{DOMAIN}"):
    c = smtp(s)
    try:
        c.ehlo("client.example.com")
        c.mail(f"ann@{DOMAIN}")
        code, text = c.rcpt(rcpt)
        assert code == 250, (code, text)
        code, text = c.data(message(subject, rcpt))
        assert code == 250, (code, text)
        c.quit()
    finally:
        c.close()
    return text.decode()


def wait_in_store(s, subject, user="joe", timeout=30):
    wait_until(lambda: subject in s.subjects(user), timeout=timeout, interval=0.1,
               what=f"'{subject}' in {user}'s INBOX")


def test_start_msg_started_every_service(system):
    status = system.start_msg("--status").stdout
    for svc in ("ldap", "store", "imap", "pop", "dispatcher", "job_controller"):
        m = re.search(rf"^{svc} +running +(\d+)$", status, re.M)
        assert m and alive(int(m.group(1))), status
        if svc != "ldap":  # data/run/ldap.pid is slapd's, under ldap-local
            assert system.pid(svc) == int(m.group(1)), (svc, status)
    assert re.search(r"^http +disabled", status, re.M), status
    assert system.procs("tcp_smtp_server"), "the dispatcher runs its servers"
    assert system.procs("job_controller") == [system.pid("job_controller")]
    log = system.log("watcher")
    assert "Starting dispatcher server ...." in log and "Starting imap server" in log


def test_smtp_to_a_local_user_reaches_the_mailbox(system):
    reply = send(system, "inbound one")
    assert re.search(r"queued as [0-9a-f]{24}", reply), reply
    wait_in_store(system, "inbound one")
    assert system.subjects("joe").count("inbound one") == 1
    # and POP reads the same mailbox
    c = poplib.POP3("127.0.0.1", system.port_pop, timeout=20)
    try:
        c.stls(context=system.tls())
        c.user("joe")
        c.pass_(PASSWORD)
        n, _ = c.stat()
        found = [i for i in range(1, n + 1)
                 if b"Subject: inbound one" in b"\n".join(c.top(i, 0)[1])]
        assert len(found) == 1
    finally:
        c.quit()
    log = system.log("mail.log_current")
    assert re.search(r" ims-ms D .* joe@ims-ms-daemon$", log, re.M), log


def test_unknown_user_refused_at_rcpt(system):
    c = smtp(system)
    c.ehlo("client.example.com")
    c.mail(f"ann@{DOMAIN}")
    code, text = c.rcpt(f"nobody-here@{DOMAIN}")
    assert code == 550 and text.startswith(b"5.1.1"), (code, text)
    assert c.rcpt(f"kim@{DOMAIN}")[0] == 250  # the session goes on
    c.rset()
    c.quit()


def test_submission_needs_auth_after_starttls_and_relays(system):
    c = smtp(system, system.port_submit)
    c.ehlo("laptop.example.com")
    assert "auth" not in c.esmtp_features, "no AUTH offered in clear text"
    code, _ = c.mail(f"joe@{DOMAIN}")
    assert code == 530
    code, text = c.docmd("AUTH", "PLAIN " + base64.b64encode(
        f"\0joe\0{PASSWORD}".encode()).decode())
    assert code == 538, (code, text)
    c.starttls(context=system.tls())
    c.ehlo("laptop.example.com")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        c.login("joe", "not-the-password")
    c.login("joe", PASSWORD)
    c.mail(f"joe@{DOMAIN}")
    assert c.rcpt("friend@remote.example.org")[0] == 250
    code, _ = c.data(message("submitted one", "friend@remote.example.org"))
    assert code == 250
    c.quit()
    got = wait_until(lambda: [m for m in system.peer.messages
                              if b"Subject: submitted one" in m[2]], timeout=30,
                     what="the message at the peer")
    assert len(got) == 1
    sender, rcpts, data = got[0]
    assert sender.startswith(f"MAIL FROM:<joe@{DOMAIN}>") and rcpts == ["friend@remote.example.org"]
    log = system.log("mail.log_current")
    assert re.search(r" tcp_local D.* friend@remote\.example\.org smtp;250 ", log), log


def test_relay_from_outside_refused_after_edit_mappings_and_refresh(system, tmp_path):
    # 127.0.0.2 is inside 127.0.0.0/8 in a new instance: relaying allowed
    c = smtp(system, source="127.0.0.2")
    c.ehlo("host2.example.com")
    c.mail("someone@outside.example.net")
    assert c.rcpt("victim@remote.example.org")[0] == 250
    c.rset()
    c.quit()
    # the administrator narrows INTERNAL_IP in $EDITOR
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\np = sys.argv[1]\nt = open(p).read()\n"
                      "assert '$(127.0.0.0/8)' in t, t\n"
                      "open(p, 'w').write(t.replace('$(127.0.0.0/8)', '$(127.0.0.1/32)'))\n")
    system.msconfig("edit", "mappings", env={"EDITOR": f"{sys.executable} {editor}"})
    assert "$(127.0.0.1/32)" in system.msconfig("show", "mapping:INTERNAL_IP*").stdout
    system.imsimta("refresh")
    c = smtp(system, source="127.0.0.2")
    c.ehlo("outside.example.net")
    c.mail("someone@outside.example.net")
    code, text = c.rcpt("victim@remote.example.org")
    assert code == 550 and b"Relaying not permitted" in text, (code, text)
    code, text = c.rcpt("victim@dead.test")  # the administrator's own channel
    assert code == 550 and b"Relaying not permitted" in text, (code, text)
    assert c.rcpt(f"kim@{DOMAIN}")[0] == 250  # local users stay reachable
    c.quit()
    # 127.0.0.1 is still inside
    c = smtp(system)
    c.ehlo("inside.example.com")
    c.mail(f"ann@{DOMAIN}")
    assert c.rcpt("friend@remote.example.org")[0] == 250
    c.rset()
    c.quit()


def test_imsimta_restart_job_controller(system):
    old = system.pid("job_controller")
    cp = system.imsimta("restart", "job_controller")
    new = wait_until(lambda: (lambda p: p if p and p != old and alive(p) else None)(
        system.pid("job_controller")), what="a new job_controller PID")
    assert not alive(old), cp.stdout + cp.stderr
    assert system.procs("job_controller") == [new]
    send(system, "after jc restart")
    wait_in_store(system, "after jc restart")


def test_job_controller_rescans_the_queue_at_start(system):
    """T45: mail queued while the job controller is down goes once it starts
    (its notification was lost; job_controller.rescan is 60 s)."""
    system.imsimta("stop", "job_controller")
    assert not system.procs("job_controller")
    reply = send(system, "queued while jc down")
    qid = re.search(r"queued as ([0-9a-f]{24})", reply).group(1)
    assert f"ims-ms/ZZ{qid}.00" in system.queue_files()
    t0 = time.monotonic()
    system.imsimta("start", "job_controller")
    wait_in_store(system, "queued while jc down", timeout=20)
    assert time.monotonic() - t0 < 20
    assert not [f for f in system.queue_files() if qid in f]


def test_imsimta_restart_dispatcher(system):
    """T45; and what only a restart applies: a new port, more processes."""
    old = system.pid("dispatcher")
    old_servers = set(system.procs("tcp_smtp_server"))
    old_port, new_port = system.port_smtp, system.port_smtp + 1
    system.msconfig("set", "dispatcher.service:SMTP.tcp_ports", str(new_port))
    system.msconfig("set", "dispatcher.service:SMTP.min_procs", "3")
    system.imsimta("restart", "dispatcher")
    new = wait_until(lambda: (lambda p: p if p and p != old and alive(p) else None)(
        system.pid("dispatcher")), what="a new dispatcher PID")
    assert not alive(old)
    servers = wait_until(lambda: (lambda p: p if len(p) == 3 else None)(
        system.procs("tcp_smtp_server", "SMTP")), what="three SMTP servers")
    assert not old_servers & set(servers), "the old server processes are gone"
    assert system.procs("dispatcher") == [new]
    system.port_smtp = new_port
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", old_port, timeout=5)
    send(system, "after dispatcher restart")
    wait_in_store(system, "after dispatcher restart")
    # the narrowed INTERNAL_IP survived the restart
    c = smtp(system, source="127.0.0.2")
    c.ehlo("outside.example.net")
    c.mail("someone@outside.example.net")
    assert c.rcpt("victim@remote.example.org")[0] == 550
    c.quit()


def test_imsimta_restart_of_the_whole_mta(system):
    old = {svc: system.pid(svc) for svc in ("dispatcher", "job_controller")}
    others = {svc: system.pid(svc) for svc in ("store", "imap", "pop")}
    cp = system.imsimta("restart")
    for svc, pid in old.items():
        new = wait_until(lambda: (lambda p: p if p and p != pid and alive(p) else None)(
            system.pid(svc)), what=f"a new {svc} PID")
        assert not alive(pid), (svc, cp.stdout, cp.stderr)
        assert system.procs(svc) == [new]
    assert {svc: system.pid(svc) for svc in others} == others, "the store is not touched"
    send(system, "after mta restart")
    wait_in_store(system, "after mta restart")
    cp = system.imsimta("restart", "smtp", check=False)
    assert cp.returncode != 0 and "obsolete" in cp.stderr
    assert system.pid("dispatcher") == system.procs("dispatcher")[0]


def test_qm_list_shows_a_message_for_a_stopped_peer(system):
    reply = send(system, "to a stopped peer", rcpt="someone@dead.test")
    qid = re.search(r"queued as ([0-9a-f]{24})", reply).group(1)
    wait_until(lambda: [f for f in system.queue_files() if f == f"tcp_dead/{qid}.01"],
               timeout=30, what="the first failed try")
    out = system.imsimta("qm", "list", "tcp_dead").stdout
    assert f"{qid}.01" in out and "someone@dead.test" in out, out
    assert re.search(r"Failed connect\(\) 127\.0\.0\.1:\d+", out), out
    summary = system.imsimta("qm", "summarize").stdout
    assert re.search(r"^tcp_dead\s+1\s", summary, re.M), summary
    # the next hop has moved: the administrator points the channel at the
    # new port, refreshes and requeues, and the message goes
    moved = Peer()
    try:
        system.msconfig("set", "channel:tcp_dead.port", str(moved.port))
        system.imsimta("refresh", "job_controller")
        assert "requeued" in system.imsimta("qm", "requeue", qid).stdout
        wait_until(lambda: [m for m in moved.messages
                            if b"Subject: to a stopped peer" in m[2]], timeout=30,
                   what="the message at the new next hop")
        wait_until(lambda: not [f for f in system.queue_files() if qid in f], timeout=10,
                   what="the queue file to go")
        assert not system.dead.messages
    finally:
        moved.stop()


def test_kill9_of_the_dispatcher(system):
    """The watcher restarts it; its server processes must not outlive it
    holding the ports (they get SIGTERM at its death), or the new
    dispatcher could not listen and would stay down."""
    old = system.pid("dispatcher")
    servers = system.procs("tcp_smtp_server")
    log_at = len(system.log("watcher"))
    os.kill(old, signal.SIGKILL)
    new = wait_until(lambda: (lambda p: p if p and p != old and alive(p) else None)(
        system.pid("dispatcher")), timeout=15, what="a new dispatcher PID")
    wait_until(lambda: not [p for p in servers if alive(p)], timeout=15,
               what="the old server processes to exit")
    wait_until(lambda: re.search(rf"dispatcher\[{new}\]: .* ready", system.log("dispatcher.log")),
               timeout=15, what="the new dispatcher ready")
    assert f"Watched 'dispatcher' process {old} exited abnormally" in \
        system.log("watcher")[log_at:]
    assert not re.search(r"Address already in use", system.log("dispatcher.log"))
    send(system, "after dispatcher kill")
    wait_in_store(system, "after dispatcher kill")
    assert set(system.procs("tcp_smtp_server")).isdisjoint(servers)


def test_stop_msg_stops_everything(system):
    pids = {svc: system.pid(svc) for svc in ("watcher", "ldap", "store", "imap", "pop",
                                               "dispatcher", "job_controller")}
    servers = system.procs("tcp_smtp_server")
    assert all(pids.values()) and servers
    cp = system.stop_msg()
    assert "Stopping dispatcher server" in cp.stdout + cp.stderr + system.log("watcher")
    for svc, pid in pids.items():
        assert not alive(pid), f"{svc} {pid} still runs"
    for pid in servers:
        assert not alive(pid)
    wait_until(lambda: not system.inst.pids(), timeout=10, what="no process of the instance")
    with pytest.raises(OSError):
        smtp(system)
    assert re.search(r"watcher process \d+ stopped at", system.log("watcher"))
    t0 = time.monotonic()
    system.start_msg()  # and it starts again, as after a reboot
    send(system, "after a new start")
    wait_in_store(system, "after a new start")
    assert time.monotonic() - t0 < 30
    system.stop_msg()
    assert not system.inst.pids()
