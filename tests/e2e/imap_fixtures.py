"""What the imapd test files share: the module-wide instance with imapd
attached, and imaplib sessions over TLS with raw command lines.

imapd_instance() is a context manager for a module fixture: a
mail_instance() (its own slapd, TLS certificate, users made with
commadmin, all with one password, inst.password) with the real imapd
started (inst.imapd), stopped and torn down on exit.  login() opens a session (STARTTLS on the plain port, or the SSL
port) and logs in; raw() sends one command line imaplib does not know and
returns what came back.
"""
import contextlib
import imaplib
import ssl

from server_fixtures import StoreServer, mail_instance


@contextlib.contextmanager
def imapd_instance(root, users, password, last_name, settings=()):
    inst = None
    d = None
    try:
        inst = mail_instance(root, "imap", 143, 993, users, password, last_name, settings)
        inst.password = password
        d = StoreServer(inst, "imapd", "imap")
        d.start()
        inst.imapd = d
        yield inst
    finally:
        if d is not None:
            d.stop()
        if inst is not None:
            inst.teardown()


def tls_context(inst):
    return ssl.create_default_context(cafile=inst.cafile)


def connect(inst, mode="starttls"):
    """A session before login: on the plain port after STARTTLS ("starttls"),
    on the SSL port ("ssl"), or on the plain port in clear text ("plain")."""
    if mode == "ssl":
        return imaplib.IMAP4_SSL("127.0.0.1", inst.port_ssl, ssl_context=tls_context(inst),
                                 timeout=10)
    c = imaplib.IMAP4("127.0.0.1", inst.port_plain, timeout=10)
    if mode == "starttls":
        c.starttls(ssl_context=tls_context(inst))
    return c


def login(inst, user, mode="starttls"):
    """A logged-in session of user (password: the instance's)."""
    c = connect(inst, mode)
    assert c.login(user, inst.password)[0] == "OK"
    return c


def raw_tagged(c, line):
    """Send one command line; return (the whole tagged line, untagged lines)."""
    tag = c._new_tag().decode()
    c.send(f"{tag} {line}\r\n".encode())
    untagged = []
    while True:
        ln = c.readline().decode()
        assert ln, "connection closed"
        if ln.startswith(tag + " "):
            return ln.rstrip("\r\n"), untagged
        untagged.append(ln.rstrip("\r\n"))


def raw(c, line):
    """Send one command line; return (the tagged line without its tag, untagged lines)."""
    tagged, untagged = raw_tagged(c, line)
    return tagged.split(" ", 1)[1], untagged
