"""imapd access control end to end: RFC 4314 ACLs and shared folders.

One instance for the module (its own slapd, users ava, bob and cat made
with commadmin), the real imapd attached to the test, Python's imaplib as
the client.  ava owns the folders; bob and cat reach them under the other
users' namespace "Shared Folders/User/ava/..." when ava grants them rights
(docs/store.md, "Access control and shared folders").
"""
import re

import pytest

from conftest import DOMAIN
from imap_fixtures import imapd_instance, login, raw
from test_store_tools import MBOXUTIL, tool

PASSWORD = "Acl-Pass-1"
OTHER = "Shared Folders/User/"


def msg(n):
    return (f"Subject: acl {n}\r\nFrom: a@example.com\r\nTo: ava@example.com\r\n"
            f"Date: Mon, 30 Nov 2026 07:00:00 +0000\r\n\r\nbody of {n}\r\n").encode()


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("imapacl"), ("ava", "bob", "cat"), PASSWORD,
                        "Acl") as inst:
        yield inst


def ok(c, line):
    status, untagged = raw(c, line)
    assert status.startswith("OK"), (line, status)
    return untagged


def sel(c, mailbox):
    """SELECT with the raw answer; imaplib learns the new state."""
    status, untagged = raw(c, f"SELECT {mailbox}")
    c.state = "SELECTED" if status.startswith("OK") else "AUTH"
    return status, untagged


def q(name):
    return '"' + name + '"'


def shared(name):
    return q(OTHER + "ava/" + name)


def append(c, mailbox, n, flags=""):
    return c.append(mailbox, flags, None, msg(n))


def listed(c, pattern="*"):
    status, untagged = raw(c, f'LIST "" {q(pattern)}')
    assert status.startswith("OK")
    out = {}
    for ln in untagged:
        m = re.match(r'\* LIST \(([^)]*)\) "/" (?:"(.*)"|(\S+))$', ln)
        assert m, ln
        out[m.group(2) if m.group(2) is not None else m.group(3)] = m.group(1)
    return out


def test_capability_and_namespace(imap):
    c = login(imap, "ava")
    assert "ACL" in c.capabilities and "RIGHTS=TEXK" in c.capabilities
    untagged = ok(c, "NAMESPACE")
    assert untagged == ['* NAMESPACE (("" "/")) (("Shared Folders/User/" "/")) NIL']
    # the other users' root is not a place for one's own folders
    status, _ = raw(c, 'CREATE "Shared Folders/Mine"')
    assert status.startswith("NO [CANNOT]")
    c.logout()


def test_setacl_getacl_myrights_listrights_deleteacl(imap):
    c = login(imap, "ava")
    assert c.create("Team")[0] == "OK"
    assert ok(c, "GETACL Team") == ["* ACL Team ava lrswipkxteancd"]
    assert ok(c, "MYRIGHTS Team") == ["* MYRIGHTS Team lrswipkxteancd"]
    ok(c, "SETACL Team bob lrs")
    ok(c, "SETACL Team bob +wi")
    ok(c, "SETACL Team bob -s")
    ok(c, "SETACL Team cat lrcd")          # RFC 2086 letters: c = k, d = x t e
    assert ok(c, "GETACL Team") == ["* ACL Team ava lrswipkxteancd bob lrwi cat lrkxtecd"]
    assert ok(c, "LISTRIGHTS Team bob") == [
        '* LISTRIGHTS Team bob "" l r s w i p k x t e a n c d']
    assert ok(c, "LISTRIGHTS Team ava") == [
        "* LISTRIGHTS Team ava la r s w i p k x t e n c d"]
    ok(c, "DELETEACL Team cat")
    ok(c, 'SETACL Team bob ""')             # an empty rights string removes the entry too
    assert ok(c, "GETACL Team") == ["* ACL Team ava lrswipkxteancd"]
    # the owner keeps l and a whatever their own entry says
    ok(c, "SETACL Team ava lr")
    assert ok(c, "MYRIGHTS Team") == ["* MYRIGHTS Team lra"]
    assert raw(c, f"APPEND Team {{{len(msg(1))}+}}\r\n{msg(1).decode()}")[0].startswith(
        "NO [NOPERM]")
    ok(c, "SETACL Team ava lrswipkxtean")
    assert append(c, "Team", 1)[0] == "OK"
    c.logout()


