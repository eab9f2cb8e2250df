"""A burst of simultaneous logins to one imapd, against a real slapd.

Regression: the directory's authentication connections were handed to two
binds at once when a connection had to be opened first (starting it cleared
its busy mark), and slapd answers only one of two binds sent together, so
some logins waited out the directory timeout and were told
NO [UNAVAILABLE].  Every one of 100 simultaneous logins must succeed.
"""
import imaplib
import ssl
import threading

import pytest

from imap_fixtures import imapd_instance

PASSWORD = "Burst-Pass-1"
USERS = [f"b{i}" for i in range(10)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("burst"), USERS, PASSWORD, "Burst") as inst:
        yield inst


def test_hundred_simultaneous_logins(server):
    ctx = ssl.create_default_context(cafile=server.cafile)
    errors = []
    ok = []
    start = threading.Barrier(100)

    def one(i):
        try:
            c = imaplib.IMAP4("127.0.0.1", server.port_plain, timeout=30)
            c.starttls(ssl_context=ctx)
            start.wait(timeout=30)
            c.login(USERS[i % len(USERS)], PASSWORD)
            c.select("INBOX")
            c.logout()
            ok.append(i)
        except Exception as e:  # noqa: BLE001 - collected and reported
            errors.append(f"{i}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [], errors[:5]
    assert len(ok) == 100
    log = "".join(p.read_text() for p in (server.root / "data" / "log").glob("imap*"))
    assert "badlogin" not in log and "did not answer" not in log
