"""configutil: the legacy names on the same files as msconfig."""
import re

import pytest

from conftest import LDAP_BIND_PW


def test_set_is_seen_by_msconfig(instance):
    seq = instance.active_seq()
    cp = instance.configutil("-o", "service.pop.idletimeout", "-v", "45")
    assert cp.stdout == "OK SET\n"
    assert instance.run("show", "pop.idletimeout").stdout == "role.pop.idletimeout = 45\n"
    assert instance.compiled_values()["pop.idletimeout"] == ["45"]
    hist = instance.history()
    assert hist[0][:2] == (True, seq + 1)
    assert hist[0][4] == "configutil -o service.pop.idletimeout"
    # and back: configutil reads what msconfig wrote
    instance.run("set", "pop.idletimeout", "50")
    cp = instance.configutil("-o", "service.pop.idletimeout")
    assert cp.stdout == "50\n"


def test_unified_names_and_shorthand(instance):
    assert instance.configutil("-o", "imap.idletimeout", "-v", "50").stdout == "OK SET\n"
    assert instance.value("imap.idletimeout") == "50"
    assert instance.configutil("service.imap.banner", "Hello there").stdout == "OK SET\n"
    assert instance.value("imap.banner") == "Hello there"
    assert instance.configutil("-o", "logfile.imap.loglevel", "-v", "Debug").stdout == "OK SET\n"
    assert instance.value("imap.logfile.loglevel") == "Debug"
    # A named group in a legacy name.
    instance.configutil("-o", "store.partition.secondary.path", "-v", "/srv/secondary")
    assert instance.value("partition:secondary.path") == "/srv/secondary"


def test_legacy_boolean_words(instance):
    """The seed's configutil prints and takes yes/no for booleans."""
    assert instance.configutil("-o", "service.imap.enable", "-v", "no").stdout == "OK SET\n"
    assert instance.value("imap.enable") == "0"
    assert instance.configutil("-o", "service.imap.enable", "-v", "yes").stdout == "OK SET\n"
    assert instance.value("imap.enable") == "1"


def test_show_one_option(instance):
    cp = instance.configutil("-o", "service.imap.port")
    assert cp.stdout == f"{143 + instance.offset}\n"
    cp = instance.configutil("-o", "service.imap.banner", check=False)
    assert cp.returncode == 1 and cp.stdout == ""


def test_help_block_names_the_unified_option(instance):
    cp = instance.configutil("-H", "-o", "service.imap.port")
    lines = [ln.strip() for ln in cp.stdout.splitlines()]
    assert lines[0] == "Configuration option: service.imap.port"
    for want in ("Description: IMAP server port number.", "Unified Config Name: imap.port",
                 "Flags: MSG_RESTART_IMAP", "Syntax: tcpport", "Default: 143",
                 f"service.imap.port is currently set to: {143 + instance.offset}"):
        assert want in lines, f"{want!r} not in:\n{cp.stdout}"
    cp = instance.configutil("-H", "-o", "local.ugldapbindcred")
    assert "Unified Config Name: base.ugldapbindcred" in cp.stdout
    assert LDAP_BIND_PW not in cp.stdout
    cp = instance.configutil("-H", "-o", "dispatcher.debug")
    assert "USAGE RESTRICTED" in cp.stdout


def test_help_on_a_template_lists_its_instances(instance):
    cp = instance.configutil("-p", "store.partition.*.path", "-H")
    assert "Configuration option: store.partition.*.path" in cp.stdout
    assert "Unified Config Name: partition:*.path" in cp.stdout
    assert (f"store.partition.primary.path is currently set to: "
            f"{instance.root}/data/store/partition/primary") in cp.stdout


def test_pattern_lists_matching_options(instance):
    instance.run("set", "pop.banner", "POP here")
    cp = instance.configutil("-p", "service.imap")  # a trailing * is implied
    lines = cp.stdout.splitlines()
    assert lines and all(ln.startswith("service.imap.") for ln in lines), lines
    assert f"service.imap.port = {143 + instance.offset}" in lines
    cp = instance.configutil("-p", "*.port")
    lines = cp.stdout.splitlines()
    assert f"service.imap.port = {143 + instance.offset}" in lines
    assert f"service.pop.port = {110 + instance.offset}" in lines
    assert f"local.watcher.port = {49994 + instance.offset}" in lines
    cp = instance.configutil("-m", "-p", "service.pop")
    lines = cp.stdout.splitlines()
    assert 'service.pop.banner = "POP here" [REFRESHABLE]' in lines
    assert "service.pop.enable = 1 [NOT REFRESHABLE]" in lines


def test_list_everything_hides_passwords(instance):
    cp = instance.configutil()
    assert f"service.imap.port = {143 + instance.offset}" in cp.stdout.splitlines()
    assert LDAP_BIND_PW not in cp.stdout
    cp = instance.configutil("-o", "local.ugldapbindcred")
    assert LDAP_BIND_PW not in cp.stdout + cp.stderr
    assert "passwords are never shown" in cp.stderr


