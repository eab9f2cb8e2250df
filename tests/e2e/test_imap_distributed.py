"""Distributed shared folders (docs/store.md "Distributed shared folders").

One slapd and two store instances "a" and "b" made by init-config against
it, each running imapd on its own port.  ann lives on a, bob on b; each
store's base.proxyserverlist names the other (HOST:PORT) and
base.proxyadmin / base.proxyadminpass name the store administrator
"shadm" (in store.admins on both).  bob shares "Proj" with ann (SETACL on
b) and keeps "Private" to himself.  ann, logged in on a, lists and uses
bob's folder through a, which relays her session to b.
"""
import imaplib
import re
import fcntl
import socket
import termios

import pytest

from conftest import DOMAIN, create_instance, wait_until
from ldap_fixtures import ADMIN_DN, SHARED_PW, create_ldap_instance
from server_fixtures import StoreServer
from test_store_tools import deliver

PASSWORD = "Dist-Pass-1"
ADMIN, ADMIN_PW = "shadm", "Dist-Admin-7"
PROJ = '"Shared Folders/User/bob/Proj"'


def unread(sock):
    """Bytes waiting in the socket's receive queue (FIONREAD)."""
    return int.from_bytes(fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"), "little")


def msg(subject):
    return (f"Subject: {subject}\nFrom: a@example.com\nTo: x@example.com\n"
            "Date: Mon, 30 Nov 2026 07:00:00 +0000\n\nbody\n")


def store(root, name, d):
    inst = create_instance(root / name, extra={"--ldap-url": d.url, "--ldap-bind-dn": ADMIN_DN,
                                               "--ldap-bind-password": SHARED_PW})
    inst.imap_port = 143 + inst.offset
    for opt, val in (("imap.port", inst.imap_port), ("imap.plaintextmincipher", -1),
                     ("imap.logfile.loglevel", "Information"),
                     ("store.admins", f"{ADMIN} admin"),
                     ("base.proxyadmin", ADMIN), ("base.proxyadminpass", ADMIN_PW)):
        inst.run("set", opt, str(val))
    return inst


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    made = []
    try:
        d = create_ldap_instance(root / "dir")
        made.append(d)
        d.start()
        for uid, host, pw in (("ann", "store-a", PASSWORD), ("bob", "store-b", PASSWORD),
                              (ADMIN, "store-a", ADMIN_PW)):
            d.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", pw, "-F", uid,
                        "-L", "Dist", "-H", host)
        a = store(root, "a", d)
        made.append(a)
        b = store(root, "b", d)
        made.append(b)
        # a's list names a itself too (one list for every store)
        a.run("set", "base.proxyserverlist", f"127.0.0.1:{a.imap_port} 127.0.0.1:{b.imap_port}")
        b.run("set", "base.proxyserverlist", f"127.0.0.1:{a.imap_port}")
        for inst in (a, b):
            inst.imapd = StoreServer(inst, "imapd", "imap")
            inst.imapd.start()
        deliver(a, "ann", message=msg("ann local"))
        deliver(b, "bob", message=msg("bob inbox"))
        c = login(b, "bob")
        assert c.create("Proj")[0] == "OK"
        assert c.create("Private")[0] == "OK"
        assert c.setacl("Proj", "ann", "lrsw")[0] == "OK"
        assert c.create("Peek")[0] == "OK"
        assert c.setacl("Peek", "ann", "l")[0] == "OK"  # listed, not readable
        assert c.append("Proj", None, None, msg("project plan").encode().replace(
            b"\n", b"\r\n"))[0] == "OK"
        c.logout()
        c = login(a, "ann")
        assert c.create("Notes")[0] == "OK"
        assert c.setacl("Notes", "bob", "lr")[0] == "OK"
        c.logout()
        d.a, d.b = a, b
        yield d
    finally:
        for inst in reversed(made):
            if hasattr(inst, "imapd"):
                inst.imapd.stop()
            if hasattr(inst, "teardown"):
                inst.teardown()
            else:
                inst.kill_all()


def login(inst, user):
    c = imaplib.IMAP4("127.0.0.1", inst.imap_port, timeout=15)
    assert c.login(user, PASSWORD)[0] == "OK"
    return c


