"""msconfig one-shot commands: show, set, unset, help, check, compile."""
import base64
import os
import re
import stat

import pytest

from conftest import HOSTNAME, USER, schema_options

# The seed's `msconfig show *enable` (002:1427-1442), as init-config creates it.
SEED_ENABLES = [
    "role.watcher.enable = 1",
    "role.schedule.enable = 1",
    "role.store.enable = 1",
    "role.store.purge.enable = 1",
    "role.imap.enable = 1",
    "role.pop.enable = 1",
    "role.mta.enable = 1",
    "role.dispatcher.service:SMTP.enable = 1",
    "role.dispatcher.service:SMTP_SUBMIT.enable = 1",
    "role.mmp.enable = 0",
    "role.ens.enable = 1",
]


def test_help_flag_lists_the_verbs(instance):
    for flag in ("--help", "-help"):
        cp = instance.run(flag)
        assert cp.stdout.startswith("usage: msconfig"), cp.stdout
        for verb in ("show", "set", "unset", "diff", "write", "history", "differences",
                     "rollback", "check", "compile", "help"):
            assert re.search(rf"^  {verb}\b", cp.stdout, re.M), f"{verb} missing:\n{cp.stdout}"
        assert str(instance.root) in cp.stdout


def test_unknown_command_is_a_usage_error(instance):
    cp = instance.run("frobnicate", check=False)
    assert cp.returncode == 64
    assert "unknown command 'frobnicate'" in cp.stderr


def test_show_glob_enable_lists_the_seed_enables(instance):
    cp = instance.run("show", "*enable")
    lines = cp.stdout.splitlines()
    for want in SEED_ENABLES:
        assert want in lines, f"{want!r} not in show *enable:\n{cp.stdout}"
    for ln in lines:
        assert re.match(r"^(role|instance)\.\S*enable = [01]$", ln), ln


def test_show_prefixes_role_and_instance(instance):
    every = instance.run("show").stdout.splitlines()
    assert every, "an instance from init-config has options"
    assert all(ln.startswith(("role.", "instance.")) for ln in every), every
    roles = instance.run("show", "role.*").stdout.splitlines()
    insts = instance.run("show", "instance.*").stdout.splitlines()
    assert roles and all(ln.startswith("role.") for ln in roles)
    assert insts and all(ln.startswith("instance.") for ln in insts)
    assert sorted(roles + insts) == sorted(every)
    assert instance.run("show", "base.hostname").stdout == f"instance.base.hostname = {HOSTNAME}\n"


def test_show_default(instance):
    cp = instance.run("show", "imap.port", "-default")
    assert cp.stdout == "role.imap.port = 143 (default)\n"
    cp = instance.run("show", "imap.*", "-default")
    assert "imap.port = 143 (default)" in cp.stdout.splitlines()
    assert "imap.idletimeout = 30 (default)" in cp.stdout.splitlines()
    # The active value is shifted by init-config's --port-offset; the default is not.
    assert instance.value("imap.port") == str(143 + instance.offset)


def test_show_exact_name_not_set(instance):
    instance.run("unset", "imap.logfile.flushinterval", check=False)
    cp = instance.run("show", "imap.logfile.flushinterval")
    assert cp.returncode == 0
    assert cp.stdout == "imap.logfile.flushinterval is not set (default 60)\n"
    cp = instance.run("show", "base.welcomemsg")
    assert cp.stdout == "base.welcomemsg is not set\n"


def test_show_glob_without_match_prints_nothing(instance):
    cp = instance.run("show", "nosuchgroup*")
    assert cp.returncode == 0 and cp.stdout == ""


@pytest.mark.parametrize("args", [
    ("imap.idletimeout", "45"),
    ("imap.idletimeout", "=", "45"),
    ("imap.idletimeout=45",),
])
def test_set_value_forms(instance, args):
    before = instance.active_seq()
    cp = instance.run("set", *args)
    assert f"wrote configuration {before + 1}" in cp.stdout
    assert instance.run("show", "imap.idletimeout").stdout == "role.imap.idletimeout = 45\n"
    assert '<idletimeout v="45"' in instance.config_xml.read_text()
    assert instance.compiled_values()["imap.idletimeout"] == ["45"]


