"""imsimta: version, cnbuild, test -rewrite and test -mapping on a new instance.

The instance is made by the real init-config, so these tests also check the
MTA defaults a new instance gets (docs/mta.md): its channels, rewrite rules
and mapping tables, as imsimta sees them through the compiled configuration.
"""
import os
import re
import time

from conftest import BUILD, DOMAIN, HOSTNAME, run_prog

IMSIMTA = BUILD / "workers" / "mta" / "imsimta"


def imsimta(instance, *args, input=None, check=True):
    return run_prog(IMSIMTA, args, instance.env, input=input, check=check)


def report(stdout):
    """The 'name = value' lines of a test -rewrite report -> {name: value}."""
    out = {}
    for ln in stdout.splitlines():
        m = re.match(r"^  (\S.*?) +=(?: (.*))?$", ln)
        if m:
            out[m.group(1)] = m.group(2) or ""
    return out


def submitted(stdout):
    """(channel, address, routing host) of the submitted address list."""
    lines = stdout.splitlines()
    i = lines.index("Submitted address list:")
    channel = lines[i + 1].strip()
    m = re.match(r"^    (\S+) \((\S+)\)$", lines[i + 2])
    return channel, m.group(1), m.group(2)


def editor(tmp_path, new_text):
    new = tmp_path / "new.txt"
    new.write_text(new_text)
    script = tmp_path / "editor.sh"
    script.write_text(f'cp "{new}" "$1"\n')
    return {"EDITOR": f"sh {script}"}


# ---- version and cnbuild ------------------------------------------------------

def test_version_says_which_configuration_and_whether_it_is_compiled(instance):
    cp = imsimta(instance, "version")
    lines = cp.stdout.splitlines()
    assert re.match(r"^Messaging Server \S+ \(built .+\)$", lines[0]), lines
    assert lines[2] == f"Using {instance.config_xml}", lines
    assert lines[3].split()[0] == os.uname().sysname
    # config.xml newer than the compiled form: "(not compiled)" (002:1154-1160)
    past = time.time() - 3600
    os.utime(instance.compiled, (past, past))
    cp = imsimta(instance, "version")
    assert f"Using {instance.config_xml} (not compiled)" in cp.stdout.splitlines()
    # the tools that read the compiled form say so too
    cp = imsimta(instance, "test", "-rewrite", f"a@{DOMAIN}")
    assert "(not compiled)" in cp.stderr
    # cnbuild recompiles, as msconfig compile does
    cp = imsimta(instance, "cnbuild")
    assert cp.stdout.startswith("compiled configuration ")
    assert "(not compiled)" not in imsimta(instance, "version").stdout
    assert "(not compiled)" not in instance.run("check").stdout


def test_version_without_an_instance(tmp_path):
    env = dict(os.environ, SERVERROOT=str(tmp_path / "none"))
    cp = run_prog(IMSIMTA, ["version"], env)
    assert f"Using {tmp_path}/none/config/config.xml (no configuration" in cp.stdout


# ---- the defaults of a new instance ---------------------------------------------

DEFAULT_CHANNELS = {
    "l": HOSTNAME,
    "tcp_local": "tcp-daemon",
    "tcp_intranet": "tcp_intranet-daemon",
    "tcp_auth": "tcp_auth-daemon",
    "tcp_submit": "tcp_submit-daemon",
    "ims-ms": "ims-ms-daemon",
    "bitbucket": "bitbucket-daemon",
    "hold": "hold-daemon",
    "reprocess": "reprocess-daemon",
}


