"""IMAP4rev1 conformance, written from the command descriptions of RFC 3501.

Each test names the section it checks.  Every test runs twice: once on the
plain port after STARTTLS and once on the SSL port, so the whole command
set is exercised over TLS both ways.  The behaviour already covered in
depth by test_imapd.py (FETCH of MIME parts, SEARCH keys of everyday use,
IDLE) is not repeated; this file walks the rest of the RFC: the response
codes of SELECT and EXAMINE, the INBOX rules of CREATE, DELETE and RENAME,
the hierarchy rules, LIST wildcards and references, STATUS items, APPEND
with flags and dates, CLOSE against EXPUNGE, the STORE forms, UID command
variants, the sequence-set grammar and the error responses.
"""
import imaplib
import re

import pytest

from imap_fixtures import connect, imapd_instance, login as imap_login, raw_tagged as raw
from test_store_tools import deliver

PASSWORD = "Rfc-Pass-1"
USERS = ("ada", "bea", "cy", "dot", "eve", "fay", "gus", "hal", "ida", "jo", "kai", "lou")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    users = tuple(f"{u}{t}" for u in USERS for t in ("p", "s"))
    with imapd_instance(tmp_path_factory.mktemp("rfc3501"), users, PASSWORD, "Rfc") as inst:
        yield inst


@pytest.fixture(params=["starttls", "ssl"])
def mode(request):
    return request.param


def user_for(base, mode):
    return base + ("p" if mode == "starttls" else "s")


def login(inst, mode, base):
    return imap_login(inst, user_for(base, mode), mode)


def status_of(tagged):
    return tagged.split(" ", 2)[1]


def text(i):
    return (f"Subject: m{i}\r\nFrom: x@example.com\r\nTo: y@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:0{i % 10} +0000\r\n\r\nbody {i}\r\n").encode()


def stext(i):
    return text(i).decode()


# 6.1 Client commands - any state


def test_6_1_capability_noop_logout(server, mode):
    c = connect(server, mode)
    caps = c.capability()[1][0].decode().split()
    assert "IMAP4rev1" in caps
    # after TLS, STARTTLS is not offered again and LOGIN is allowed
    assert "STARTTLS" not in caps and "LOGINDISABLED" not in caps
    tagged, untagged = raw(c, "NOOP")
    assert status_of(tagged) == "OK"
    tagged, untagged = raw(c, "LOGOUT")
    assert status_of(tagged) == "OK"
    assert untagged and untagged[0].startswith("* BYE")


# 6.2 Not authenticated state


def test_6_2_login_failures(server, mode):
    c = connect(server, mode)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(user_for("ada", mode), "wrong password")
    with pytest.raises(imaplib.IMAP4.error):
        c.login("nobody-here", PASSWORD)
    # still not authenticated: SELECT is refused, LOGIN works afterwards
    tagged, _ = raw(c, "SELECT INBOX")
    assert status_of(tagged) == "BAD"
    assert c.login(user_for("ada", mode), PASSWORD)[0] == "OK"
    # LOGIN again in authenticated state is a protocol error
    tagged, _ = raw(c, f"LOGIN {user_for('ada', mode)} {PASSWORD}")
    assert status_of(tagged) == "BAD"
    c.logout()


def test_6_2_2_authenticate_cancel_and_unknown(server, mode):
    c = connect(server, mode)
    tag = c._new_tag().decode()
    c.send(f"{tag} AUTHENTICATE PLAIN\r\n".encode())
    assert c.readline().startswith(b"+")
    c.send(b"*\r\n")               # the client cancels the exchange
    ln = c.readline().decode()
    assert ln.startswith(f"{tag} BAD"), ln
    tagged, _ = raw(c, "AUTHENTICATE X-NO-SUCH-MECH")
    assert status_of(tagged) == "NO"
    tagged, _ = raw(c, "AUTHENTICATE PLAIN !!notbase64!!")
    assert status_of(tagged) in ("BAD", "NO")
    c.logout()


# 6.3 Authenticated state


