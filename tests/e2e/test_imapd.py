"""imapd end to end: the real IMAP4rev1 server against a real slapd.

One instance for the module (init-config --local-directory, slapd under
ldap-local run), users made with commadmin, messages put in with the real
`deliver`, a certificate made with openssl, and Python's imaplib as the
client (docs/man/imapd.8).  imapd runs attached to the test, the way the
watcher runs it, and its readiness line in data/log/imap is awaited.
"""
import base64
import imaplib
import re
import signal

import pytest

from conftest import DOMAIN, wait_until
from imap_fixtures import connect as imap_connect, imapd_instance, login as imap_login
from imap_fixtures import raw_tagged as raw, tls_context
from test_store_tools import deliver

PASSWORD = "Imap-Pass-1"


def msg(n, subject=None):
    subject = subject or f"message {n}"
    return (f"Subject: {subject}\nFrom: a@example.com\nTo: joe@example.com\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\n\nline one of {n}\nline two\n")


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("imap"), ("joe", "ann", "kim", "lee", "max"),
                        PASSWORD, "Imap",
                        (("imap.banner", "%h %p server (%P %V) ready"),)) as inst:
        yield inst


def connect(inst):
    """A session on the plain port, in clear text."""
    return imap_connect(inst, "plain")


def login(inst, user="joe"):
    return imap_login(inst, user)


def test_greeting_capability_noop_logout(imap):
    c = connect(imap)
    welcome = c.welcome.decode()
    assert welcome.startswith("* OK [CAPABILITY IMAP4rev1 ")
    assert "IMAP4 server" in welcome
    caps = c.capabilities
    for cap in ("IMAP4REV1", "STARTTLS", "LOGINDISABLED", "LITERAL+", "SASL-IR", "UIDPLUS",
                "MOVE", "IDLE", "QUOTA", "NAMESPACE", "ID", "ENABLE", "UNSELECT", "SPECIAL-USE", "CHILDREN"):
        assert cap in caps, caps
    assert "AUTH=PLAIN" not in caps
    assert c.noop()[0] == "OK"
    assert c.logout()[0] == "BYE"


def test_plaintext_refused_before_starttls(imap):
    c = connect(imap)
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("joe", PASSWORD)
    assert "PRIVACYREQUIRED" in str(e.value)
    status, _ = raw(c, "AUTHENTICATE PLAIN " + base64.b64encode(b"\0joe\0" + PASSWORD.encode()).decode())
    assert " NO [PRIVACYREQUIRED]" in status
    c.starttls(ssl_context=tls_context(imap))
    assert "AUTH=PLAIN" in c.capabilities and "LOGINDISABLED" not in c.capabilities
    assert "STARTTLS" not in c.capabilities
    with pytest.raises(imaplib.IMAP4.error) as e:
        c.login("joe", "wrong")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    assert c.login("joe", PASSWORD)[0] == "OK"
    c.logout()
    log = wait_until(lambda: (t := imap.imapd.log_text()) and " close [127.0.0.1:" in t and t,
                     what="the close record")
    assert "Messaging Server IMAP4 " in log
    assert "plaintext joe authentication failure" in log
    assert "login [127.0.0.1:" in log and " joe plaintext" in log
    assert "wrong" not in log and PASSWORD not in log


def test_authenticate_plain(imap):
    c = connect(imap)
    c.starttls(ssl_context=tls_context(imap))
    # SASL-IR: the initial response on the command line
    status, _ = raw(c, "AUTHENTICATE PLAIN " + base64.b64encode(b"\0kim\0" + PASSWORD.encode()).decode())
    assert " OK [CAPABILITY " in status
    c.logout()
    # without: imaplib answers the "+ " continuation
    c = connect(imap)
    c.starttls(ssl_context=tls_context(imap))
    assert c.authenticate("PLAIN", lambda _: b"\0kim\0" + PASSWORD.encode())[0] == "OK"
    c.logout()
    c = connect(imap)
    c.starttls(ssl_context=tls_context(imap))
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("PLAIN", lambda _: b"\0kim\0wrong")
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("CRAM-MD5", lambda _: b"x")
    # an over-long SASL response ends the exchange with a tagged BAD
    c.send(b"A9 AUTHENTICATE PLAIN\r\n")
    assert c.readline().startswith(b"+ ")
    c.send(b"QUFB" * 3000 + b"\r\n")
    assert c.readline().startswith(b"A9 BAD")
    c.send(b"A10 AUTHENTICATE PLAIN\r\n")
    assert c.readline().startswith(b"+ ")
    c.send(b"*\r\n")
    assert c.readline().startswith(b"A10 BAD")
    assert c.noop()[0] == "OK"
    c.logout()


