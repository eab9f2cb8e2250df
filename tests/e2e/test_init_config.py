"""init-config: a new instance from flags, or from answers on a terminal."""
import io
import re
import stat
import subprocess

import pexpect
import pytest

from conftest import (DOMAIN, HOSTNAME, INIT_CONFIG, LDAP_BIND_DN, LDAP_BIND_PW, POSTMASTER,
                      USER, Instance, base_env, cnf_generation, init_config_args, parse_cnf,
                      run_prog)


def mode(p):
    return stat.S_IMODE(p.stat().st_mode)


def init(root, args, input=None, check=False):
    env = base_env(root)
    return subprocess.run([str(INIT_CONFIG), *args], env=env, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


def test_creates_files_and_folders_with_their_modes(instance):
    root = instance.root
    assert mode(instance.xpass_xml) == 0o600
    assert mode(instance.config_xml) & 0o077 in (0o040, 0o000), oct(mode(instance.config_xml))
    assert mode(instance.config_xml) & 0o600 == 0o600
    restricted = instance.confdir / "restricted.cnf"
    text = restricted.read_text()
    assert re.search(r"^user=\S+$", text, re.M) and re.search(r"^group=\S+$", text, re.M)
    assert mode(restricted) & 0o022 == 0
    for rel, want in [("data/store", 0o700), ("data/store/partition/primary", 0o700),
                      ("data/queue", 0o700), ("data/log", 0o750), ("data/run", 0o750)]:
        p = root / rel
        assert p.is_dir(), rel
        assert mode(p) == want, f"{rel}: {oct(mode(p))}"
    for p in root.rglob("*"):
        assert mode(p) & 0o002 == 0, f"{p} is world-writable"
    # The first configuration is written, compiled and in the history.
    assert instance.compiled.exists() and mode(instance.compiled_xpass) == 0o600
    assert cnf_generation(instance.compiled) == 1
    hist = instance.history()
    assert len(hist) == 1 and hist[0][:2] == (True, 1)
    assert hist[0][3] == USER and hist[0][4] == "init-config"
    assert "(not compiled)" not in instance.run("check").stdout


def test_values_from_the_flags(instance):
    assert instance.value("instance.base.hostname") == HOSTNAME
    assert instance.value("base.defaultdomain") == DOMAIN
    assert instance.value("base.postmaster") == POSTMASTER
    assert instance.value("base.ugldaphost") == f"127.0.0.1:{389 + instance.offset}"
    assert instance.value("base.ugldapbinddn") == LDAP_BIND_DN
    assert instance.value("base.ugldapbindcred") == "(hidden)"
    assert instance.xpass_values()["role.base.ugldapbindcred"] == LDAP_BIND_PW
    assert LDAP_BIND_PW not in instance.config_xml.read_text()
    assert parse_cnf(instance.compiled_xpass)["base.ugldapbindcred"] == [LDAP_BIND_PW]
    assert instance.value("partition:primary.path") == \
        str(instance.root / "data/store/partition/primary")
    # The seed's scheduler tasks (002:1791-1807).
    assert instance.value("schedule.task:msprobe.crontab") == \
        "5,15,25,35,45,55 * * * * lib/msprobe"


def test_summary_never_prints_the_password(tmp_path):
    root = tmp_path / "i"
    cp = init(root, init_config_args(10000))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.startswith(f"Created instance {root}\n")
    assert "imap.port = 10143" in cp.stdout
    assert LDAP_BIND_PW not in cp.stdout + cp.stderr


def test_refuses_to_overwrite(instance):
    snap = instance.snapshot()
    cp = init(instance.root, init_config_args(instance.offset, **{"--hostname": "x.example.com"}))
    assert cp.returncode == 1
    assert f"{instance.config_xml} already holds a configuration; use --force" in cp.stderr
    assert instance.snapshot() == snap


def test_force_replaces_and_keeps_the_old_in_history(instance):
    instance.run("set", "imap.idletimeout", "41")
    cp = init(instance.root, init_config_args(instance.offset, **{"--hostname": "x.example.com"})
              + ["--force"])
    assert cp.returncode == 0, cp.stderr
    assert instance.value("base.hostname") == "x.example.com"
    assert instance.show("imap.idletimeout") == {}
    hist = instance.history()
    assert hist[0][4] == "init-config" and hist[0][1] == 3
    instance.run("rollback", 2)
    assert instance.value("imap.idletimeout") == "41"


def test_without_y_and_terminal_names_the_missing_flags(tmp_path):
    root = tmp_path / "i"
    cp = init(root, ["--hostname", HOSTNAME, "--port-offset", "10000"])
    assert cp.returncode == 64
    assert ("no terminal to ask on, and these values are missing: --domain --postmaster "
            "--ldap-url --ldap-bind-dn --ldap-bind-password") in cp.stderr, cp.stderr
    assert "-y" in cp.stderr
    assert not (root / "config" / "config.xml").exists()
    # Everything given: no terminal needed, no -y needed.
    args = [a for a in init_config_args(10000) if a != "-y"]
    cp = init(root, args)
    assert cp.returncode == 0, cp.stderr


def test_bind_dn_without_password_is_refused(tmp_path):
    root = tmp_path / "i"
    cp = init(root, init_config_args(10000, **{"--ldap-bind-password": None}))
    assert cp.returncode == 64
    assert "--ldap-bind-dn needs --ldap-bind-password" in cp.stderr
    assert not (root / "config" / "config.xml").exists()


def test_asks_on_a_terminal(tmp_path):
    root = tmp_path / "i"
    secret = "Typed-Bind-Secret-3141"
    seen = io.StringIO()
    child = pexpect.spawn(str(INIT_CONFIG), ["--port-offset", "11000"], env=base_env(root),
                          encoding="utf-8", timeout=10)
    child.logfile_read = seen
    try:
        child.expect_exact(f"Creating a Messaging Server instance in {root}.")
        child.expect_exact("Fully qualified host name of this server [")
        child.expect_exact("]: ")
        child.sendline("bad host name")
        child.expect_exact("'bad host name' is not a host name")
        child.expect_exact("Fully qualified host name of this server [")
        child.expect_exact("]: ")
        child.sendline("imap.asked.example")
        child.expect_exact("Default mail domain [asked.example]: ")
        child.sendline("")
        child.expect_exact("Postmaster address [postmaster@asked.example]: ")
        child.sendline("")
        child.expect_exact("Directory (LDAP) server URL [ldap://127.0.0.1:389]: ")
        child.sendline("ldap://127.0.0.1:12389")
        child.expect_exact("Base DN of users and groups [dc=asked,dc=example]: ")
        child.sendline("")
        child.expect_exact("DN to bind to the directory as (none: anonymous) [none]: ")
        child.sendline("cn=admin,dc=asked,dc=example")
        child.expect_exact("Password of cn=admin,dc=asked,dc=example: ")
        child.sendline(secret)
        child.expect_exact("Again, to check: ")
        child.sendline(secret)
        child.expect_exact(f"Created instance {root}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert secret not in seen.getvalue()
    inst = Instance(root, 11000)
    assert inst.value("base.hostname") == "imap.asked.example"
    assert inst.value("base.postmaster") == "postmaster@asked.example"
    assert inst.value("base.ugldapbasedn") == "dc=asked,dc=example"
    assert inst.xpass_values()["role.base.ugldapbindcred"] == secret


def port_values(inst):
    """Every port-typed key of the compiled configuration -> [int, ...]."""
    types = {}
    for ln in inst.run("help", "options").stdout.splitlines():
        name, typ = ln.split()[:2]
        if typ == "port":
            types[name] = re.compile(
                "^" + re.escape(name).replace(r"\*", r"(?:[^.\\]|\\.)+") + "$")
    out = {}
    for key, vals in inst.compiled_values().items():
        if any(rx.match(key) for rx in types.values()):
            out[key] = [int(p) for p in vals[0].split()]
    return out


def test_port_offset_shifts_every_listening_port(make_instance):
    ldap = {"--ldap-url": "ldap://127.0.0.1:389"}
    plain = make_instance("plain", offset=0, extra=dict(ldap, **{"--port-offset": None}))
    n = 12345
    shifted = make_instance("shifted", offset=n, extra=ldap)
    # What the administrator sees.
    a = plain.show("*port*")
    b = shifted.show("*port*")
    assert a.keys() <= b.keys()  # defaults are written out when shifted
    for name in a:
        if name != "role.base.ugldapport" and ".rule" not in name:  # mapping:PORT_ACCESS
            assert b[name] == [" ".join(str(int(p) + n) for p in a[name][0].split())], name
    for opt, dflt in (("imap.port", 143), ("watcher.port", 49994)):
        assert plain.run("show", opt).stdout == f"{opt} is not set (default {dflt})\n"
        assert b[f"role.{opt}"] == [str(dflt + n)]
    # What the servers read: every port, set or defaulted, moves by N,
    # except the directory's, which is somebody else's server.
    pa, pb = port_values(plain), port_values(shifted)
    # Client ports that point back at this instance are written when shifted.
    assert pa.keys() <= pb.keys()
    for key in pb.keys() - pa.keys():
        assert key == "http.smtpport", key
        assert pb[key] == pb["dispatcher.service:SMTP.tcp_ports"]
    assert len(pa) >= 15, pa
    for key in pa:
        if key == "base.ugldapport":
            assert pb[key] == pa[key] == [389]
            continue
        want = [p + n if p else 0 for p in pa[key]]
        assert pb[key] == want, f"{key}: {pa[key]} -> {pb[key]}"
    for key in ("imap.port", "imap.sslport", "pop.port", "http.port", "watcher.port",
                "dispatcher.service:SMTP.tcp_ports", "imapproxy.tcp_listen:imapproxy1.tcp_ports"):
        assert key in pb, key


@pytest.mark.parametrize("offset,message", [
    ("20000", "--port-offset 20000 would move watcher.port from 49994 to 69994, beyond the "
              "highest port 65535; the largest offset possible is 15541"),
    ("-5", "--port-offset takes a number from 0 to 65535, not '-5'"),
    ("ten", "--port-offset takes a number from 0 to 65535, not 'ten'"),
    ("", "--port-offset takes a number from 0 to 65535, not ''"),
])
def test_bad_port_offset_is_refused(tmp_path, offset, message):
    root = tmp_path / "i"
    cp = init(root, init_config_args(0, **{"--port-offset": offset}))
    assert cp.returncode == 64
    assert message in cp.stderr, cp.stderr
    assert not (root / "config" / "config.xml").exists()


@pytest.mark.parametrize("flag,value,message", [
    ("--hostname", "bad host", "--hostname: 'bad host' is not a host name"),
    ("--postmaster", "nobody", "--postmaster: 'nobody' is not a mail address"),
    ("--ldap-url", "http://x.example", "is not an LDAP URL"),
    ("--ldap-url", "ldap://x.example:99999", "the port must be a number from 1 to 65535"),
])
def test_bad_flag_values_are_refused(tmp_path, flag, value, message):
    root = tmp_path / "i"
    cp = init(root, init_config_args(10000, **{flag: value}))
    assert cp.returncode == 64
    assert message in cp.stderr, cp.stderr
    assert not (root / "config").exists() or not (root / "config" / "config.xml").exists()


def test_help(tmp_path):
    cp = init(tmp_path, ["--help"])
    assert cp.returncode == 0
    for flag in ("-y", "--hostname", "--domain", "--postmaster", "--ldap-url",
                 "--ldap-bind-dn", "--ldap-bind-password", "--port-offset"):
        assert flag in cp.stdout
    cp = init(tmp_path, ["--frobnicate"])
    assert cp.returncode == 64 and "unknown argument '--frobnicate'" in cp.stderr
