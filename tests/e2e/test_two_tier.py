"""The two-tier deployment on one machine (docs/mmp.md, "Two-tier
deployment on one machine"), end to end.

Three instances made by init-config, each started with start-msg:

- F, the front end on 127.0.0.1: its own slapd (ldap-local, run attached
  as the other tests do; the directory every instance uses), set up with
  the frontendLMTP and MMPFrontEnd recipes, running the dispatcher (SMTP),
  the job controller (the LMTP client channel tcp_lmtpcs) and the MMP;
- B1 on 127.0.0.2 and B2 on 127.0.0.3, the back ends, set up with the
  backendLMTP recipe, running stored, imapd, popd and the dispatcher with
  the LMTP server.

Users u1 (mailHost 127.0.0.2) and u2 (mailHost 127.0.0.3).  Mail goes in
with smtplib at F's SMTP port, through F's queue and LMTP client to the
user's back end, and is read back with imaplib and poplib through the MMP
(TLS from the client, TLS from the MMP to the store) and directly at each
back end to prove where it landed.

What the test sets by hand belongs to the test environment, not to the
product: the port offsets (the back ends share one offset, so that one
LMTP, IMAP and POP port serves both addresses, as port 225/143/110 would
on real hosts, and F's MMP is told those ports), base.listenaddr (each
back end is "a host" by its address), B2's watcher port (the watcher's
control port is on 127.0.0.1 for both back ends), TLS (one certificate
for the three addresses; the proxies' SSL ports and the store side's,
sslbacksideport), log levels and mail.log, and a short LMTP retry time.
Everything else comes from the recipes.  About 5-10 s.
"""
import imaplib
import pathlib
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import BUILD, DOMAIN, create_instance, random_offset, wait_until
from ldap_fixtures import ADMIN_DN, SHARED_PW, create_ldap_instance, user_dn
from watcher_fixtures import Supervised

PASSWORD = "Two-Tier-Pass-1"
B1_IP, B2_IP = "127.0.0.2", "127.0.0.3"
PROGPATH = ":".join(str(BUILD / d) for d in ("workers/watcher", "workers/store",
                                               "workers/mta", "workers/mmp", "msconfig"))
STORE = BUILD / "workers" / "store"
IMSIMTA = BUILD / "workers" / "mta" / "imsimta"


def make_cert(dirpath):
    """One self-signed certificate for the three hosts (the test's CA too)."""
    cert, key = dirpath / "cert.pem", dirpath / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    f"subjectAltName=IP:127.0.0.1,IP:{B1_IP},IP:{B2_IP}",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def supervised(inst):
    sup = Supervised(inst, None)
    sup.env["MS_PROGPATH"] = PROGPATH
    return sup


def recipe(inst, name, **answers):
    args = ["run", name, "-y"]
    for k, v in answers.items():
        args += ["-D", f"{k}={v}"]
    cp = inst.run(*args)
    assert "wrote configuration" in cp.stdout, cp.stdout + cp.stderr
    return cp


def back_end(root, name, ip, offset, front, cert, key, lmtp_port):
    inst = create_instance(root / name, offset=offset,
                           extra={"--ldap-url": front.url, "--ldap-bind-dn": ADMIN_DN,
                                  "--ldap-bind-password": SHARED_PW})
    inst.ip = ip
    inst.sup = supervised(inst)
    recipe(inst, "backendLMTP", MY_IP=ip, FRONTEND_IPS="127.0.0.1", LMTP_PORT=lmtp_port)
    # the test environment: this "host" is its address; the TLS certificate
    settings = [("base.listenaddr", ip), ("imap.enablesslport", 1), ("pop.enablesslport", 1),
                ("base.sslcertfile", cert), ("base.sslkeyfile", key),
                ("imap.logfile.loglevel", "Information"),
                ("mta.logfile.loglevel", "Information")]
    if name == "b2":  # the watcher's control port is on 127.0.0.1 for both back ends
        settings.append(("watcher.port", 49994 + offset + 1))
    for opt, val in settings:
        inst.run("set", opt, str(val))
    inst.imap, inst.imaps = 143 + offset, 993 + offset
    inst.pop, inst.pops = 110 + offset, 995 + offset
    inst.lmtp = lmtp_port
    return inst


