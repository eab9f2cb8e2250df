"""
Fixtures for the directory tests: real OpenLDAP slapd servers, one per
throwaway instance (no mock directory anywhere).

An instance is made by the real `init-config --local-directory` with a
random --port-offset (so slapd listens on 127.0.0.1:389+N), its directory
by `ldap-local init`, and slapd runs under `ldap-local run` (attached, the
way the watcher runs the service "ldap"), started here and stopped by PID.
The readiness line of ldap-local is awaited; nothing sleeps.

Programs of the build tree (MS_BUILD_DIR, default <repo>/build):
    msconfig/init-config, msconfig/ldap-local, msconfig/commadmin
    tests/unit/test_directory --driver   the directory module (lib/) driven
                                         line by line: see test_directory.c
"""
import os
import pathlib
import select
import signal
import subprocess
import time

import pytest

from conftest import (BUILD, DOMAIN, INIT_CONFIG, Instance, init_config_args,
                      parse_cnf, random_offset, run_prog, wait_until)

LDAP_LOCAL = BUILD / "msconfig" / "ldap-local"
COMMADMIN = BUILD / "msconfig" / "commadmin"
DRIVER = BUILD / "tests" / "unit" / "test_directory"

SUFFIX = "dc=example,dc=com"
ADMIN_DN = "cn=admin," + SUFFIX
SHARED_PW = "Dir-Admin-Secret-4242"
READY = "ldap-local: ready on"


def domain_dn(domain=DOMAIN):
    return f"o={domain},{SUFFIX}"


def user_dn(uid, domain=DOMAIN):
    return f"uid={uid},ou=People,{domain_dn(domain)}"