def test_ssl_port(imap):
    c = imaplib.IMAP4_SSL("127.0.0.1", imap.port_ssl, ssl_context=tls_context(imap), timeout=10)
    assert "STARTTLS" not in c.capabilities and "AUTH=PLAIN" in c.capabilities
    assert c.login("ann", PASSWORD)[0] == "OK"
    c.logout()


def test_bad_commands_keep_the_session(imap):
    c = connect(imap)
    assert raw(c, "FROB")[0].endswith("BAD Unrecognized command")
    assert " BAD " in raw(c, "SELECT INBOX")[0]           # not valid before login
    assert " BAD " in raw(c, "CAPABILITY extra")[0]
    c.send(b"\r\n")                                        # no tag at all
    assert c.readline().startswith(b"* BAD")
    assert " BAD " in raw(c, 'LOGIN "unterminated')[0]
    # an over-long line is refused, the session goes on
    c.send(b"x1 NOOP " + b"a" * 9000 + b"\r\n")
    assert c.readline().startswith(b"x1 BAD")
    # a synchronising literal that is too large gets no "+", only BAD
    c.send(b"x2 LOGIN {999999999}\r\n")
    assert c.readline().startswith(b"x2 BAD")
    assert c.noop()[0] == "OK"
    c.logout()


def test_literals(imap):
    c = connect(imap)
    c.starttls(ssl_context=tls_context(imap))
    # LITERAL+: no continuation, the bytes follow at once
    c.send(b"L1 LOGIN {3+}\r\nlee {11+}\r\n" + PASSWORD.encode() + b"\r\n")
    assert c.readline().startswith(b"L1 OK")
    c.state = "AUTH"  # imaplib did not see the LOGIN
    # a synchronising literal gets "+ "
    c.send(b"L2 CREATE {5}\r\n")
    assert c.readline().startswith(b"+ ")
    c.send(b"a b\"c\r\n")
    assert c.readline().startswith(b"L2 OK")
    typ, data = c.list('""', "a*")
    assert typ == "OK" and data[0] == (b'(\\HasNoChildren) "/" {5}', b'a b"c'), data
    c.logout()


def test_mailbox_commands(imap):
    c = login(imap, "ann")
    assert c.create("Work")[0] == "OK"
    assert c.create("Work/Projects")[0] == "OK"
    assert c.create("Work")[0] == "NO"
    typ, data = c.list()
    assert typ == "OK"
    lines = [d.decode() for d in data]
    assert '(\\HasNoChildren) "/" "INBOX"' in lines
    assert '(\\HasChildren) "/" "Work"' in lines
    assert '(\\HasNoChildren) "/" "Work/Projects"' in lines
    typ, data = c.list('""', "%")
    assert '(\\HasNoChildren) "/" "Work/Projects"' not in [d.decode() for d in data]
    typ, data = c.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    assert c.rename("Work/Projects", "Old")[0] == "OK"
    assert c.subscribe("Old")[0] == "OK"
    typ, data = c.lsub('""', "*")
    assert '(\\HasNoChildren) "/" "Old"' in [d.decode() for d in data]
    assert c.unsubscribe("Old")[0] == "OK"
    assert c.lsub('""', "Old")[1] == [None]
    assert c.delete("Old")[0] == "OK"
    assert c.delete("Old")[0] == "NO"
    assert c.delete("INBOX")[0] == "NO"
    deliver(imap, "ann", message=msg(1))
    typ, data = c.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT)")
    assert typ == "OK"
    m = re.match(r'"INBOX" \(MESSAGES 1 UNSEEN 1 UIDNEXT (\d+) UIDVALIDITY (\d+) RECENT 1\)',
                 data[0].decode())
    assert m, data
    assert c.status("Nope", "(MESSAGES)")[0] == "NO"
    assert " BAD " in raw(c, "STATUS INBOX (FROB)")[0]
    status, untagged = raw(c, "NAMESPACE")
    assert " OK " in status and untagged == [
        '* NAMESPACE (("" "/")) (("Shared Folders/User/" "/")) NIL']  # test_imap_acl.py
    status, untagged = raw(c, 'ID ("name" "pytest")')
    assert " OK " in status and untagged[0].startswith("* ID (")
    status, untagged = raw(c, "ENABLE CONDSTORE")
    assert " OK " in status and untagged == ["* ENABLED CONDSTORE"]
    c.logout()