def test_set_value_with_blanks(instance):
    instance.run("set", "imap.banner", "%h IMAP ready")
    assert instance.value("imap.banner") == "%h IMAP ready"
    instance.run("set", "pop.banner", "=", "POP", "here")
    assert instance.value("pop.banner") == "POP here"


def test_set_bare_option_name(instance):
    cp = instance.run("set", "mm_debug", "5")
    assert "mta.mm_debug" in cp.stdout
    assert instance.run("show", "mta.mm_debug").stdout == "role.mta.mm_debug = 5\n"
    assert instance.compiled_values()["mta.mm_debug"] == ["5"]


def test_flag_option_and_exclusive_family(instance):
    instance.run("set", "channel:tcp_local.nomx")
    shown = instance.run("show", "channel:tcp_local.*").stdout.splitlines()
    assert "role.channel:tcp_local.nomx" in shown, shown
    assert "role.channel:tcp_local.mx" not in shown
    cp = instance.run("set", "channel:tcp_local.mx")
    assert "removed role.channel:tcp_local.nomx (it excludes channel:tcp_local.mx)" in cp.stdout
    shown = instance.run("show", "channel:tcp_local.*").stdout.splitlines()
    assert "role.channel:tcp_local.mx" in shown
    assert "role.channel:tcp_local.nomx" not in shown
    xml = instance.config_xml.read_text()
    chan = re.search(r'<channel name="tcp_local">(.*?)</channel>', xml, re.S).group(1)
    assert re.search(r"<mx\b", chan) and not re.search(r"<nomx\b", chan)
    comp = instance.compiled_values()
    assert comp["channel:tcp_local.mx"] == ["1"]
    assert "channel:tcp_local.nomx" not in comp
    # A flag takes no value.
    cp = instance.run("set", "channel:tcp_local.mx", "yes", check=False)
    assert cp.returncode != 0 and "is a flag and takes no value" in cp.stderr


def test_boolean_bare_set_turns_it_on(instance):
    instance.run("set", "imap.enablesslport", "0")
    instance.run("set", "imap.enablesslport")
    assert instance.value("role.imap.enablesslport") == "1"


def test_named_group_with_dots(instance):
    instance.run("set", "vdomain:192.0.2.0.defaultdomain", "example.org")
    assert instance.run("show", "vdomain:192.0.2.0.defaultdomain").stdout == \
        "role.vdomain:192.0.2.0.defaultdomain = example.org\n"
    assert instance.run("show", "vdomain*").stdout == \
        "role.vdomain:192.0.2.0.defaultdomain = example.org\n"
    xml = instance.config_xml.read_text()
    assert re.search(r'<vdomain name="192\.0\.2\.0">\s*<defaultdomain v="example\.org"', xml)
    assert instance.compiled_values()["vdomain:192\\.0\\.2\\.0.defaultdomain"] == ["example.org"]


def test_named_group_with_escaped_dots(instance):
    name = r"proxy:store1\.example\.com.storehostlist"
    instance.run("set", name, "store1.example.com")
    assert instance.run("show", name).stdout == \
        "role.proxy:store1.example.com.storehostlist = store1.example.com\n"
    assert '<proxy name="store1.example.com">' in instance.config_xml.read_text()
    assert instance.compiled_values()[r"proxy:store1\.example\.com.storehostlist"] == \
        ["store1.example.com"]
    instance.run("unset", name)
    assert "<proxy name=" not in instance.config_xml.read_text()


def test_named_group_with_spaces_is_a_password(instance):
    name = "sectoken:Internal (Software) Token.tokenpass"
    secret = "Tok3n-Pass-9981"
    instance.run("set", name, secret)
    assert instance.run("show", name).stdout == f"role.{name} = (hidden)\n"
    assert instance.xpass_values()[f"role.{name}"] == secret
    assert secret not in instance.config_xml.read_text()
    assert "<sectoken" not in instance.config_xml.read_text()
    assert instance.compiled_xpass.read_text().count(f"{name}\t{secret}\n") == 1
    assert secret not in instance.compiled.read_text()


def test_quoted_name_in_shell_script(instance):
    """The shell splits words with quotes: a name with spaces is one word."""
    cp = instance.script('set "sectoken:Internal (Software) Token.tokenpass" pw1\nwrite\n')
    assert "wrote configuration" in cp.stdout
    assert instance.xpass_values()["role.sectoken:Internal (Software) Token.tokenpass"] == "pw1"


