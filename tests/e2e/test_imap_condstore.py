"""CONDSTORE and QRESYNC (RFC 7162) in imapd, end to end.

One instance for the module (its own slapd, users made with commadmin),
messages put in with the real `deliver`, imapd run attached to the test as
in test_imapd.py, and imaplib as the client; the commands imaplib does not
know (ENABLE's answer, SELECT parameters, modifiers) go through raw(),
which sends one line and returns the tagged line and the untagged ones.
Each test works on its own user, so the tests do not see each other's
changes.
"""
import re

import pytest

from imap_fixtures import imapd_instance, login, raw
from test_store_tools import deliver

PASSWORD = "Cond-Pass-1"
USERS = ("cs1", "cs2", "cs3", "cs4", "cs5", "cs6", "cs7", "cs8", "cs9")


def msg(n):
    return (f"Subject: message {n}\nFrom: a@example.com\nTo: cs@example.com\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\n\nbody of {n}\n")


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("condstore"), USERS, PASSWORD, "Cond") as inst:
        yield inst


def ok(c, line):
    status, untagged = raw(c, line)
    assert status.startswith("OK"), (line, status, untagged)
    return status, untagged


def fill(inst, user, n):
    for i in range(n):
        deliver(inst, user, message=msg(i), check=0)


def code(untagged, name):
    """The number of an untagged OK [NAME n] response code."""
    for u in untagged:
        m = re.match(rf"\* OK \[{name} (\d+)\]", u)
        if m:
            return int(m.group(1))
    raise AssertionError(f"no {name} in {untagged}")


FETCH_RE = re.compile(r"\* (\d+) FETCH \((.*)\)$")


def fetches(untagged):
    """{sequence number: {UID, MODSEQ, FLAGS}} of the untagged FETCH lines."""
    out = {}
    for u in untagged:
        m = FETCH_RE.match(u)
        if not m:
            continue
        body = m.group(2)
        d = {}
        if (x := re.search(r"UID (\d+)", body)):
            d["UID"] = int(x.group(1))
        if (x := re.search(r"MODSEQ \((\d+)\)", body)):
            d["MODSEQ"] = int(x.group(1))
        if (x := re.search(r"FLAGS \(([^)]*)\)", body)):
            d["FLAGS"] = set(x.group(1).split())
        out[int(m.group(1))] = d
    return out


def modseqs(c):
    _, untagged = ok(c, "UID FETCH 1:* (MODSEQ)")
    return {d["UID"]: d["MODSEQ"] for d in fetches(untagged).values()}


def test_capability_and_enable(imap):
    c = login(imap, "cs1")
    _, untagged = ok(c, "CAPABILITY")
    caps = untagged[0].split()
    assert "CONDSTORE" in caps and "QRESYNC" in caps, caps
    assert ok(c, "ENABLE CONDSTORE")[1] == ["* ENABLED CONDSTORE"]
    assert ok(c, "ENABLE QRESYNC X-UNKNOWN")[1] == ["* ENABLED QRESYNC"]
    assert ok(c, "ENABLE CONDSTORE QRESYNC")[1] == ["* ENABLED"]  # already on
    assert raw(c, "ENABLE")[0].startswith("BAD")
    assert raw(c, "ENABLE (CONDSTORE)")[0].startswith("BAD")
    # QRESYNC implies CONDSTORE
    c2 = login(imap, "cs1")
    assert ok(c2, "ENABLE qresync")[1] == ["* ENABLED QRESYNC"]
    assert ok(c2, "ENABLE CONDSTORE")[1] == ["* ENABLED"]
    c.logout()
    c2.logout()