@pytest.fixture(scope="module")
def tier(tmp_path_factory):
    root = tmp_path_factory.mktemp("tier")
    made = []
    f = None
    try:
        of = random_offset()
        ob = of + 1000 if of < 14000 else of - 1000  # no port of one is the other's
        f = create_ldap_instance(root / "front", offset=of)
        f.start()
        cert, key = make_cert(root)
        f.cafile = str(cert)
        lmtp_port = 225 + ob
        for uid, host in (("u1", B1_IP), ("u2", B2_IP), ("u3", B1_IP)):
            f.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", PASSWORD,
                        "-F", uid, "-L", "Tier", "-H", host)
        # a user whose entry names no store
        f.commadmin("user", "create", "-l", "nohost", "-d", DOMAIN, "-W", PASSWORD,
                    "-F", "no", "-L", "Host")
        b1 = back_end(root, "b1", B1_IP, ob, f, cert, key, lmtp_port)
        made.append(b1)
        b2 = back_end(root, "b2", B2_IP, ob, f, cert, key, lmtp_port)
        made.append(b2)
        f.sup = supervised(f)
        made.append(f)
        recipe(f, "frontendLMTP", LMTP_PORT=lmtp_port)
        recipe(f, "MMPFrontEnd", IMAP_PORTS=143 + of, POP_PORTS=110 + of)
        f.imap, f.imaps, f.pop, f.pops = 143 + of, 993 + of, 110 + of, 995 + of
        f.smtp = 25 + of
        for opt, val in (
                # the test environment: the back ends' ports moved by their offset
                ("base.proxyimapport", b1.imap), ("base.proxypopport", b1.pop),
                ("imapproxy.sslbacksideport", b1.imaps), ("popproxy.sslbacksideport", b1.pops),
                ("imapproxy.tcp_listen:imapproxy1.ssl_ports", f.imaps),
                ("popproxy.tcp_listen:popproxy1.ssl_ports", f.pops),
                ("imapproxy.sslenable", 1), ("popproxy.sslenable", 1),
                ("base.sslcertfile", cert), ("base.sslkeyfile", key), ("base.sslcafile", cert),
                ("mmp.logfile.loglevel", "Information"),
                # short retries for the test
                ("channel:tcp_lmtpcs.backoff", "pt1s"),
                ("channel:defaults.logging", ""),
                ("job_controller.logfile.loglevel", "Information")):
            f.run("set", opt, str(val))
        for b in (b1, b2):
            b.sup.start_msg("store", "imap", "pop", "dispatcher", check=0)
        f.sup.start_msg("dispatcher", "job_controller", "mmp", check=0)
        yield f, b1, b2
    finally:
        for inst in made:
            inst.sup.stop_all()
        for inst in made:
            inst.kill_all()
        if f is not None:
            f.teardown()


def send(f, rcpts, subject):
    with smtplib.SMTP("127.0.0.1", f.smtp, timeout=15) as c:
        c.sendmail("sender@remote.example.net", rcpts,
                   f"From: sender@remote.example.net\r\nTo: {', '.join(rcpts)}\r\n"
                   f"Subject: {subject}\r\n\r\nbody of {subject}\r\n")


def subjects_imap(host, port, user, cafile):
    """The subjects in user's INBOX, over IMAP with TLS (the name checked)."""
    c = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(cafile=cafile),
                          timeout=10)
    try:
        c.login(user, PASSWORD)
        _, count = c.select("INBOX", readonly=True)
        if int(count[0]) == 0:
            return []
        _, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        return [d[1].decode().split(":", 1)[1].strip() for d in data if isinstance(d, tuple)]
    finally:
        c.logout()