def test_special_use_in_list(imap):
    # the store creates the standard folders of a new user; LIST shows their use
    c = login(imap, "max")
    typ, data = c.list()
    uses = {}
    for d in data:
        attrs, _, name = d.decode().partition(') "/" ')
        uses[name.strip('"')] = attrs
    special = [n for n, a in uses.items() if any(u in a for u in ("\\Sent", "\\Trash", "\\Drafts"))]
    assert special, uses
    assert "\\HasNoChildren" in uses["INBOX"]
    c.logout()


def test_select_examine_close(imap):
    for n in range(3):
        deliver(imap, "lee", message=msg(n))
    c = login(imap, "lee")
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    assert c.untagged_responses.get("RECENT") == [b"3"]
    assert c.untagged_responses.get("FLAGS")
    assert c.untagged_responses.get("UIDVALIDITY")
    assert c.untagged_responses.get("UIDNEXT")
    assert c.untagged_responses.get("HIGHESTMODSEQ")
    assert "READ-WRITE" in c.untagged_responses
    assert c.check()[0] == "OK"
    assert c.close()[0] == "OK"
    # RECENT was claimed by the first SELECT
    typ, data = c.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"3"]
    assert c.untagged_responses.get("RECENT") == [b"0"]
    assert "READ-ONLY" in c.untagged_responses
    assert c.unselect()[0] == "OK"
    assert c.select("Nope")[0] == "NO"
    assert " BAD " in raw(c, "CHECK")[0]   # nothing selected
    c.logout()


def test_fetch(imap):
    deliver(imap, "kim", message=msg(1, "first"))
    deliver(imap, "kim", message=msg(2, "second"))
    c = login(imap, "kim")
    c.select("INBOX")
    typ, data = c.fetch("1:2", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK" and len(data) == 2
    m = re.match(rb'1 \(UID (\d+) FLAGS \(\) RFC822\.SIZE (\d+) INTERNALDATE "\d\d-\w{3}-\d{4} '
                 rb'\d\d:\d\d:\d\d \+0000"\)', data[0])
    assert m, data
    uid1, size1 = int(m.group(1)), int(m.group(2))
    # BODY.PEEK leaves \Seen alone; the whole message is CRLF and RFC822.SIZE long
    typ, data = c.fetch("1", "(BODY.PEEK[])")
    body = data[0][1]
    assert len(body) == size1 and body.startswith(b"Subject: first\r\n") and body.endswith(b"line two\r\n")
    typ, data = c.fetch("1", "(FLAGS)")
    assert data == [b"1 (FLAGS ())"]
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
    assert data[0][0] == b"1 (BODY[HEADER.FIELDS (SUBJECT FROM)] {39}", data
    assert data[0][1] == b"Subject: first\r\nFrom: a@example.com\r\n\r\n"
    typ, data = c.fetch("1", "(BODY.PEEK[TEXT])")
    assert data[0][1] == b"line one of 1\r\nline two\r\n"
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER])")
    assert data[0][1].startswith(b"Subject: first\r\n") and data[0][1].endswith(b"\r\n\r\n")
    typ, data = c.fetch("1", "(BODY.PEEK[]<9.5>)")
    assert data[0] == (b"1 (BODY[]<9> {5}", b"first")
    # BODY[] sets \Seen and says so
    typ, data = c.fetch("2", "(BODY[TEXT])")
    assert data[0][1] == b"line one of 2\r\nline two\r\n"
    assert b"FLAGS (\\Seen)" in data[1], data
    typ, data = c.fetch("1", "RFC822")
    assert data[0][0].startswith(b"1 (RFC822 {") and len(data[0][1]) == size1
    typ, data = c.uid("FETCH", str(uid1), "(FLAGS)")
    assert data == [f"1 (FLAGS (\\Seen) UID {uid1})".encode()], data
    typ, data = c.fetch("1:*", "FAST")
    assert typ == "OK" and len(data) == 2
    with pytest.raises(imaplib.IMAP4.error):
        c.fetch("9", "FLAGS")          # no such message
    with pytest.raises(imaplib.IMAP4.error):
        c.fetch("1", "(FROB)")
    typ, data = c.uid("FETCH", "999", "(FLAGS)")
    assert typ == "OK" and data == [None]
    c.logout()
    # EXAMINE: BODY[] does not set \Seen
    deliver(imap, "kim", message=msg(3))
    c = login(imap, "kim")
    c.select("INBOX", readonly=True)
    c.fetch("3", "(BODY[])")
    assert c.fetch("3", "(FLAGS)")[1] == [b"3 (FLAGS ())"]
    c.logout()