def test_malformed_and_refused(imap):
    c = login(imap, "ava")
    c.create("Guarded")
    for line in ("SETACL Guarded bob lrQ", "SETACL Guarded bob lrq", "SETACL Guarded bob",
                 'SETACL Guarded "" lr', "SETACL Guarded bad/id lr", "GETACL",
                 "GETACL Guarded extra", "DELETEACL Guarded", "LISTRIGHTS Guarded",
                 "MYRIGHTS", "SETACL Guarded bob lr extra"):
        status, _ = raw(c, line)
        assert status.startswith("BAD"), (line, status)
    assert raw(c, "SETACL NoSuch bob lr")[0].startswith("NO [NONEXISTENT]")
    assert raw(c, "GETACL NoSuch")[0].startswith("NO [NONEXISTENT]")
    assert raw(c, f"GETACL {q(OTHER + 'nobody/x')}")[0].startswith("NO [NONEXISTENT]")
    ok(c, "SETACL Guarded bob lrs")
    b = login(imap, "bob")
    # bob may see it but not administer it
    for line in (f"GETACL {shared('Guarded')}", f"SETACL {shared('Guarded')} bob lrswia",
                 f"DELETEACL {shared('Guarded')} bob", f"LISTRIGHTS {shared('Guarded')} bob"):
        assert raw(b, line)[0].startswith("NO [NOPERM]"), line
    assert ok(b, f"MYRIGHTS {shared('Guarded')}") == [
        f'* MYRIGHTS {shared("Guarded")} lrs']
    # cat has nothing: the folder does not exist as far as cat can tell
    k = login(imap, "cat")
    for line in (f"GETACL {shared('Guarded')}", f"MYRIGHTS {shared('Guarded')}",
                 f"SETACL {shared('Guarded')} cat lr", f"SELECT {shared('Guarded')}",
                 f"STATUS {shared('Guarded')} (MESSAGES)", f"DELETE {shared('Guarded')}"):
        assert raw(k, line)[0].startswith("NO [NONEXISTENT]"), line
    assert raw(k, f"SELECT {shared('Guarded')}")[0] == raw(k, f"SELECT {shared('Absent')}")[0]
    assert OTHER + "ava/Guarded" not in listed(k)
    for x in (c, b, k):
        x.logout()