def test_6_3_1_select_responses(server, mode):
    user = user_for("bea", mode)
    for i in range(3):
        deliver(server, user, message=stext(i))
    c = login(server, mode, "bea")
    tagged, untagged = raw(c, "SELECT INBOX")
    assert tagged.endswith("SELECT completed") or "[READ-WRITE]" in tagged
    assert "[READ-WRITE]" in tagged
    joined = "\n".join(untagged)
    assert re.search(r"^\* FLAGS \(.*\\Seen.*\)$", joined, re.M)
    assert re.search(r"^\* 3 EXISTS$", joined, re.M)
    assert re.search(r"^\* \d+ RECENT$", joined, re.M)
    assert re.search(r"^\* OK \[UNSEEN 1\]", joined, re.M)
    assert re.search(r"^\* OK \[PERMANENTFLAGS \(.*\\\*\)\]", joined, re.M)
    assert re.search(r"^\* OK \[UIDNEXT \d+\]", joined, re.M)
    assert re.search(r"^\* OK \[UIDVALIDITY \d+\]", joined, re.M)
    # a failed SELECT leaves no mailbox selected
    tagged, _ = raw(c, "SELECT No-Such-Box")
    assert status_of(tagged) == "NO"
    tagged, _ = raw(c, "FETCH 1 FLAGS")
    assert status_of(tagged) == "BAD"
    c.logout()


def test_6_3_2_examine_is_read_only(server, mode):
    user = user_for("cy", mode)
    deliver(server, user, message=stext(1))
    c = login(server, mode, "cy")
    tagged, untagged = raw(c, "EXAMINE INBOX")
    assert status_of(tagged) == "OK" and "[READ-ONLY]" in tagged
    tagged, _ = raw(c, "STORE 1 +FLAGS (\\Flagged)")
    assert status_of(tagged) == "NO"
    tagged, _ = raw(c, "EXPUNGE")
    assert status_of(tagged) == "NO"
    # the first session of the mailbox sees the message as recent; a
    # read-only one does not take the \Recent away from a later SELECT
    tagged, untagged = raw(c, "FETCH 1 (BODY[TEXT])")
    assert status_of(tagged) == "OK"
    assert not any("\\Seen" in u for u in untagged)
    c.logout()


def test_6_3_3_create_rules(server, mode):
    c = login(server, mode, "dot")
    assert status_of(raw(c, "CREATE INBOX")[0]) == "NO"
    assert status_of(raw(c, "CREATE inbox")[0]) == "NO"     # INBOX is case-insensitive
    assert c.create("Top/Mid/Leaf")[0] == "OK"              # superiors are created
    names = [ln.decode() for ln in c.list('""', "Top*")[1]]
    assert any(n.endswith('"Top"') for n in names), names
    assert any(n.endswith('"Top/Mid"') for n in names), names
    assert c.create("Trail/")[0] == "OK"                    # trailing separator
    assert any(n.decode().endswith('"Trail"') for n in c.list('""', "Trail")[1])
    assert status_of(raw(c, "CREATE Top")[0]) == "NO"       # exists
    assert status_of(raw(c, "CREATE")[0]) == "BAD"
    c.logout()


def test_6_3_4_delete_rules(server, mode):
    c = login(server, mode, "eve")
    assert status_of(raw(c, "DELETE INBOX")[0]) == "NO"
    assert status_of(raw(c, "DELETE Never-Was")[0]) == "NO"
    c.create("Parent/Child")
    # deleting a mailbox with inferiors keeps the inferiors
    assert c.delete("Parent")[0] == "OK"
    names = b" ".join(c.list('""', "Parent*")[1])
    assert b"Parent/Child" in names
    if b'"Parent"' in names:
        assert b"\\Noselect" in names   # kept as a \Noselect place holder
    assert c.delete("Parent/Child")[0] == "OK"
    c.logout()


def test_6_3_5_rename_rules(server, mode):
    user = user_for("fay", mode)
    for i in range(2):
        deliver(server, user, message=stext(i))
    c = login(server, mode, "fay")
    c.create("A/B")
    assert c.rename("A", "Z")[0] == "OK"            # inferiors move with it
    names = b" ".join(c.list('""', "*")[1])
    assert b'"Z/B"' in names and b'"A/B"' not in names
    c.create("Taken")
    assert status_of(raw(c, "RENAME Z Taken")[0]) == "NO"
    assert status_of(raw(c, "RENAME Never-Was Other")[0]) == "NO"
    # RENAME INBOX moves the messages and leaves INBOX empty
    assert c.rename("INBOX", "Old-Inbox")[0] == "OK"
    assert c.select("INBOX")[1][0] == b"0"
    assert c.select("Old-Inbox")[1][0] == b"2"
    c.logout()


def test_6_3_6_subscribe_lsub(server, mode):
    c = login(server, mode, "gus")
    c.create("Sub1")
    c.create("Sub2")
    assert c.subscribe("Sub1")[0] == "OK"
    lsub = b" ".join(x for x in c.lsub('""', "*")[1] if x)
    assert b"Sub1" in lsub and b"Sub2" not in lsub
    assert c.unsubscribe("Sub1")[0] == "OK"
    lsub = b" ".join(x for x in c.lsub('""', "*")[1] if x)
    assert b"Sub1" not in lsub
    c.logout()