def test_new_instance_has_the_default_channels(instance):
    shown = instance.show("channel:*")
    for name, host in DEFAULT_CHANNELS.items():
        assert shown[f"role.channel:{name}.official_host_name"] == [host], name
    assert shown["role.channel:tcp_local.smtp"] == [None]
    assert shown["role.channel:tcp_local.saslswitchchannel"] == ["tcp_auth"]
    assert shown["role.channel:tcp_intranet.allowswitchchannel"] == [None]
    assert shown["role.channel:tcp_submit.mustsaslserver"] == [None]
    assert shown["role.channel:l.viaaliasrequired"] == [None]
    assert shown["role.channel:defaults.notices"] == ["1 2 4 7"]
    rules = instance.show("rewrite.rule")["role.rewrite.rule"]
    assert rules[0] == f"{HOSTNAME} $U%$D@{HOSTNAME}"
    assert rules[1] == f"{DOMAIN} $U%$D@{HOSTNAME}"
    assert rules[-1] == ". $U%$H$D@tcp-daemon"
    maps = instance.show("mapping:*")
    assert maps["role.mapping:PORT_ACCESS.rule"] == [
        "*|*|*|*|* $C$|INTERNAL_IP;$3|$Y$E", "* $YEXTERNAL"]
    assert maps["role.mapping:ORIG_SEND_ACCESS.rule"] == [
        "tcp_local|*|tcp_local|* $NRelaying$ not$ permitted"]
    # the legacy text forms show them
    assert instance.run("check").returncode == 0


# ---- test -rewrite ----------------------------------------------------------------

# Every rewrite rule kind of a new instance: (address, channel, rewritten, route host).
REWRITES = [
    (f"user@{HOSTNAME}", "l", f"user@{HOSTNAME}", HOSTNAME),           # this host
    (f"User@{DOMAIN.upper()}", "l", f"User@{DOMAIN.upper()}", HOSTNAME),  # default domain
    ("postmaster", "l", f"postmaster@{HOSTNAME}", HOSTNAME),            # no domain
    ("root@localhost", "l", f"root@{HOSTNAME}", HOSTNAME),              # localhost
    ("jdoe@ims-ms-daemon", "ims-ms", "jdoe@ims-ms-daemon", "ims-ms-daemon"),  # channel host
    ("@hold-daemon:jdoe@example.net", "hold", "@hold-daemon:jdoe@example.net", "hold-daemon"),
    ("jdoe+example.com@bitbucket", "bitbucket", "jdoe+example.com@bitbucket",
     "bitbucket-daemon"),                                               # autoreply's host
    ("friend@remote.example.net", "tcp_local", "friend@remote.example.net", "tcp-daemon"),  # .
    ("u@[192.0.2.7]", "tcp_local", "u@[192.0.2.7]", "tcp-daemon"),      # []
]


def test_rewrite_every_default_rule_kind(instance):
    for address, channel, rewritten, route in REWRITES:
        cp = imsimta(instance, "test", "-rewrite", address)
        assert submitted(cp.stdout) == (channel, rewritten, route), (address, cp.stdout)
        r = report(cp.stdout)
        assert r["forward channel"] == channel
        assert r["envelope To: address"] == f"{rewritten} (route ({route},{route}))"
        assert r["channel official host"] == route


def test_rewrite_report_form(instance):
    cp = imsimta(instance, "test", "-rewrite", "friend@remote.example.net")
    r = report(cp.stdout)
    assert r["forward channel"] == "tcp_local"
    assert r["backward channel"] == "tcp_local"
    assert r["rewrite rule"] == ". $U%$H$D@tcp-daemon"
    kw = r["channel keywords"].split()
    for k in ("smtp", "mx", "single_sys", "switchchannel", "maytlsserver", "loopcheck"):
        assert k in kw, kw
    assert "noswitchchannel" not in kw  # the defaults channel does not override the family
    assert r["header To: address"] == "friend@remote.example.net"
    assert r["header From: address"] == "friend@remote.example.net"
    assert r["envelope From: address"] == "friend@remote.example.net"
    assert r["mbox"] == "friend"
    lines = cp.stdout.splitlines()
    assert lines[lines.index("Extracted address action list:") + 1] == \
        "    friend@remote.example.net"
    # relay blocking: from tcp_local to tcp_local is refused (002:6281-6285)
    cp = imsimta(instance, "test", "-rewrite", "-source_channel=tcp_local",
                 "-from=harold@example.org", "alan@very.bogus.com")
    assert report(cp.stdout)["ORIG_SEND_ACCESS"] == "rejected: Relaying not permitted"
    cp = imsimta(instance, "test", "-rewrite", "-source_channel=tcp_local",
                 f"bob@{DOMAIN}")
    assert report(cp.stdout)["ORIG_SEND_ACCESS"].startswith("no entry applies")