def test_modseq_grows_on_flag_change_and_status(imap):
    fill(imap, "cs2", 3)
    c = login(imap, "cs2")
    _, untagged = ok(c, "SELECT INBOX (CONDSTORE)")
    high0 = code(untagged, "HIGHESTMODSEQ")
    before = modseqs(c)
    assert len(before) == 3 and max(before.values()) <= high0
    _, untagged = ok(c, "STORE 2 +FLAGS (\\Flagged)")
    f = fetches(untagged)[2]
    assert "\\Flagged" in f["FLAGS"] and f["MODSEQ"] > high0 and f["UID"] in before, f
    after = modseqs(c)
    uid2 = f["UID"]
    assert after[uid2] == f["MODSEQ"]
    assert all(after[u] == before[u] for u in before if u != uid2)
    # a STORE that changes nothing leaves the MODSEQ alone
    ok(c, "STORE 2 +FLAGS.SILENT (\\Flagged)")
    assert modseqs(c)[uid2] == f["MODSEQ"]
    # STATUS HIGHESTMODSEQ follows, and a new SELECT says the same
    _, untagged = ok(c, "STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    assert f"HIGHESTMODSEQ {f['MODSEQ']}" in untagged[0], untagged
    _, untagged = ok(c, "EXAMINE INBOX")
    assert code(untagged, "HIGHESTMODSEQ") == f["MODSEQ"]
    assert "* OK [CLOSED] Previous mailbox closed" in untagged
    c.logout()


def test_changedsince_returns_only_changed(imap):
    fill(imap, "cs3", 4)
    c = login(imap, "cs3")
    _, untagged = ok(c, "SELECT INBOX")
    high0 = code(untagged, "HIGHESTMODSEQ")
    ok(c, "STORE 1,3 +FLAGS.SILENT (\\Seen)")
    status, untagged = ok(c, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {high0})")
    got = fetches(untagged)
    assert sorted(got) == [1, 3], untagged
    assert all("MODSEQ" in d and d["MODSEQ"] > high0 and "\\Seen" in d["FLAGS"] for d in got.values())
    _, untagged = ok(c, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high0})")
    got = fetches(untagged)
    assert sorted(got) == [1, 3] and all("UID" in d for d in got.values()), untagged
    newest = max(d["MODSEQ"] for d in got.values())
    assert fetches(ok(c, f"FETCH 1:* (FLAGS) (CHANGEDSINCE {newest})")[1]) == {}
    # limited to the set asked for
    assert sorted(fetches(ok(c, f"FETCH 2:4 (UID) (CHANGEDSINCE {high0})")[1])) == [3]
    c.logout()


def test_unchangedsince_conflict_gives_modified(imap):
    fill(imap, "cs4", 3)
    a = login(imap, "cs4")
    b = login(imap, "cs4")
    ok(a, "SELECT INBOX (CONDSTORE)")
    ok(b, "SELECT INBOX")
    ms = modseqs(a)
    uids = sorted(ms)
    base = max(ms.values())
    # b changes message 2 behind a's back
    ok(b, "STORE 2 +FLAGS (\\Answered)")
    status, untagged = raw(a, f"STORE 1:2 (UNCHANGEDSINCE {base}) +FLAGS (\\Flagged)")
    assert status.startswith("OK [MODIFIED 2]"), status
    got = fetches(untagged)
    assert 1 in got and "\\Flagged" in got[1]["FLAGS"] and got[1]["MODSEQ"] > base, untagged
    _, untagged = ok(a, "FETCH 2 (FLAGS)")
    assert "\\Flagged" not in fetches(untagged)[2]["FLAGS"]
    # UID STORE names UIDs; .SILENT still reports UID and MODSEQ (CONDSTORE is on)
    status, untagged = raw(a, f"UID STORE {uids[1]}:{uids[2]} (UNCHANGEDSINCE {base}) "
                              "+FLAGS.SILENT (\\Draft)")
    assert status.startswith(f"OK [MODIFIED {uids[1]}]"), status
    got = fetches(untagged)
    assert list(got) == [3] and got[3]["UID"] == uids[2] and "FLAGS" not in got[3], untagged
    # UNCHANGEDSINCE 0 fails for every message
    status, _ = raw(a, "STORE 1:3 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)")
    assert status.startswith("OK [MODIFIED 1:3]"), status
    assert all("\\Seen" not in d["FLAGS"] for d in fetches(ok(a, "FETCH 1:3 FLAGS")[1]).values())
    # a high enough UNCHANGEDSINCE passes
    status, _ = ok(a, f"STORE 1:3 (UNCHANGEDSINCE {2**62}) +FLAGS (\\Seen)")
    assert "MODIFIED" not in status
    a.logout()
    b.logout()