def test_6_3_8_list_wildcards_and_reference(server, mode):
    c = login(server, mode, "hal")
    for name in ("W", "W/x", "W/x/y", "Wz"):
        c.create(name)
    # the empty pattern asks for the hierarchy delimiter
    tagged, untagged = raw(c, 'LIST "" ""')
    assert status_of(tagged) == "OK"
    assert untagged == ['* LIST (\\Noselect) "/" ""'], untagged
    tagged, untagged = raw(c, 'LIST "" "W%"')
    names = sorted(u.rsplit(" ", 1)[1].strip('"') for u in untagged)
    assert names == ["W", "Wz"], untagged
    tagged, untagged = raw(c, 'LIST "" "W*"')
    names = sorted(u.rsplit(" ", 1)[1].strip('"') for u in untagged)
    assert names == ["W", "W/x", "W/x/y", "Wz"], untagged
    tagged, untagged = raw(c, 'LIST "W/" "%"')
    names = sorted(u.rsplit(" ", 1)[1].strip('"') for u in untagged)
    assert names == ["W/x"], untagged
    # children attributes
    tagged, untagged = raw(c, 'LIST "" "W"')
    assert "\\HasChildren" in untagged[0], untagged
    tagged, untagged = raw(c, 'LIST "" "W/x/y"')
    assert "\\HasNoChildren" in untagged[0], untagged
    # INBOX matches without regard to case
    tagged, untagged = raw(c, 'LIST "" "inbox"')
    assert len(untagged) == 1 and untagged[0].split()[-1].strip('"') == "INBOX", untagged
    c.logout()


def test_6_3_10_status(server, mode):
    user = user_for("ida", mode)
    for i in range(3):
        deliver(server, user, message=stext(i))
    c = login(server, mode, "ida")
    typ, data = c.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK"
    m = re.match(rb'"?INBOX"? \(MESSAGES 3 RECENT (\d+) UIDNEXT (\d+) UIDVALIDITY (\d+) UNSEEN 3\)',
                 data[0])
    assert m, data
    assert int(m.group(2)) > 3 - 1 and int(m.group(3)) > 0
    assert status_of(raw(c, "STATUS INBOX (FROB)")[0]) == "BAD"
    assert status_of(raw(c, "STATUS Never-Was (MESSAGES)")[0]) == "NO"
    c.logout()


def test_6_3_11_append(server, mode):
    c = login(server, mode, "jo")
    c.create("Drafts2")
    typ, data = c.append("Drafts2", "(\\Draft \\Seen $Label1)",
                         '"05-Feb-2024 10:20:30 +0100"', text(5))
    assert typ == "OK"
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert m, data
    c.select("Drafts2")
    typ, data = c.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE)")
    assert b"\\Draft" in data[0] and b"\\Seen" in data[0] and b"$Label1" in data[0]
    m = re.search(rb'INTERNALDATE "([^"]+)"', data[0])
    got = imaplib.Internaldate2tuple(b'INTERNALDATE "' + m.group(1) + b'"')
    want = imaplib.Internaldate2tuple(b'INTERNALDATE "05-Feb-2024 10:20:30 +0100"')
    assert got == want, data           # the same instant, in any zone
    assert f"RFC822.SIZE {len(text(5))}".encode() in data[0]
    # to a mailbox that does not exist: NO [TRYCREATE]
    typ, data = c.append("Never-Was", None, None, text(6))
    assert typ == "NO" and b"TRYCREATE" in data[0]
    # an invalid date is a syntax error
    tagged, _ = raw(c, 'APPEND Drafts2 "31-Foo-2024 00:00:00 +0000" {3+}\r\nabc')
    assert status_of(tagged) == "BAD"
    # a second session with the mailbox selected learns of the append
    d = login(server, mode, "jo")
    d.select("Drafts2")
    c.append("Drafts2", None, None, text(7))
    tagged, untagged = raw(d, "NOOP")
    assert "* 2 EXISTS" in untagged, untagged
    c.logout()
    d.logout()


# 6.4 Selected state