def test_rewrite_internal_ip_literal_selects_tcp_intranet_backwards(instance):
    # [] $E$R${INTERNAL_IP,$L}...: an internal client's literal is a From address of
    # tcp_intranet, which is how switchchannel moves internal clients there.
    cp = imsimta(instance, "test", "-rewrite", "u@[127.0.0.1]")
    r = report(cp.stdout)
    assert r["forward channel"] == "tcp_local"
    assert r["backward channel"] == "tcp_intranet"
    cp = imsimta(instance, "test", "-rewrite", "u@[192.0.2.7]")
    assert report(cp.stdout)["backward channel"] == "tcp_local"


def test_rewrite_several_addresses_and_prompt(instance):
    cp = imsimta(instance, "test", "-rewrite", f"a@{HOSTNAME}", "b@remote.example")
    assert cp.stdout.count("Submitted address list:") == 2
    cp = imsimta(instance, "test", "-rewrite", input=f"a@{HOSTNAME}\n\nb@remote.example\n")
    assert cp.stdout.startswith(f"Address: a@{HOSTNAME}\n")
    assert cp.stdout.count("Submitted address list:") == 2
    assert cp.stdout.endswith("Address: \n")


def test_rewrite_debug_shows_the_probes(instance):
    cp = imsimta(instance, "test", "-rewrite", "-debug", "x@a.b.example.net")
    out = cp.stdout
    pos = [out.index(f"  {p} ") for p in ("$*", "a.b.example.net", "*.b.example.net",
                                           ".b.example.net", ".example.net", ".net")]
    assert pos == sorted(pos)
    assert "rule 7 applies: $U%$H$D@tcp-daemon" in out


def test_rewrite_rule_and_channel_set_with_msconfig(instance):
    # T51, with the seed's "%D" read as "%$D" (docs/mta.md, seed defects)
    instance.run("set", "channel:tcp_example.official_host_name", "tcp_example-daemon")
    instance.run("set", "rewrite.rule", "example.org $U%$D@tcp_example-daemon")
    instance.run("set", "rewrite.rule", ".example.org $U%$H$D@tcp_example-daemon")
    for address in ("user@example.org", "user@host1.example.org", "u@hostA.host1.example.org"):
        cp = imsimta(instance, "test", "-rewrite", address)
        assert submitted(cp.stdout) == ("tcp_example", address, "tcp_example-daemon"), address
    cp = imsimta(instance, "test", "-rewrite", "user@notexample.org")
    assert submitted(cp.stdout)[0] == "tcp_local"


def test_rewrite_failures(instance):
    # without the catch-all, a remote domain has no route
    instance.run("unset", "rewrite.rule", ". $U%$H$D@tcp-daemon")
    cp = imsimta(instance, "test", "-rewrite", "x@remote.example", check=False)
    assert cp.returncode == 1
    assert "Illegal host/domain name found: remote.example" in cp.stderr
    assert report(cp.stdout)["forward channel"] == "(none)"
    assert "Submitted address list:\n  (none)\n" in cp.stdout
    # $? refuses with its own text
    instance.run("set", "rewrite.rule", "blocked.example $?No$ mail$ for$ blocked.example")
    cp = imsimta(instance, "test", "-rewrite", "x@blocked.example", check=False)
    assert cp.returncode == 1 and "No mail for blocked.example" in cp.stderr
    # a syntax error
    cp = imsimta(instance, "test", "-rewrite", "x@@y", check=False)
    assert cp.returncode == 1 and "invalid address" in cp.stderr


