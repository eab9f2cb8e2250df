"""The interactive msconfig shell, driven through a terminal (pexpect)."""
import io
import termios

import pexpect
import pytest

CLEAN = "msconfig> "
DIRTY = "msconfig# "


def start(sh):
    sh.expect_exact("msconfig shell; type help for the commands, exit to leave.")
    sh.expect_exact(CLEAN)


def test_prompt_follows_pending_changes(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    seq = instance.active_seq()
    sh.sendline("show imap.idletimeout")
    sh.expect_exact(CLEAN)
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(DIRTY)
    # Nothing is written before write.
    assert instance.active_seq() == seq
    assert instance.show("imap.idletimeout") == {}
    sh.sendline("write -m from-the-shell")
    sh.expect_exact(f"wrote configuration {seq + 1}")
    sh.expect_exact(CLEAN)
    assert instance.value("imap.idletimeout") == "41"
    assert instance.history()[0][4] == "from-the-shell"
    # Setting a value back to what is written leaves nothing pending.
    sh.sendline("set imap.idletimeout 42")
    sh.expect_exact(DIRTY)
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(CLEAN)
    sh.sendline("write")
    sh.expect_exact("no pending changes; nothing written")
    sh.expect_exact(CLEAN)
    sh.sendline("exit")
    sh.expect(pexpect.EOF)
    assert instance.active_seq() == seq + 1


def test_diff_shows_pending_changes(instance, shell_factory):
    instance.run("set", "pop.idletimeout", "42")
    sh = shell_factory()
    start(sh)
    sh.sendline("diff")
    sh.expect_exact("no pending changes")
    sh.expect_exact(CLEAN)
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(DIRTY)
    sh.sendline("set pop.idletimeout 43")
    sh.expect_exact(DIRTY)
    sh.sendline("unset pop.idletimeout")
    sh.expect_exact(DIRTY)
    sh.sendline("set instance.mta.mm_debug 2")
    sh.expect_exact(DIRTY)
    sh.sendline("diff")
    sh.expect_exact(DIRTY)
    lines = [ln.strip() for ln in sh.before.splitlines()[1:] if ln.strip()]
    assert sorted(lines) == sorted([
        "added    role.imap.idletimeout = 41",
        "removed  role.pop.idletimeout = 42",
        "added    instance.mta.mm_debug = 2",
    ]), sh.before
    sh.sendline("write")
    sh.expect_exact(CLEAN)
    sh.sendline("diff")
    sh.expect_exact("no pending changes")
    sh.expect_exact(CLEAN)


def test_set_prompt_reads_a_password_without_echo(instance, msconfig_shell):
    secret = "Ech0-Less-Secret-5522"
    sh = msconfig_shell
    seen = io.StringIO()
    sh.logfile_read = seen
    start(sh)
    sh.sendline("set -prompt proxyadminpass")  # the seed's bare name (002:1701)
    sh.expect_exact("Password: ")
    sh.sendline(secret)
    sh.expect_exact("Verify: ")
    sh.sendline(secret)
    sh.expect_exact(DIRTY)
    sh.sendline("diff")
    sh.expect_exact("role.base.proxyadminpass")
    sh.expect_exact(DIRTY)
    sh.sendline("write")
    sh.expect_exact(CLEAN)
    sh.sendline("show base.proxyadminpass")
    sh.expect_exact("role.base.proxyadminpass = (hidden)")
    sh.expect_exact(CLEAN)
    assert secret not in seen.getvalue(), "the password was echoed"
    assert instance.xpass_values()["role.base.proxyadminpass"] == secret
    assert secret not in instance.config_xml.read_text()
    assert secret not in instance.history()[0][4]


def test_set_prompt_mismatch_is_refused(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    snap = instance.snapshot()
    sh.sendline("set -prompt base.proxyadminpass")
    sh.expect_exact("Password: ")
    sh.sendline("one-thing")
    sh.expect_exact("Verify: ")
    sh.sendline("another-thing")
    sh.expect_exact("the two entries differ; base.proxyadminpass is unchanged")
    sh.expect_exact(CLEAN)
    sh.sendline("diff")
    sh.expect_exact("no pending changes")
    sh.expect_exact(CLEAN)
    assert instance.snapshot() == snap


def test_set_prompt_needs_a_terminal(instance):
    snap = instance.snapshot()
    cp = instance.run("set", "-prompt", "base.proxyadminpass", input="pw\npw\n", check=False)
    assert cp.returncode != 0 and "set -prompt needs a terminal" in cp.stderr
    assert instance.snapshot() == snap


def test_tab_completes_option_names(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.send("set imap.enablessl\t")
    sh.expect_exact("port")  # completed to imap.enablesslport
    sh.send("1\r")
    sh.expect_exact(DIRTY)
    sh.sendline("diff")
    sh.expect_exact("added    role.imap.enablesslport = 1")
    sh.expect_exact(DIRTY)
    # A verb completes too.
    sh.send("dif\t")
    sh.expect_exact("f")
    sh.send("\r")
    sh.expect_exact("role.imap.enablesslport")
    sh.expect_exact(DIRTY)


def test_tab_completes_names_of_named_groups(instance, shell_factory):
    instance.run("set", "vdomain:192.0.2.0.defaultdomain", "example.org")
    sh = shell_factory()
    start(sh)
    sh.send("show vdomain:19\t")
    sh.expect_exact("2.0.2.0.defaultdomain")
    sh.send("\r")
    sh.expect_exact("role.vdomain:192.0.2.0.defaultdomain = example.org")
    sh.expect_exact(CLEAN)


def test_exit_with_pending_changes_asks_first(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    snap = instance.snapshot()
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(DIRTY)
    sh.sendline("exit")
    sh.expect_exact("There are unwritten changes. Quit anyway? [y/N] ")
    sh.sendline("n")
    sh.expect_exact(DIRTY)  # still in the shell, change still pending
    sh.sendline("diff")
    sh.expect_exact("role.imap.idletimeout = 41")
    sh.expect_exact(DIRTY)
    sh.sendline("quit")
    sh.expect_exact("Quit anyway? [y/N] ")
    sh.sendline("y")
    sh.expect(pexpect.EOF)
    sh.close()
    assert instance.snapshot() == snap


def test_end_of_input_with_pending_changes_asks_first(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(DIRTY)
    sh.sendeof()
    sh.expect_exact("Quit anyway? [y/N] ")
    sh.sendline("n")
    sh.expect_exact(DIRTY)
    sh.sendline("write")
    sh.expect_exact(CLEAN)
    sh.sendeof()
    sh.expect(pexpect.EOF)
    assert instance.value("imap.idletimeout") == "41"


def test_exit_without_changes_leaves_at_once(msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("exit")
    sh.expect(pexpect.EOF)
    sh.close()
    assert sh.exitstatus == 0


def test_up_arrow_recalls_the_previous_line(instance, shell_factory):
    instance.run("set", "imap.idletimeout", "44")
    sh = shell_factory()
    start(sh)
    sh.sendline("show imap.idletimeout")
    sh.expect_exact("role.imap.idletimeout = 44")
    sh.expect_exact(CLEAN)
    sh.sendline("help show")
    sh.expect_exact("usage: show")
    sh.expect_exact(CLEAN)
    sh.send("\x1b[A")
    sh.expect_exact("help show")
    sh.send("\x1b[A")
    sh.expect_exact("show imap.idletimeout")
    sh.send("\r")
    sh.expect_exact("role.imap.idletimeout = 44")
    sh.expect_exact(CLEAN)


def test_restricted_option_asks_in_the_shell(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("set dispatcher.debug 3")
    sh.expect_exact("dispatcher.debug is a restricted option")
    sh.expect_exact("Set it anyway? [y/N] ")
    sh.sendline("n")
    sh.expect_exact("not set")
    sh.expect_exact(CLEAN)
    sh.sendline("set dispatcher.debug 3")
    sh.expect_exact("Set it anyway? [y/N] ")
    sh.sendline("y")
    sh.expect_exact(DIRTY)
    sh.sendline("write")
    sh.expect_exact(CLEAN)
    assert 'xannotation="RESTRICTED USAGE OPTION"' in instance.config_xml.read_text()


def test_errors_in_the_shell_keep_it_running(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("set imap.portt 5")
    sh.expect_exact("did you mean 'imap.port'?")
    sh.expect_exact(CLEAN)
    sh.sendline("set mta.mm_debug 99")
    sh.expect_exact("takes an integer from 0 to 20")
    sh.expect_exact(CLEAN)
    sh.sendline("bogus")
    sh.expect_exact("unknown command 'bogus'")
    sh.expect_exact(CLEAN)
    sh.sendline('set "unterminated')
    sh.expect_exact("unterminated quote")
    sh.expect_exact(CLEAN)
    sh.sendline("help")
    sh.expect_exact("msconfig verbs:")
    sh.expect_exact(CLEAN)


def test_shell_opens_on_a_broken_configuration(instance, shell_factory):
    instance.run("set", "imap.idletimeout", "41")
    good = instance.active_seq()
    instance.run("set", "imap.idletimeout", "42")
    instance.config_xml.write_text("<xconfig>\n  <role>\n")
    sh = shell_factory()
    sh.expect_exact("warning: ")
    sh.expect_exact("config.xml:")
    sh.expect_exact("Use history and rollback N to restore a configuration.")
    sh.expect_exact(CLEAN)
    sh.sendline("set imap.idletimeout 43")
    sh.expect_exact("rollback N")
    sh.expect_exact(CLEAN)
    sh.sendline(f"rollback {good}")
    sh.expect_exact(f"configuration {good} is active again")
    sh.expect_exact(CLEAN)
    sh.sendline("show imap.idletimeout")
    sh.expect_exact("role.imap.idletimeout = 41")
    sh.expect_exact(CLEAN)


def echo_on(sh):
    """Is echo on for the shell's terminal?  (The master side reports the pty's modes.)"""
    return bool(termios.tcgetattr(sh.child_fd)[3] & termios.ECHO)


def test_terminal_is_restored_on_exit(msconfig_shell):
    sh = msconfig_shell
    assert echo_on(sh)
    start(sh)
    sh.sendline("exit")
    sh.expect(pexpect.EOF)
    assert echo_on(sh)


def test_interrupt_at_the_password_prompt_restores_echo(msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("set -prompt base.proxyadminpass")
    sh.expect_exact("Password: ")
    sh.sendintr()
    if sh.expect([pexpect.EOF, CLEAN]) == 0:
        assert echo_on(sh), "msconfig died and left the terminal without echo"


def test_interrupt_with_pending_changes_does_not_lose_them(instance, msconfig_shell):
    sh = msconfig_shell
    start(sh)
    sh.sendline("set imap.idletimeout 41")
    sh.expect_exact(DIRTY)
    sh.sendintr()
    i = sh.expect([pexpect.EOF, DIRTY, "Quit anyway"])
    assert i != 0, "msconfig died on ^C with pending changes"
