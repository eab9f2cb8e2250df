"""
End-to-end fixtures for the configuration tools (STYLE 19).

Every test gets its own throwaway instance in a pytest tmp_path, created by
the real init-config with a random --port-offset, and talks to the real
programs of the build tree:

    MS_BUILD_DIR   the meson build directory (default <repo>/build)

Programs run with MS_DATADIR=<build>/schema (the build tree's data
directory) and SERVERROOT=<instance>.  Nothing here sleeps to wait: tests
wait for output (pexpect), for a process to exit, or for a condition with
the bounded poll `wait_until`.  Whatever a test starts is stopped by PID at
teardown (the instance fixture also kills any process still running with
its SERVERROOT, such as the reverter of `write --confirm`).
"""
import base64
import os
import pathlib
import pwd
import random
import re
import signal
import subprocess
import time

import pexpect
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MS_BUILD_DIR", str(REPO / "build"))).resolve()
MSCONFIG = BUILD / "msconfig" / "msconfig"
INIT_CONFIG = BUILD / "msconfig" / "init-config"
CONFIGUTIL = BUILD / "msconfig" / "configutil"
DATADIR = BUILD / "schema"
SCHEMA = REPO / "schema" / "config.xsd"

HOSTNAME = "mail.example.com"
DOMAIN = "example.com"
POSTMASTER = "postmaster@example.com"
LDAP_BIND_DN = "cn=Directory Manager"
LDAP_BIND_PW = "ldap-Bind-Secret-7731"

USER = pwd.getpwuid(os.getuid()).pw_name


def random_offset():
    """A random port offset for a test instance.

    Not up to 40000: the seed's watcher.port is 49994, so init-config
    refuses any offset above 15541 (it would push the port past 65535).
    """
    return random.randint(10000, 15000)


