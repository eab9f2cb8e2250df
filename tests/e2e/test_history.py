"""The graveyard: history, differences, rollback (and forward), write --confirm."""
import re

import pytest

from conftest import USER, parse_cnf, wait_until

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def test_each_write_adds_an_entry(instance):
    start = instance.active_seq()
    instance.script("set imap.idletimeout 41\nwrite -m 'first change'\n")
    instance.script("set imap.idletimeout 42\nwrite -remark \"second change\"\n")
    instance.run("set", "imap.idletimeout", "43")
    hist = instance.history()
    assert [h[1] for h in hist[:4]] == [start + 3, start + 2, start + 1, start]
    assert [h[0] for h in hist] == [True] + [False] * (len(hist) - 1)
    assert [h[4] for h in hist[:3]] == ["set imap.idletimeout 43", "second change",
                                        "first change"]
    for active, seq, when, who, comment in hist[:3]:
        assert TIME_RE.match(when), when
        assert who == USER
    out = instance.run("history").stdout
    assert out.splitlines()[0].split() == ["Number", "Written", "By", "Comment"]
    assert out.rstrip().endswith(f"(* is the active configuration; {len(hist)} kept)")
    # The graveyard holds the predecessors, each with its sequence number,
    # and a copy of the active one (restorable if config.xml is broken later).
    files = instance.graveyard_files()
    for seq in (start, start + 1, start + 2, start + 3):
        assert f"config-{seq:06d}.xml" in files
    assert f"config-{start + 4:06d}.xml" not in files
    text = (instance.graveyard / f"config-{start + 2:06d}.xml").read_text()
    assert f'seq="{start + 2}"' in text and 'xcomment="second change"' in text


def test_default_comment_summarises_the_shell_changes(instance):
    instance.script("set imap.idletimeout 41\nset pop.idletimeout 42\nwrite\n")
    assert instance.history()[0][4] == "set imap.idletimeout 41; set pop.idletimeout 42"


def test_graveyard_keeps_exactly_the_last_100(instance):
    start = instance.active_seq()
    for i in range(105):
        instance.run("set", "imap.idletimeout", str(100 + i))
    active = start + 105
    hist = instance.history()
    assert hist[0][:2] == (True, active)
    assert [h[1] for h in hist] == list(range(active, active - 101, -1))
    # 100 predecessors plus the copy of the active configuration.
    configs = [f for f in instance.graveyard_files() if f.startswith("config-")]
    assert len(configs) == 101
    assert configs[0] == f"config-{active - 100:06d}.xml"
    assert configs[-1] == f"config-{active:06d}.xml"
    xpasses = [f for f in instance.graveyard_files() if f.startswith("xpass-")]
    assert len(xpasses) <= 101
    assert all(int(f[6:12]) >= active - 100 for f in xpasses)
    # The oldest kept one can still be restored; the one before it is gone.
    cp = instance.run("differences", active - 101, check=False)
    assert cp.returncode != 0 and f"there is no configuration {active - 101}" in cp.stderr
    instance.run("rollback", active - 100)
    assert instance.value("imap.idletimeout") == "104"


def test_differences_are_option_level(instance):
    instance.run("set", "pop.idletimeout", "42")
    instance.run("set", "mta.mm_debug", "3")
    instance.run("set", "base.proxyadminpass", "pw-one")
    a = instance.active_seq()
    instance.script("set mta.mm_debug 4\nset instance.imap.idletimeout 50\n"
                    "unset pop.idletimeout\nset base.proxyadminpass pw-two\nwrite\n")
    b = instance.active_seq()
    assert b == a + 1
    want = {
        "added    instance.imap.idletimeout = 50",
        "removed  role.pop.idletimeout = 42",
        "changed  role.mta.mm_debug: 3 -> 4",
        "changed  role.base.proxyadminpass: (hidden) -> (hidden)",
    }
    cp = instance.run("differences", a, b)
    lines = cp.stdout.splitlines()
    assert lines[0] == f"differences from configuration {a} to {b}:"
    assert set(lines[1:]) == want, cp.stdout
    assert "pw-one" not in cp.stdout and "pw-two" not in cp.stdout
    # N defaults to the active configuration.
    assert instance.run("differences", a).stdout == cp.stdout
    # And the other way round.
    back = set(instance.run("differences", b, a).stdout.splitlines()[1:])
    assert back == {
        "removed  instance.imap.idletimeout = 50",
        "added    role.pop.idletimeout = 42",
        "changed  role.mta.mm_debug: 4 -> 3",
        "changed  role.base.proxyadminpass: (hidden) -> (hidden)",
    }
    assert instance.run("differences", b, b).stdout == \
        f"differences from configuration {b} to {b}:\n  none\n"


def test_differences_of_multi_valued_options(instance):
    instance.run("set", "rewrite.rule", "$*@a.example $U@tcp_local")
    a = instance.active_seq()
    instance.run("set", "rewrite.rule", "$*@b.example $U@tcp_local")
    cp = instance.run("differences", a)
    assert cp.stdout.splitlines()[1:] == ["added    role.rewrite.rule = $*@b.example $U@tcp_local"]


def test_differences_errors(instance):
    cp = instance.run("differences", "99999", check=False)
    assert cp.returncode != 0 and "there is no configuration 99999" in cp.stderr
    cp = instance.run("differences", "abc", check=False)
    assert cp.returncode == 64 and "'abc' is not a configuration number" in cp.stderr
    cp = instance.run("differences", check=False)
    assert cp.returncode == 64 and "usage: differences M [N]" in cp.stderr


