"""`rollout-conformance compress` over a generated home of a few hundred rollouts, as a user runs it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from conformance.oracle import disk as oracle
from conformance.oracle import homegen


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True, timeout=300
    )


def listing(home) -> list[str]:
    out = cli("list", "--home", str(home), "--json")
    assert out.returncode == 0, out.stderr
    return sorted(json.loads(line)["path"] for line in out.stdout.splitlines())


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo")
    manifest = homegen.demo_home(home, count=240, seed=7)
    before = {
        "list": listing(home),
        "archived": sorted(
            json.loads(line)["path"]
            for line in cli("list", "--home", str(home), "--archived", "--json").stdout.splitlines()
        ),
        "search": cli("search", "--home", str(home), "please fix").stdout,
    }
    first = cli("compress", "--home", str(home))
    second = cli("compress", "--home", str(home))
    return manifest, before, first, second


def test_compresses_exactly_the_cold_rollouts_and_keeps_every_byte(demo):
    manifest, _before, first, _second = demo
    assert first.returncode == 0, first.stdout + first.stderr
    home = manifest.home
    cold_plain = [r for r in manifest.rollouts if r.old and not r.compressed]
    assert cold_plain, "the demo home must contain cold plain rollouts"
    for rollout in manifest.rollouts:
        expected = (rollout.logical + ".zst",) if rollout.old else (rollout.logical,)
        assert oracle.representations(home, rollout.logical) == expected, rollout
        content = oracle.logical_content(home, rollout.logical)
        assert hashlib.sha256(content).hexdigest() == rollout.sha256
        physical = home / (rollout.logical + (".zst" if rollout.old else ""))
        st = os.stat(physical)
        assert st.st_mode & 0o7777 == rollout.mode
        assert st.st_mtime_ns == rollout.mtime_ns


def test_summary_counts_and_stale_temps(demo):
    manifest, _before, first, _second = demo
    newly = sum(1 for r in manifest.rollouts if r.old and not r.compressed)
    assert f"compressed                   {newly}" in first.stdout
    home = manifest.home
    for temp, stale in manifest.temps:
        assert (home / temp).exists() != stale, temp
    assert f"stale temps removed         {sum(1 for _, s in manifest.temps if s)}" in first.stdout


def test_second_run_changes_nothing(demo):
    manifest, _before, _first, second = demo
    assert second.returncode == 0, second.stderr
    assert "  compressed " not in second.stdout
    assert "stale temps removed         0" in second.stdout


def test_reads_listing_and_search_unchanged(demo):
    manifest, before, _first, _second = demo
    home = manifest.home
    assert listing(home) == before["list"]
    assert cli("search", "--home", str(home), "please fix").stdout == before["search"]
    sample = manifest.rollouts[::37]
    for rollout in sample:
        out = cli("read", "--home", str(home), rollout.logical)
        assert out.returncode == 0
        found = cli("find", "--home", str(home), rollout.id)
        assert found.stdout.strip().startswith(rollout.logical)


def test_home_that_is_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "not-a-home"
    target.write_text("x")
    out = cli("compress", "--home", str(target))
    assert out.returncode == 2
    assert "invalid_home" in out.stderr and "not a folder" in out.stderr
