"""imsched, the scheduler (seed 002:1734-1808), running under the watcher.

Crontab matching itself (ranges, steps, the AND rule of the two day
fields) is tested in tests/unit/test_ctl.c against fixed dates; here the
real scheduler runs tasks on request (`imsched -run NAME`, so that no test
waits for a minute to turn), logs each run and its exit status, resolves
commands against the install, and takes configuration changes without a
restart."""
import re

from conftest import wait_until
from watcher_fixtures import alive, sched_only  # noqa: F401 (fixture)


def test_predefined_tasks_and_run_on_request(sched_only, tmp_path):
    sup = sched_only
    marker = tmp_path / "marker"
    sup.inst.script(
        f"set schedule.task:touch.crontab \"0 0 1 1 * /usr/bin/touch {marker}\"\n"
        "set schedule.task:fails.crontab \"0 0 1 1 * /bin/false\"\n"
        "set schedule.task:missing.crontab \"0 0 1 1 * bin/no-such-program\"\n"
        "set schedule.task:off.crontab \"* * * * * /bin/true\"\n"
        "set schedule.task:off.enable 0\n"
        "set schedule.task:badrange.crontab \"61 * * * * /bin/true\"\n"
        "write\n")
    sup.start_msg(check=0)
    pid = sup.pid("sched")
    # The six pre-defined tasks plus ours; the out-of-range one is refused with the rule.
    sup.wait_log(r"imsched ready: 10 tasks, 9 enabled", log="default")
    assert re.search(r"task badrange: crontab '61 \* \* \* \* /bin/true' not used: "
                     r"minute 61 is outside 0-59", sup.default_log())

    cp = sup.imsched("-run", "touch", check=0)
    m = re.fullmatch(r"task touch started \(PID (\d+)\)\n", cp.stdout)
    assert m, cp.stdout
    run = int(m.group(1))
    wait_until(marker.exists, what="the task's file")
    sup.wait_log(rf"task touch started: /usr/bin/touch {marker} \(PID {run}\)", log="default")
    sup.wait_log(rf"task touch \(PID {run}\) exited with status 0", log="default")

    cp = sup.imsched("-run", "fails", check=0)
    run = int(re.search(r"PID (\d+)", cp.stdout).group(1))
    sup.wait_log(rf"task fails \(PID {run}\) exited with status 1", log="default")

    cp = sup.imsched("-run", "missing", check=1)
    assert "cannot run bin/no-such-program" in cp.stderr
    assert "task missing: cannot run bin/no-such-program" in sup.default_log()
    assert sup.imsched("-run", "off", check=1).stderr == "task off is disabled\n"
    assert sup.imsched("-run", "nosuch", check=1).stderr == "no task nosuch\n"

    # lib/msprobe, relative to the install, runs the real msprobe.
    cp = sup.imsched("-run", "msprobe", check=0)
    run = int(re.search(r"PID (\d+)", cp.stdout).group(1))
    sup.wait_log(rf"task msprobe \(PID {run}\) exited with status \d+", log="default")
    assert re.search(rf"msprobe\[{run}\]: General (Information|Notice|Error): msprobe: ",
                     sup.default_log()) or "msprobe" in sup.default_log()
    assert sup.pid("sched") == pid and alive(pid)


def test_enable_and_crontab_take_effect_on_refresh(sched_only, tmp_path):
    sup = sched_only
    marker = tmp_path / "m2"
    sup.set_option("schedule.task:t.crontab", f"0 0 1 1 * /usr/bin/touch {marker}")
    sup.start_msg(check=0)
    pid = sup.pid("sched")
    gen = sup.inst.active_seq()
    # Disabled with msconfig: the watcher refreshes imsched (no restart).
    cp = sup.set_option("schedule.task:t.enable", "0")
    assert f"Refreshing sched server {pid} .... done" in cp.stdout
    sup.wait_log(rf"imsched\[{pid}\]: General Notice: config generation {gen + 1} loaded",
                 log="default")
    assert sup.imsched("-run", "t", check=1).stderr == "task t is disabled\n"
    # `refresh sched` by hand re-reads as well.
    sup.set_option("schedule.task:t.enable", "1")
    sup.refresh("sched", check=0)
    sup.wait_log(rf"imsched\[{pid}\]: General Notice: config generation {gen + 2} loaded",
                 log="default")
    sup.imsched("-run", "t", check=0)
    wait_until(marker.exists, what="the re-enabled task ran")
    assert sup.pid("sched") == pid