def test_rollback_and_forward_again(instance):
    instance.script("set mta.mm_debug 3\nset base.proxyadminpass old-pw\nwrite\n")
    a = instance.active_seq()
    instance.script("set mta.mm_debug 7\nset imap.idletimeout 55\n"
                    "set base.proxyadminpass new-pw\nwrite\n")
    b = instance.active_seq()
    cp = instance.run("rollback", a)
    assert cp.stdout.startswith(f"configuration {a} is active again, as configuration {b + 1}\n")
    assert "mta.mm_debug" in cp.stdout  # the change report
    assert instance.value("mta.mm_debug") == "3"
    assert instance.show("imap.idletimeout") == {}
    assert instance.xpass_values()["role.base.proxyadminpass"] == "old-pw"
    comp = parse_cnf(instance.compiled)
    assert comp["mta.mm_debug"] == ["3"] and comp["imap.idletimeout"] == ["30"]
    assert parse_cnf(instance.compiled_xpass)["base.proxyadminpass"] == ["old-pw"]
    hist = instance.history()
    assert hist[0][:2] == (True, b + 1)
    assert hist[0][4] == f"rollback to configuration {a}"
    assert hist[1][1] == b  # the rolled-back configuration stays in the history
    # Forward again: the rollback is itself an entry that can be undone.
    cp = instance.run("rollback", b, "-m", "forward again")
    assert cp.stdout.startswith(f"configuration {b} is active again, as configuration {b + 2}\n")
    assert instance.value("mta.mm_debug") == "7"
    assert instance.value("imap.idletimeout") == "55"
    assert instance.xpass_values()["role.base.proxyadminpass"] == "new-pw"
    assert parse_cnf(instance.compiled)["imap.idletimeout"] == ["55"]
    assert instance.history()[0][4] == "forward again"
    assert "none" in instance.run("differences", b, b + 2).stdout


def test_rollback_errors(instance):
    snap = instance.snapshot()
    cp = instance.run("rollback", "99999", check=False)
    assert cp.returncode != 0 and "there is no configuration 99999" in cp.stderr
    cp = instance.run("rollback", check=False)
    assert cp.returncode == 64 and "usage: rollback N" in cp.stderr
    assert instance.snapshot() == snap
    # With pending changes and no terminal to ask on, the shell refuses.
    instance.run("set", "imap.idletimeout", "41")
    a = instance.active_seq() - 1
    snap = instance.snapshot()
    cp = instance.script(f"set pop.idletimeout 42\nrollback {a}\n", check=False)
    assert "pending changes; write or reload first" in cp.stderr
    assert instance.snapshot() == snap


# ---- write --confirm ----------------------------------------------------------

def confirm_write(instance, seconds=5):
    instance.run("set", "imap.idletimeout", "41")
    old = instance.active_seq()
    cp = instance.script(f"set imap.idletimeout 47\nwrite -m risky --confirm {seconds}\n")
    new = old + 1
    assert f"wrote configuration {new}" in cp.stdout
    assert (f"configuration {new} must be confirmed within {seconds} seconds with `msconfig "
            f"confirm`, or configuration {old} comes back") in cp.stdout
    pending = instance.confdir / "confirm-pending"
    assert pending.read_text().startswith(f"seq {new}\nprevious {old}\n")
    assert instance.value("imap.idletimeout") == "47"
    assert instance.pids(), "no reverter process is waiting"
    return old, new


def test_write_confirm_rolls_back_by_itself(instance):
    old, new = confirm_write(instance)
    wait_until(lambda: instance.history()[0][4].startswith("automatic rollback"),
               timeout=15, what="the automatic rollback")
    hist = instance.history()
    assert hist[0][:2] == (True, new + 1)
    assert hist[0][4] == (f"automatic rollback: configuration {new} was not confirmed within "
                          "5 seconds")
    assert instance.value("imap.idletimeout") == "41"
    assert parse_cnf(instance.compiled)["imap.idletimeout"] == ["41"]
    wait_until(lambda: not instance.pids(), timeout=5, what="the reverter to exit")
    assert not (instance.confdir / "confirm-pending").exists()
    cp = instance.run("confirm", check=False)
    assert cp.returncode != 0 and "no configuration is waiting for confirmation" in cp.stderr


def test_write_confirm_kept_when_confirmed(instance):
    old, new = confirm_write(instance)
    cp = instance.run("confirm")
    assert cp.stdout == f"configuration {new} confirmed\n"
    assert not (instance.confdir / "confirm-pending").exists()
    # The reverter wakes at its deadline, finds nothing to do, and exits.
    wait_until(lambda: not instance.pids(), timeout=15, what="the reverter to exit")
    hist = instance.history()
    assert hist[0][:2] == (True, new)
    assert hist[0][4] == "risky"
    assert instance.value("imap.idletimeout") == "47"


def test_write_confirm_bounds(instance):
    snap = instance.snapshot()
    cp = instance.script("set imap.idletimeout 47\nwrite --confirm 2\n", check=False)
    assert "--confirm takes a number of seconds from 5 to 86400, not '2'" in cp.stderr
    assert instance.snapshot() == snap
    assert not instance.pids()