def test_store_expunge(imap):
    for n in range(4):
        deliver(imap, "joe", message=msg(n))
    c = login(imap, "joe")
    typ, data = c.select("INBOX")
    count = int(data[0])
    assert count >= 4
    typ, data = c.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert data == [b"1 (FLAGS (\\Flagged $Work))"], data
    typ, data = c.store("1", "-FLAGS", "($Work)")
    assert data == [b"1 (FLAGS (\\Flagged))"]
    typ, data = c.store("1", "FLAGS.SILENT", "(\\Seen)")
    assert data == [None]
    assert c.fetch("1", "FLAGS")[1] == [b"1 (FLAGS (\\Seen))"]
    assert " BAD " in raw(c, "STORE 1 +FLAGS (\\Recent)")[0]
    assert " BAD " in raw(c, "STORE 1 FROB (\\Seen)")[0]
    typ, data = c.fetch("1:*", "UID")
    uids = [int(re.search(rb"UID (\d+)", d).group(1)) for d in data]
    # mark 1 and 2 deleted; UID EXPUNGE removes only the one named
    c.store("1:2", "+FLAGS.SILENT", "\\Deleted")
    status, untagged = raw(c, f"UID EXPUNGE {uids[1]}")
    assert " OK " in status and untagged == ["* 2 EXPUNGE"], untagged
    typ, data = c.expunge()
    assert typ == "OK" and data == [b"1"]
    typ, data = c.fetch("1:*", "UID")
    assert [int(re.search(rb"UID (\d+)", d).group(1)) for d in data] == uids[2:]
    # CLOSE expunges silently
    c.store("1", "+FLAGS.SILENT", "\\Deleted")
    c.close()
    typ, data = c.select("INBOX")
    assert int(data[0]) == count - 3
    c.logout()


def test_copy_move(imap):
    deliver(imap, "lee", message=msg(10, "to copy"))
    c = login(imap, "lee")
    typ, data = c.select("INBOX")
    n = int(data[0])
    c.create("Archive")
    typ, data = c.copy(str(n), "Archive")
    assert typ == "OK" and b"[COPYUID " in data[0], data
    typ, data = c.copy(str(n), "Nowhere")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    status, untagged = raw(c, f"MOVE {n} Archive")
    assert " OK " in status, status
    assert any(u.startswith("* OK [COPYUID ") for u in untagged), untagged
    assert f"* {n} EXPUNGE" in untagged
    typ, data = c.status("Archive", "(MESSAGES)")
    assert b"MESSAGES 2" in data[0]
    c.select("Archive")
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: to copy\r\n\r\n"
    status, untagged = raw(c, "UID MOVE 1:* INBOX")
    assert " OK " in status and untagged.count("* 1 EXPUNGE") == 2, untagged
    c.logout()


