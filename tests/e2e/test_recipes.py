"""msconfig run: the Lua recipe engine end to end (issue 4).

Every test runs the real msconfig on a fresh init-config instance.  The
shipped recipes run unattended with -D answers and are checked with
`msconfig show`, then run again to show that they change nothing.  Every
failure path (syntax error, runtime error, error(), a refused value, a
result the schema refuses, the instruction and memory limits, forbidden
libraries) must leave config.xml, xpass.xml, the graveyard and the history
exactly as they were.  One run is interactive, in the shell under pexpect.
"""
import pathlib
import re

import pexpect
import pytest

from conftest import MSCONFIG

RECIPES = pathlib.Path(__file__).resolve().parent / "recipes"
SHIPPED = pathlib.Path(__file__).resolve().parents[2] / "recipes"
CLEAN = "msconfig> "
DIRTY = "msconfig# "

# The seed's delivery options for an LMTP front end (002:3106, D1 and D5
# fixed), with the one backslash that "\\" stands for in the recipe.
LMTP_DELIVERY = (
    "#*mailbox=@$X.LMTP:$M%$\\$2I$_+$2S@lmtpcs-daemon,#&members=*,"
    "#*native=@$X.LMTPN:$M+$2S@native-daemon,#*unix=@$X.LMTPN:$M,"
    "#*file=@$X.LMTPN:+$F,#&@members_offline=*,#/hold=@hold-daemon:$A,"
    "#program=$M%$P@pipe-daemon,#forward=**,#*^!autoreply=$M+$D@bitbucket")


def recipe(name):
    return str(RECIPES / name)


def run(instance, *args, check=False):
    return instance.run("run", *args, check=check)


def values(instance, pattern):
    """{name: [values]} of show PATTERN, for multi-valued checks."""
    return instance.show(pattern)


def one(instance, name):
    """The one value shown for name, with its role./instance. prefix stripped."""
    shown = instance.show(name)
    assert len(shown) == 1, f"show {name}: {shown}"
    (vals,) = shown.values()
    assert len(vals) == 1, shown
    return vals[0]


def assert_unchanged(instance, before, history):
    assert instance.snapshot() == before, "a failed recipe changed the files"
    assert instance.history() == history, "a failed recipe changed the history"


def run_twice(instance, *args):
    """Run a recipe, which must write one entry, then again: no change."""
    seq = instance.active_seq()
    cp = run(instance, *args, check=True)
    assert f"wrote configuration {seq + 1}" in cp.stdout, cp.stdout + cp.stderr
    name = pathlib.Path(args[0]).name.removesuffix(".lua")
    hist = instance.history()
    assert hist[0][1] == seq + 1 and hist[0][4] == f"recipe {name}", hist[0]
    snap = instance.snapshot()
    again = run(instance, *args, check=True)
    assert f"recipe {name}: no change" in again.stdout, again.stdout + again.stderr
    assert instance.snapshot() == snap
    assert instance.history() == hist
    check = instance.run("check", check=True)
    assert "is valid" in check.stdout
    return cp, again


# ---- the verb, its flags, and help ----

def test_help_recipe_language_lists_every_builtin(instance):
    cp = instance.run("help", "Recipe_language", check=True)
    text = cp.stdout
    assert "msconfig run RECIPE [-D NAME=VALUE ...] [--dry-run] [-y]" in text
    for shape in ("set_option(name[, value])", "add_channel(name, optlist)",
                  "get_mapping(name)", "exists_optlist(list, key)",
                  "prepend_mapping(name, {pattern, template})",
                  "append_rewrites({pattern, template})", "read(prompt[, name])",
                  "get_option(name[, default])", "prompt(name, question[, default[, validator]])",
                  "hostname()", "defaultdomain()", "version()"):
        assert shape in text, shape
    assert re.search(r"set_option\(name\[, value\]\)  \[seed\]", text)
    assert re.search(r"get_option\(name\[, default\]\)  \[added\]", text)
    assert "50 million" in text and "64 MB" in text
    # run is in the verb list and has its own help
    assert "run RECIPE" in instance.run("--help", check=True).stdout
    assert "recipe NAME" in instance.run("help", "run", check=True).stdout