def test_rewrite_broken_rule_is_a_configuration_error(instance):
    instance.run("set", "rewrite.rule", "bad.example $U")
    cp = imsimta(instance, "test", "-rewrite", "x@bad.example", check=False)
    assert cp.returncode == 78
    assert "rewrite rule 8 (bad.example $U)" in cp.stderr


def test_rewrite_mtpriority(instance):
    instance.run("set", "rewrite.rule", "prio.example $U%$D@hold-daemon$+3<P")
    instance.run("set", "rewrite.rule", "prio.example $U%$D@ims-ms-daemon")
    cp = imsimta(instance, "test", "-rewrite", "-mtpriority", "5", "x@prio.example")
    assert submitted(cp.stdout)[0] == "hold"
    cp = imsimta(instance, "test", "-rewrite", "-mtpriority=2", "x@prio.example")
    assert submitted(cp.stdout)[0] == "ims-ms"
    cp = imsimta(instance, "test", "-rewrite", "-mtpriority=12", "x@prio.example", check=False)
    assert cp.returncode == 64


# ---- test -mapping ------------------------------------------------------------------

def test_mapping_prompts_as_in_the_seed(instance):
    cp = imsimta(instance, "test", "-mapping",
                 input="PORT_ACCESS\nTCP|10.0.0.1|25|127.0.0.1|4000\nTCP|10.0.0.1|25|192.0.2.9|4000\n")
    assert cp.stdout.splitlines() == [
        "Enter table name: PORT_ACCESS",
        "Input string: TCP|10.0.0.1|25|127.0.0.1|4000",
        "Output string: ",
        "Output flags: [89]",
        "Input string: TCP|10.0.0.1|25|192.0.2.9|4000",
        "Output string: EXTERNAL",
        "Output flags: [89]",
        "Input string: ",
    ]


def test_mapping_table_and_input_on_the_command_line(instance):
    cp = imsimta(instance, "test", "-mapping", "-table=ORIG_SEND_ACCESS",
                 "tcp_local|harold@example.org|tcp_local|alan@very.bogus.com")
    assert cp.stdout == "Output string: Relaying not permitted\nOutput flags: [78]\n"
    cp = imsimta(instance, "test", "-mapping", "-table", "ORIG_SEND_ACCESS",
                 f"tcp_local|harold@example.org|l|bob@{DOMAIN}")
    assert cp.stdout.splitlines()[-1] == "No entry of ORIG_SEND_ACCESS matched."
    cp = imsimta(instance, "test", "-mapping", "-table=INTERNAL_IP", "::1")
    assert cp.stdout == "Output string: \nOutput flags: [89]\n"
    cp = imsimta(instance, "test", "-mapping", "-table=NO_SUCH_TABLE", "x", check=False)
    assert cp.returncode == 1 and "there is no mapping table NO_SUCH_TABLE" in cp.stderr


def test_mapping_flags_and_edit_mappings(instance, tmp_path):
    # the seed's dispatcher-only entry (002:3625-3635): $:A needs the A flag
    text = instance.run("edit", "mappings", env=editor(tmp_path, "")).stdout  # none
    assert "removed" in text
    mappings = ("X-TEST\n"
                "  *|*|*|*|*  $:A$N421$ Connection$ declined$E\n"
                "  *          $YEXTERNAL\n")
    instance.run("edit", "mappings", env=editor(tmp_path, mappings))
    probe = "TCP|10.0.0.1|25|192.0.2.9|4000"
    cp = imsimta(instance, "test", "-mapping", "-table=X-TEST", "-flags=A", probe)
    assert cp.stdout == "Output string: 421 Connection declined\nOutput flags: [78]\n"
    cp = imsimta(instance, "test", "-mapping", "-table=X-TEST", probe)
    assert cp.stdout == "Output string: EXTERNAL\nOutput flags: [89]\n"
    cp = imsimta(instance, "test", "-mapping", "-table=X-TEST", "-flags=1", probe, check=False)
    assert cp.returncode == 64