def test_append(imap):
    c = login(imap, "max")
    c.create("Saved")
    body = b"Subject: appended\r\nFrom: max@example.com\r\n\r\nhello\r\n"
    typ, data = c.append("Saved", "(\\Seen $Label1)", '"01-Feb-2020 10:20:30 +0100"', body)
    assert typ == "OK", data
    m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert m, data
    c.select("Saved")
    typ, data = c.fetch("1", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
    assert data[0][0].startswith(f"1 (UID {int(m.group(2))} FLAGS (\\Seen $Label1) "
                                 f'INTERNALDATE "01-Feb-2020 09:20:30 +0000" BODY[] {{'.encode()), data
    assert data[0][1] == body
    # APPEND to the selected mailbox reports the new message; LF is stored as CRLF
    typ, data = c.append("Saved", None, None, b"Subject: two\n\nbare LF\n")
    assert typ == "OK"
    assert c.untagged_responses.get("EXISTS") == [b"2"] or c.noop()[0] == "OK"
    assert c.fetch("2", "(BODY.PEEK[TEXT])")[1][0][1] == b"bare LF\r\n"
    typ, data = c.append("Missing", None, None, body)
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    assert " BAD " in raw(c, 'APPEND Saved "not a date" {1+}\r\nx')[0]
    c.logout()


def test_idle_sees_delivery_and_expunge(imap):
    deliver(imap, "ann", message=msg(20))
    c = login(imap, "ann")
    typ, data = c.select("INBOX")
    n = int(data[0])
    other = login(imap, "ann")
    other.select("INBOX")
    tag = c._new_tag().decode()
    c.send(f"{tag} IDLE\r\n".encode())
    assert c.readline().startswith(b"+ ")
    deliver(imap, "ann", message=msg(21))
    assert c.readline() == f"* {n + 1} EXISTS\r\n".encode()
    other.store("1", "+FLAGS.SILENT", "\\Deleted")
    other.expunge()
    assert c.readline() == b"* 1 EXPUNGE\r\n"
    c.send(b"DONE\r\n")
    assert c.readline().startswith(f"{tag} OK".encode())
    assert c.noop()[0] == "OK"
    other.logout()
    c.logout()


def test_search(imap):
    c = login(imap, "max")
    c.create("Search")
    msgs = [
        b"Subject: Alpha report\r\nFrom: Ann <ann@example.com>\r\nTo: max@example.com\r\n\r\nsmall body\r\n",
        b"Subject: beta\r\nFrom: bob@example.org\r\nX-Tag: needle\r\n\r\n" + b"big body " * 200 + b"\r\n",
        b"Subject: gamma\r\nFrom: ann@example.com\r\n\r\nthe needle is here\r\n",
    ]
    dates = ['"01-Jan-2020 12:00:00 +0000"', '"15-Jun-2021 12:00:00 +0000"', '"01-Mar-2023 12:00:00 +0000"']
    for m, d in zip(msgs, dates):
        assert c.append("Search", None, d, m)[0] == "OK"
    c.select("Search")
    c.store("2", "+FLAGS.SILENT", "(\\Seen \\Flagged)")
    c.store("3", "+FLAGS.SILENT", "(\\Deleted)")

    def s(*crit):
        typ, data = c.search(None, *crit)
        assert typ == "OK", data
        return data[0].decode().split()

    assert s("ALL") == ["1", "2", "3"]
    assert s("SEEN") == ["2"] and s("UNSEEN") == ["1", "3"]
    assert s("FLAGGED") == ["2"] and s("DELETED") == ["3"] and s("UNDELETED") == ["1", "2"]
    assert s("LARGER", "1000") == ["2"] and s("SMALLER", "1000") == ["1", "3"]
    assert s("FROM", "ann") == ["1", "3"] and s("SUBJECT", "ALPHA") == ["1"]
    assert s("TO", "max@") == ["1"]
    assert s("HEADER", "X-Tag", "needle") == ["2"] and s("BODY", "needle") == ["3"]
    assert s("TEXT", "needle") == ["2", "3"]
    assert s("BEFORE", "1-Jun-2021") == ["1"] and s("SINCE", "1-Jun-2021") == ["2", "3"]
    assert s("ON", "15-Jun-2021") == ["2"]
    assert s("NOT", "SEEN") == ["1", "3"]
    assert s("OR", "FLAGGED", "DELETED") == ["2", "3"]
    assert s("(FROM ann SINCE 1-Feb-2020)") == ["3"]
    assert s("2:3", "UNSEEN") == ["3"]
    assert s("CHARSET", "UTF-8", "SUBJECT", "gamma") == ["3"]
    typ, data = c.uid("SEARCH", "ALL")
    uids = data[0].decode().split()
    assert len(uids) == 3
    typ, data = c.uid("SEARCH", "UID", uids[1] + ":*", "SEEN")
    assert data[0].decode().split() == [uids[1]]
    assert s("SUBJECT", "nothing-matches") == []
    with pytest.raises(imaplib.IMAP4.error):
        c.search(None, "FROB")
    typ, data = c.search("KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    c.logout()


def test_flag_changes_reach_other_sessions(imap):
    deliver(imap, "kim", message=msg(30))
    a = login(imap, "kim")
    b = login(imap, "kim")
    n = int(a.select("INBOX")[1][0])
    b.select("INBOX")
    a.store(str(n), "+FLAGS.SILENT", "(\\Answered)")
    status, untagged = raw(a, "NOOP")
    assert untagged == [], untagged           # a's own change is not echoed
    status, untagged = raw(b, "NOOP")
    assert any(u.startswith(f"* {n} FETCH (FLAGS (") and "\\Answered" in u for u in untagged), untagged
    status, untagged = raw(b, "NOOP")
    assert untagged == []                     # reported once
    a.logout()
    b.logout()


MULTIPART = (
    b"From: \"Ann Example\" <ann@example.com>\r\n"
    b"To: joe@example.com, Kim <kim@example.org>\r\n"
    b"Subject: parts\r\n"
    b"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"hello\r\nworld\r\n"
    b"--XYZ\r\n"
    b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--XYZ\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\nFrom: x@y.z\r\n\r\ninner body\r\n"
    b"--XYZ--\r\n"
)


def test_envelope_and_bodystructure(imap):
    # part sizes exclude the CRLF before each delimiter (RFC 2046 5.1.1)
    c = login(imap, "lee")
    c.create("Mime")
    assert c.append("Mime", None, None, MULTIPART)[0] == "OK"
    assert c.append("Mime", None, None, b"Subject: plain\r\nFrom: a@b.c\r\n\r\none\r\ntwo\r\n")[0] == "OK"
    c.select("Mime")
    typ, data = c.fetch("1", "(ENVELOPE)")
    assert data == [b'1 (ENVELOPE ("Mon, 30 Nov 2026 07:00:00 +0000" "parts" '
                    b'(("Ann Example" NIL "ann" "example.com")) (("Ann Example" NIL "ann" "example.com")) '
                    b'(("Ann Example" NIL "ann" "example.com")) '
                    b'((NIL NIL "joe" "example.com")("Kim" NIL "kim" "example.org")) NIL NIL NIL '
                    b'"<m1@example.com>"))'], data
    typ, data = c.fetch("1", "(BODYSTRUCTURE)")
    assert data == [b'1 (BODYSTRUCTURE (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 12 2)'
                    b'("APPLICATION" "OCTET-STREAM" ("NAME" "a.bin") NIL NIL "BASE64" 4)'
                    b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 41 (NIL "inner" ((NIL NIL "x" "y.z")) '
                    b'((NIL NIL "x" "y.z")) ((NIL NIL "x" "y.z")) NIL NIL NIL NIL NIL) '
                    b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 1) 4) "MIXED"))'], data
    typ, data = c.fetch("2", "(BODY)")
    assert data == [b'2 (BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 10 2))'], data
    typ, data = c.fetch("2", "ALL")
    assert typ == "OK" and b"ENVELOPE (NIL \"plain\"" in data[0], data
    typ, data = c.fetch("2", "FULL")
    assert typ == "OK" and b"BODY (\"TEXT\"" in data[0], data
    assert c.fetch("2", "(FLAGS)")[1] == [b"2 (FLAGS ())"]   # none of these set \Seen
    # MIME part sections
    def part(section):
        typ, data = c.fetch("1", f"(BODY.PEEK[{section}])")
        assert typ == "OK", data
        assert data[0][0].startswith(f"1 (BODY[{section}] {{".encode()), data
        return data[0][1]
    assert part("1") == b"hello\r\nworld"
    assert part("1.MIME") == b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    assert part("2") == b"AAEC"
    assert part("3") == b"Subject: inner\r\nFrom: x@y.z\r\n\r\ninner body"
    assert part("3.HEADER") == b"Subject: inner\r\nFrom: x@y.z\r\n\r\n"
    assert part("3.TEXT") == b"inner body"
    assert part("3.1") == b"inner body"
    assert part("3.HEADER.FIELDS (FROM)") == b"From: x@y.z\r\n\r\n"
    typ, data = c.fetch("1", "(BODY.PEEK[9])")
    assert data[0] == (b"1 (BODY[9] {0}", b""), data
    typ, data = c.fetch("2", "(BODY.PEEK[1])")    # a single part is part 1
    assert data[0][1] == b"one\r\ntwo\r\n"
    c.logout()