def names(c):
    typ, data = c.list('""', "*")
    assert typ == "OK"
    return [re.search(rb'"([^"]*)"$', x).group(1).decode() for x in data if x]


def test_list_shows_the_other_stores_shared_folder(env):
    c = login(env.a, "ann")
    got = names(c)
    assert "INBOX" in got
    assert "Shared Folders/User/bob/Proj" in got
    assert "Shared Folders/User/bob/Private" not in got  # no right on it
    assert len(got) == len(set(got))
    c.logout()


def test_select_fetch_store_then_local_again(env):
    c = login(env.a, "ann")
    typ, data = c.select(PROJ)
    assert typ == "OK", data
    assert data == [b"1"]
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK" and b"project plan" in data[0][1]
    typ, data = c.store("1", "+FLAGS", "(\\Flagged)")
    assert typ == "OK" and b"\\Flagged" in data[0]
    # bob sees ann's flag on b
    bob = login(env.b, "bob")
    bob.select("Proj")
    typ, data = bob.fetch("1", "(FLAGS)")
    assert b"\\Flagged" in data[0]
    bob.logout()
    # LIST stays local while relaying
    assert "INBOX" in names(c)
    # her own INBOX on a again
    typ, data = c.select("INBOX")
    assert typ == "OK" and data == [b"1"]
    typ, data = c.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"ann local" in data[0][1]
    # CLOSE ends a remote selection: FETCH is refused locally after it
    assert c.select(PROJ)[0] == "OK"
    assert c.close()[0] == "OK"
    c.state = "SELECTED"  # imaplib would not send it: the server refuses it
    with pytest.raises(imaplib.IMAP4.error, match="not valid in this state"):
        c.fetch("1", "(FLAGS)")
    assert c.select(PROJ, readonly=True)[0] == "OK"
    typ, data = c.logout()
    assert typ == "BYE"


def test_the_other_way_round_without_a_loop(env):
    c = login(env.b, "bob")
    got = names(c)
    assert "Shared Folders/User/ann/Notes" in got and "Proj" in got
    c.logout()
    # a's session for bob is a relay: it did not ask b in turn
    assert "] bob PLAIN" not in env.b.imapd.log_text()


def test_literal_and_idle_are_relayed(env):
    c = login(env.a, "ann")
    assert c.select(PROJ)[0] == "OK"
    c.literal = b"project"  # a synchronising literal: {7}
    typ, data = c.search(None, "SUBJECT")
    assert typ == "OK" and data == [b"1"]
    tag = c._new_tag()
    c.send(tag + b" IDLE\r\n")
    assert c.readline().startswith(b"+ ")
    bob = login(env.b, "bob")
    assert bob.append("Proj", None, None, msg("second").encode().replace(
        b"\n", b"\r\n"))[0] == "OK"
    bob.logout()
    assert c.readline() == b"* 2 EXISTS\r\n"
    c.send(b"DONE\r\n")
    line = c.readline()
    while line.startswith(b"* "):
        line = c.readline()
    assert line.startswith(tag + b" OK"), line
    typ, data = c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert b"second" in data[0][1]
    # COPY out of the remote folder into a local one is refused
    typ, data = c.copy("1", "INBOX")
    assert typ == "NO" and b"CANNOT" in data[0]
    c.logout()


def test_pipelined_commands_keep_their_order(env):
    # LIST waits for b's list, SELECT relays, LOGOUT ends the relay with
    # imapd's own UNSELECT (its answer is not shown): all in one write
    s = socket.create_connection(("127.0.0.1", env.a.imap_port), timeout=15)
    f = s.makefile("rb")
    assert f.readline().startswith(b"* OK")
    s.sendall(f'1 LOGIN ann {PASSWORD}\r\n2 LIST "" "*"\r\n3 SELECT {PROJ}\r\n'
              '4 FETCH 1 (FLAGS)\r\n5 LOGOUT\r\n'.encode())
    lines = []
    while not lines or not lines[-1].startswith(b"5 "):
        line = f.readline()
        assert line, lines
        lines.append(line)
    s.close()
    tagged = [x.split(b" ")[0] for x in lines if not x.startswith((b"* ", b"+ "))]
    assert tagged == [b"1", b"2", b"3", b"4", b"5"], lines
    assert all(x.split(b" ")[1] == b"OK" for x in lines if x[:1] in b"12345"), lines
    assert any(b"Shared Folders/User/bob/Proj" in x for x in lines)
    assert any(x.startswith(b"* 1 FETCH (FLAGS (") for x in lines)
    assert not any(b"msr" in x for x in lines), lines