def test_smtp_to_both_back_ends_read_through_the_mmp(tier):
    f, b1, b2 = tier
    send(f, [f"u1@{DOMAIN}"], "to one")
    send(f, [f"u2@{DOMAIN}"], "to two")
    send(f, [f"u1@{DOMAIN}", f"u2@{DOMAIN}"], "to both")
    wait_until(lambda: len(subjects_imap(b1.ip, b1.imaps, "u1", f.cafile)) == 2, timeout=30,
               what="u1's two messages on B1")
    wait_until(lambda: len(subjects_imap(b2.ip, b2.imaps, "u2", f.cafile)) == 2, timeout=30,
               what="u2's two messages on B2")
    assert sorted(subjects_imap("127.0.0.1", f.imaps, "u1", f.cafile)) == ["to both", "to one"]
    assert sorted(subjects_imap("127.0.0.1", f.imaps, "u2", f.cafile)) == ["to both", "to two"]
    # through F's queue and its LMTP client, routed by mailHost
    log = (f.root / "data/log/mail.log_current").read_text()
    for uid, ip, n in (("u1", B1_IP, 2), ("u2", B2_IP, 2)):
        assert len(re.findall(rf"^\S+ \S+ tcp_lmtpcs D\S* .* @{re.escape(ip)}\.lmtp:{uid}"
                              rf"@lmtpcs-daemon .*250 2\.1\.5", log, re.M)) == n, log
    for b, uid in ((b1, "u1"), (b2, "u2")):
        lmtp = (b.root / "data/log/tcp_lmtpss_server.log").read_text()
        assert lmtp.count(f"append:{uid}:user/{uid}:") == 2, lmtp
        assert "append:" + ("u2" if uid == "u1" else "u1") not in lmtp, lmtp


def test_back_ends_bind_their_own_address(tier):
    f, b1, b2 = tier
    for port in (b1.imap, b1.pop, b1.lmtp):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        for b in (b1, b2):
            socket.create_connection((b.ip, port), timeout=5).close()
    for b in (b1, b2):  # msprobe probes the address the servers bind
        out = b.sup.msprobe("-n", "-r", "imap", "pop", "lmtp", check=0).stdout
        assert out.count(",OK,") == 3, out


def test_smtp_refusals_at_the_front_end(tier):
    f, _, _ = tier
    with smtplib.SMTP("127.0.0.1", f.smtp, timeout=15) as c:
        c.ehlo("client.example.org")
        c.mail("sender@remote.example.net")
        code, text = c.rcpt(f"nosuch@{DOMAIN}")
        assert code == 550 and b"5.1.1" in text, (code, text)
        code, text = c.rcpt(f"nohost@{DOMAIN}")
        assert code == 550 and b"the entry has no mailHost" in text, (code, text)


def test_bounce_to_a_local_sender_reaches_the_back_end(tier):
    """A notification the front end writes to a local user (channel l) is
    expanded with the delivery options and relayed to the user's store,
    not stored on the front end, which has none."""
    f, b1, _ = tier
    with smtplib.SMTP("127.0.0.1", f.smtp, timeout=15) as c:
        c.sendmail(f"u1@{DOMAIN}", ["someone@nonexistent.invalid"],
                   "Subject: will bounce\r\n\r\nx\r\n")
    wait_until(lambda: "Delivery Notification: Delivery has failed"
               in subjects_imap(b1.ip, b1.imaps, "u1", f.cafile),
               timeout=30, what="the failure notice in u1's INBOX on B1")
    log = (f.root / "data/log/mail.log_current").read_text()
    assert re.search(rf"^\S+ \S+ l tcp_lmtpcs E .* @{re.escape(B1_IP)}\.lmtp:u1@lmtpcs-daemon",
                     log, re.M), log
    assert re.search(r"^\S+ \S+ l D .*relayed to tcp_lmtpcs", log, re.M), log