def test_malformed_commands_when_selected(imap):
    deliver(imap, "max", message=msg(40))
    c = login(imap, "max")
    c.select("INBOX")
    for line in ("FETCH", "FETCH 1", "FETCH x FLAGS", "FETCH 1 (FLAGS", "FETCH 1 BODY[HEADER.FIELDS ()]",
                 "FETCH 1 BODY[1.FROB]", "FETCH 1 BODY[]<5>", "FETCH 1 BODY.PEEK", "FETCH 0 FLAGS",
                 "STORE 1 +FLAGS (\\Seen", "STORE 1", "SEARCH", "SEARCH " + "(" * 50 + "ALL" + ")" * 50,
                 "SEARCH OR SEEN", "SEARCH SINCE 32-Foo-2020", "SEARCH LARGER x", "COPY 1", "MOVE",
                 "UID", "UID FROB 1", "EXPUNGE now", "CREATE", 'RENAME "a"', "STATUS INBOX MESSAGES",
                 "APPEND INBOX", "LIST \"\"", "SELECT", "ENABLE", "ID"):
        status, _ = raw(c, line)
        assert " BAD " in status, (line, status)
    c.send(b"Z1 FETCH 1 (FLAGS) {0}\r\n")
    assert c.readline().startswith(b"+ ")
    c.send(b"\r\n")
    assert c.readline().startswith(b"Z1 BAD")
    # LITERAL+ over the limit: BAD at once, the octets are read and dropped
    c.send(b"Z2 APPEND INBOX {67108865+}\r\n")
    assert c.readline().startswith(b"Z2 BAD")
    c.send(b"x" * 67108865 + b"\r\n")
    assert c.noop()[0] == "OK"
    assert c.fetch("1", "(UID)")[0] == "OK"
    c.logout()