def test_shared_folder_listed_selected_read_appended(imap):
    c = login(imap, "ava")
    c.create("Proj")
    c.create("Proj/Sub")
    for n in (1, 2):
        assert append(c, "Proj", n)[0] == "OK"
    ok(c, "SETACL Proj bob lrsi")
    b = login(imap, "bob")
    names = listed(b)
    # Proj/Sub exists, but bob may not look it up: as if it did not (RFC 4314 4)
    assert names[OTHER + "ava/Proj"] == "\\HasNoChildren"
    assert "\\Noselect" in names["Shared Folders"] and "\\Noselect" in names[OTHER + "ava"]
    assert OTHER + "ava/Proj/Sub" not in names and "INBOX" in names
    assert listed(b, OTHER + "%") == {OTHER + "ava": "\\Noselect \\HasChildren"}
    assert listed(b, "%").get("Shared Folders") == "\\Noselect \\HasChildren"
    assert "Shared Folders" not in listed(login(imap, "cat"))
    status, untagged = raw(b, f"STATUS {shared('Proj')} (MESSAGES UNSEEN)")
    assert status.startswith("OK") and untagged == [
        f"* STATUS {shared('Proj')} (MESSAGES 2 UNSEEN 2)"]
    typ, data = b.select(shared("Proj"))
    assert typ == "OK" and data == [b"2"]
    typ, data = b.fetch("1", "(BODY[])")
    assert typ == "OK" and b"body of 1" in data[0][1]
    assert append(b, shared("Proj"), 3, "(\\Seen \\Flagged)")[0] == "OK"
    b.noop()
    typ, data = b.fetch("1:3", "(FLAGS)")
    # 1 was read by bob (s right); 3: \Flagged dropped, bob has no w right
    assert b"1 (FLAGS (\\Seen))" in data[0] and b"3 (FLAGS (\\Seen))" in data[2], data
    # the owner sees bob's work, but not bob's \Seen: it is bob's own
    # (store.privatesharedfolders.shareflags 0, test_imap_seen.py)
    c.select("Proj")
    typ, data = c.fetch("1:3", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    heads = [d[0] for d in data if isinstance(d, tuple)]
    assert len(heads) == 3
    assert b"\\Seen" not in heads[0] and b"\\Seen" not in heads[2], heads
    # COPY from bob's own INBOX into the shared folder (i right)
    append(b, "INBOX", 9)
    b.select("INBOX")
    typ, data = b.copy("1", shared("Proj"))
    assert typ == "OK", data
    c.noop()
    assert c.select("Proj")[1] == [b"4"]
    # LSUB shows a subscribed shared folder
    ok(b, f"SUBSCRIBE {shared('Proj')}")
    assert any(OTHER + "ava/Proj" in ln for ln in raw(b, 'LSUB "" "*"')[1])
    c.logout()
    b.logout()


def test_rights_enforced_per_command(imap):
    c = login(imap, "ava")
    c.create("Box")
    append(c, "Box", 1)
    append(c, "Box", 2, "(\\Deleted)")
    ok(c, "SETACL Box bob lr")
    b = login(imap, "bob")
    # r alone: read-only, nothing to change
    status, untagged = sel(b, shared('Box'))
    assert status.startswith("OK [READ-ONLY]"), status
    assert "* OK [PERMANENTFLAGS ()] No permanent flags permitted" in untagged
    b.fetch("1", "(BODY[])")
    assert b.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS ())"]
    assert raw(b, "STORE 1 +FLAGS (\\Seen)")[0].startswith("NO [READ-ONLY]")
    ok(b, "CLOSE")
    # s only: \Seen may change, nothing else; no expunge
    ok(c, "SETACL Box bob lrs")
    status, untagged = sel(b, shared('Box'))
    assert status.startswith("OK [READ-WRITE]")
    assert "* OK [PERMANENTFLAGS (\\Seen)] Limited" in untagged
    assert raw(b, "STORE 1 +FLAGS (\\Flagged)")[0].startswith("NO [NOPERM]")
    assert raw(b, "STORE 1 FLAGS (\\Seen)")[0].startswith("NO [NOPERM]")
    ok(b, "STORE 1 +FLAGS (\\Seen \\Flagged)")
    assert b.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Seen))"]
    assert raw(b, "EXPUNGE")[0].startswith("NO [NOPERM]")
    assert raw(b, "MOVE 1 INBOX")[0].startswith("NO [NOPERM]")
    ok(b, "CLOSE")                        # without e: no expunge, still OK
    assert c.select("Box")[1] == [b"2"]
    # i missing: APPEND and COPY refused; k and x missing: CREATE and DELETE refused
    assert raw(b, f"APPEND {shared('Box')} {{{len(msg(5))}+}}\r\n{msg(5).decode()}")[0].startswith(
        "NO [NOPERM]")
    append(b, "INBOX", 6)
    b.select("INBOX")
    assert raw(b, f"COPY 1 {shared('Box')}")[0].startswith("NO [NOPERM]")
    assert raw(b, f"CREATE {shared('Box/Sub')}")[0].startswith("NO [NOPERM]")
    assert raw(b, f"DELETE {shared('Box')}")[0].startswith("NO [NOPERM]")
    # all of them granted
    ok(c, "SETACL Box bob lrswitekx")
    ok(b, f"CREATE {shared('Box/Sub')}")
    assert "* ACL Box/Sub ava lrswipkxteancd bob lrswikxtecd" in ok(c, "GETACL Box/Sub")
    ok(b, f"DELETE {shared('Box/Sub')}")
    assert raw(c, "GETACL Box/Sub")[0].startswith("NO [NONEXISTENT]")
    b.select(shared("Box"))
    assert raw(b, f"DELETE {shared('Box')}")[0] == "NO Cannot delete the selected mailbox"
    ok(b, "STORE 1 FLAGS (\\Answered)")
    ok(b, "EXPUNGE")
    assert b.select(shared("Box"))[1] == [b"1"]
    ok(b, "MOVE 1 INBOX")
    assert c.select("Box")[1] == [b"0"]
    # negative rights win over anyone's
    ok(c, "SETACL Box anyone lr")
    ok(c, "SETACL Box -bob r")
    k = login(imap, "cat")
    assert k.select(shared("Box"), readonly=True)[0] == "OK"
    assert raw(b, f"SELECT {shared('Box')}")[0].startswith("NO [NOPERM]")   # still has l
    ok(c, "SETACL Box -bob lr")
    assert raw(b, f"SELECT {shared('Box')}")[0].startswith("NO [NONEXISTENT]")
    assert OTHER + "ava/Box" not in listed(b) and OTHER + "ava/Box" in listed(k)
    for x in (c, b, k):
        x.logout()


def test_owner_and_sharee_see_each_others_changes(imap):
    c = login(imap, "ava")
    c.create("Live")
    append(c, "Live", 1)
    ok(c, "SETACL Live bob lrswite")
    b = login(imap, "bob")
    b.select(shared("Live"))
    c.select("Live")
    append(b, shared("Live"), 2)
    assert "* 2 EXISTS" in ok(c, "NOOP")
    ok(c, "STORE 1 +FLAGS.SILENT (\\Flagged)")
    assert any(ln.startswith("* 1 FETCH (FLAGS (\\Flagged") for ln in ok(b, "NOOP"))
    # IDLE of the sharee wakes up for the owner's delivery
    tag = b._new_tag().decode()
    b.send(f"{tag} IDLE\r\n".encode())
    assert b.readline().startswith(b"+ ")
    append(c, "Live", 3)
    assert b.readline() == b"* 3 EXISTS\r\n"
    b.send(b"DONE\r\n")
    assert b.readline().startswith(f"{tag} OK".encode())
    c.logout()
    b.logout()