def wait_until(cond, timeout=10.0, interval=0.02, what="condition"):
    """Bounded poll: return cond()'s first true value, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)  # the one sleep allowed: inside a bounded poll


def base_env(root):
    env = dict(os.environ)
    env["MS_DATADIR"] = str(DATADIR)
    env["SERVERROOT"] = str(root)
    env.pop("MS_TEST_CRASHPOINT", None)
    env.pop("EDITOR", None)
    env.pop("VISUAL", None)
    env.setdefault("TERM", "xterm")
    return env


def run_prog(prog, args, env, input=None, check=True, timeout=30):
    cp = subprocess.run([str(prog), *map(str, args)], env=env, input=input,
                        capture_output=True, text=True, timeout=timeout)
    if check is True and cp.returncode != 0:
        pytest.fail(f"{prog.name} {' '.join(map(str, args))} exited {cp.returncode}\n"
                    f"stdout:\n{cp.stdout}\nstderr:\n{cp.stderr}")
    return cp


def init_config_args(offset, **over):
    a = {
        "--hostname": HOSTNAME,
        "--domain": DOMAIN,
        "--postmaster": POSTMASTER,
        "--ldap-url": f"ldap://127.0.0.1:{389 + offset}",
        "--ldap-bind-dn": LDAP_BIND_DN,
        "--ldap-bind-password": LDAP_BIND_PW,
        "--port-offset": str(offset),
    }
    a.update(over)
    args = ["-y"]
    for k, v in a.items():
        if v is not None:
            args += [k, v]
    return args


def parse_cnf(path):
    """compiled/config.cnf (format in lib/conf.c) -> {key: [values...]}."""
    lines = pathlib.Path(path).read_text().split("\n")
    assert lines[0] == "MSCONF 1", lines[:4]
    assert lines[1].startswith("generation "), lines[:4]
    assert lines[2].startswith("count "), lines[:4]
    assert lines[3].startswith("checksum "), lines[:4]
    count = int(lines[2].split()[1])
    body = lines[4:4 + count]
    assert lines[4 + count] == "end", "compiled file has no trailer"
    out = {}
    for ln in body:
        k, _, v = ln.partition("\t")
        v = v.replace("\\t", "\t").replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")
        out.setdefault(k, []).append(v)
    return out


def cnf_generation(path):
    return int(pathlib.Path(path).read_text().split("\n")[1].split()[1])


HISTORY_RE = re.compile(r"^([* ]) +(\d+) +(\S+) +(\S+) {2,}(.*)$")


class Instance:
    """One throwaway instance and the programs that act on it."""

    def __init__(self, root, offset):
        self.root = pathlib.Path(root)
        self.offset = offset
        self.env = base_env(self.root)

    # -- paths
    @property
    def confdir(self):
        return self.root / "config"

    @property
    def config_xml(self):
        return self.confdir / "config.xml"

    @property
    def xpass_xml(self):
        return self.confdir / "xpass.xml"

    @property
    def graveyard(self):
        return self.confdir / "old-configs"

    @property
    def compiled(self):
        return self.confdir / "compiled" / "config.cnf"

    @property
    def compiled_xpass(self):
        return self.confdir / "compiled" / "xpass.cnf"

    # -- programs
    def _env(self, env):
        e = dict(self.env)
        if env:
            e.update(env)
        return e

    def run(self, *args, input=None, env=None, check=True, timeout=30):
        """Run msconfig ARGS; check=True fails the test on a non-zero exit."""
        return run_prog(MSCONFIG, args, self._env(env), input=input, check=check,
                        timeout=timeout)

    def configutil(self, *args, input=None, env=None, check=True):
        return run_prog(CONFIGUTIL, args, self._env(env), input=input, check=check)

    def popen(self, *args, env=None, **kw):
        return subprocess.Popen([str(MSCONFIG), *map(str, args)], env=self._env(env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **kw)

    def script(self, text, env=None, check=True):
        """Feed shell commands on standard input (no terminal: no prompts)."""
        return self.run(input=text, env=env, check=check)

    # -- views
    def show(self, pattern="*"):
        """msconfig show PATTERN -> {displayed name: [values]} (flags: [None])."""
        cp = self.run("show", pattern)
        out = {}
        for ln in cp.stdout.splitlines():
            if " is not set" in ln:
                continue
            name, sep, val = ln.partition(" = ")
            out.setdefault(name, []).append(val if sep else None)
        return out

    def value(self, name):
        """The single shown value of an option (with role./instance. prefix)."""
        v = self.show(name)
        assert len(v) == 1, f"show {name}: {v}"
        (vals,) = v.values()
        assert len(vals) == 1, f"show {name}: {v}"
        return vals[0]

    def history(self):
        """[(active, seq, time, user, comment)], newest first."""
        cp = self.run("history")
        rows = []
        for ln in cp.stdout.splitlines()[1:]:
            m = HISTORY_RE.match(ln)
            if m:
                rows.append((m.group(1) == "*", int(m.group(2)), m.group(3), m.group(4),
                             m.group(5).rstrip()))
        return rows

    def active_seq(self):
        for active, seq, *_ in self.history():
            if active:
                return seq
        raise AssertionError("no active configuration in history")

    def graveyard_files(self):
        if not self.graveyard.is_dir():
            return []
        return sorted(p.name for p in self.graveyard.iterdir())

    def snapshot(self):
        """Everything a refused command must leave alone."""
        return (self.config_xml.read_bytes(),
                self.xpass_xml.read_bytes() if self.xpass_xml.exists() else None,
                self.graveyard_files())

    def compiled_values(self):
        return parse_cnf(self.compiled)

    def xpass_values(self):
        """Decoded passwords of xpass.xml: {name: value}."""
        text = self.xpass_xml.read_text()
        return {m.group(1): base64.b64decode(m.group(2)).decode()
                for m in re.finditer(r'<option name="([^"]*)" v="([^"]*)"', text)}

    # -- processes
    def pids(self):
        """PIDs of live processes whose environment names this instance."""
        want = f"SERVERROOT={self.root}".encode()
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(f"/proc/{d}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if want in env and state != b"Z":
                found.append(int(d))
        return found

    def kill_all(self):
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def create_instance(root, offset=None, extra=None):
    root = pathlib.Path(root)
    offset = random_offset() if offset is None else offset
    inst = Instance(root, offset)
    assert INIT_CONFIG.exists(), f"{INIT_CONFIG} is not built"
    run_prog(INIT_CONFIG, init_config_args(offset, **(extra or {})), inst.env)
    return inst


@pytest.fixture
def instance(tmp_path):
    """A fresh instance made by init-config -y --port-offset N in tmp_path."""
    inst = create_instance(tmp_path / "instance")
    yield inst
    inst.kill_all()


@pytest.fixture
def make_instance(tmp_path):
    """Factory for tests that need a second instance or other flags."""
    made = []

    def make(name="inst", offset=None, extra=None):
        inst = create_instance(tmp_path / name, offset, extra)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        inst.kill_all()


def spawn_shell(inst, env=None):
    child = pexpect.spawn(str(MSCONFIG), env=inst._env(env), encoding="utf-8",
                          timeout=10, dimensions=(40, 200))
    return child


@pytest.fixture
def shell_factory(instance):
    """Start interactive msconfig shells on the instance; all closed at the end."""
    children = []

    def spawn(env=None):
        c = spawn_shell(instance, env)
        children.append(c)
        return c

    yield spawn
    for c in children:
        c.close(force=True)  # kills the child by its PID if it still runs


@pytest.fixture
def msconfig_shell(shell_factory):
    """pexpect.spawn of msconfig (utf-8, timeout 10) on a fresh instance.

    It starts when the fixture is set up, so it loads the configuration as
    init-config left it; a test that changes the configuration first
    starts its shell afterwards with shell_factory."""
    return shell_factory()


def schema_options(attr):
    """Option leaf names whose ms:option carries attr (such as restricted="yes")."""
    text = SCHEMA.read_text()
    names = []
    for m in re.finditer(r'<xs:element name="([^"]+)"[^>]*>\s*<xs:annotation>\s*'
                         r'<xs:appinfo><ms:option ([^>]*)/>', text):
        if attr in m.group(2):
            names.append((m.group(1), m.group(2)))
    return names
