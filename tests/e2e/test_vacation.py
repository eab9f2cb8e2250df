"""Autoreply (vacation) replies, end to end (docs/mta.md, "Autoreply").

One instance for the module: its own slapd, users with mailDeliveryOption
mailbox and autoreply and the mailAutoReply* attributes made with
commadmin, the real dispatcher (tcp_smtp_server expands the user into an
ims-ms copy and a uid+domain@bitbucket copy) and the real job controller,
whose bitbucket channel program sends the reply.  Outbound mail (the
replies) goes to a small SMTP server on 127.0.0.1: tcp_local's daemon and
port point at it.  Every message carries its own Message-ID, so a test
waits for the bitbucket D record of exactly its message in mail.log_current
(log_message_id) and then looks for the reply whose In-Reply-To names it.
"""
import email
import os
import re
import socket
import time
import uuid

import pytest

from conftest import DOMAIN, wait_until
from ldap_fixtures import create_ldap_instance
from test_mta_queue import JobController, Peer, mail_log
from mta_fixtures import Dispatcher
from test_smtp_server import client

PASSWORD = "Vacation-Pass-1"
REMOTE = "remote.test"
TEXT = "I am away until Monday.\nYour mail will be read then."
ACTIVE = ("vacationStartDate:20200101000000Z", "vacationEndDate:20990101000000Z")


@pytest.fixture(scope="module")
def vac(tmp_path_factory):
    root = tmp_path_factory.mktemp("vacation")
    inst = create_ldap_instance(root / "instance")
    disp = jc = peer = None
    try:
        inst.start()
        peer = Peer()
        inst.peer = peer
        inst.script(f"""set dispatcher.service:SMTP.interface_address 127.0.0.1
set dispatcher.service:SMTP_SUBMIT.interface_address 127.0.0.1
set dispatcher.service:SMTP.min_procs 1
set channel:defaults.logging
set mta.log_message_id 1
set channel:tcp_local.daemon 127.0.0.1
set channel:tcp_local.port {peer.port}
set channel:tcp_local.backoff pt1h
set job_controller.rescan 30
write
""")
        c = inst.commadmin

        def user(uid, *attrs):
            args = ["user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD, "-F", uid,
                    "-L", "Vacation", "-A", "+mailDeliveryOption:mailbox",
                    "-A", "+mailDeliveryOption:autoreply"]
            for a in attrs:
                args += ["-A", a]
            c(*args)

        user("away", f"mailAutoReplyText:{TEXT}", "mailAutoReplySubject:Out of office",
             "mailAutoReplyTimeOut:24", "mailAutoReplyMode:reply",
             f"+mailAlternateAddress:a.way@{DOMAIN}", *ACTIVE)
        user("echo", "mailAutoReplyText:Echo text", "mailAutoReplyMode:echo", *ACTIVE)
        user("always", "mailAutoReplyText:Every time", "mailAutoReplyTimeOut:0", *ACTIVE)
        user("future", "mailAutoReplyText:Not yet", "vacationStartDate:20990101000000Z")
        user("past", "mailAutoReplyText:Back", "vacationEndDate:20200101000000Z")
        inst.port_smtp = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                                       inst.compiled.read_text()).group(1))
        disp = Dispatcher(inst)
        disp.start()
        jc = JobController(inst)
        jc.start()
        inst.queue = inst.root / "data" / "queue"
        yield inst
    finally:
        if jc is not None:
            jc.stop()
        if disp is not None:
            disp.stop()
        if peer is not None:
            peer.close()
        inst.teardown()


def send(inst, rcpt, sender, headers="", to=None, subject="hello"):
    """One message over SMTP; returns its Message-ID."""
    msgid = f"<{uuid.uuid4().hex}@{REMOTE}>"
    to = to if to is not None else rcpt
    text = (f"From: {sender or 'mailer-daemon@' + REMOTE}\r\nTo: {to}\r\n"
            f"Subject: {subject}\r\nMessage-ID: {msgid}\r\n{headers}\r\nbody line\r\n")
    c = client(inst)
    c.ehlo("client.remote.test")
    code, reply = c.mail(sender)
    assert code == 250, reply
    code, reply = c.rcpt(rcpt)
    assert code == 250, reply
    code, reply = c.data(text)
    assert code == 250, reply
    c.quit()
    return msgid