def pop_subjects(host, port, user, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    c = poplib.POP3_SSL(host, port, context=ctx, timeout=10)
    try:
        c.user(user)
        c.pass_(PASSWORD)
        out = []
        for i in range(1, len(c.list()[1]) + 1):
            for ln in c.top(i, 0)[1]:
                if ln.lower().startswith(b"subject:"):
                    out.append(ln.decode().split(":", 1)[1].strip())
        return out
    finally:
        c.quit()


def test_pop_through_the_mmp_with_starttls(tier):
    f, b1, b2 = tier
    send(f, [f"u1@{DOMAIN}"], "for pop")
    wait_until(lambda: "for pop" in subjects_imap(b1.ip, b1.imaps, "u1", f.cafile), timeout=30,
               what="the message on B1")
    assert "for pop" in pop_subjects("127.0.0.1", f.pops, "u1", f.cafile)
    # STLS on the plain port, then the back end over TLS (sslbacksideport)
    c = poplib.POP3("127.0.0.1", f.pop, timeout=10)
    c.stls(context=ssl.create_default_context(cafile=f.cafile))
    c.user("u1")
    c.pass_(PASSWORD)
    assert len(c.list()[1]) >= 1
    c.quit()
    log = (f.root / "data/log/mmp").read_text()
    assert re.search(rf"original user 'u1'.* to backend {B1_IP}:{b1.pops} \(TLSv1\.3", log), log
    assert re.search(rf"original user 'u2'.* to backend {B2_IP}:{b2.imaps} \(TLSv1\.3", log), log


def qm_list(f):
    cp = subprocess.run([str(IMSIMTA), "qm", "list", "tcp_lmtpcs"], env=f.env,
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return cp.stdout


def mmp_login_refused(f, user):
    ctx = ssl.create_default_context(cafile=f.cafile)
    c = imaplib.IMAP4_SSL("127.0.0.1", f.imaps, ssl_context=ctx, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error, match=r"UNAVAILABLE"):
            c.login(user, PASSWORD)
    finally:
        c.shutdown()
    p = poplib.POP3_SSL("127.0.0.1", f.pops, context=ctx, timeout=10)
    p.user(user)
    with pytest.raises(poplib.error_proto, match=r"SYS/TEMP"):
        p.pass_(PASSWORD)
    p.close()


def test_back_end_stopped_mail_waits_in_the_queue(tier):
    f, b1, b2 = tier
    b2.sup.stop_msg(check=0)
    try:
        mmp_login_refused(f, "u2")
        # u1's store is still served
        assert subjects_imap("127.0.0.1", f.imaps, "u1", f.cafile)
        with smtplib.SMTP("127.0.0.1", f.smtp, timeout=15) as c:
            c.ehlo("client.example.org")
            c.mail("sender@remote.example.net")
            assert c.rcpt(f"u2@{DOMAIN}")[0] == 250
            code, reply = c.data("Subject: while down\r\n\r\nwaiting\r\n")
            assert code == 250, reply
        qid = re.search(r"queued as ([0-9a-f]{24})", reply.decode()).group(1)
        # tried once (connection refused), then waiting in F's LMTP queue
        out = wait_until(lambda: (lambda o: o if f"{qid}.01" in o else None)(qm_list(f)),
                         timeout=20, what="the message tried once in tcp_lmtpcs")
        assert f"@{B2_IP}.lmtp:u2@lmtpcs-daemon" in out, out
    finally:
        b2.sup.start_msg("store", "imap", "pop", "dispatcher", check=0)
    wait_until(lambda: "while down" in subjects_imap(b2.ip, b2.imaps, "u2", f.cafile),
               timeout=30, what="the retried delivery to B2")
    assert qid not in qm_list(f)
    assert "while down" in subjects_imap("127.0.0.1", f.imaps, "u2", f.cafile)


def store_tool(inst, name, *args):
    cp = subprocess.run([str(STORE / name), *args], env=inst.env, capture_output=True,
                        text=True, timeout=30)
    assert cp.returncode == 0, f"{name} {args}: {cp.stdout}{cp.stderr}"
    return cp.stdout


def move_user(f, uid, old, new):
    """The procedure of docs/mmp.md ("Moving a user to another store"), with
    the store tools: copy the user's directory to the same place under the
    new store's partition (hashdir is the same on every store), add it to
    the new store's mailbox list (reconstruct -m), check it, change
    mailHost, remove the user from the old store (mboxutil -d)."""
    listing = store_tool(old, "mboxutil", "-l", "-x", "-p", f"user/{uid}/INBOX")
    src = pathlib.Path(re.search(r"Path: (\S+)", listing).group(1)).parent
    rel = "=user/" + store_tool(new, "hashdir", uid).strip() + f"={uid}"
    assert str(src).endswith(rel), (src, rel)
    part = new.value("partition:primary.path")
    dest = pathlib.Path(part) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, dest, symlinks=True)
    assert "added to the mailbox list" in store_tool(new, "reconstruct", "-m", "-u", uid)
    store_tool(new, "reconstruct", "-r", f"user/{uid}")
    f.ldapmodify(f"dn: {user_dn(uid)}\nchangetype: modify\nreplace: mailHost\n"
                 f"mailHost: {new.ip}\n")
    store_tool(old, "mboxutil", "-d", f"user/{uid}/INBOX")
    # the front end forgets its cached entries now rather than after the TTLs
    smtp_log, mmp_log = f.root / "data/log/tcp_smtp_server.log", f.root / "data/log/mmp"
    before = (smtp_log.read_text().count("directory cache cleared"),
              mmp_log.read_text().count("config generation"))
    f.sup.refresh("dispatcher", "mmp", check=0)
    wait_until(lambda: smtp_log.read_text().count("directory cache cleared") > before[0]
               and mmp_log.read_text().count("config generation") > before[1],
               what="the front end's refresh")


def test_user_moved_to_the_other_store(tier):
    f, b1, b2 = tier
    send(f, [f"u2@{DOMAIN}"], "before the move")
    wait_until(lambda: "before the move" in subjects_imap(b2.ip, b2.imaps, "u2", f.cafile),
               timeout=30, what="the message on B2")
    old = sorted(subjects_imap(b2.ip, b2.imaps, "u2", f.cafile))
    move_user(f, "u2", b2, b1)
    # the next login goes to B1 and finds the old messages there
    wait_until(lambda: sorted(subjects_imap("127.0.0.1", f.imaps, "u2", f.cafile)) == old,
               timeout=15, what="u2's login through the MMP to reach B1")
    assert sorted(subjects_imap(b1.ip, b1.imaps, "u2", f.cafile)) == old
    last = [ln for ln in (f.root / "data/log/mmp").read_text().splitlines()
            if "original user 'u2'" in ln][-1]
    assert f" to backend {B1_IP}:{b1.imaps} " in last, last
    # the next delivery too
    send(f, [f"u2@{DOMAIN}"], "after the move")
    wait_until(lambda: "after the move" in subjects_imap(b1.ip, b1.imaps, "u2", f.cafile),
               timeout=30, what="the delivery after the move on B1")
    assert "after the move" in pop_subjects("127.0.0.1", f.pops, "u2", f.cafile)


def test_directory_stopped_nothing_is_lost(tier):
    """slapd stopped: the front end refuses recipients it has not cached
    with 451 and the MMP such users' logins with a temporary error; a
    message accepted before is kept (the back end's LMTP server answers 451
    for its recipient) and delivered once the directory is back."""
    f, b1, _ = tier
    with smtplib.SMTP("127.0.0.1", f.smtp, timeout=15) as c:
        c.ehlo("client.example.org")
        c.mail("sender@remote.example.net")
        assert c.rcpt(f"u3@{DOMAIN}")[0] == 250  # B1 never looked u3 up
        f.stop()  # after RCPT (expanded with the directory), before DATA
        try:
            code, reply = c.data("Subject: directory down\r\n\r\nkept\r\n")
            assert code == 250, reply
            qid = re.search(r"queued as ([0-9a-f]{24})", reply.decode()).group(1)
            c.rset()
            c.mail("sender@remote.example.net")
            code, text = c.rcpt(f"later@{DOMAIN}")  # not cached
            assert code == 451, (code, text)
            wait_until(lambda: f"{qid}.01" in qm_list(f), timeout=20,
                       what="the copy tried once and kept")
            lmtp = (b1.root / "data/log/tcp_lmtpss_server.log").read_text()
            assert "directory unavailable" in lmtp, lmtp
            mmp_login_refused(f, "u3")
        finally:
            f.start()
    wait_until(lambda: "directory down" in subjects_imap(b1.ip, b1.imaps, "u3", f.cafile),
               timeout=30, what="the kept message delivered once the directory is back")
    assert subjects_imap("127.0.0.1", f.imaps, "u3", f.cafile) == ["directory down"]
