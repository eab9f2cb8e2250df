"""Running servers (imapd, popd, tcp_lmtp_server, mmp) attached to a test.

A server runs the way the watcher runs it: in the foreground, with the
instance's environment; start() waits for its readiness line in its log
file (never a fixed delay), stop() sends SIGTERM and expects a clean exit,
kill() is the crash tests' kill -9.  mail_instance() makes the usual
module-wide instance: its own slapd, a TLS certificate made with openssl,
the server's ports moved by the instance's offset, and users made with
commadmin.
"""
import os
import signal
import subprocess

from conftest import BUILD, DOMAIN, wait_until
from ldap_fixtures import create_ldap_instance, make_cert


class AttachedServer:
    """program (a path) with args, attached to the test; its readiness is
    one more line holding ready in data/log/logname.  env: variables added
    to the instance's.  clean_stderr: stop() also fails on a sanitizer
    report in its standard error."""

    def __init__(self, inst, program, logname, ready="ready on port", args=(), env=None,
                 clean_stderr=False):
        self.inst = inst
        self.program = program
        self.args = [str(a) for a in args]
        self.ready = ready
        self.clean_stderr = clean_stderr
        self.extra_env = dict(env or {})
        self.log = inst.root / "data" / "log" / logname
        self.proc = None

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self):
        before = self.log_text().count(self.ready)
        env = dict(self.inst.env)  # as it is now: the test may have changed it
        env.update(self.extra_env)
        self.proc = subprocess.Popen([str(self.program), *self.args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        wait_until(lambda: self.log_text().count(self.ready) > before
                   or self.proc.poll() is not None,
                   timeout=15, what=f"{self.program.name}'s readiness line")
        assert self.proc.poll() is None, self.proc.stderr.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            # SIGTERM with no session open: a clean exit (and, under ASan, no report)
            assert self.proc.returncode == 0, self.proc.stderr.read()
            if self.clean_stderr:
                err = self.proc.stderr.read()
                assert "runtime error" not in err and "Sanitizer" not in err, err
        self.proc = None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)
            self.proc = None


class StoreServer(AttachedServer):
    """A server of the store family (imapd, popd, ...) by program name."""

    def __init__(self, inst, program, logname, env=None):
        super().__init__(inst, BUILD / "workers" / "store" / program, logname, env=env)


def mail_instance(root, service, plain, ssl_port, users, password, last_name, settings=()):
    """A started instance with TLS on service's ports and the given users.

    inst.port_plain, inst.port_ssl and inst.cafile are set; the caller
    tears it down with inst.teardown().
    """
    inst = create_ldap_instance(root / "instance")
    inst.start()
    cert, key = make_cert(root)
    inst.port_plain = plain + inst.offset
    inst.port_ssl = ssl_port + inst.offset
    inst.cafile = str(cert)
    for name, value in ((f"{service}.port", inst.port_plain),
                        (f"{service}.sslport", inst.port_ssl),
                        (f"{service}.enablesslport", 1),
                        (f"{service}.logfile.loglevel", "Information"),
                        ("base.sslcertfile", cert), ("base.sslkeyfile", key)) + tuple(settings):
        inst.run("set", name, str(value))
    for uid in users:
        inst.commadmin("user", "create", "-l", uid, "-d", DOMAIN, "-W", password,
                       "-F", uid, "-L", last_name)
    return inst