@pytest.mark.parametrize("args, message", [
    ((), "usage: run RECIPE"),
    (("a", "b"), "one recipe at a time"),
    (("x", "--frobnicate"), "unknown flag --frobnicate"),
    (("x", "-D", "NOEQUALS"), "-D takes NAME=VALUE"),
    (("x", "-D", "1BAD=1"), "-D takes NAME=VALUE"),
    (("x", "-D"), "usage: run RECIPE"),
])
def test_usage_errors(instance, args, message):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, *args)
    assert cp.returncode == 64, cp
    assert message in cp.stderr
    assert_unchanged(instance, before, hist)


def test_unknown_recipe_says_where_it_looked(instance):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, "NoSuchRecipe")
    assert cp.returncode == 1
    assert "recipe NoSuchRecipe not found" in cp.stderr
    assert f"{instance.root}/config/recipes/NoSuchRecipe.lua" in cp.stderr
    assert "/recipes/NoSuchRecipe.lua" in cp.stderr.split("config/recipes")[-1]
    assert_unchanged(instance, before, hist)


def test_site_recipes_come_before_shipped_ones(instance):
    site = instance.confdir / "recipes"
    site.mkdir()
    (site / "MTAOnly.lua").write_text('set_option("imap.idletimeout", "44")\n')
    (site / "mine.lua").write_text('set_option("pop.idletimeout", "33")\n')
    run(instance, "MTAOnly", check=True)
    assert one(instance, "imap.idletimeout") == "44"
    assert one(instance, "store.enable") == "1", "the shipped MTAOnly ran"
    run(instance, "mine.lua", check=True)
    assert one(instance, "pop.idletimeout") == "33"
    assert instance.history()[0][4] == "recipe mine"


def test_unused_answer_is_reported(instance):
    cp = run(instance, recipe("ask.lua"), "-y", "-D", "IMAP_PORT=2143", "-D", "TYPO=1",
             check=True)
    assert "-D TYPO was not used" in cp.stderr
    assert one(instance, "imap.port") == "2143"


# ---- the shipped recipes, unattended, twice ----

def test_shipped_recipes_have_a_header(instance):
    for path in sorted(SHIPPED.glob("*.lua")):
        head = path.read_text().split("\n")
        comment = [ln for ln in head[:40] if ln.startswith("--")]
        text = "\n".join(comment)
        assert len(comment) > 8, f"{path.name}: no header comment"
        assert "What it does" in text, path.name
        assert "Questions" in text or "asks no questions" in text, path.name
        assert "-D NAME=VALUE" in text, path.name
        for name in re.findall(r'prompt\("([A-Z_]+)"', path.read_text()):
            assert name in text, f"{path.name}: question {name} not in the header"


def test_lmtp_single_system(instance):
    cp, _ = run_twice(instance, "LMTPSingleSystem", "-y")
    assert one(instance, "channel:tcp_lmtpcs.port") == "225"
    assert one(instance, "channel:tcp_lmtpcs.official_host_name") == "lmtpcs-daemon"
    assert "role.channel:tcp_lmtpcs.lmtp" in instance.show("channel:tcp_lmtpcs.*")
    assert one(instance, "channel:tcp_lmtpss.official_host_name") == "tcp_lmtpss-daemon"
    assert one(instance, "dispatcher.service:LMTPSS.tcp_ports") == "225"
    assert one(instance, "dispatcher.service:LMTPSS.interface_address") == "127.0.0.1"
    assert one(instance, "dispatcher.service:LMTPSS.parameter") == "CHANNEL=tcp_lmtpss"
    assert one(instance, "mta.delivery_options") == LMTP_DELIVERY
    # after the default rules and before the default PORT_ACCESS entries (docs/mta.md)
    assert values(instance, "rewrite.rule")["role.rewrite.rule"][-2:] == [
        ".lmtp $E$F$U%$H.lmtp@lmtpcs-daemon", ".lmtp $B$F$U%$H@$H@lmtpcs-daemon"]
    assert values(instance, "mapping:PORT_ACCESS.rule")["role.mapping:PORT_ACCESS.rule"][:1] == [
        "TCP|*|225|127.0.0.1|* $Y"]
    # the store stays
    assert one(instance, "store.enable") == "1"
    assert one(instance, "imap.enable") == "1"