def record(inst, channel, action, msgid):
    """The mail.log_current record of msgid on channel with action, or None."""
    for ln in mail_log(inst).splitlines():
        f = ln.split(" ")
        if len(f) > 4 and f[2] == channel and f[3].startswith(action) and msgid in ln:
            return ln
    return None


def bitbucket_done(inst, msgid, timeout=20):
    return wait_until(lambda: record(inst, "bitbucket", "D", msgid), timeout=timeout,
                      what=f"the bitbucket D record of {msgid}")


def replies_to(inst, msgid):
    out = []
    with inst.peer.lock:
        ts = list(inst.peer.transactions)
    for t in ts:
        m = email.message_from_bytes(t.get("data", b""))
        if m["In-Reply-To"] == msgid:
            out.append((t, m))
    return out


def reply_to(inst, msgid, timeout=20):
    return wait_until(lambda: replies_to(inst, msgid), timeout=timeout,
                      what=f"the autoreply to {msgid}")[0]


def test_one_reply_per_sender_within_the_timeout(vac):
    sender = f"alice@{REMOTE}"
    first = send(vac, f"away@{DOMAIN}", sender, subject="lunch?")
    t, m = reply_to(vac, first)
    # RFC 3834: from <>, to the return path, From the user, threaded, marked
    assert t["from"] == "" and t["accepted"] == [sender]
    assert m["From"] == f"<away@{DOMAIN}>" and m["To"] == f"<{sender}>"
    assert m["Subject"] == "Out of office"
    assert m["References"] == first
    assert m["Auto-Submitted"].startswith("auto-replied")
    assert m.get_content_type() == "text/plain"
    assert m.get_payload().replace("\r\n", "\n").strip() == TEXT
    # the original still reaches the mailbox, and the reply is logged
    wait_until(lambda: record(vac, "ims-ms", "D", first), timeout=20, what="the mailbox copy")
    assert "autoreply sent" in bitbucket_done(vac, first)
    assert any(f" bitbucket tcp_local E " in ln and sender in ln
               for ln in mail_log(vac).splitlines()), mail_log(vac)
    rec = (vac.queue / ".vacation" / f"away@{DOMAIN}").read_text()
    assert rec.startswith("MSV 1\n") and rec.endswith("\n.\n") and sender in rec
    # a second message within mailAutoReplyTimeOut: no second reply
    second = send(vac, f"away@{DOMAIN}", sender, subject="lunch?? (2)")
    assert "a reply was sent to this sender" in bitbucket_done(vac, second)
    wait_until(lambda: record(vac, "ims-ms", "D", second), timeout=20, what="the mailbox copy")
    assert replies_to(vac, second) == []
    assert sum(1 for t in vac.peer.transactions if t["accepted"] == [sender]) == 1
    # another sender is answered, through the alternate address in Cc
    bob = f"bob@{REMOTE}"
    third = send(vac, f"away@{DOMAIN}", bob, headers=f"Cc: A Way <a.way@{DOMAIN}>\r\n",
                 to=f"someone@{REMOTE}")
    t, m = reply_to(vac, third)
    assert t["accepted"] == [bob] and m["Subject"] == "Out of office"


@pytest.mark.parametrize("sender,headers,to,reason", [
    ("", "", None, "return path is empty"),
    (f"MAILER-DAEMON@{REMOTE}", "", None, "mail system"),
    (f"owner-list@{REMOTE}", "", None, "mailing list"),
    (f"news-request@{REMOTE}", "", None, "mailing list"),
    (f"carol@{REMOTE}", "Precedence: bulk\r\n", None, "Precedence"),
    (f"carol@{REMOTE}", "Auto-Submitted: auto-generated\r\n", None, "Auto-Submitted"),
    (f"carol@{REMOTE}", "List-Id: Talk <talk.lists.remote.test>\r\n", None, "mailing list"),
    (f"carol@{REMOTE}", "", "undisclosed-recipients:;", "not in To or Cc"),
    (f"carol@{REMOTE}", "", f"noaway@{DOMAIN}", "not in To or Cc"),
])
def test_no_reply_to_machines_and_lists(vac, sender, headers, to, reason):
    msgid = send(vac, f"away@{DOMAIN}", sender, headers=headers, to=to)
    line = bitbucket_done(vac, msgid)
    assert "no autoreply" in line and reason in line, line
    wait_until(lambda: record(vac, "ims-ms", "D", msgid), timeout=20, what="the mailbox copy")
    assert replies_to(vac, msgid) == []