def test_group_aliases(instance):
    instance.run("set", "imaproxy.connlimits", "ALL:10")
    assert instance.run("show", "imapproxy.connlimits").stdout == \
        "role.imapproxy.connlimits = ALL:10\n"
    assert instance.run("show", "imaproxy.connlimits").stdout == \
        "role.imapproxy.connlimits = ALL:10\n"
    instance.run("set", "smtpproxy.connlimits", "ALL:5")
    assert instance.run("show", "submitproxy.connlimits").stdout == \
        "role.submitproxy.connlimits = ALL:5\n"
    xml = instance.config_xml.read_text()
    assert "<imaproxy" not in xml and "<smtpproxy" not in xml
    assert re.search(r'<imapproxy>\s*(<[^>]*>\s*)*<connlimits v="ALL:10"', xml)
    comp = instance.compiled_values()
    assert comp["imapproxy.connlimits"] == ["ALL:10"]
    assert comp["submitproxy.connlimits"] == ["ALL:5"]


def rules(instance):
    return instance.show("rewrite.rule").get("role.rewrite.rule", [])


def test_multi_valued_rule_appends_in_order(instance):
    base = rules(instance)
    r1 = "$*@example.net $U%$D@tcp_local"
    r2 = "$*@example.org $U%$D@tcp_intranet"
    instance.run("set", "rewrite.rule", r1)
    instance.run("set", "rewrite.rule", r2)
    assert rules(instance) == base + [r1, r2]
    # The same value again changes nothing and writes nothing.
    seq = instance.active_seq()
    cp = instance.run("set", "rewrite.rule", r1)
    assert cp.stdout == "no change\n"
    assert instance.active_seq() == seq
    assert rules(instance) == base + [r1, r2]
    # Order kept in config.xml and in the compiled form.
    xml = instance.config_xml.read_text()
    assert xml.index('pattern="$*@example.net"') < xml.index('pattern="$*@example.org"')
    assert instance.compiled_values()["rewrite.rule"][-2:] == [r1, r2]
    # unset NAME VALUE removes that one value only.
    instance.run("unset", "rewrite.rule", r1)
    assert rules(instance) == base + [r2]
    cp = instance.run("unset", "rewrite.rule", r1, check=False)
    assert cp.returncode != 0 and "is not set" in cp.stderr
    # unset NAME removes them all.
    instance.run("unset", "rewrite.rule")
    assert rules(instance) == []


def test_unset_option(instance):
    instance.run("set", "imap.idletimeout", "40")
    cp = instance.run("unset", "imap.idletimeout")
    assert "wrote configuration" in cp.stdout
    assert instance.run("show", "imap.idletimeout").stdout == \
        "imap.idletimeout is not set (default 30)\n"
    assert "<idletimeout" not in instance.config_xml.read_text()
    assert instance.compiled_values()["imap.idletimeout"] == ["30"]  # the default
    snap = instance.snapshot()
    cp = instance.run("unset", "imap.idletimeout", check=False)
    assert cp.returncode != 0
    assert "imap.idletimeout is not set" in cp.stderr
    assert instance.snapshot() == snap


def test_passwords_live_only_in_xpass(instance):
    secret = "Pr0xy-Adm1n-Secret-4417"
    b64 = base64.b64encode(secret.encode()).decode()
    cp = instance.run("set", "base.proxyadminpass", secret)
    assert secret not in cp.stdout + cp.stderr
    assert instance.run("show", "base.proxyadminpass").stdout == \
        "role.base.proxyadminpass = (hidden)\n"
    assert secret not in instance.run("show").stdout
    # xpass.xml: mode 0600, holds it.
    assert stat.S_IMODE(instance.xpass_xml.stat().st_mode) == 0o600
    assert instance.xpass_values()["role.base.proxyadminpass"] == secret
    # config.xml and compiled/config.cnf never hold it, in any form.
    xml = instance.config_xml.read_text()
    assert secret not in xml and b64 not in xml and "<proxyadminpass" not in xml
    cnf = instance.compiled.read_text()
    assert secret not in cnf and b64 not in cnf
    assert not re.search(r"^base\.proxyadminpass\t", cnf, re.M)
    # compiled/xpass.cnf (0600) does.
    assert stat.S_IMODE(instance.compiled_xpass.stat().st_mode) == 0o600
    assert instance.compiled_xpass.read_text().count(f"base.proxyadminpass\t{secret}\n") == 1
    # Neither the history comment nor the graveyard's config files carry it.
    instance.run("set", "imap.idletimeout", "31")
    assert secret not in instance.run("history").stdout
    for name in instance.graveyard_files():
        p = instance.graveyard / name
        if name.startswith("config-"):
            assert secret not in p.read_text() and b64 not in p.read_text(), name
        else:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, name
    # init-config's LDAP bind password is a password too.
    assert instance.run("show", "base.ugldapbindcred").stdout == \
        "role.base.ugldapbindcred = (hidden)\n"


