"""meson install into a prefix: the installed programs find their data
relative to the prefix, with no MS_DATADIR and no build tree.

One private build for the whole session (it compiles the tree once)."""
import os
import shutil
import subprocess

import pytest

from conftest import REPO, init_config_args, parse_cnf

pytestmark = pytest.mark.slow

PROGRAMS = ("msconfig", "init-config", "configutil")


@pytest.fixture(scope="session")
def prefix(tmp_path_factory):
    top = tmp_path_factory.mktemp("install")
    build, prefix = top / "b", top / "p"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MS_")}
    for cmd in (["meson", "setup", str(build), str(REPO), f"--prefix={prefix}"],
                ["meson", "install", "-C", str(build), "--quiet"]):
        cp = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if cp.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} exited {cp.returncode}\n{cp.stdout[-4000:]}\n"
                        f"{cp.stderr[-4000:]}")
    return prefix


def installed_env(root=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MS_")}
    env.pop("SERVERROOT", None)
    if root is not None:
        env["SERVERROOT"] = str(root)
    return env


def run(prog, *args, root=None, check=True, cwd="/"):
    cp = subprocess.run([str(prog), *map(str, args)], env=installed_env(root), cwd=cwd,
                        capture_output=True, text=True, timeout=30)
    if check:
        assert cp.returncode == 0, f"{prog} {args}: {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp


def test_install_layout(prefix):
    for p in PROGRAMS:
        assert os.access(prefix / "bin" / p, os.X_OK), p
    assert (prefix / "share" / "messaging-server" / "config.xsd").is_file()


def check_prefix_works(prefix, root):
    bin_ = prefix / "bin"
    run(bin_ / "init-config", *init_config_args(13000), root=root)
    cp = run(bin_ / "msconfig", "set", "imap.idletimeout", "41", root=root)
    assert "wrote configuration 2" in cp.stdout
    assert run(bin_ / "msconfig", "show", "imap.idletimeout", root=root).stdout == \
        "role.imap.idletimeout = 41\n"
    assert "is valid" in run(bin_ / "msconfig", "check", root=root).stdout
    assert parse_cnf(root / "config" / "compiled" / "config.cnf")["imap.idletimeout"] == ["41"]
    assert run(bin_ / "configutil", "-o", "service.imap.port", root=root).stdout == "13143\n"
    # The schema (from the prefix) is what validates values.
    cp = run(bin_ / "msconfig", "set", "mta.mm_debug", "99", root=root, check=False)
    assert cp.returncode != 0 and "from 0 to 20" in cp.stderr


def test_installed_programs_find_their_data(prefix, tmp_path):
    check_prefix_works(prefix, tmp_path / "instance")


def test_installed_tree_can_move(prefix, tmp_path):
    moved = tmp_path / "elsewhere" / "prefix"
    shutil.copytree(prefix, moved, symlinks=True)
    check_prefix_works(moved, tmp_path / "instance")


def test_default_serverroot_is_under_the_prefix(prefix):
    cp = run(prefix / "bin" / "msconfig", "--help")
    assert f"now {prefix}/var" in cp.stdout, cp.stdout
