"""Recipient expansion at RCPT time in tcp_smtp_server (docs/mta.md, "The
SMTP server", step 5): the alias table, mailDeliveryOption with
mta.delivery_options, mailForwardingAddress, status hold, groups (rfc822
members and member DNs), loops, and the delivery options' errors.

One instance for the module, set up as test_smtp_server.py does: its own
slapd, users and groups made with commadmin, aliases with msconfig, the
real dispatcher.  The checks read the envelope `rcpt` lines of the queue
files each channel got (workers/mta/mta_queue.h); no job controller runs,
so the files stay where the SMTP server put them.
"""
import os
import re
import signal

import pytest

from conftest import DOMAIN, wait_until
from ldap_fixtures import create_ldap_instance, user_dn
from mta_fixtures import Dispatcher
from test_smtp_server import client, msg, qid_of, queue_file_of

PASSWORD = "Expand-Pass-1"
REMOTE = "remote.example.net"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    root = tmp_path_factory.mktemp("expand")
    inst = create_ldap_instance(root / "instance")
    disp = None
    try:
        inst.start()
        for svc in ("SMTP", "SMTP_SUBMIT"):
            inst.run("set", f"dispatcher.service:{svc}.interface_address", "127.0.0.1")
        inst.run("set", "dispatcher.service:SMTP.min_procs", "1")
        inst.run("set", "channel:defaults.logging", "")
        # 127.0.0.1 is internal; 127.0.0.2 an outside client (relaying refused)
        for table in ("INTERNAL_IP", "ORIG_SEND_ACCESS"):
            inst.run("unset", f"mapping:{table}.rule")
        inst.run("set", "mapping:INTERNAL_IP.rule", "$(127.0.0.1/32) $Y")
        inst.run("set", "mapping:INTERNAL_IP.rule", "* $N")
        inst.run("set", "mapping:ORIG_SEND_ACCESS.rule",
                 "tcp_local|*|tcp_local|* $NRelaying$ not$ permitted")
        # the alias table
        for name, entries in (("team", [f"joe@{DOMAIN}", f"ann@{DOMAIN}", f"friend@{REMOTE}"]),
                              ("loopa", [f"loopb@{DOMAIN}"]),
                              ("loopb", [f"loopa@{DOMAIN}"]),
                              ("bare", ["kim"])):
            for e in entries:
                inst.run("set", f"alias:{name}.alias_entry", e)
        c = inst.commadmin
        for uid in ("joe", "ann", "kim"):
            c("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD, "-F", uid, "-L", "X")
        c("user", "create", "-l", "fwd", "-d", DOMAIN, "-W", PASSWORD, "-F", "f", "-L", "X",
          "-A", "+mailDeliveryOption:mailbox", "-A", "+mailDeliveryOption:forward",
          "-A", f"+mailForwardingAddress:kim@{DOMAIN}",
          "-A", f"+mailForwardingAddress:out@{REMOTE}")
        c("user", "create", "-l", "fwdonly", "-d", DOMAIN, "-W", PASSWORD, "-F", "f", "-L", "X",
          "-A", "+mailDeliveryOption:forward", "-A", f"+mailForwardingAddress:ann@{DOMAIN}")
        c("user", "create", "-l", "fwdbad", "-d", DOMAIN, "-W", PASSWORD, "-F", "f", "-L", "X",
          "-A", "+mailDeliveryOption:mailbox", "-A", "+mailDeliveryOption:forward",
          "-A", f"+mailForwardingAddress:nosuch@{DOMAIN}")
        c("user", "create", "-l", "lost", "-d", DOMAIN, "-W", PASSWORD, "-F", "f", "-L", "X",
          "-A", "+mailDeliveryOption:forward", "-A", f"+mailForwardingAddress:nosuch@{DOMAIN}")
        c("user", "create", "-l", "held", "-d", DOMAIN, "-W", PASSWORD, "-F", "h", "-L", "X",
          "-A", "mailUserStatus:hold")
        c("user", "create", "-l", "away", "-d", DOMAIN, "-W", PASSWORD, "-F", "a", "-L", "X",
          "-A", "+mailDeliveryOption:mailbox", "-A", "+mailDeliveryOption:autoreply",
          "-A", "mailAutoReplyText:I am away")
        c("group", "create", "-G", "crew", "-d", DOMAIN, "-m", "joe", "-m", "held",
          "-m", f"pal@{REMOTE}")
        c("group", "create", "-G", "outer", "-d", DOMAIN, "-m", f"crew@{DOMAIN}",
          "-m", "kim")
        c("group", "create", "-G", "ghosts", "-d", DOMAIN, "-m", "ann")
        for uid, status in (("gone", "removed"), ("off", "inactive"), ("full", "overquota")):
            c("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD, "-F", "s", "-L", "X",
              "-A", f"mailUserStatus:{status}")
        c("group", "create", "-G", "mixed", "-d", DOMAIN, "-m", "off", "-m", "kim")
        c("group", "create", "-G", "idle", "-d", DOMAIN, "-m", "off", "-m", "full")
        ports = inst.compiled.read_text()
        inst.port_smtp = int(re.search(r"dispatcher\.service:SMTP\.tcp_ports\t(\d+)",
                                       ports).group(1))
        disp = Dispatcher(inst)
        disp.start()
        inst.disp = disp
        inst.queue = inst.root / "data" / "queue"
        inst.log = inst.root / "data" / "log" / "tcp_smtp_server.log"
        yield inst
    finally:
        if disp is not None:
            disp.stop()
        inst.teardown()


def rcpt_lines(inst, qid, channel):
    """The envelope rcpt lines of the message's copy on channel."""
    head = queue_file_of(inst, qid, channel).read_text().split("\n\n", 1)[0]
    return [ln for ln in head.split("\n") if ln.startswith("rcpt ")]


def channels_of(inst, qid):
    return {ch.name for ch in inst.queue.iterdir() if ch.is_dir() and not ch.name.startswith(".")
            and any(qid in p.name for p in ch.iterdir() if p.is_file())}


def send(inst, rcpts, source="127.0.0.1"):
    """One transaction; returns (qid, {rcpt: (code, text)})."""
    c = client(inst, source=source)
    c.ehlo("client.example.org")
    assert c.mail(f"sender@{REMOTE}")[0] == 250
    replies = {r: c.rcpt(r) for r in rcpts}
    qid = None
    if any(code == 250 for code, _ in replies.values()):
        code, reply = c.data(msg("expansion"))
        assert code == 250, reply
        qid = qid_of(reply.decode())
    c.quit()
    return qid, replies


def rcpt_reply(inst, addr, source="127.0.0.1"):
    c = client(inst, source=source)
    c.ehlo("client.example.org")
    c.mail(f"sender@{REMOTE}")
    code, text = c.rcpt(addr)
    c.quit()
    return code, text.decode()


def test_alias_to_two_users_and_a_remote_address(smtp):
    # from outside: the alias's remote address is not relaying
    qid, replies = send(smtp, [f"team@{DOMAIN}"], source="127.0.0.2")
    assert replies[f"team@{DOMAIN}"][0] == 250, replies
    assert channels_of(smtp, qid) == {"ims-ms", "tcp_local"}
    local = rcpt_lines(smtp, qid, "ims-ms")
    assert sorted(local) == sorted([f"rcpt <joe@ims-ms-daemon> orig=<team@{DOMAIN}>",
                                    f"rcpt <ann@ims-ms-daemon> orig=<team@{DOMAIN}>"]), local
    assert rcpt_lines(smtp, qid, "tcp_local") == [
        f"rcpt <friend@{REMOTE}> orig=<team@{DOMAIN}>"]
    # a bare alias entry is a user of the default domain
    qid, replies = send(smtp, [f"bare@{DOMAIN}"])
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <kim@ims-ms-daemon> orig=<bare@{DOMAIN}>"]


def test_forward_and_mailbox(smtp):
    qid, replies = send(smtp, [f"fwd@{DOMAIN}"], source="127.0.0.2")
    assert replies[f"fwd@{DOMAIN}"][0] == 250
    assert channels_of(smtp, qid) == {"ims-ms", "tcp_local"}
    assert sorted(rcpt_lines(smtp, qid, "ims-ms")) == sorted([
        f"rcpt <fwd@ims-ms-daemon> orig=<fwd@{DOMAIN}>",
        f"rcpt <kim@ims-ms-daemon> orig=<fwd@{DOMAIN}>"])
    assert rcpt_lines(smtp, qid, "tcp_local") == [f"rcpt <out@{REMOTE}> orig=<fwd@{DOMAIN}>"]


def test_forward_only(smtp):
    qid, _ = send(smtp, [f"fwdonly@{DOMAIN}"])
    assert channels_of(smtp, qid) == {"ims-ms"}
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <ann@ims-ms-daemon> orig=<fwdonly@{DOMAIN}>"]


def test_dsn_parameters_kept_on_every_copy(smtp):
    c = client(smtp)
    c.ehlo("client.example.org")
    c.mail(f"sender@{REMOTE}")
    code, _ = c.rcpt(f"fwd@{DOMAIN}", ["NOTIFY=FAILURE", f"ORCPT=rfc822;fwd@{DOMAIN}"])
    assert code == 250
    code, reply = c.data(msg("dsn"))
    qid = qid_of(reply.decode())
    c.quit()
    lines = rcpt_lines(smtp, qid, "ims-ms") + rcpt_lines(smtp, qid, "tcp_local")
    assert len(lines) == 3, lines
    for ln in lines:
        assert f"orcpt=rfc822;fwd@{DOMAIN}" in ln and "notify=failure" in ln, ln
        assert f"orig=<fwd@{DOMAIN}>" in ln, ln


def test_user_on_hold_goes_to_the_hold_channel(smtp):
    qid, replies = send(smtp, [f"held@{DOMAIN}"])
    assert replies[f"held@{DOMAIN}"][0] == 250
    assert channels_of(smtp, qid) == {"hold"}
    assert rcpt_lines(smtp, qid, "hold") == [
        f"rcpt <@hold-daemon:held@{DOMAIN}> orig=<held@{DOMAIN}>"]


def test_autoreply_copy_goes_to_bitbucket(smtp):
    qid, _ = send(smtp, [f"away@{DOMAIN}"])
    assert channels_of(smtp, qid) == {"ims-ms", "bitbucket"}
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <away@ims-ms-daemon> orig=<away@{DOMAIN}>"]
    assert rcpt_lines(smtp, qid, "bitbucket") == [
        f"rcpt <away+2B{DOMAIN}@bitbucket> orig=<away@{DOMAIN}>"]


def test_group_rfc822_members_and_member_dns(smtp):
    qid, replies = send(smtp, [f"crew@{DOMAIN}"], source="127.0.0.2")
    assert replies[f"crew@{DOMAIN}"][0] == 250, replies
    assert channels_of(smtp, qid) == {"ims-ms", "hold", "tcp_local"}
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <joe@ims-ms-daemon> orig=<crew@{DOMAIN}>"]
    assert rcpt_lines(smtp, qid, "hold") == [
        f"rcpt <@hold-daemon:held@{DOMAIN}> orig=<crew@{DOMAIN}>"]
    assert rcpt_lines(smtp, qid, "tcp_local") == [f"rcpt <pal@{REMOTE}> orig=<crew@{DOMAIN}>"]
    # a group in a group (member DN of a group), and joe twice: one copy
    qid, replies = send(smtp, [f"outer@{DOMAIN}", f"joe@{DOMAIN}"])
    assert all(code == 250 for code, _ in replies.values()), replies
    local = rcpt_lines(smtp, qid, "ims-ms")
    assert sorted(local) == sorted([f"rcpt <joe@ims-ms-daemon> orig=<outer@{DOMAIN}>",
                                    f"rcpt <kim@ims-ms-daemon> orig=<outer@{DOMAIN}>"]), local


def test_status_of_the_recipient_and_of_members(smtp):
    for uid, code, esc in (("gone", 550, "5.1.6"), ("off", 450, "4.2.1"),
                           ("full", 452, "4.2.2")):
        got, text = rcpt_reply(smtp, f"{uid}@{DOMAIN}")
        assert (got, text[:5]) == (code, esc), (uid, got, text)
    # an inactive member does not fail the group when another copy is accepted
    qid, replies = send(smtp, [f"mixed@{DOMAIN}"])
    assert replies[f"mixed@{DOMAIN}"][0] == 250, replies
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <kim@ims-ms-daemon> orig=<mixed@{DOMAIN}>"]
    # nothing accepted: the first member's failure, naming it
    code, text = rcpt_reply(smtp, f"idle@{DOMAIN}")
    assert code == 450 and text.startswith("4.2.1") and "off@" in text, (code, text)


def test_alias_loop_is_refused(smtp):
    code, text = rcpt_reply(smtp, f"loopa@{DOMAIN}")
    assert code == 550 and text.startswith("5.4.6") and "loop" in text.lower(), (code, text)
    # the server is still there and answers the next one
    assert rcpt_reply(smtp, f"joe@{DOMAIN}")[0] == 250


def test_unknown_forward_target(smtp):
    # with the mailbox as another target: accepted, the bad address logged
    qid, replies = send(smtp, [f"fwdbad@{DOMAIN}"])
    assert replies[f"fwdbad@{DOMAIN}"][0] == 250
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <fwdbad@ims-ms-daemon> orig=<fwdbad@{DOMAIN}>"]
    wait_until(lambda: f"<nosuch@{DOMAIN}> (level 1) not delivered: 550 5.1.1"
               in smtp.log.read_text(), what="the log line")
    # as the only target: the RCPT fails and says why
    code, text = rcpt_reply(smtp, f"lost@{DOMAIN}")
    assert code == 550 and text.startswith("5.1.1"), (code, text)
    assert f"<nosuch@{DOMAIN}>" in text and "User unknown" in text, text


def test_member_dn_that_is_gone(smtp):
    cp = smtp.ldapsearch("dc=example,dc=com", "(cn=ghosts)", "dn")
    dn = re.search(r"^dn: (.*)$", cp.stdout, re.M).group(1)
    smtp.ldapmodify(f"dn: {dn}\nchangetype: modify\nadd: member\n"
                    f"member: {user_dn('ghost')}\n")
    qid, replies = send(smtp, [f"ghosts@{DOMAIN}"])
    assert replies[f"ghosts@{DOMAIN}"][0] == 250, replies
    assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <ann@ims-ms-daemon> orig=<ghosts@{DOMAIN}>"]
    wait_until(lambda: f"<{user_dn('ghost')}> (level 1) not delivered: 550 5.1.1"
               in smtp.log.read_text(), what="the log line")


def reload(smtp):
    before = smtp.log.read_text().count("config generation")
    n = len(smtp.disp.children("SMTP"))
    os.kill(smtp.disp.proc.pid, signal.SIGHUP)
    wait_until(lambda: smtp.log.read_text().count("config generation") >= before + n,
               what="the SMTP server to reload")


def test_delivery_options_errors(smtp):
    """Last: changes mta.delivery_options (and restores it)."""
    smtp.run("set", "mta.delivery_options",
             "*mailbox=$M%$\\$2I$_+$2S@ims-ms-daemon,&members=*,/hold=@hold-daemon:$A")
    try:
        reload(smtp)
        # forward is not in the list: only the mailbox is left
        qid, replies = send(smtp, [f"fwd@{DOMAIN}"])
        assert replies[f"fwd@{DOMAIN}"][0] == 250
        assert channels_of(smtp, qid) == {"ims-ms"}
        assert rcpt_lines(smtp, qid, "ims-ms") == [f"rcpt <fwd@ims-ms-daemon> orig=<fwd@{DOMAIN}>"]
        assert "delivery option forward is not in mta.delivery_options" in smtp.log.read_text()
        # nothing left: refused, with the reason
        code, text = rcpt_reply(smtp, f"fwdonly@{DOMAIN}")
        assert code == 550 and text.startswith("5.1.1"), (code, text)
        assert "delivery option forward is not in mta.delivery_options" in text, text
        # a list that does not parse: one error in the log, local mail 451
        smtp.run("set", "mta.delivery_options", "*mailbox=$M@ims-ms-daemon,forward")
        reload(smtp)
        log = smtp.log.read_text()
        assert log.count('mta.delivery_options: delivery option "forward" is not '
                         'PREFIXoption=template') == len(smtp.disp.children("SMTP")), log[-2000:]
        code, text = rcpt_reply(smtp, f"joe@{DOMAIN}")
        assert code == 451 and text.startswith("4.3.5"), (code, text)
        assert "mta.delivery_options" in text
        assert rcpt_reply(smtp, f"x@{REMOTE}")[0] == 250  # relaying is unaffected
    finally:
        smtp.run("unset", "mta.delivery_options")
        reload(smtp)
    assert rcpt_reply(smtp, f"fwdonly@{DOMAIN}")[0] == 250
