"""Issue 14, item 6: the reference, as a tool, never hides what it could not read (SPEC.md ERR-012).

Unreadable folders need a user the permission bits apply to: as root the commands run as `nobody`
through setpriv (util-linux); corrupt `.zst` files need no such thing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers.cli import cli
from conformance.api import exit_codes
from conformance.oracle import homegen

NOBODY = 65534


def _as_user(*args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "conformance.cli", *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux): permission bits cannot be tested")
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.fixture
def demo():
    # Not under pytest's tmp_path: its parents are private to root, so `nobody` could not reach it.
    root = Path(tempfile.mkdtemp(prefix="rollout-unreadable-"))
    home = root / "home"
    homegen.demo_home(home, count=30, seed=3)
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
    yield home
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o755)
    shutil.rmtree(root)


def _hidden_day(home):
    day = sorted(p for p in (home / "sessions").glob("*/*/*") if p.is_dir())[0]
    os.chmod(day, 0o000)
    return day


@pytest.mark.parametrize("command", [["list"], ["search", "e"], ["cleanup"], ["compress", "--dry-run"], ["compress"]])
def test_an_unreadable_folder_is_named_and_exits_5(demo, command):
    """Before: with one day folder unreadable, `list` showed 224 of 235 rollouts and exited 0."""
    day = _hidden_day(demo)
    try:
        done = _as_user(*command, "--home", str(demo))
    finally:
        os.chmod(day, 0o755)
    assert done.returncode == exit_codes.UNREADABLE, f"exit {done.returncode}\n{done.stdout[-1000:]}\n{done.stderr}"
    assert f"warning: could not read [io_error] EACCES: Permission denied: cannot list folder {day}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["list"], ["search", "e"], ["cleanup"], ["compress"]])
def test_an_unreadable_home_is_one_line_never_a_traceback(demo, command):
    """Before: `list`, `search` and `cleanup` exited 0 with nothing; `compress` died with a traceback."""
    os.chmod(demo, 0o000)
    try:
        done = _as_user(*command, "--home", str(demo))
    finally:
        os.chmod(demo, 0o755)
    assert done.returncode in (exit_codes.FAILED, exit_codes.USAGE, exit_codes.UNREADABLE), done.stderr
    assert "Traceback" not in done.stderr and "Permission denied" in done.stderr
    assert done.returncode != exit_codes.PASSED


def test_search_names_a_corrupt_zst_instead_of_skipping_it(tmp_path):
    home = tmp_path / "home"
    homegen.demo_home(home, count=20, seed=4)
    assert cli("compress", "--home", str(home), "--cold-after", "0").returncode == 0
    zst = sorted(home.glob("sessions/**/*.jsonl.zst"))[0]
    zst.write_bytes(b"\x28\xb5\x2f\xfd garbage")
    done = cli("search", "--home", str(home), "e")
    assert done.returncode == exit_codes.UNREADABLE, done.stderr
    assert "warning: could not read [corrupt]" in done.stderr and str(zst) in done.stderr
    assert done.stdout.strip(), "the readable rollouts' hits are still printed"


def test_compress_reports_a_conflict_as_a_conflict_on_every_run(tmp_path):
    """Before: a plain + garbage .zst pair was "both representations fixed 1" on every run, changing nothing."""
    home = tmp_path / "home"
    homegen.demo_home(home, count=20, seed=5)
    plain = sorted(p for p in home.glob("sessions/**/*.jsonl"))[0]
    (plain.parent / (plain.name + ".zst")).write_bytes(b"garbage, not zstd")
    for _ in range(2):
        done = cli("compress", "--home", str(home))
        assert "both representations fixed  0" in done.stdout, done.stdout
        assert f"warning: conflict: {plain.relative_to(home)}" in done.stderr, done.stderr
        assert done.returncode == exit_codes.UNREADABLE