def test_lmtp_single_system_port_answer(instance):
    run(instance, "LMTPSingleSystem", "-D", "LMTP_PORT=2225", check=True)
    assert one(instance, "channel:tcp_lmtpcs.port") == "2225"
    assert one(instance, "dispatcher.service:LMTPSS.tcp_ports") == "2225"


def test_frontend_lmtp(instance):
    run_twice(instance, "frontendLMTP", "-y")
    for svc in ("store", "imap", "pop"):
        assert one(instance, f"{svc}.enable") == "0"
    channel = instance.show("channel:tcp_lmtpcs.*")
    assert len(channel) == 12, channel
    assert channel["role.channel:tcp_lmtpcs.fileinto"] == ["@$4O:$U+$S@$D"]
    assert channel["role.channel:tcp_lmtpcs.pool"] == ["SMTP_POOL"]
    assert "role.channel:tcp_lmtpcs.dequeue_removeroute" in channel
    assert one(instance, "mta.delivery_options") == LMTP_DELIVERY
    rules = values(instance, "rewrite.rule")["role.rewrite.rule"]
    assert rules[-2:] == [".lmtp $E$F$U%$H.lmtp@lmtpcs-daemon", ".lmtp $B$F$U%$H@$H@lmtpcs-daemon"]


def test_backend_lmtp(instance):
    cp, again = run_twice(instance, "backendLMTP", "-y", "-D", "MY_IP=192.0.2.20",
                          "-D", "FRONTEND_IPS=192.0.2.10, 192.0.2.11")
    assert "-- INFO: Adding tcp_lmtpss channel\n" in cp.stdout
    assert "-- INFO: Creating dispatcher.service:LMTPSS group\n" in cp.stdout
    assert "-- INFO: Adding IP 192.0.2.10 port 226 to PORT_ACCESS mapping\n" in cp.stdout
    assert "-- WARNING: tcp_lmtpss channel already exists.\n" in again.stderr
    assert "INFO" not in again.stdout
    assert one(instance, "store.admins") == "admin"  # MMP_ADMIN's default
    assert one(instance, "channel:tcp_lmtpss.official_host_name") == "tcp_lmtpss-daemon"
    svc = instance.show("dispatcher.service:LMTPSS.*")
    assert svc == {
        "role.dispatcher.service:LMTPSS.enable": ["1"],
        "role.dispatcher.service:LMTPSS.tcp_ports": ["225"],
        "role.dispatcher.service:LMTPSS.image": ["IMTA_BIN:tcp_lmtp_server"],
        "role.dispatcher.service:LMTPSS.parameter": ["CHANNEL=tcp_lmtpss"],
        "role.dispatcher.service:LMTPSS.logfilename": ["IMTA_LOG:tcp_lmtpss_server.log"],
        "role.dispatcher.service:LMTPSS.stacksize": ["2048000"],
    }, svc
    assert values(instance, "mapping:PORT_ACCESS.rule")["role.mapping:PORT_ACCESS.rule"][:6] == [
        "TCP|*|225|192.0.2.20|* $Y", "TCP|*|226|192.0.2.20|* $Y",
        "TCP|*|225|192.0.2.11|* $Y", "TCP|*|226|192.0.2.11|* $Y",
        "TCP|*|225|192.0.2.10|* $Y", "TCP|*|226|192.0.2.10|* $Y"]


def test_backend_lmtp_store_admin(instance):
    """The MMP's store administrator is added to store.admins once."""
    instance.run("set", "store.admins", "ops")
    cp, again = run_twice(instance, "backendLMTP", "-y", "-D", "MY_IP=192.0.2.20",
                          "-D", "FRONTEND_IPS=192.0.2.10", "-D", "MMP_ADMIN=mmpadm")
    assert "-- INFO: Adding mmpadm to store.admins\n" in cp.stdout
    assert "-- WARNING: mmpadm is already in store.admins" in again.stderr
    assert one(instance, "store.admins") == "ops mmpadm"