def test_search_modseq(imap):
    fill(imap, "cs5", 3)
    c = login(imap, "cs5")
    _, untagged = ok(c, "SELECT INBOX")
    high0 = code(untagged, "HIGHESTMODSEQ")
    _, untagged = ok(c, "STORE 2 +FLAGS (\\Flagged)")
    assert "MODSEQ" not in fetches(untagged)[2]    # CONDSTORE is not on yet
    m2 = fetches(ok(c, "FETCH 2 (MODSEQ)")[1])[2]["MODSEQ"]
    assert m2 > high0
    _, untagged = ok(c, f"SEARCH MODSEQ {high0 + 1}")
    assert untagged == [f"* SEARCH 2 (MODSEQ {m2})"], untagged
    _, untagged = ok(c, f'UID SEARCH MODSEQ "/flags/\\\\Flagged" all {high0 + 1}')
    assert re.fullmatch(rf"\* SEARCH \d+ \(MODSEQ {m2}\)", untagged[0]), untagged
    _, untagged = ok(c, "SEARCH MODSEQ 0")
    assert untagged[0].startswith("* SEARCH 1 2 3 (MODSEQ "), untagged
    assert ok(c, f"SEARCH MODSEQ {m2 + 1}")[1] == ["* SEARCH"]
    assert ok(c, "SEARCH FLAGGED")[1] == ["* SEARCH 2"]     # no MODSEQ without the key
    c.logout()


def test_two_sessions_see_modseq_in_untagged_fetch(imap):
    fill(imap, "cs6", 2)
    a = login(imap, "cs6")
    b = login(imap, "cs6")
    plain = login(imap, "cs6")
    ok(a, "ENABLE CONDSTORE")
    for c in (a, b, plain):
        ok(c, "SELECT INBOX")
    _, untagged = ok(b, "STORE 1 +FLAGS (\\Seen)")
    new = fetches(untagged)[1]
    assert "MODSEQ" not in new                # b never enabled CONDSTORE
    _, untagged = ok(a, "NOOP")
    got = fetches(untagged)
    assert 1 in got and "\\Seen" in got[1]["FLAGS"], untagged
    assert got[1]["MODSEQ"] > 0 and "UID" in got[1]
    _, untagged = ok(plain, "NOOP")
    got = fetches(untagged)
    assert 1 in got and "MODSEQ" not in got[1] and "UID" not in got[1], untagged
    # a FETCH that sets \Seen reports UID and MODSEQ with the new FLAGS
    _, untagged = ok(a, "FETCH 2 (BODY[TEXT])")
    line = [u for u in untagged if u.startswith("* 2 FETCH")][0]
    assert "BODY[TEXT]" in line
    # the literal's lines follow; the closing line holds what \Seen changed
    closing = [u for u in untagged if "FLAGS (" in u][0]
    assert "\\Seen" in closing and "MODSEQ (" in closing and "UID " in closing, untagged
    # and b's session sees a's change through CONDSTORE-enabling STORE
    ok(b, "STORE 2 (UNCHANGEDSINCE 9999999) +FLAGS.SILENT ($Work)")
    _, untagged = ok(a, "NOOP")
    assert any("$Work" in u and "MODSEQ (" in u for u in untagged), untagged
    for c in (a, b, plain):
        c.logout()