def test_large_fetch_through_a_slow_client(env):
    # 6 MB through the relay to a client that reads late, with a small
    # receive buffer: imapd stops reading b while its queue is full
    body = b"".join(b"%07d abcdefghijklmnopqrstuvwxyz0123456789\r\n" % i
                    for i in range(130000))
    big = b"Subject: big\r\nFrom: a@example.com\r\n\r\n" + body
    bob = login(env.b, "bob")
    assert bob.append("Proj", None, None, big)[0] == "OK"
    bob.logout()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    s.settimeout(20)
    s.connect(("127.0.0.1", env.a.imap_port))
    f = s.makefile("rb")
    f.readline()
    s.sendall(f'1 LOGIN ann {PASSWORD}\r\n2 EXAMINE {PROJ}\r\n'.encode())
    n = 0
    while not (line := f.readline()).startswith(b"2 "):
        if line.endswith(b" EXISTS\r\n"):
            n = int(line.split()[1])
    s.sendall(b"3 FETCH %d (BODY.PEEK[])\r\n" % n)
    # Read nothing until the kernel's receive queue is full: the relay must
    # then hold the store's output back instead of buffering all of it.
    wait_until(lambda: unread(s) >= 16384, what="the client's receive queue to fill")
    head = f.readline()
    assert head.startswith(b"* %d FETCH (BODY[] {%d}" % (n, len(big))), head
    assert f.read(len(big)) == big
    assert f.readline() == b")\r\n"
    assert f.readline().startswith(b"3 OK")
    s.close()


def test_qresync_enabled_by_the_client_reaches_the_store(env):
    # SELECT (QRESYNC ...) is refused unless QRESYNC was ENABLEd (RFC 7162
    # 3.2.5): imapd enables it on b too before the relayed SELECT
    c = login(env.a, "ann")
    assert c._simple_command("ENABLE", "QRESYNC")[0] == "OK"
    assert c.select(PROJ, readonly=True)[0] == "OK"
    uv = int(c.untagged_responses["UIDVALIDITY"][-1])
    c.untagged_responses.clear()
    typ, data = c._simple_command("SELECT", PROJ, f"(QRESYNC ({uv} 1))")
    assert typ == "OK", data
    assert any(b"HIGHESTMODSEQ" in x for x in c.untagged_responses.get("OK", []))
    assert "ENABLED" not in c.untagged_responses  # b's is not shown
    c.logout()


def test_folder_without_rights_is_refused(env):
    c = login(env.a, "ann")
    typ, data = c.select('"Shared Folders/User/bob/Private"')
    assert typ == "NO"
    # listed there (l) but not readable: b's NO is relayed, nothing selected
    assert "Shared Folders/User/bob/Peek" in names(c)
    typ, data = c.select('"Shared Folders/User/bob/Peek"')
    assert typ == "NO" and b"NOPERM" in data[0], data
    c.state = "SELECTED"  # imaplib would not send it: the server refuses it
    with pytest.raises(imaplib.IMAP4.error, match="not valid in this state"):
        c.fetch("1", "(FLAGS)")
    assert c.select("INBOX")[0] == "OK"
    c.logout()


def test_store_b_stopped(env):
    env.b.imapd.stop()
    try:
        c = login(env.a, "ann")
        assert c.list('""', "INBOX")[0] == "OK"  # cannot match: b is not asked
        assert "shared folders on store 127.0.0.1" not in env.a.imapd.log_text()
        got = names(c)
        assert "INBOX" in got
        assert not any(n.startswith("Shared Folders/User/bob") for n in got)
        typ, data = c.select(PROJ)
        assert typ == "NO"
        assert c.select("INBOX")[0] == "OK"
        c.logout()
        assert "shared folders on store 127.0.0.1" in env.a.imapd.log_text()
    finally:
        env.b.imapd.start()