def test_mapping_file_without_the_image(instance, tmp_path):
    # 002:8921-8930, with the seed's space filters (the From example is damaged there)
    f = tmp_path / "test.txt"
    f.write_text("SMS_TEXT\n"
                 "  H|From:*  H|F:$0$R$Y\n"
                 "  H|%:$ *   H|$0:$1$R$Y\n"
                 "  H|%:*$    H|$0:$1$R$Y\n"
                 "  H|%:*$ $ *  H|$0:$1$ $2$R$Y\n")
    cp = imsimta(instance, "test", "-mapping", "-noimage_file", f"-mapping_file={f}",
                 input="SMS_TEXT\nH|From:   John    Doe  \n")
    assert cp.stdout.splitlines() == [
        "Enter table name: SMS_TEXT",
        "Input string: H|From:   John    Doe  ",
        "Output string: H|F:John Doe",
        "Output flags: [89]",
        "Input string: ",
    ]
    f.write_text("SMS_TEXT\n  $[abc  $Y\n")
    cp = imsimta(instance, "test", "-mapping", f"-mapping_file={f}", "-table=SMS_TEXT", "x",
                 check=False)
    assert cp.returncode == 78 and "line 2: mapping SMS_TEXT entry 1" in cp.stderr
    cp = imsimta(instance, "test", "-mapping", "-noimage_file", check=False)
    assert cp.returncode == 64


def test_mapping_file_in_the_form_msconfig_exports(instance, tmp_path):
    exported = tmp_path / "exported.txt"
    script = tmp_path / "copy.sh"
    script.write_text(f'cp "$1" "{exported}"\n')
    instance.run("edit", "mappings", env={"EDITOR": f"sh {script}"})
    for image in ([], ["-noimage_file", f"-mapping_file={exported}"]):
        cp = imsimta(instance, "test", "-mapping", *image, "-table=PORT_ACCESS",
                     "TCP|10.0.0.1|25|192.0.2.9|4000")
        assert cp.stdout == "Output string: EXTERNAL\nOutput flags: [89]\n", image


def test_mapping_loop_is_an_error_not_a_hang(instance, tmp_path):
    instance.run("edit", "mappings", env=editor(tmp_path, "LOOP\n  *  $0x$R\n"))
    cp = imsimta(instance, "test", "-mapping", "-table=LOOP", "a", check=False)
    assert cp.returncode == 1
    assert cp.stdout.startswith("Mapping error: mapping LOOP:")


# ---- the other verbs --------------------------------------------------------------------

def test_other_verbs_say_they_are_not_available(instance):
    for verb in ("purge", "process", "find"):
        cp = imsimta(instance, verb, check=False)
        assert cp.returncode == 69, verb
        assert f"imsimta: {verb} is not available yet" in cp.stderr
    # the obsolete start commands warn and start nothing (002:2459)
    for verb in ("start", "stop", "restart"):
        cp = imsimta(instance, verb, "smtp", check=False)
        assert cp.returncode == 1 and "is obsolete" in cp.stderr, cp.stderr
        assert f"imsimta {verb} dispatcher" in cp.stderr
    cp = imsimta(instance, "restart", "frob", check=False)
    assert cp.returncode == 64 and "unknown component" in cp.stderr
    cp = imsimta(instance, "refresh", "dispatcher", "extra", check=False)
    assert cp.returncode == 64 and "usage:" in cp.stderr
    cp = imsimta(instance, "frobnicate", check=False)
    assert cp.returncode == 64 and "unknown verb" in cp.stderr
    cp = imsimta(instance, "test", "-match", check=False)
    assert cp.returncode == 69
    cp = imsimta(instance, "-help")
    assert "test -rewrite" in cp.stdout and "(not available yet)" in cp.stdout


def test_compiled_configuration_missing(instance):
    (instance.confdir / "compiled" / "config.cnf").unlink()
    cp = imsimta(instance, "test", "-rewrite", "a@b.example", check=False)
    assert cp.returncode == 78
    assert "cannot read the compiled configuration" in cp.stderr