def test_6_4_2_close_expunges_silently(server, mode):
    c = login(server, mode, "kai")
    c.create("Cl")
    for i in range(3):
        c.append("Cl", None, None, text(i))
    c.select("Cl")
    c.store("1:2", "+FLAGS.SILENT", "(\\Deleted)")
    tagged, untagged = raw(c, "CLOSE")
    assert status_of(tagged) == "OK"
    assert not any("EXPUNGE" in u for u in untagged), untagged
    assert status_of(raw(c, "FETCH 1 FLAGS")[0]) == "BAD"    # back in authenticated state
    assert c.select("Cl")[1][0] == b"1"
    # CLOSE after EXAMINE removes nothing
    c.store("1", "+FLAGS.SILENT", "(\\Deleted)")
    c.select("Cl", readonly=True)
    raw(c, "CLOSE")
    assert c.select("Cl")[1][0] == b"1"
    c.logout()


def test_6_4_3_expunge_sequence_numbers(server, mode):
    c = login(server, mode, "lou")
    c.create("Ex")
    for i in range(5):
        c.append("Ex", None, None, text(i))
    c.select("Ex")
    c.store("2,3,5", "+FLAGS.SILENT", "(\\Deleted)")
    tagged, untagged = raw(c, "EXPUNGE")
    assert status_of(tagged) == "OK"
    # each EXPUNGE renumbers the ones after it: 2, 2, 3 (or 5, 3, 2)
    seqs = [int(u.split()[1]) for u in untagged if u.endswith("EXPUNGE")]
    assert len(seqs) == 3
    left = list(range(1, 6))
    for s in seqs:
        del left[s - 1]
    assert left == [1, 4], seqs
    c.logout()


def test_6_4_5_fetch_macros_and_items(server, mode):
    c = login(server, mode, "ada")
    c.create("F")
    c.append("F", "(\\Answered)", None, text(1))
    c.select("F")
    typ, data = c.fetch("1", "FAST")
    assert re.match(rb"1 \(FLAGS \(\\Answered( \\Recent)?\) INTERNALDATE \"[^\"]+\" RFC822\.SIZE \d+\)",
                    data[0]), data
    typ, data = c.fetch("1", "(RFC822.HEADER)")
    assert data[0][1].endswith(b"\r\n\r\n") and b"Subject: m1" in data[0][1]
    typ, data = c.fetch("1", "(RFC822.TEXT)")
    assert data[0][1] == b"body 1\r\n"
    assert b"\\Seen" in b" ".join(x if isinstance(x, bytes) else x[0] for x in data)
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT DATE TO)])")
    assert data[0][1] == b"From: x@example.com\r\n\r\n", data
    typ, data = c.fetch("1", "(BODY.PEEK[]<0.7>)")
    assert data[0] == (b"1 (BODY[]<0> {7}", b"Subject"), data
    typ, data = c.fetch("1", "(BODY.PEEK[]<100000.5>)")       # past the end: empty
    assert data[0][1] == b"", data
    for bad in ("(BODY[HEADER.FIELDS])", "(BODY[]<5>)", "(BODY[0])", "FLAGS)", "(FLAGS", ""):
        assert status_of(raw(c, f"FETCH 1 {bad}")[0]) == "BAD", bad
    c.logout()


def test_6_4_6_store_forms(server, mode):
    c = login(server, mode, "bea")
    c.create("St")
    c.append("St", None, None, text(1))
    c.select("St")
    typ, data = c.store("1", "FLAGS", "(\\Flagged kw1)")
    assert b"\\Flagged" in data[0] and b"kw1" in data[0]
    typ, data = c.store("1", "+FLAGS", "(\\Answered)")
    assert b"\\Answered" in data[0] and b"\\Flagged" in data[0]
    typ, data = c.store("1", "-FLAGS", "(\\Flagged kw1)")
    assert b"\\Flagged" not in data[0] and b"kw1" not in data[0]
    tagged, untagged = raw(c, "STORE 1 FLAGS.SILENT (\\Seen)")
    assert status_of(tagged) == "OK" and not any("FETCH" in u for u in untagged)
    assert b"(FLAGS (\\Seen" in c.fetch("1", "(FLAGS)")[1][0]
    # \Recent cannot be set by a client; bad flag syntax is BAD
    assert status_of(raw(c, "STORE 1 +FLAGS (\\Recent)")[0]) in ("BAD", "NO")
    assert status_of(raw(c, "STORE 1 +FLAGS (\\NoSuchSystemFlag)")[0]) == "BAD"
    assert status_of(raw(c, "STORE 1 REPLACE (x)")[0]) == "BAD"
    c.logout()