def test_backend_lmtp_needs_its_answers(instance):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, "backendLMTP", "-y")
    assert cp.returncode == 1
    assert "no terminal to ask on" in cp.stderr
    assert "-D MY_IP=VALUE" in cp.stderr
    assert_unchanged(instance, before, hist)
    cp = run(instance, "backendLMTP", "-y", "-D", "MY_IP=not-an-ip", "-D", "FRONTEND_IPS=1.2.3.4")
    assert cp.returncode == 1
    assert "the answer 'not-an-ip' to MY_IP is not valid: an IPv4 or IPv6 address" in cp.stderr
    assert_unchanged(instance, before, hist)


def test_mta_only(instance):
    run_twice(instance, "MTAOnly", "-y")
    for opt in ("store.enable", "imap.enable", "imap.enablesslport", "pop.enable",
                "pop.enablesslport", "http.enable", "http.enablesslport"):
        assert one(instance, opt) == "0", opt
    for task in ("expire", "snapshot", "snapshotverify", "purge"):
        assert one(instance, f"schedule.task:{task}.enable") == "0", task
    assert instance.show("schedule.task:msprobe.enable") == {}
    assert one(instance, "mta.enable") == "1"


def test_mta_only_keeps_tasks_when_told(instance):
    run(instance, "MTAOnly", "-D", "DISABLE_STORE_TASKS=no", check=True)
    assert one(instance, "store.enable") == "0"
    assert instance.show("schedule.task:expire.enable") == {}


def test_mmp_front_end(instance):
    imap = one(instance, "imapproxy.tcp_listen:imapproxy1.tcp_ports")
    run_twice(instance, "MMPFrontEnd", "-y", "-D", "SUBMIT_PORTS=1587")
    assert one(instance, "mmp.enable") == "1"
    for opt in ("store.enable", "imap.enable", "pop.enable", "http.enable"):
        assert one(instance, opt) == "0", opt
    assert one(instance, "imapproxy.tcp_listen:imapproxy1.tcp_ports") == imap
    assert one(instance, "submitproxy.tcp_listen:submitproxy1.tcp_ports") == "1587"
    for proxy in ("imapproxy", "popproxy", "submitproxy"):
        assert one(instance, f"{proxy}.defaultdomain") == "example.com"


def test_tls_everywhere(instance):
    run_twice(instance, "TLSEverywhere", "-y")
    for svc in ("imap", "pop", "http"):
        assert one(instance, f"{svc}.sslusessl") == "1"
        assert one(instance, f"{svc}.enablesslport") == "1"
        assert one(instance, f"{svc}.plaintextmincipher") == "128"
    assert one(instance, "ens.enablesslport") == "1"
    assert one(instance, "ens.sslnicknames") == "Server-Cert"
    for proxy in ("imapproxy", "popproxy", "submitproxy"):
        assert one(instance, f"{proxy}.sslenable") == "1"
    assert one(instance, "dispatcher.service:SMTP_SUBMIT.ssl_ports") == "465"
    assert one(instance, "base.sslcertfile") == "IMTA_ROOT:config/tls/server-cert.pem"
    assert one(instance, "base.sslkeyfile") == "IMTA_ROOT:config/tls/server-key.pem"


def test_tls_everywhere_certificate_paths(instance):
    run(instance, "TLSEverywhere", "-y", "-D", "CERT_FILE=/etc/ssl/mail.pem",
        "-D", "KEY_FILE=/etc/ssl/private/mail.key", "-D", "CA_FILE=/etc/ssl/ca.pem", check=True)
    assert one(instance, "base.sslcertfile") == "/etc/ssl/mail.pem"
    assert one(instance, "base.sslkeyfile") == "/etc/ssl/private/mail.key"
    assert one(instance, "base.sslcafile") == "/etc/ssl/ca.pem"
    # host-specific: they live under instance
    out = instance.run("show", "base.ssl*", check=True).stdout
    assert "instance.base.sslcertfile = /etc/ssl/mail.pem" in out
    conf = (instance.root / "config" / "compiled" / "config.cnf").read_text()
    assert "base.sslcertfile\t/etc/ssl/mail.pem" in conf


def test_tls_everywhere_on_an_mmp(instance):
    run(instance, "MMPFrontEnd", "-y", check=True)
    run(instance, "TLSEverywhere", "-y", "-D", "MIN_CIPHER=40", check=True)
    assert one(instance, "imap.plaintextmincipher") == "40"
    assert one(instance, "imapproxy.tcp_listen:imapproxy1.ssl_ports") == one(instance, "imap.sslport")
    cp = run(instance, "TLSEverywhere", "-y", "-D", "MIN_CIPHER=64")
    assert cp.returncode == 1 and "0, 40 or 128" in cp.stderr