def test_auto_submitted_no_is_answered(vac):
    msgid = send(vac, f"away@{DOMAIN}", f"dave@{REMOTE}", headers="Auto-Submitted: no\r\n")
    t, _ = reply_to(vac, msgid)
    assert t["accepted"] == [f"dave@{REMOTE}"]


def test_outside_the_vacation_dates(vac):
    # the SMTP server makes no bitbucket copy outside the dates ('^' pair)
    for uid in ("future", "past"):
        msgid = send(vac, f"{uid}@{DOMAIN}", f"erin@{REMOTE}")
        wait_until(lambda: record(vac, "ims-ms", "D", msgid), timeout=20,
                   what="the mailbox copy")
        assert record(vac, "bitbucket", "D", msgid) is None
    # a copy queued while the vacation lasted and delivered after it ends
    msgid = handmade_copy(vac, "past", f"erin@{REMOTE}")
    assert "the vacation is over" in bitbucket_done(vac, msgid)
    assert replies_to(vac, msgid) == []


def test_plain_bitbucket_mail_is_not_answered(vac):
    # the autoreply address itself, sent to directly: orig is the address
    msgid = handmade_copy(vac, "away", f"frank@{REMOTE}", orig=f"away+{DOMAIN}@bitbucket")
    line = bitbucket_done(vac, msgid)
    assert "autoreply" not in line.split(msgid, 1)[1], line
    assert replies_to(vac, msgid) == []


def test_timeout_zero_answers_every_message(vac):
    ids = [send(vac, f"always@{DOMAIN}", f"gina@{REMOTE}") for _ in range(2)]
    for msgid in ids:
        t, m = reply_to(vac, msgid)
        assert m["Subject"] == "Auto: hello"
        assert m.get_payload().strip() == "Every time"


def test_echo_mode_returns_the_original(vac):
    ids = [send(vac, f"echo@{DOMAIN}", f"hank@{REMOTE}", subject=f"echo {i}") for i in range(2)]
    for i, msgid in enumerate(ids):
        t, m = reply_to(vac, msgid)
        assert m.get_content_type() == "multipart/report"
        assert m.get_param("report-type") == "disposition-notification"
        text, mdn, orig = m.get_payload()
        assert text.get_payload().strip() == "Echo text"
        fields = mdn.get_payload()[0]
        assert fields["Original-Message-ID"] == msgid
        assert "processed" in fields["Disposition"]
        assert orig.get_content_type() == "message/rfc822"
        assert orig.get_payload()[0]["Subject"] == f"echo {i}"


def handmade_copy(inst, uid, sender, orig=None):
    """A bitbucket queue file as the SMTP server writes it (mta_queue.h)."""
    msgid = f"<{uuid.uuid4().hex}@{REMOTE}>"
    body = (f"From: {sender}\r\nTo: {uid}@{DOMAIN}\r\nSubject: late\r\n"
            f"Message-ID: {msgid}\r\n\r\nbody\r\n").encode()
    now = int(time.time())
    qid = f"{int(time.time() * 1e6):013x}"[-13:] + os.urandom(6).hex()[:11]
    orig = orig or f"{uid}@{DOMAIN}"
    head = (f"MSQ 1\nid {qid}\nchannel bitbucket\nfrom <{sender}>\ncreated {now}\n"
            f"attempts 0\nnext {now}\nsource tcp_local\nbody 7bit\nsmtputf8 0\n"
            f"size {len(body)}\ndelay-notified 0\n"
            f"rcpt <{uid}+2B{DOMAIN}@bitbucket> orig=<{orig.replace('+', '+2B')}>\n\n")
    tmp = inst.queue / ".tmp" / f"hand{qid}"
    tmp.write_bytes(head.encode() + body)
    os.utime(tmp, (now, now))
    (inst.queue / "bitbucket").mkdir(mode=0o700, exist_ok=True)
    os.rename(tmp, inst.queue / "bitbucket" / f"ZZ{qid}.00")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(b"bitbucket\n", str(inst.root / "data" / "run" / "job_controller.sock"))
    finally:
        s.close()
    return msgid