def test_quota(imap):
    imap.commadmin("user", "create", "-l", "qua", "-d", DOMAIN, "-W", PASSWORD, "-F", "qua",
                   "-L", "Imap", "-Q", "2048000")
    imap.commadmin("user", "modify", "-l", "qua", "-d", DOMAIN, "-A", "mailMsgQuota:2")
    c = login(imap, "qua")
    status, untagged = raw(c, "GETQUOTAROOT INBOX")
    assert " OK " in status, status
    assert untagged[0] == '* QUOTAROOT "INBOX" ""', untagged
    assert untagged[1] == '* QUOTA "" (STORAGE 0 2000 MESSAGE 0 2)', untagged
    body = b"Subject: q\r\n\r\nx\r\n"
    assert c.append("INBOX", None, None, body)[0] == "OK"
    assert c.append("INBOX", None, None, body)[0] == "OK"
    typ, data = c.append("INBOX", None, None, body)
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    status, untagged = raw(c, "GETQUOTAROOT INBOX")
    assert untagged[1] == '* QUOTA "" (STORAGE 1 2000 MESSAGE 2 2)', untagged
    status, untagged = raw(c, 'GETQUOTA ""')
    assert " OK " in status and untagged[0].startswith('* QUOTA "" ('), (status, untagged)
    assert " NO " in raw(c, "GETQUOTA nosuchroot")[0]
    assert " NO " in raw(c, 'SETQUOTA "" (STORAGE 10)')[0]
    assert " NO " in raw(c, "GETQUOTAROOT Nope")[0]
    # at store.quotawarn (90 %) or more, every SELECT carries an ALERT
    status, untagged = raw(c, "SELECT INBOX")
    assert " OK " in status and "* OK [ALERT] Your mailbox is at 100% of its quota" in untagged
    assert "qua: quota warning: 100% used" in imap.imapd.log_text()
    c.logout()
    c = login(imap, "kim")
    status, untagged = raw(c, "SELECT INBOX")
    assert not any("[ALERT]" in u for u in untagged), untagged
    c.logout()


def test_reload_and_sigterm(imap):
    """SIGHUP applies a new banner to new sessions; SIGTERM says BYE and exits 0."""
    imap.run("set", "imap.banner", "Reloaded %p")
    imap.imapd.proc.send_signal(signal.SIGHUP)
    def banner():
        c = connect(imap)
        w = c.welcome
        c.logout()
        return b"Reloaded IMAP4" in w
    wait_until(banner, timeout=5, what="the new banner")
    c = login(imap, "ann")
    c.select("INBOX")
    imap.imapd.proc.send_signal(signal.SIGTERM)
    assert c.readline() == b"* BYE Server shutting down\r\n"
    assert imap.imapd.proc.wait(timeout=10) == 0
    assert " shutting down" in imap.imapd.log_text()
    imap.imapd.start()
    c = login(imap, "ann")
    assert c.select("INBOX")[0] == "OK"
    c.logout()