# ---- the seed's two samples, translated ----

def test_seed_frontend_sample(instance):
    cp = run(instance, recipe("frontendLMTP_seed.lua"), check=True)
    assert cp.stdout.startswith('use "write -remark frontendLMTP.rcp" to write out the changes\n')
    for svc in ("store", "imap", "pop"):
        assert one(instance, f"{svc}.enable") == "0"
    assert len(instance.show("channel:tcp_lmtpcs.*")) == 12
    assert one(instance, "channel:tcp_lmtpcs.port") == "225"
    assert one(instance, "mta.delivery_options") == LMTP_DELIVERY
    assert "$\\$2I" in one(instance, "mta.delivery_options")  # one backslash (T69, D23)
    assert values(instance, "rewrite.rule")["role.rewrite.rule"][-2:] == [
        ".lmtp $E$F$U%H.lmtp@lmtpcs-daemon", ".lmtp $B$F$U%H@H@lmtpcs-daemon"]
    # T70 documented the seed appending twice; ours does not duplicate.
    again = run(instance, recipe("frontendLMTP_seed.lua"), check=True)
    assert "no change" in again.stdout
    assert sum(r.startswith(".lmtp ") for r in values(instance, "rewrite.rule")["role.rewrite.rule"]) == 2


def test_seed_backend_sample_unattended(instance):
    args = (recipe("backendLMTP_seed.lua"), "-D", "READ1=10.133.152.193",
            "-D", "READ2=10.133.152.192", "-D", "READ3=")
    cp = run(instance, *args, check=True)
    # T71: the INFO lines of 3250, 3270 and 3321
    assert cp.stdout.splitlines()[:2] == ["-- INFO: Adding tcp_lmtpss channel",
                                          "-- INFO: Creating dispatcher.service:LMTPSS group"]
    assert "-- INFO: Adding IP 10.133.152.193 port 225 to PORT_ACCESS mapping" in cp.stdout
    channel = instance.show("channel:tcp_lmtpss.*")
    assert sorted(channel) == sorted([
        "role.channel:tcp_lmtpss.flagtransfer", "role.channel:tcp_lmtpss.identnonenumeric",
        "role.channel:tcp_lmtpss.lmtp", "role.channel:tcp_lmtpss.official_host_name"])
    assert len(instance.show("dispatcher.service:LMTPSS.*")) == 6
    # T73: "$Y" is stored as $Y; the comments of 3294-3300 as entries.
    assert values(instance, "mapping:PORT_ACCESS.rule")["role.mapping:PORT_ACCESS.rule"][:4] == [
        "TCP|*|225|10.133.152.193|* $Y", "TCP|*|226|10.133.152.193|* $Y",
        "TCP|*|225|10.133.152.192|* $Y", "TCP|*|226|10.133.152.192|* $Y"]
    snap, hist = instance.snapshot(), instance.history()
    again = run(instance, *args, check=True)
    assert "INFO" not in again.stdout
    assert again.stderr.count("-- WARNING:") == 2 + 4
    assert "-- WARNING: optlist for TCP|*|226|10.133.152.192|* exists in PORT_ACCESS\n" in again.stderr
    assert "no change" in again.stdout
    assert_unchanged(instance, snap, hist)


# ---- failures write nothing ----

FAILURES = [
    ("syntax_error.lua", r"failed: syntax error: \S*syntax_error\.lua:5: 'end' expected"),
    ("runtime_error.lua", r"failed: \S*runtime_error\.lua:5: attempt to index a nil value"),
    ("error_call.lua", r"failed: \S*error_call\.lua:3: the recipe gives up on purpose"),
    ("validation_failure.lua",
     r"failed: \S*validation_failure\.lua:3: imap\.port takes a port number"),
    ("schema_failure.lua", r"schema_failure.lua:5: an option name must be UTF-8 text without control characters"),
    ("infinite_loop.lua",
     r"recipe infinite_loop stopped: instruction limit reached \(infinite loop\?\)"),
    ("pcall_loop.lua", r"recipe pcall_loop stopped: instruction limit reached"),
    ("memory_bomb.lua", r"recipe memory_bomb stopped: memory limit of 64 MB reached"),
    ("forbidden_io.lua", r"forbidden_io\.lua:3: attempt to index a nil value \(global 'io'\)"),
    ("forbidden_os.lua", r"forbidden_os\.lua:3: attempt to index a nil value \(global 'os'\)"),
    ("forbidden_require.lua", r"attempt to call a nil value \(global 'require'\)"),
    ("forbidden_bytecode.lua", r"forbidden_bytecode\.lua:5: attempt to load a binary chunk"),
    ("forbidden_debug.lua", r"attempt to index a nil value \(global 'debug'\)"),
    ("forbidden_dofile.lua", r"attempt to call a nil value \(global 'dofile'\)"),
]