class LineReader:
    """Lines from a pipe, read with a deadline (select on the raw descriptor,
    so lines already read ahead are never waited for again)."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buf = b""

    def line(self, timeout, what):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"timed out after {timeout}s waiting for {what}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    pytest.fail(f"end of output while waiting for {what}")
                self.buf += chunk
        ln, _, self.buf = self.buf.partition(b"\n")
        return ln.decode("utf-8", "replace")


def read_line(pipe, timeout, what):
    """One line from a pipe that nothing else reads, within timeout seconds."""
    return LineReader(pipe).line(timeout, what)


class Driver:
    """The directory module of libms, through test_directory --driver."""

    def __init__(self, inst, *opts, log=None):
        args = [str(DRIVER), "--driver", *map(str, opts)]
        if log is not None:
            args += ["--log", str(log)]
        self.stderr_path = inst.root / f"driver-{time.monotonic_ns()}.err"
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(args, env=inst.env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, text=True,
                                         bufsize=1)
        self.out = LineReader(self.proc.stdout)
        first = self.out.line(10, "the driver")
        assert first == "READY", first

    def cmd(self, line, timeout=30):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.out.line(timeout, f"the answer to {line!r}")

    def cmd_until_done(self, line, timeout=30):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = []
        while True:
            ln = self.out.line(timeout, f"the answers to {line!r}")
            if ln == "DONE":
                return out
            out.append(ln)

    def ok(self, line):
        ans = self.cmd(line)
        assert ans.startswith("OK"), f"{line}: {ans}"
        return fields(ans)

    def err(self, line, code):
        ans = self.cmd(line)
        assert ans.startswith(f"ERR {code}"), f"{line}: want {code}, got {ans}"
        return ans

    def stats(self):
        return fields(self.cmd("stats"))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait()

    def output_text(self):
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""


def fields(answer):
    """'OK a=1 b=x' -> {'a': '1', 'b': 'x'}."""
    out = {}
    for tok in answer.split()[1:]:
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


class LdapInstance(Instance):
    """An instance whose directory is its own slapd (ldap-local)."""

    def __init__(self, root, offset):
        super().__init__(root, offset)
        self.run_proc = None
        self.drivers = []

    @property
    def port(self):
        return 389 + self.offset

    @property
    def url(self):
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def admin_pw(self):
        return parse_cnf(self.compiled_xpass)["base.ugldapbindcred"][0]

    @property
    def pidfile(self):
        return self.root / "data" / "run" / "ldap.pid"

    def slapd_pid(self):
        try:
            return int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    # -- programs
    def ldap_local(self, *args, check=True, timeout=30):
        return run_prog(LDAP_LOCAL, args, self.env, check=check, timeout=timeout)

    def commadmin(self, *args, input=None, check=True):
        return run_prog(COMMADMIN, args, self.env, input=input, check=check)

    def ldapsearch(self, base, filt="(objectClass=*)", *attrs, scope="sub", bind=None):
        dn, pw = bind or (ADMIN_DN, self.admin_pw)
        cp = subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", self.url,
                             "-D", dn, "-w", pw, "-s", scope, "-b", base, filt, *attrs],
                            capture_output=True, text=True, timeout=30)
        return cp

    def ldapmodify(self, ldif):
        cp = subprocess.run(["ldapmodify", "-x", "-H", self.url, "-D", ADMIN_DN,
                             "-w", self.admin_pw], input=ldif, capture_output=True,
                            text=True, timeout=30)
        assert cp.returncode == 0, cp.stderr
        return cp

    def driver(self, *opts, log=None):
        d = Driver(self, *opts, log=log)
        self.drivers.append(d)
        return d

    # -- the server
    def start(self):
        """ldap-local run, attached; returns once it printed its readiness line."""
        assert self.run_proc is None or self.run_proc.poll() is not None
        self.run_proc = subprocess.Popen([str(LDAP_LOCAL), "run"], env=self.env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
        line = read_line(self.run_proc.stdout, 20, "ldap-local's readiness line")
        assert line.startswith(READY), line
        return self.run_proc.pid

    def stop(self):
        """SIGTERM to ldap-local (forwarded to slapd); wait for both by PID."""
        p, self.run_proc = self.run_proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        wait_until(lambda: not self.pidfile.exists() or not slapd_alive(self.slapd_pid()),
                   timeout=15, what="slapd to exit")

    def teardown(self):
        for d in self.drivers:
            d.close()
        self.stop()
        pid = self.slapd_pid()
        if pid and slapd_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.kill_all()


def slapd_alive(pid):
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return False
    return state != "Z" and comm == "slapd"


def create_ldap_instance(root, offset=None, password=SHARED_PW):
    """init-config --local-directory (which runs ldap-local init)."""
    root = pathlib.Path(root)
    offset = random_offset() if offset is None else offset
    inst = LdapInstance(root, offset)
    args = init_config_args(offset, **{"--ldap-url": None, "--ldap-bind-dn": None,
                                       "--ldap-bind-password": password})
    cp = run_prog(INIT_CONFIG, args + ["--local-directory"], inst.env)
    assert "Created the directory of" in cp.stdout, cp.stdout
    return inst


def populate(inst):
    """The users, groups and domains the lookup tests use, made with commadmin."""
    c = inst.commadmin
    c("domain", "create", "-d", "other.org", "-A", "+associatedDomain:alias.org",
      "-A", "preferredLanguage:fr")
    c("user", "create", "-l", "joe", "-d", DOMAIN, "-W", "Joe-Pass-1", "-F", "Joe", "-L", "Smith",
      "-H", "store1.example.com", "-Q", "1048576",
      "-A", "+mailAlternateAddress:js@example.com",
      "-A", "+mailEquivalentAddress:joe@legacy.example.com",
      "-A", "+mailDeliveryOption:mailbox", "-A", "+mailDeliveryOption:forward",
      "-A", "+mailForwardingAddress:joe@elsewhere.example")
    c("user", "create", "-l", "ann", "-d", "other.org", "-W", "Ann-Pass-1",
      "-H", "store2.example.com", "-A", "mailMsgQuota:5000")
    c("user", "create", "-l", "catch", "-d", "other.org", "-W", "Catch-Pass-1",
      "-A", "+mailAlternateAddress:@other.org")
    c("group", "create", "-G", "staff", "-d", DOMAIN, "-m", "joe", "-m", "friend@elsewhere.example")


@pytest.fixture
def ldap_instance(tmp_path):
    """A fresh instance with its own slapd running (ldap-local run)."""
    inst = create_ldap_instance(tmp_path / "instance")
    try:
        inst.start()
        yield inst
    finally:
        inst.teardown()


@pytest.fixture
def ldap_factory(tmp_path):
    """Make more instances with their own slapd (failover needs two)."""
    made = []

    def make(name, start=True, password=SHARED_PW):
        inst = create_ldap_instance(tmp_path / name, password=password)
        made.append(inst)
        if start:
            inst.start()
        return inst

    yield make
    for inst in made:
        inst.teardown()


def make_cert(dirpath):
    """A self-signed certificate for 127.0.0.1 (openssl req); (cert, key)."""
    cert, key = pathlib.Path(dirpath) / "cert.pem", pathlib.Path(dirpath) / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def enable_tls(inst, cert, key):
    """Give the (stopped) instance's slapd a certificate, offline (slapmodify)."""
    ldif = (f"dn: cn=config\nchangetype: modify\nreplace: olcTLSCertificateFile\n"
            f"olcTLSCertificateFile: {cert}\n-\nreplace: olcTLSCertificateKeyFile\n"
            f"olcTLSCertificateKeyFile: {key}\n")
    cp = subprocess.run(["slapmodify", "-n0", "-F", str(inst.root / "data/ldap/slapd.d")],
                        input=ldif, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp.stderr