def test_6_4_7_copy_trycreate_and_uid_variants(server, mode):
    c = login(server, mode, "cy")
    c.create("Src")
    for i in range(3):
        c.append("Src", None, None, text(i))
    c.select("Src")
    typ, data = c.copy("1:2", "Never-Was")
    assert typ == "NO" and b"TRYCREATE" in data[0]
    c.create("Dst")
    typ, data = c.copy("2:3", "Dst")
    assert typ == "OK" and b"COPYUID" in data[0]
    typ, data = c.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    typ, data = c.uid("COPY", f"{uids[0]}", "Dst")
    assert typ == "OK"
    assert c.status("Dst", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 3)")
    typ, data = c.uid("STORE", f"{uids[2]}", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and f"UID {uids[2]}".encode() in data[0]
    # a UID range whose numbers no longer exist is not an error
    typ, data = c.uid("FETCH", "9990:9999", "(FLAGS)")
    assert typ == "OK"
    typ, data = c.uid("STORE", "9990:9999", "+FLAGS", "(\\Flagged)")
    assert typ == "OK"
    c.logout()


def test_9_sequence_sets(server, mode):
    c = login(server, mode, "dot")
    c.create("Seq")
    for i in range(5):
        c.append("Seq", None, None, text(i))
    c.select("Seq")

    def seqs(s):
        typ, data = c.search(None, s)
        assert typ == "OK", data
        return data[0].decode().split()

    assert seqs("1:*") == ["1", "2", "3", "4", "5"]
    assert seqs("*") == ["5"]
    assert seqs("*:4") == ["4", "5"]           # ranges may run backwards
    assert seqs("1,3:4,5") == ["1", "3", "4", "5"]
    assert seqs("4:2") == ["2", "3", "4"]
    for bad in ("0", "1:0", "a", "1,,2", "1:", ":3"):
        assert status_of(raw(c, f"FETCH {bad} FLAGS")[0]) == "BAD", bad
    c.logout()


def test_6_4_4_search_more_keys(server, mode):
    c = login(server, mode, "eve")
    c.create("Se")
    msgs = [
        b"Subject: one\r\nFrom: a@x.org\r\nCc: carol@x.org\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\nhello\r\n",
        b"Subject: two\r\nFrom: b@x.org\r\nBcc: hidden@x.org\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\n\r\nworld\r\n",
        b"Subject: three\r\nFrom: c@x.org\r\nDate: Sun, 01 Dec 2024 10:00:00 +0000\r\n\r\nagain\r\n",
    ]
    c.append("Se", "(\\Answered)", None, msgs[0])
    c.append("Se", "(\\Draft $Important)", None, msgs[1])
    c.append("Se", None, None, msgs[2])
    c.select("Se")

    def s(*crit):
        typ, data = c.search(None, *crit)
        assert typ == "OK", (crit, data)
        return data[0].decode().split()

    assert s("ANSWERED") == ["1"] and s("UNANSWERED") == ["2", "3"]
    assert s("DRAFT") == ["2"] and s("UNDRAFT") == ["1", "3"]
    assert s("KEYWORD", "$Important") == ["2"] and s("UNKEYWORD", "$Important") == ["1", "3"]
    assert s("CC", "carol") == ["1"] and s("BCC", "hidden") == ["2"]
    assert s("SENTBEFORE", "1-Feb-2024") == ["1"]
    assert s("SENTON", "1-Jun-2024") == ["2"]
    assert s("SENTSINCE", "1-Jun-2024") == ["2", "3"]
    assert s("HEADER", "Bcc", '""') == ["2"]     # the empty string matches any value
    assert s("NEW") == s("RECENT UNSEEN")
    assert s("OLD") == s("NOT RECENT")
    assert s("ALL", "UNDELETED", "NOT", "DRAFT") == ["1", "3"]
    for bad in ("SENTON 99-Jan-2024", "KEYWORD", "OR ANSWERED", "(ANSWERED", "LARGER x"):
        assert status_of(raw(c, f"SEARCH {bad}")[0]) == "BAD", bad
    c.logout()


def test_7_unknown_and_misplaced_commands(server, mode):
    c = connect(server, mode)
    assert status_of(raw(c, "FROBNICATE")[0]) == "BAD"
    assert status_of(raw(c, "LIST \"\" *")[0]) == "BAD"     # before login
    c.login(user_for("fay", mode), PASSWORD)
    assert status_of(raw(c, "EXPUNGE")[0]) == "BAD"         # nothing selected
    assert status_of(raw(c, "CHECK")[0]) == "BAD"
    assert status_of(raw(c, "SELECT")[0]) == "BAD"          # missing argument
    assert status_of(raw(c, 'SELECT "unterminated')[0]) == "BAD"
    # the session still works
    assert c.select("INBOX")[0] == "OK"
    assert status_of(raw(c, "CHECK")[0]) == "OK"
    c.logout()
