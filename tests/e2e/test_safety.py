"""Safety (issue 3, item 11): unknown names, bad values, broken files,
concurrent writers, and kill -9 at any point of a write."""
import random
import re
import subprocess
import time

import pexpect
import pytest

from conftest import MSCONFIG, parse_cnf


# ---- unknown names and bad values ------------------------------------------

@pytest.mark.parametrize("args,typo,closest", [
    (("set", "imap.portt", "5"), "imap.portt", "imap.port"),
    (("set", "imap.idletimeuot", "30"), "imap.idletimeuot", "imap.idletimeout"),
    (("set", "mm_debugg", "3"), "mm_debugg", "mta.mm_debug"),
    (("set", "imapp.port", "3"), "imapp.port", "imap.port"),
    (("show", "imap.prot"), "imap.prot", "imap.port"),
    (("unset", "pop.idletimout"), "pop.idletimout", "pop.idletimeout"),
])
def test_unknown_option_names_the_closest(instance, args, typo, closest):
    snap = instance.snapshot()
    cp = instance.run(*args, check=False)
    assert cp.returncode != 0
    assert f"unknown option '{typo}'; did you mean '{closest}'?" in cp.stderr, cp.stderr
    assert instance.snapshot() == snap


BAD_VALUES = [
    ("mta.mm_debug", "21", "mta.mm_debug takes an integer from 0 to 20, not '21'"),
    ("mta.mm_debug", "-1", "mta.mm_debug takes an integer from 0 to 20, not '-1'"),
    ("mta.mm_debug", "five", "mta.mm_debug takes an integer from 0 to 20, not 'five'"),
    ("imap.plaintextmincipher", "7",
     "imap.plaintextmincipher takes one of: -1 0 40 128; not '7'"),
    ("imap.port", "99999",
     "imap.port takes a port number 0-65535 (or several separated by spaces), not '99999'"),
    ("imap.port", "http", "imap.port takes a port number 0-65535"),
    ("imap.enable", "yes", "imap.enable takes a boolean (0 or 1), not 'yes'"),
    ("imap.enable", "2", "imap.enable takes a boolean (0 or 1), not '2'"),
    ("imap.logfile.loglevel", "Loud",
     "imap.logfile.loglevel takes one of: Nolog Critical Error Warning Notice Information "
     "Debug; not 'Loud'"),
]


@pytest.mark.parametrize("name,value,message", BAD_VALUES)
def test_bad_value_names_type_and_range_and_writes_nothing(instance, name, value, message):
    snap = instance.snapshot()
    hist = instance.history()
    compiled = instance.compiled.read_bytes()
    cp = instance.run("set", name, value, check=False)
    assert cp.returncode != 0
    assert message in cp.stderr, cp.stderr
    assert cp.stdout == ""
    assert instance.snapshot() == snap
    assert instance.history() == hist
    assert instance.compiled.read_bytes() == compiled


def test_bad_value_in_the_shell_leaves_nothing_pending(instance):
    snap = instance.snapshot()
    cp = instance.script("set mta.mm_debug 99\nwrite\n")
    assert "mta.mm_debug takes an integer from 0 to 20, not '99'" in cp.stderr
    assert "no pending changes; nothing written" in cp.stdout
    assert instance.snapshot() == snap


def test_missing_value_is_refused(instance):
    snap = instance.snapshot()
    cp = instance.run("set", "imap.idletimeout", check=False)
    assert cp.returncode != 0
    assert "imap.idletimeout needs a value" in cp.stderr
    assert instance.snapshot() == snap


# ---- config.xml broken by hand ----------------------------------------------

def setup_history(instance):
    """Two good configurations: G (returned) and the active G+1 after it."""
    instance.run("set", "imap.idletimeout", "41")
    instance.run("set", "pop.idletimeout", "42")
    good = instance.active_seq()
    instance.run("set", "imap.idletimeout", "44")
    return good


