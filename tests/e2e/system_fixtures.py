"""The whole server as an administrator runs it (tests/e2e/test_system*.py).

One instance with its own directory (init-config --local-directory), every
program found through MS_PROGPATH in the build tree, and everything
started by `start-msg` under the watcher: ldap (slapd through ldap-local),
store, imap, pop, dispatcher (tcp_smtp_server processes) and
job_controller.  Configuration changes are made with msconfig, users with
commadmin, as the administrator would; the next hops of outbound mail are
small SMTP servers written here on 127.0.0.1 (Peer).  Nothing sleeps to
wait: every wait is conftest's wait_until, and teardown runs stop-msg,
then kills by PID whatever still names the instance.
"""
import email
import imaplib
import re
import socket
import ssl
import subprocess
import threading

from conftest import BUILD, DOMAIN, run_prog, wait_until
from ldap_fixtures import create_ldap_instance, make_cert
from watcher_fixtures import START_MSG, STOP_MSG, WATCHER_DIR, alive

IMSIMTA = BUILD / "workers" / "mta" / "imsimta"
PROGPATH = [WATCHER_DIR, BUILD / "msconfig", BUILD / "workers" / "store",
            BUILD / "workers" / "mta"]


class Peer:
    """A next hop on 127.0.0.1 that takes every recipient and records each message.

    stop() closes the listening socket (connections are then refused);
    start() listens again on the same port."""

    def __init__(self):
        self.messages = []  # (mail from, [rcpt], data bytes)
        self.lock = threading.Lock()
        self.sock = None
        self.port = 0
        self.start()

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(32)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def stop(self):
        if self.sock is not None:
            try:  # wakes the thread in accept(): a close alone leaves it listening
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def _serve(self, s):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        try:
            f = conn.makefile("rb")
            conn.sendall(b"220 peer.test ESMTP\r\n")
            sender, rcpts = None, []
            for raw in f:
                verb = raw[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250-peer.test\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    sender, rcpts = raw.decode().strip(), []
                    conn.sendall(b"250 2.1.0 ok\r\n")
                elif verb == b"RCPT":
                    line = raw.decode()
                    rcpts.append(line[line.index("<") + 1:line.index(">")])
                    conn.sendall(b"250 2.1.5 ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = []
                    for ln in f:
                        if ln == b".\r\n":
                            break
                        data.append(ln[1:] if ln.startswith(b".") else ln)
                    with self.lock:
                        self.messages.append((sender, rcpts, b"".join(data)))
                    conn.sendall(b"250 2.0.0 taken\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()


class System:
    """An instance run by start-msg, with the administrator's commands at hand."""

    def __init__(self, root, users, password, settings=()):
        self.inst = inst = create_ldap_instance(root / "instance")
        self.root = inst.root
        self.password = password
        inst.env["MS_PROGPATH"] = ":".join(str(p) for p in PROGPATH)
        self.env = inst.env
        cert, key = make_cert(root)
        self.cafile = str(cert)
        script = [f"set base.sslcertfile {cert}", f"set base.sslkeyfile {key}",
                  "set http.enable 0", "set ens.enable 0", "set mmp.enable 0",
                  "set store.purge.enable 0",
                  "set imap.enable 1", "set pop.enable 1", "set mta.enable 1",
                  "set channel:defaults.logging",
                  "set job_controller.logfile.loglevel Information"]
        for svc in ("SMTP", "SMTP_SUBMIT"):
            script.append(f"set dispatcher.service:{svc}.interface_address 127.0.0.1")
        script += list(settings)
        inst.script("\n".join(script) + "\nwrite -m 'system test'\n")
        cnf = inst.compiled.read_text()
        self.port_smtp = conf_port(cnf, r"dispatcher\.service:SMTP\.tcp_ports")
        self.port_submit = conf_port(cnf, r"dispatcher\.service:SMTP_SUBMIT\.tcp_ports")
        self.port_imap = conf_port(cnf, r"imap\.port")
        self.port_pop = conf_port(cnf, r"pop\.port")
        self.started = False
        self.users = users

    # -- the administrator's commands
    def start_msg(self, *args, check=0):
        cp = run_prog(START_MSG, args, self.env, check=False, timeout=120)
        assert check is None or cp.returncode == check, \
            f"start-msg {args} exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
        return cp

    def stop_msg(self, *args, check=0):
        cp = run_prog(STOP_MSG, args, self.env, check=False, timeout=120)
        assert check is None or cp.returncode == check, \
            f"stop-msg {args} exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
        return cp

    def imsimta(self, *args, check=True, input=None):
        cp = subprocess.run([str(IMSIMTA), *args], env=self.env, capture_output=True,
                            text=True, timeout=120, input=input)
        if check:
            assert cp.returncode == 0, f"imsimta {args}: {cp.stdout}{cp.stderr}"
        return cp

    def msconfig(self, *args, **kw):
        return self.inst.run(*args, **kw)

    def start(self):
        cp = self.start_msg()
        self.started = True
        for uid in self.users:
            self.inst.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W",
                                self.password, "-F", uid, "-L", "System")
        return cp

    def teardown(self):
        try:
            wpid = self.pid("watcher")
            if wpid and alive(wpid):
                run_prog(STOP_MSG, [], self.env, check=False, timeout=120)
        finally:
            self.inst.kill_all()

    # -- state
    def pid(self, service):
        try:
            return int((self.root / "data" / "run" / f"{service}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log(self, name):
        p = self.root / "data" / "log" / name
        return p.read_text(errors="replace") if p.exists() else ""

    def procs(self, comm, service=None):
        """PIDs of this instance's live processes whose command name is comm
        (and, given service, that the dispatcher runs for that service).
        A child forked by one of them that has not yet run execve (the job
        controller starting a job) bears its name too: it is left out."""
        found = {}
        want = f"MS_DISPATCHER_SERVICE={service}".encode()
        for pid in self.inst.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() != comm:
                        continue
                if service is not None:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        if want not in f.read().split(b"\0"):
                            continue
                with open(f"/proc/{pid}/stat") as f:
                    found[pid] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
        return sorted(pid for pid, ppid in found.items() if ppid not in found)

    def queue_files(self):
        base = self.root / "data" / "queue"
        if not base.exists():
            return []
        return sorted(str(p.relative_to(base)) for ch in base.iterdir()
                      if ch.is_dir() and not ch.name.startswith(".")
                      for p in ch.iterdir() if p.is_file())

    # -- clients
    def tls(self):
        return ssl.create_default_context(cafile=self.cafile)

    def imap(self, user):
        c = imaplib.IMAP4("127.0.0.1", self.port_imap, timeout=20)
        c.starttls(ssl_context=self.tls())
        c.login(user, self.password)
        return c

    def headers(self, user):
        """(Subject, queue id of our Received: line) of every message in
        user's INBOX, read with IMAP."""
        c = self.imap(user)
        try:
            c.select("INBOX", readonly=True)
            _, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT RECEIVED)])")
        except imaplib.IMAP4.error:
            data = []
        finally:
            c.logout()
        out = []
        for item in data:
            if isinstance(item, tuple):
                m = email.message_from_bytes(item[1])
                ids = re.findall(r"\bid ([0-9a-f]{24})", " ".join(m.get_all("Received", [])))
                out.append((str(m["Subject"]), ids[0] if ids else None))
        return out

    def subjects(self, user):
        """The Subject of every message in user's INBOX, read with IMAP."""
        return [subject for subject, _ in self.headers(user)]


def conf_port(cnf, name):
    m = re.search(rf"^{name}\t(\d+)", cnf, re.M)
    assert m, f"{name} not in the compiled configuration"
    return int(m.group(1))


def wait_queue_empty(sys_, timeout=60):
    wait_until(lambda: not sys_.queue_files(), timeout=timeout, what="an empty queue")