def test_restricted_option_needs_confirmation(instance):
    restricted = [n for n, a in schema_options('restricted="yes"')]
    assert "debug" in restricted  # dispatcher.debug in the schema
    snap = instance.snapshot()
    cp = instance.run("set", "dispatcher.debug", "5", check=False)
    assert cp.returncode != 0
    assert "dispatcher.debug is a restricted option" in cp.stderr
    assert "set -restricted dispatcher.debug" in cp.stderr
    assert instance.snapshot() == snap
    instance.run("set", "-restricted", "dispatcher.debug", "5")
    assert instance.value("dispatcher.debug") == "5"
    assert re.search(r'<debug v="5" xannotation="RESTRICTED USAGE OPTION"',
                     instance.config_xml.read_text())
    assert "restricted" in instance.run("help", "dispatcher.debug").stdout


def test_obsolete_option_cannot_be_set(instance):
    obsolete = schema_options('obsolete="yes"')
    if not obsolete:
        pytest.skip("the schema has no obsolete option")
    name = obsolete[0][0]
    full = [ln.split()[0] for ln in instance.run("help", "options").stdout.splitlines()
            if ln.split()[0].rsplit(".", 1)[-1] == name][0]
    cp = instance.run("set", full, "1", check=False)
    assert cp.returncode != 0 and "obsolete" in cp.stderr


def test_placement_follows_schema_and_explicit_scope(instance):
    # base.hostname is an instance option; imap.idletimeout a role option.
    instance.run("set", "base.hostname", "other.example.com")
    assert instance.run("show", "*hostname").stdout == \
        "instance.base.hostname = other.example.com\n"
    instance.run("set", "imap.idletimeout", "35")
    assert instance.run("show", "*idletimeout").stdout == "role.imap.idletimeout = 35\n"
    # An explicit prefix is honoured, and instance wins when compiling.
    cp = instance.run("set", "instance.imap.idletimeout", "50")
    assert instance.show("*idletimeout") == {"role.imap.idletimeout": ["35"],
                                             "instance.imap.idletimeout": ["50"]}
    assert instance.compiled_values()["imap.idletimeout"] == ["50"]
    cp = instance.run("set", "role.imap.idletimeout", "36")
    assert "instance.imap.idletimeout is also set and overrides this role setting" in cp.stdout
    assert instance.compiled_values()["imap.idletimeout"] == ["50"]
    instance.run("set", "role.base.hostname", "role-host.example.com")
    assert instance.show("*hostname") == {"role.base.hostname": ["role-host.example.com"],
                                          "instance.base.hostname": ["other.example.com"]}
    assert instance.compiled_values()["base.hostname"] == ["other.example.com"]
    # Removing the instance value lets the role's show through.
    instance.run("unset", "instance.imap.idletimeout")
    assert instance.compiled_values()["imap.idletimeout"] == ["36"]
    # Placement is visible in config.xml.
    xml = instance.config_xml.read_text()
    role = re.search(r"<role\b.*?</role>", xml, re.S).group(0)
    inst = re.search(r"<instance\b.*?</instance>", xml, re.S).group(0)
    assert 'hostname v="role-host.example.com"' in role
    assert 'hostname v="other.example.com"' in inst


def test_set_records_author_and_time(instance):
    instance.run("set", "imap.idletimeout", "33")
    m = re.search(r'<idletimeout v="33" xauthor="([^"]*)" xmtime="([^"]*)"',
                  instance.config_xml.read_text())
    assert m and m.group(1) == USER
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", m.group(2))