def test_mboxutil_and_imap_share_one_acl(imap):
    c = login(imap, "ava")
    c.create("Tools")
    tool(imap, MBOXUTIL, "-A", "user/ava/Tools", "cat", "lrp", check=0)
    assert "* ACL Tools ava lrswipkxteancd cat lrp" in ok(c, "GETACL Tools")
    ok(c, "SETACL Tools bob lrw")
    cp = tool(imap, MBOXUTIL, "-l", "-x", "-p", "user/ava/Tools", check=0)
    assert "    ACL: ava lrswipkxtean bob lrw cat lrp" in cp.stdout, cp.stdout
    k = login(imap, "cat")
    assert OTHER + "ava/Tools" in listed(k)
    assert k.select(shared("Tools"), readonly=True)[0] == "OK"
    c.logout()
    k.logout()


def test_shared_folder_over_tls_port(imap):
    c = login(imap, "ava")
    c.create("Secure")
    append(c, "Secure", 1)
    ok(c, "SETACL Secure cat lr")
    k = login(imap, "cat", mode="ssl")
    assert ok(k, f"MYRIGHTS {shared('Secure')}") == [f"* MYRIGHTS {shared('Secure')} lr"]
    typ, data = k.select(shared("Secure"), readonly=True)
    assert typ == "OK" and data == [b"1"]
    assert b"body of 1" in k.fetch("1", "(BODY.PEEK[TEXT])")[1][0][1]
    k.logout()
    c.logout()


def test_rename_needs_x_and_k_and_stays_with_its_owner(imap):
    c = login(imap, "ava")
    c.create("Ren")
    c.create("Ren/A")
    ok(c, "SETACL Ren/A bob lrx")
    ok(c, "SETACL Ren bob lr")
    b = login(imap, "bob")
    # x on the old name but no k on the new parent
    assert raw(b, f"RENAME {shared('Ren/A')} {shared('Ren/B')}")[0].startswith("NO [NOPERM]")
    ok(c, "SETACL Ren bob lrk")
    ok(b, f"RENAME {shared('Ren/A')} {shared('Ren/B')}")
    assert "Ren/B" in listed(c) and "Ren/A" not in listed(c)
    # the ACL moves with the mailbox; no mailbox changes owner
    assert "* ACL Ren/B ava lrswipkxteancd bob lrxd" in ok(c, "GETACL Ren/B")
    assert raw(b, f"RENAME {shared('Ren/B')} Mine")[0].startswith("NO [CANNOT]")
    assert raw(c, 'RENAME Ren "Shared Folders/Else"')[0].startswith("NO [CANNOT]")
    c.logout()
    b.logout()


def test_sharedfolders_off_hides_them_from_list_only(imap):
    c = login(imap, "ava")
    c.create("Quiet")
    ok(c, "SETACL Quiet cat lrs")
    k = login(imap, "cat")
    ok(k, f"SUBSCRIBE {shared('Quiet')}")
    k.logout()
    c.logout()
    imap.run("set", "store.sharedfolders", "0")
    imap.imapd.stop()
    imap.imapd.start()
    try:
        k = login(imap, "cat")
        assert not any(n.startswith("Shared Folders") for n in listed(k))
        assert any(OTHER + "ava/Quiet" in ln for ln in raw(k, 'LSUB "" "*"')[1])
        assert sel(k, shared("Quiet"))[0].startswith("OK [READ-WRITE]")
        k.logout()
    finally:
        imap.run("set", "store.sharedfolders", "1")
        imap.imapd.stop()
        imap.imapd.start()


def test_anyone_at_domain(imap):
    c = login(imap, "ava")
    c.create("Dom")
    c.create("Elsewhere")
    ok(c, f"SETACL Dom anyone@{DOMAIN} lr")
    ok(c, "SETACL Elsewhere anyone@other.org lr")
    k = login(imap, "cat")                   # cat is a user of the default domain
    names = listed(k)
    assert OTHER + "ava/Dom" in names and OTHER + "ava/Elsewhere" not in names
    assert k.select(shared("Dom"), readonly=True)[0] == "OK"
    assert raw(k, f"SELECT {shared('Elsewhere')}")[0].startswith("NO [NONEXISTENT]")
    c.logout()
    k.logout()