def test_qresync_select_reports_vanished_earlier(imap):
    fill(imap, "cs7", 6)
    a = login(imap, "cs7")
    assert raw(a, "SELECT INBOX (QRESYNC (1 1))")[0].startswith("BAD")  # not enabled
    ok(a, "ENABLE QRESYNC")
    _, untagged = ok(a, "SELECT INBOX")
    validity = code(untagged, "UIDVALIDITY")
    high0 = code(untagged, "HIGHESTMODSEQ")
    uids = sorted(modseqs(a))
    a.logout()
    # another session expunges two messages and flags one
    b = login(imap, "cs7")
    b.select("INBOX")
    b.uid("STORE", f"{uids[1]},{uids[3]}", "+FLAGS.SILENT", "(\\Deleted)")
    b.expunge()
    b.uid("STORE", str(uids[5]), "+FLAGS.SILENT", "(\\Answered)")
    b.logout()

    c = login(imap, "cs7")
    ok(c, "ENABLE QRESYNC")
    _, untagged = ok(c, f"SELECT INBOX (QRESYNC ({validity} {high0}))")
    vanished = [u for u in untagged if u.startswith("* VANISHED")]
    assert vanished == [f"* VANISHED (EARLIER) {uids[1]},{uids[3]}"], untagged
    got = fetches(untagged)
    assert [d["UID"] for d in got.values()] == [uids[5]], untagged
    d = list(got.values())[0]
    assert "\\Answered" in d["FLAGS"] and d["MODSEQ"] > high0
    assert "* 4 EXISTS" in untagged
    # the VANISHED comes after HIGHESTMODSEQ and before the FETCH
    assert untagged.index(vanished[0]) > [i for i, u in enumerate(untagged) if "HIGHESTMODSEQ" in u][0]
    # known-uids limit both
    _, untagged = ok(c, f"EXAMINE INBOX (QRESYNC ({validity} {high0} {uids[0]}:{uids[2]}))")
    assert "* OK [CLOSED] Previous mailbox closed" in untagged
    assert [u for u in untagged if u.startswith("* VANISHED")] == [f"* VANISHED (EARLIER) {uids[1]}"]
    assert fetches(untagged) == {}
    # with seq-match-data too
    _, untagged = ok(c, f"EXAMINE INBOX (QRESYNC ({validity} {high0} 1:* (1:3 {uids[0]}:{uids[2]})))")
    assert f"* VANISHED (EARLIER) {uids[1]},{uids[3]}" in untagged
    # a UIDVALIDITY that does not match: a plain SELECT, nothing else
    _, untagged = ok(c, f"SELECT INBOX (QRESYNC ({validity + 1} {high0}))")
    assert not [u for u in untagged if "VANISHED" in u] and fetches(untagged) == {}
    # up to date: nothing to say
    now = code(untagged, "HIGHESTMODSEQ")
    _, untagged = ok(c, f"SELECT INBOX (QRESYNC ({validity} {now}))")
    assert not [u for u in untagged if "VANISHED" in u] and fetches(untagged) == {}
    c.logout()


def test_qresync_session_gets_vanished_not_expunge(imap):
    fill(imap, "cs8", 5)
    a = login(imap, "cs8")
    ok(a, "ENABLE QRESYNC")
    _, untagged = ok(a, "SELECT INBOX")
    high0 = code(untagged, "HIGHESTMODSEQ")
    uids = sorted(modseqs(a))
    b = login(imap, "cs8")
    b.select("INBOX")
    b.uid("STORE", str(uids[2]), "+FLAGS.SILENT", "(\\Deleted)")
    b.expunge()
    _, untagged = ok(a, "NOOP")
    assert f"* VANISHED {uids[2]}" in untagged, untagged
    assert not [u for u in untagged if u.endswith("EXPUNGE")]
    # the session's own EXPUNGE: VANISHED, and HIGHESTMODSEQ in the tagged OK
    ok(a, f"UID STORE {uids[0]},{uids[4]} +FLAGS.SILENT (\\Deleted)")
    status, untagged = ok(a, "EXPUNGE")
    assert f"* VANISHED {uids[0]},{uids[4]}" in untagged, untagged
    high = int(re.match(r"OK \[HIGHESTMODSEQ (\d+)\]", status).group(1))
    assert high > high0
    # UID FETCH ... (CHANGEDSINCE n VANISHED): what went, then what changed
    _, untagged = ok(a, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high0} VANISHED)")
    assert untagged[0] == f"* VANISHED (EARLIER) {uids[0]},{uids[2]},{uids[4]}", untagged
    _, untagged = ok(a, f"UID FETCH {uids[1]}:{uids[2]} (FLAGS) (VANISHED CHANGEDSINCE {high0})")
    assert untagged == [f"* VANISHED (EARLIER) {uids[2]}"], untagged
    # a session without QRESYNC still gets EXPUNGE
    ok(a, f"UID STORE {uids[1]} +FLAGS.SILENT (\\Deleted)")
    ok(a, f"UID EXPUNGE {uids[1]}")
    _, untagged = ok(b, "NOOP")
    assert "* 1 EXPUNGE" in untagged and not [u for u in untagged if "VANISHED" in u], untagged
    # MOVE: COPYUID, VANISHED, then the new HIGHESTMODSEQ
    ok(a, "CREATE Moved")
    _, untagged = ok(a, f"UID MOVE {uids[3]} Moved")
    assert untagged[0].startswith("* OK [COPYUID "), untagged
    assert untagged[1] == f"* VANISHED {uids[3]}", untagged
    assert code(untagged[2:], "HIGHESTMODSEQ") > high
    _, untagged = ok(b, "NOOP")
    assert "* 1 EXPUNGE" in untagged, untagged
    a.logout()
    b.logout()