def assert_rollback_restores(instance, good_seq):
    cp = instance.run("rollback", good_seq)
    assert f"configuration {good_seq} is active again, as configuration" in cp.stdout
    assert instance.value("imap.idletimeout") == "41"
    assert instance.value("pop.idletimeout") == "42"
    cp = instance.run("check")
    assert "is valid" in cp.stdout and "(not compiled)" not in cp.stdout
    assert parse_cnf(instance.compiled)["pop.idletimeout"] == ["42"]
    # and writing works again
    instance.run("set", "imap.idletimeout", "43")
    assert instance.value("imap.idletimeout") == "43"


def test_truncated_config_is_reported_and_rollback_works(instance):
    good = setup_history(instance)
    data = instance.config_xml.read_bytes()
    instance.config_xml.write_bytes(data[: len(data) // 2])
    broken = instance.config_xml.read_bytes()
    loc = re.compile(re.escape(str(instance.config_xml)) + r":\d+:\d+: ")
    for verb in ("show", "check"):
        cp = instance.run(verb, check=False)
        assert cp.returncode != 0, verb
        assert loc.search(cp.stderr), f"{verb}: {cp.stderr}"
    cp = instance.run("set", "imap.idletimeout", "50", check=False)
    assert cp.returncode != 0
    assert loc.search(cp.stderr) and "rollback N" in cp.stderr
    assert instance.config_xml.read_bytes() == broken
    # history still lists the good configurations
    seqs = [h[1] for h in instance.history()]
    assert good in seqs and good - 1 in seqs
    assert_rollback_restores(instance, good)


def test_bad_tag_is_reported_with_its_line(instance):
    good = setup_history(instance)
    lines = instance.config_xml.read_text().split("\n")
    at = next(i for i, ln in enumerate(lines) if "<idletimeout" in ln)
    lines.insert(at + 1, "      <imap><port v=\"1\"></imap>")
    instance.config_xml.write_text("\n".join(lines))
    cp = instance.run("check", check=False)
    assert cp.returncode != 0
    assert re.search(re.escape(str(instance.config_xml)) + rf":{at + 2}:\d+: ", cp.stderr), \
        cp.stderr
    cp = instance.run("show", check=False)
    assert cp.returncode != 0 and f"config.xml:{at + 2}:" in cp.stderr
    assert_rollback_restores(instance, good)


def test_element_not_in_schema_is_reported_with_its_line(instance):
    good = setup_history(instance)
    lines = instance.config_xml.read_text().split("\n")
    at = next(i for i, ln in enumerate(lines) if "<idletimeout" in ln)
    lines.insert(at + 1, '      <bogusoption v="1"/>')
    instance.config_xml.write_text("\n".join(lines))
    cp = instance.run("check", check=False)
    assert cp.returncode != 0
    assert f"{instance.config_xml}:{at + 2}:" in cp.stderr, cp.stderr
    assert "bogusoption" in cp.stderr
    cp = instance.run("show", "imap.*", check=False)
    assert cp.returncode != 0 and f"config.xml:{at + 2}:" in cp.stderr
    assert_rollback_restores(instance, good)


def test_bad_value_edited_by_hand_is_reported(instance):
    good = setup_history(instance)
    text = instance.config_xml.read_text()
    instance.config_xml.write_text(text.replace('<idletimeout v="44"', '<idletimeout v="abc"'))
    cp = instance.run("check", check=False)
    assert cp.returncode != 0
    assert re.search(re.escape(str(instance.config_xml)) + r":\d+:\d+: .*abc", cp.stderr), \
        cp.stderr
    assert_rollback_restores(instance, good)


def test_rollback_to_the_configuration_broken_by_hand(instance):
    instance.run("set", "imap.idletimeout", "41")
    last = instance.active_seq()
    data = instance.config_xml.read_bytes()
    instance.config_xml.write_bytes(data[: len(data) // 2])
    cp = instance.run("rollback", last, check=False)
    assert cp.returncode == 0, cp.stderr
    assert instance.value("imap.idletimeout") == "41"


def test_hand_edit_is_reported_not_compiled_until_compile(instance):
    instance.run("set", "imap.idletimeout", "41")
    seq = instance.active_seq()
    assert "(not compiled)" not in instance.run("check").stdout
    text = instance.config_xml.read_text()
    assert '<idletimeout v="41"' in text
    instance.config_xml.write_text(text.replace('<idletimeout v="41"', '<idletimeout v="77"'))
    cp = instance.run("check")
    assert cp.stdout.rstrip().endswith("(not compiled)"), cp.stdout
    assert f"configuration {seq} is valid" in cp.stdout
    assert instance.value("imap.idletimeout") == "77"
    assert parse_cnf(instance.compiled)["imap.idletimeout"] == ["41"]
    cp = instance.run("compile")
    assert "imap.idletimeout" in cp.stdout
    assert "(not compiled)" not in instance.run("check").stdout
    assert parse_cnf(instance.compiled)["imap.idletimeout"] == ["77"]


def test_missing_compiled_form_is_reported_not_compiled(instance):
    instance.compiled.unlink()
    assert "(not compiled)" in instance.run("check").stdout
    instance.run("compile")
    assert "(not compiled)" not in instance.run("check").stdout


# ---- concurrent writers -----------------------------------------------------

def test_second_shell_writer_is_refused_then_succeeds_after_reload(instance, shell_factory):
    a, b = shell_factory(), shell_factory()
    a.expect_exact("msconfig> ")
    b.expect_exact("msconfig> ")
    start = instance.active_seq()
    a.sendline("set imap.idletimeout 41")
    a.expect_exact("msconfig# ")
    b.sendline("set pop.idletimeout 42")
    b.expect_exact("msconfig# ")
    a.sendline("write -m from-a")
    a.expect(r"wrote configuration (\d+)")
    assert int(a.match.group(1)) == start + 1
    a.expect_exact("msconfig> ")
    b.sendline("write -m from-b")
    b.expect(r"changed by another writer since it was loaded \(you started from configuration "
             rf"{start}, the active one is now {start + 1}\); nothing was written: reload")
    b.expect_exact("msconfig# ")  # B's change is still pending, not lost
    assert instance.value("imap.idletimeout") == "41"
    assert instance.show("pop.idletimeout") == {}
    assert instance.active_seq() == start + 1
    b.sendline("diff")
    b.expect(r"changed +role\.pop\.idletimeout|added +role\.pop\.idletimeout")
    b.expect_exact("msconfig# ")
    b.sendline("reload")
    b.expect_exact("Discard the pending changes? [y/N] ")
    b.sendline("y")
    b.expect_exact(f"loaded configuration {start + 1}")
    b.expect_exact("msconfig> ")
    b.sendline("set pop.idletimeout 42")
    b.expect_exact("msconfig# ")
    b.sendline("write -m from-b")
    b.expect_exact(f"wrote configuration {start + 2}")
    b.expect_exact("msconfig> ")
    assert instance.value("imap.idletimeout") == "41"
    assert instance.value("pop.idletimeout") == "42"
    comments = [h[4] for h in instance.history()[:2]]
    assert comments == ["from-b", "from-a"]
    for c in (a, b):
        c.sendline("exit")
        c.expect(pexpect.EOF)


def parallel_sets(instance, n):
    procs = [instance.popen("set", f"vdomain:10.0.0.{i}.defaultdomain", f"d{i}.example")
             for i in range(n)]
    results = []
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        results.append((i, p.returncode, out, err))
    return results


def test_parallel_writers_never_lose_an_acknowledged_update(instance):
    results = parallel_sets(instance, 20)
    shown = instance.show("vdomain*")
    comments = " | ".join(h[4] for h in instance.history())
    for i, rc, out, err in results:
        name = f"role.vdomain:10.0.0.{i}.defaultdomain"
        if rc == 0:
            assert "wrote configuration" in out
            assert shown.get(name) == [f"d{i}.example"], f"acknowledged set {i} lost"
            assert f"set vdomain:10.0.0.{i}.defaultdomain d{i}.example" in comments
        else:
            assert "reload" in err, err
            assert name not in shown
    assert instance.run("check").returncode == 0


def test_parallel_one_shot_sets_all_land(instance):
    start = instance.active_seq()
    results = parallel_sets(instance, 20)
    failed = [(i, rc, err) for i, rc, _, err in results if rc != 0]
    assert not failed, f"{len(failed)} of 20 refused, e.g. {failed[0]}"
    shown = instance.show("vdomain*")
    for i in range(20):
        assert shown[f"role.vdomain:10.0.0.{i}.defaultdomain"] == [f"d{i}.example"]
    hist = instance.history()
    assert hist[0][1] == start + 20
    comments = " | ".join(h[4] for h in hist)
    for i in range(20):
        assert f"set vdomain:10.0.0.{i}.defaultdomain d{i}.example" in comments


# ---- crashes ----------------------------------------------------------------

def effective_password(instance):
    """The password the loader sees: compile, then read compiled/xpass.cnf."""
    instance.run("compile")
    return parse_cnf(instance.compiled_xpass)["base.proxyadminpass"]


# Which configuration is active after a kill at each step (repo.h):
# config.xml is the commit point.
CRASHPOINTS = [("graveyard", "old"), ("xpass", "old"), ("config", "new"), ("copy", "new"),
               ("compile", "new")]


@pytest.mark.parametrize("point,survivor", CRASHPOINTS)
def test_kill_at_each_step_of_a_commit(instance, point, survivor):
    instance.script("set base.authcachettl 1000\nset base.proxyadminpass old-pw\nwrite\n")
    old_seq = instance.active_seq()
    old_files = instance.graveyard_files()
    cp = instance.script("set base.authcachettl 2000\nset base.proxyadminpass new-pw\n"
                         "write -m crashing\n", env={"MS_TEST_CRASHPOINT": point}, check=False)
    assert cp.returncode == -9, (cp.returncode, cp.stdout, cp.stderr)
    want_ttl, want_pw = ("1000", "old-pw") if survivor == "old" else ("2000", "new-pw")
    # The configuration loads and is one of the two, whole.
    assert instance.value("base.authcachettl") == want_ttl
    cp = instance.run("check")
    assert "is valid" in cp.stdout
    if point == "config":
        assert "(not compiled)" in cp.stdout
    hist = instance.history()
    assert hist[0][0] and hist[0][1] == (old_seq if survivor == "old" else old_seq + 1)
    assert "(unreadable)" not in "".join(h[4] for h in hist)
    assert effective_password(instance) == [want_pw]
    assert parse_cnf(instance.compiled)["base.authcachettl"] == [want_ttl]
    # The next write succeeds and keeps the surviving password.
    cp = instance.run("set", "base.authcachettl", "3000")
    assert "wrote configuration" in cp.stdout
    assert instance.value("base.authcachettl") == "3000"
    assert "(not compiled)" not in instance.run("check").stdout
    assert parse_cnf(instance.compiled_xpass)["base.proxyadminpass"] == [want_pw]
    assert instance.xpass_values()["role.base.proxyadminpass"] == want_pw
    assert set(old_files) <= set(instance.graveyard_files())
    # The surviving configuration's predecessor is still reachable.
    cp = instance.run("differences", old_seq)
    assert "base.authcachettl" in cp.stdout


@pytest.mark.parametrize("point", [
    "graveyard",
    "xpass",
    "config",
    "compile",
])
def test_graveyard_stays_whole_after_a_crash(instance, point):
    """A configuration restored from the graveyard after a crash is whole."""
    instance.script("set base.authcachettl 1000\nset base.proxyadminpass old-pw\nwrite\n")
    old_seq = instance.active_seq()
    cp = instance.script("set base.authcachettl 2000\nset base.proxyadminpass new-pw\n"
                         "write\n", env={"MS_TEST_CRASHPOINT": point}, check=False)
    assert cp.returncode == -9
    instance.run("set", "imap.idletimeout", "45")  # the next write
    instance.run("rollback", old_seq)
    assert instance.value("base.authcachettl") == "1000"
    assert effective_password(instance) == ["old-pw"]
    assert instance.xpass_values()["role.base.proxyadminpass"] == "old-pw"


def timed_write(instance):
    """Seconds one shell write of the kill loop takes when left alone."""
    t = time.monotonic()
    instance.script("set base.authcachettl 4998\nset base.proxyadminpass pw-timed\nwrite\n")
    return time.monotonic() - t


def kill_randomly(instance, n=50):
    """Start n shell writes of (ttl 5000+i, password pw-i); kill -9 each
    after a random delay unless it has finished.  Returns the indexes of
    the writes that finished (were acknowledged).

    The delay is 0-20 ms, stretched to twice the time of a whole write
    on this machine when a write takes longer (fsync), so that kills land
    in every step of the commit and some writes finish."""
    span = max(0.020, 2 * timed_write(instance))
    rng = random.Random()
    acked = []
    for i in range(n):
        p = subprocess.Popen([str(MSCONFIG)], env=instance.env, stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        p.stdin.write(f"set base.authcachettl {5000 + i}\nset base.proxyadminpass pw-{i}\n"
                      "write\n")
        p.stdin.close()
        try:
            # Wait for the write to finish, but no longer than the delay; then kill -9.
            p.wait(timeout=rng.uniform(0, span))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.returncode == 0:
            acked.append(i)
    return acked


def test_random_kill_during_writes(instance):
    instance.script("set base.authcachettl 4999\nset base.proxyadminpass pw-init\nwrite\n")
    acked = kill_randomly(instance)
    cp = instance.run("check")
    assert "is valid" in cp.stdout
    ttl = int(instance.value("base.authcachettl"))
    j = ttl - 5000
    assert ttl in (4998, 4999) or 0 <= j < 50, ttl
    if acked:
        assert j >= acked[-1], f"acknowledged write {acked[-1]} lost (active is {j})"
    # Every value is one that was written (whether it is the one written with
    # this ttl is test_random_kill_keeps_passwords_with_their_configuration).
    (pw,) = effective_password(instance)
    assert pw in ("pw-init", "pw-timed") or re.fullmatch(r"pw-([0-9]|[1-4][0-9])", pw), pw
    hist = instance.history()
    assert "(unreadable)" not in "".join(h[4] for h in hist)
    # Every configuration in the graveyard still loads.
    for _, seq, *_ in hist[1:]:
        instance.run("differences", seq)
    cp = instance.run("set", "base.authcachettl", "6000")
    assert instance.value("base.authcachettl") == "6000"
    assert "(not compiled)" not in instance.run("check").stdout


def test_two_interrupted_writes_leave_the_old_configuration(instance):
    instance.script("set base.authcachettl 1000\nset base.proxyadminpass old-pw\nwrite\n")
    for point, ttl, pw in (("xpass", 2000, "pw-a"), ("graveyard", 3000, "pw-b")):
        cp = instance.script(f"set base.authcachettl {ttl}\nset base.proxyadminpass {pw}\n"
                             "write\n", env={"MS_TEST_CRASHPOINT": point}, check=False)
        assert cp.returncode == -9
    assert instance.value("base.authcachettl") == "1000"
    assert effective_password(instance) == ["old-pw"]


def test_random_kill_keeps_passwords_with_their_configuration(instance):
    instance.script("set base.authcachettl 4999\nset base.proxyadminpass pw-init\nwrite\n")
    first = instance.active_seq()
    kill_randomly(instance)
    # Newest first, from the pw-init configuration on; at most 40, so that
    # the rollbacks below do not prune the oldest before they are reached.
    seqs = [h[1] for h in instance.history() if h[1] >= first][:40]
    bad = []
    for seq in seqs:
        instance.run("rollback", seq)
        ttl = int(instance.value("base.authcachettl"))
        want = {4998: "pw-timed", 4999: "pw-init"}.get(ttl, f"pw-{ttl - 5000}")
        got = effective_password(instance)
        if got != [want]:
            bad.append((seq, ttl, got))
    assert not bad, f"configurations restored with another one's password: {bad}"


def test_shell_write_does_not_overwrite_a_hand_edit(instance, shell_factory):
    instance.run("set", "imap.idletimeout", "41")
    sh = shell_factory()
    sh.expect_exact("msconfig> ")
    text = instance.config_xml.read_text()
    instance.config_xml.write_text(text.replace('<idletimeout v="41"', '<idletimeout v="77"'))
    sh.sendline("set pop.idletimeout 42")
    sh.expect_exact("msconfig# ")
    sh.sendline("write")
    sh.expect_exact(["msconfig> ", "msconfig# "])
    # Either refused (reload first) or the hand edit kept: never silently lost.
    shown = instance.show("*idletimeout")
    assert shown.get("role.imap.idletimeout") == ["77"], shown