def test_help_verb_option_and_options(instance):
    cp = instance.run("help")
    assert "msconfig verbs:" in cp.stdout and "help VERB" in cp.stdout
    cp = instance.run("help", "set")
    assert cp.stdout.startswith("usage: set [-restricted] [-prompt] OPTION")
    cp = instance.run("help", "imap.port")
    out = cp.stdout
    assert out.startswith("imap.port\n")
    for want in ("type: port", "default: 143", "placed in: role", "a restart of imap",
                 "legacy name: service.imap.port"):
        assert want in out, f"{want!r} not in:\n{out}"
    cp = instance.run("help", "mta.mm_debug")
    assert "type: integer (0 to 20)" in cp.stdout
    cp = instance.run("help", "base.proxyadminpass")
    assert "password: kept in xpass.xml" in cp.stdout
    cp = instance.run("help", "options")
    names = [ln.split()[0] for ln in cp.stdout.splitlines()]
    assert len(names) >= 150, len(names)
    assert "imap.port" in names and "channel:*.maxjobs" in names
    cp = instance.run("help", "options", "imap.*")
    names = [ln.split()[0] for ln in cp.stdout.splitlines()]
    assert names and all(n.startswith("imap.") for n in names)
    assert re.search(r"^imap\.port +port$", cp.stdout, re.M)
    cp = instance.run("help", "names")
    assert "vdomain:192.0.2.0.defaultdomain" in cp.stdout
    cp = instance.run("help", "nosuchthing", check=False)
    assert cp.returncode != 0 and "no help for 'nosuchthing'" in cp.stderr


def test_check_and_compile(instance):
    seq = instance.active_seq()
    cp = instance.run("check")
    assert re.fullmatch(rf"configuration {seq} is valid \(\d+ options\)\n", cp.stdout), cp.stdout
    cp = instance.run("compile")
    assert cp.stdout.startswith(f"compiled configuration {seq}")
    from conftest import cnf_generation
    assert cnf_generation(instance.compiled) == seq
    assert cnf_generation(instance.compiled_xpass) == seq


def test_write_reports_changes_and_services(instance):
    cp = instance.run("set", "imap.port", str(2000 + instance.offset))
    assert "imap.port (restart: imap)" in cp.stdout
    assert "services that need a restart to apply it: imap" in cp.stdout
    cp = instance.run("set", "mta.mm_debug", "3")
    assert "mta.mm_debug (refresh:" in cp.stdout
    assert "services that apply it on refresh:" in cp.stdout
    changes = (instance.confdir / "compiled" / "changes").read_text().splitlines()
    assert changes[0] == "MSCHANGES 1"
    assert re.match(r"generation \d+ \d+$", changes[1])
    assert any(ln.startswith("mta.mm_debug\trefresh\t") for ln in changes[2:]), changes


def test_serverroot_flag(instance, tmp_path):
    env = {"SERVERROOT": str(tmp_path / "elsewhere")}
    cp = instance.run("-s", instance.root, "show", "base.hostname", env=env)
    assert cp.stdout == f"instance.base.hostname = {HOSTNAME}\n"
    cp = instance.run("show", env=env, check=False)
    assert cp.returncode != 0 and "no configuration in" in cp.stderr


# ---- edit: the legacy text forms in $EDITOR ---------------------------------

def editor(tmp_path, new_text=None, status=0):
    """An $EDITOR that saves what msconfig exported and writes new_text back."""
    dump = tmp_path / "exported.txt"
    new = tmp_path / "new.txt"
    script = tmp_path / "editor.sh"
    lines = [f'cp "$1" "{dump}"']
    if new_text is not None:
        new.write_text(new_text)
        lines.append(f'cp "{new}" "$1"')
    lines.append(f"exit {status}")
    script.write_text("\n".join(lines) + "\n")
    return {"EDITOR": f"sh {script}"}, dump