@pytest.fixture(scope="module")
def cs9(imap):
    fill(imap, "cs9", 1)
    return imap


@pytest.mark.parametrize("line", [
    "FETCH 1 (FLAGS) (CHANGEDSINCE)",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 0)",
    "FETCH 1 (FLAGS) (CHANGEDSINCE abc)",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 99999999999999999999)",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 1 CHANGEDSINCE 2)",
    "FETCH 1 (FLAGS) (FOO 1)",
    "FETCH 1 (FLAGS) ()",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 1",
    "FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",        # not UID FETCH
    "UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",    # QRESYNC not enabled
    "STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)",
    "STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)",
    "STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)",
    "STORE 1 (FOO 1) +FLAGS (\\Seen)",
    "STORE 1 (UNCHANGEDSINCE 1)+FLAGS (\\Seen)",
    "SEARCH MODSEQ",
    "SEARCH MODSEQ abc",
    "SEARCH MODSEQ -1",
    'SEARCH MODSEQ "/flags/\\\\Seen" bogus 1',
    'SEARCH MODSEQ "/other" all 1',
    "SELECT INBOX (BOGUS)",
    "SELECT INBOX (CONDSTORE",
    "SELECT INBOX ()",
    "EXAMINE INBOX (QRESYNC (1 1))",                    # QRESYNC not enabled
])
def test_malformed_modifiers_get_bad(cs9, line):
    c = login(cs9, "cs9")
    if not line.startswith(("SELECT", "EXAMINE")):
        ok(c, "SELECT INBOX")
    status, _ = raw(c, line)
    assert status.startswith("BAD"), (line, status)
    assert ok(c, "NOOP")
    c.logout()


@pytest.mark.parametrize("line", [
    "SELECT INBOX (QRESYNC (0 1))",
    "SELECT INBOX (QRESYNC (1 0))",
    "SELECT INBOX (QRESYNC (1))",
    "SELECT INBOX (QRESYNC (1 1 abc))",
    "SELECT INBOX (QRESYNC (1 1 1:3 (1:2 5)))",          # seq-match sets of different sizes
    "SELECT INBOX (QRESYNC (1 1) QRESYNC (1 1))",
    "SELECT INBOX (QRESYNC 1 1)",
    "UID FETCH 1:* (FLAGS) (VANISHED)",                 # without CHANGEDSINCE
])
def test_malformed_qresync_gets_bad(cs9, line):
    c = login(cs9, "cs9")
    ok(c, "ENABLE QRESYNC")
    if line.startswith("UID"):
        ok(c, "SELECT INBOX")
    status, _ = raw(c, line)
    assert status.startswith("BAD"), (line, status)
    assert ok(c, "NOOP")
    c.logout()


def test_restart_keeps_modseqs(imap):
    fill(imap, "cs1", 2)
    c = login(imap, "cs1")
    ok(c, "SELECT INBOX")
    ok(c, "STORE 2 +FLAGS.SILENT (\\Seen)")
    c.logout()
    c = login(imap, "cs1")
    _, untagged = ok(c, "SELECT INBOX (CONDSTORE)")
    high = code(untagged, "HIGHESTMODSEQ")
    before = modseqs(c)
    c.logout()
    imap.imapd.stop()
    imap.imapd.start()
    c = login(imap, "cs1")
    _, untagged = ok(c, "SELECT INBOX (CONDSTORE)")
    assert code(untagged, "HIGHESTMODSEQ") == high
    assert modseqs(c) == before
    # and they keep growing from there
    _, untagged = ok(c, "STORE 1 FLAGS ($Again)")
    assert fetches(untagged)[1]["MODSEQ"] > high
    c.logout()