@pytest.mark.parametrize("name, message", FAILURES, ids=[f[0] for f in FAILURES])
def test_failures_write_nothing(instance, name, message):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, recipe(name))
    assert cp.returncode == 1, cp
    assert re.search(message, cp.stderr), cp.stderr
    assert f"nothing was written (configuration {hist[0][1]} is unchanged)" in cp.stderr
    assert "wrote configuration" not in cp.stdout
    assert_unchanged(instance, before, hist)
    assert not pathlib.Path("/tmp/recipe-escaped").exists()
    # the same under --dry-run: refused, nothing shown as a change
    cp = run(instance, recipe(name), "--dry-run")
    assert cp.returncode == 1
    assert "would make these changes" not in cp.stdout
    assert_unchanged(instance, before, hist)


def test_no_terminal_names_the_flag(instance):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, recipe("ask.lua"))
    assert cp.returncode == 1
    assert 'the recipe asks "IMAP port?" and there is no terminal to ask on' in cp.stderr
    assert "-D IMAP_PORT=VALUE" in cp.stderr
    assert "-y to take the default '1143'" in cp.stderr
    assert_unchanged(instance, before, hist)
    # the unnamed read() is READ1
    cp = run(instance, recipe("ask.lua"), "-D", "IMAP_PORT=1143")
    assert cp.returncode == 1 and "-D READ1=VALUE" in cp.stderr
    assert_unchanged(instance, before, hist)


def test_yes_takes_the_defaults(instance):
    cp = run(instance, recipe("ask.lua"), "-y", check=True)
    assert "port 1143\n" in cp.stdout
    assert one(instance, "imap.port") == "1143"
    assert instance.show("imap.banner") == {}


def test_dry_run_prints_the_differences_and_writes_nothing(instance):
    before, hist = instance.snapshot(), instance.history()
    cp = run(instance, "LMTPSingleSystem", "-y", "--dry-run", check=True)
    assert "recipe LMTPSingleSystem would make these changes:" in cp.stdout
    assert "added    role.channel:tcp_lmtpcs.port = 225" in cp.stdout
    assert "added    role.mapping:PORT_ACCESS.rule = TCP|*|225|127.0.0.1|* $Y" in cp.stdout
    assert re.search(r"^changed  role\.store\.enable", cp.stdout, re.M) is None
    assert cp.stdout.rstrip().endswith("dry run: nothing was written")
    assert_unchanged(instance, before, hist)
    # after a real run, a dry run has nothing to show
    run(instance, "LMTPSingleSystem", "-y", check=True)
    cp = run(instance, "LMTPSingleSystem", "-y", "-n", check=True)
    assert "recipe LMTPSingleSystem: no change" in cp.stdout


# ---- the shell: changes stay pending for write ----