def test_edit_rewrite_rules(instance, tmp_path):
    instance.run("unset", "rewrite.rule")  # the defaults of a new instance (docs/mta.md)
    r1 = "$*@a.example $U@tcp_local"
    instance.run("set", "rewrite.rule", r1)
    env, dump = editor(tmp_path)
    cp = instance.run("edit", "rewrite", env=env)
    assert cp.stdout == "no change\n"
    exported = dump.read_text()
    assert "$*@a.example  $U@tcp_local" in exported.splitlines()  # aligned columns
    seq = instance.active_seq()
    r0 = "$*@first.example $U@tcp_intranet"
    r2 = "$*@b.example $U@tcp_local"
    env, _ = editor(tmp_path, f"{r0}\n{exported}{r2}\n")
    cp = instance.run("edit", "rewrites", env=env)
    assert f"added    role.rewrite.rule = {r0}" in cp.stdout
    assert f"wrote configuration {seq + 1}" in cp.stdout
    assert rules(instance) == [r0, r1, r2]
    assert instance.compiled_values()["rewrite.rule"] == [r0, r1, r2]
    assert instance.history()[0][4] == "edit rewrite"


def test_edit_channels(instance, tmp_path):
    env, _ = editor(tmp_path, "")  # no channels: not the defaults of a new instance
    instance.run("edit", "channels", env=env)
    instance.run("set", "channel:tcp_local.mx")
    instance.run("set", "channel:tcp_local.maxjobs", "7")
    env, dump = editor(tmp_path)
    instance.run("edit", "channels", env=env)
    assert "tcp_local mx maxjobs 7" in dump.read_text().splitlines()
    env, _ = editor(tmp_path, "tcp_local nomx maxjobs 9\n\ntcp_intranet maxjobs 2\n")
    instance.run("edit", "channels", env=env)
    shown = instance.show("channel:*")
    assert shown["role.channel:tcp_local.nomx"] == [None]
    assert "role.channel:tcp_local.mx" not in shown
    assert shown["role.channel:tcp_local.maxjobs"] == ["9"]
    assert shown["role.channel:tcp_intranet.maxjobs"] == ["2"]


def test_edit_mappings_and_aliases(instance, tmp_path):
    env, _ = editor(tmp_path, "PORT_ACCESS\n  TCP|*|25|*|*  $Y\n  *  $N\n")
    instance.run("edit", "mappings", env=env)
    assert instance.show("mapping:PORT_ACCESS.rule") == \
        {"role.mapping:PORT_ACCESS.rule": ["TCP|*|25|*|* $Y", "* $N"]}
    env, _ = editor(tmp_path, "! the boss\npostmaster: root@example.com, admin@example.com\n")
    instance.run("edit", "aliases", env=env)
    shown = instance.show("alias:postmaster.*")
    assert shown["role.alias:postmaster.alias_entry"] == ["root@example.com",
                                                          "admin@example.com"]
    assert shown["role.alias:postmaster.alias_comment"] == ["the boss"]


@pytest.mark.parametrize("kind,text,message", [
    ("rewrite", "$*@ok.example $U@tcp_local\nonlyapattern\n", "line 2:"),
    ("channels", "tcp_local mxx\n", "line 1:"),
    ("channels", "tcp_local mx nomx\n", "line 1:"),
    ("channels", "tcp_local maxjobs lots\n", "maxjobs"),
    ("mappings", "  orphan $Y\n", "line 1:"),
    ("aliases", "postmaster: a@example.com, a@example.com\n", "line 1:"),
])
def test_edit_bad_text_changes_nothing(instance, tmp_path, kind, text, message):
    snap = instance.snapshot()
    env, _ = editor(tmp_path, text)
    cp = instance.run("edit", kind, env=env, check=False)
    assert cp.returncode != 0
    assert f"edit {kind}: " in cp.stderr and message in cp.stderr, cp.stderr
    assert "the configuration is unchanged" in cp.stderr
    assert instance.snapshot() == snap


def test_edit_editor_failure_changes_nothing(instance, tmp_path):
    snap = instance.snapshot()
    env, _ = editor(tmp_path, "$*@x.example $U@tcp_local\n", status=3)
    cp = instance.run("edit", "rewrite", env=env, check=False)
    assert cp.returncode != 0
    assert "exited with status 3" in cp.stderr and "nothing changed" in cp.stderr
    assert instance.snapshot() == snap
    cp = instance.run("edit", "frobs", check=False)
    assert cp.returncode == 64 and "usage: edit channels|rewrite|mappings|aliases" in cp.stderr