def test_password_set_goes_to_xpass(instance):
    assert instance.configutil("-o", "local.ugldapbindcred", "-v", "Other-Pw-55").stdout == \
        "OK SET\n"
    assert instance.xpass_values()["role.base.ugldapbindcred"] == "Other-Pw-55"
    assert "Other-Pw-55" not in instance.config_xml.read_text()


@pytest.mark.parametrize("args,code,message", [
    (("-o", "service.nosuch", "-v", "1"), 2, "no such option 'service.nosuch'"),
    (("-o", "service.imap.portt", "-v", "1"), 2,
     "no such option 'service.imap.portt'; did you mean 'service.imap.port'?"),
    (("-o", "service.imap.port", "-v", "99999"), 2,
     "imap.port takes a port number 0-65535"),
    (("-o", "service.imap.numprocesses", "-v", "0"), 2,
     "imap.numprocesses takes an integer from 1 to 64, not '0'"),
    (("-o", "service.imap.enable", "-v", "maybe"), 2, "takes a boolean (0 or 1), not 'maybe'"),
    (("-o", "nosuch"), 2, "no such option 'nosuch'"),
    (("-z",), 64, "unknown flag -z"),
    (("-o", "service.imap.banner", "-v", "x", "-d"), 64, "-d and -v do not go together"),
])
def test_errors_write_nothing(instance, args, code, message):
    snap = instance.snapshot()
    cp = instance.configutil(*args, check=False)
    assert cp.returncode == code, (cp.returncode, cp.stderr)
    assert message in cp.stderr, cp.stderr
    assert "OK SET" not in cp.stdout
    assert instance.snapshot() == snap


def test_delete(instance):
    instance.configutil("-o", "service.imap.banner", "-v", "Hi")
    assert instance.configutil("-d", "-o", "service.imap.banner").stdout == "OK DELETE\n"
    assert instance.show("imap.banner") == {}
    instance.configutil("-o", "service.imap.banner", "-v", "Hi")
    assert instance.configutil("-o", "service.imap.banner", "-v", "").stdout == "OK DELETE\n"
    assert instance.show("imap.banner") == {}
    cp = instance.configutil("-d", "-o", "service.imap.banner", check=False)
    assert cp.returncode != 0 and "is not set" in cp.stderr


def test_import_is_one_commit(instance, tmp_path):
    seq = instance.active_seq()
    f = tmp_path / "settings.cfg"
    f.write_text("service.pop.banner=POP here\nservice.imap.banner = IMAP here\n")
    cp = instance.configutil("-i", str(f))
    assert cp.stdout == "OK IMPORT 2\n"
    assert instance.value("pop.banner") == "POP here"
    assert instance.value("imap.banner") == "IMAP here"
    assert instance.active_seq() == seq + 1
    # One bad line: nothing at all is imported.
    f.write_text("service.pop.banner=Again\nservice.imap.port=99999\n")
    snap = instance.snapshot()
    cp = instance.configutil("-i", "-", input=f.read_text(), check=False)
    assert cp.returncode == 2 and "99999" in cp.stderr
    assert instance.snapshot() == snap


def test_validate(instance):
    cp = instance.configutil("-V")
    assert re.match(r"configuration \d+ is valid", cp.stdout)
    instance.config_xml.write_text("<xconfig>")
    cp = instance.configutil("-V", check=False)
    assert cp.returncode != 0 and "config.xml:" in cp.stderr


def test_restricted_option_needs_msconfig(instance):
    """configutil has no confirmation flag, so it refuses restricted options."""
    snap = instance.snapshot()
    cp = instance.configutil("-o", "dispatcher.debug", "-v", "3", check=False)
    assert cp.returncode == 2
    assert "dispatcher.debug is a restricted option" in cp.stderr
    assert "use msconfig set -restricted dispatcher.debug VALUE" in cp.stderr
    assert instance.snapshot() == snap


def test_language_variant_of_the_seed_example(instance):
    cp = instance.configutil("-o", "store.quotaexceededmsg;lang-jp", "-v", "quota", check=False)
    assert cp.returncode == 0 and cp.stdout == "OK SET\n", cp.stderr


def test_language_variant_of_welcomemsg(instance):
    assert instance.configutil("-o", "base.welcomemsg;lang-de", "-v", "Hallo").stdout == \
        "OK SET\n"
    assert instance.value("message_language:de.welcomemsg") == "Hallo"


def test_instance_given_by_flag(instance, tmp_path):
    elsewhere = {"SERVERROOT": str(tmp_path / "nothing-here")}
    want = f"{143 + instance.offset}\n"
    for flags in (("-s", instance.root), ("-f", instance.config_xml), ("-f", instance.confdir)):
        cp = instance.configutil(*flags, "-o", "service.imap.port", env=elsewhere)
        assert cp.stdout == want, flags
    cp = instance.configutil("-o", "service.imap.port", env=elsewhere, check=False)
    assert cp.returncode == 2 and "no configuration in" in cp.stderr