def test_shell_script_keeps_pending_changes_on_failure(instance):
    seq = instance.active_seq()
    cp = instance.script(
        "set imap.idletimeout 41\n"
        f"run {recipe('error_call.lua')}\n"
        f"run {recipe('ask.lua')} -y\n"
        "diff\n"
        "write\n", check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "nothing was changed; pending changes are as they were" in cp.stderr
    assert "recipe ask: 1 change pending" in cp.stdout
    assert "added    role.imap.idletimeout = 41" in cp.stdout
    assert "added    role.imap.port = 1143" in cp.stdout or "changed  role.imap.port" in cp.stdout
    assert f"wrote configuration {seq + 1}" in cp.stdout
    hist = instance.history()
    assert hist[0][1] == seq + 1
    assert hist[0][4] == "set imap.idletimeout 41; recipe ask", hist[0]
    assert one(instance, "imap.idletimeout") == "41"
    assert one(instance, "imap.port") == "1143"


def test_shell_run_without_write_writes_nothing(instance):
    before, hist = instance.snapshot(), instance.history()
    cp = instance.script(f"run {recipe('ask.lua')} -y\n", check=False)
    assert cp.returncode == 1
    assert "recipe ask: 1 change pending" in cp.stdout
    assert "unwritten changes" in cp.stderr
    assert_unchanged(instance, before, hist)


def test_interactive_run_in_the_shell(instance, shell_factory):
    """T72: the seed's back end asks for this host, then front ends until <RET>."""
    seq = instance.active_seq()
    sh = shell_factory()
    sh.expect_exact(CLEAN)
    sh.sendline(f"run {recipe('backendLMTP_seed.lua')}")
    sh.expect_exact("Enter the IP address of this host: ")
    sh.sendline("10.1.1.3")
    sh.expect_exact("Enter the IP address of a frontend machine (<RET> if no more): ")
    sh.sendline("10.1.1.1")
    sh.expect_exact("Enter the IP address of a frontend machine (<RET> if no more): ")
    sh.sendline("")
    sh.expect_exact("-- INFO: Adding tcp_lmtpss channel")
    sh.expect_exact('use "write -remark backendLMTP.rcp" to write out the changes')
    sh.expect(r"recipe backendLMTP_seed: (\d+) changes pending")
    assert int(sh.match.group(1)) > 4
    sh.expect_exact(DIRTY)
    assert instance.active_seq() == seq, "the shell wrote before write"
    sh.sendline("diff")
    sh.expect_exact("added    role.mapping:PORT_ACCESS.rule = TCP|*|225|10.1.1.3|* $Y")
    sh.expect_exact(DIRTY)
    sh.sendline("write -remark backendLMTP.rcp")
    sh.expect_exact(f"wrote configuration {seq + 1}")
    sh.expect_exact(CLEAN)
    sh.sendline("exit")
    sh.expect(pexpect.EOF)
    assert instance.history()[0][4] == "backendLMTP.rcp"
    assert values(instance, "mapping:PORT_ACCESS.rule")["role.mapping:PORT_ACCESS.rule"][:4] == [
        "TCP|*|225|10.1.1.3|* $Y", "TCP|*|226|10.1.1.3|* $Y",
        "TCP|*|225|10.1.1.1|* $Y", "TCP|*|226|10.1.1.1|* $Y"]


def test_interactive_prompt_asks_again_and_takes_default(instance, shell_factory):
    seq = instance.active_seq()
    sh = shell_factory()
    sh.expect_exact(CLEAN)
    sh.sendline(f"run {recipe('ask.lua')}")
    sh.expect_exact("IMAP port? [1143] ")
    sh.sendline("abc")
    sh.expect_exact("'abc' is not valid: it must match the pattern %d+")
    sh.expect_exact("IMAP port? [1143] ")
    sh.sendline("")
    sh.expect_exact("Banner: ")
    sh.sendline("Hello from a recipe")
    sh.expect_exact("recipe ask: 2 changes pending")
    sh.expect_exact(DIRTY)
    sh.sendline("write")
    sh.expect_exact(f"wrote configuration {seq + 1}")
    sh.expect_exact(CLEAN)
    sh.sendline("exit")
    sh.expect(pexpect.EOF)
    assert instance.history()[0][4] == "recipe ask"
    assert one(instance, "imap.port") == "1143"
    assert one(instance, "imap.banner") == "Hello from a recipe"


def test_one_shot_on_a_terminal_asks_and_commits(instance):
    seq = instance.active_seq()
    child = pexpect.spawn(str(MSCONFIG), ["run", "LMTPSingleSystem"], env=instance.env,
                          encoding="utf-8", timeout=15)
    try:
        child.expect_exact("Port of the LMTP server? [225] ")
        child.sendline("2225")
        child.expect_exact(f"wrote configuration {seq + 1}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert one(instance, "channel:tcp_lmtpcs.port") == "2225"
    assert instance.history()[0][4] == "recipe LMTPSingleSystem"
