"""--syscall-delay runs any store under strace with delays injected at chosen syscalls."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from conformance import oracle
from conformance.selection import open_store
from conformance.suite import kit
from race_harness.syscall_delay import SyscallDelay, SyscallDelayError, delayed_selection

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (.ci/run installs it)")


def test_spec_parsing_and_errors():
    assert SyscallDelay.parse("unlink,unlinkat:2500") == SyscallDelay(("unlink", "unlinkat"), 2500)
    with pytest.raises(SyscallDelayError, match="SYSCALL"):
        SyscallDelay.parse("unlink")


@needs_strace
def test_delay_really_slows_the_named_syscall(tmp_path):
    rollout = kit.make_rollout(tmp_path, old=True)
    store = open_store(delayed_selection("reference", SyscallDelay(("unlink", "unlinkat"), 400_000)))
    try:
        store.configure(str(tmp_path), 0)
        started = time.monotonic()
        assert store.compress(rollout.rel) == "compressed"  # unlinks plain and the temp name
        assert time.monotonic() - started >= 0.8
    finally:
        store.close()
    assert oracle.logical_content(tmp_path, rollout.rel) == rollout.data


@needs_strace
def test_race_cli_runs_a_store_under_strace(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "race", "--store", "reference", "--scenario", "r1-write-between-stats",
         "--syscall-delay", "unlink,unlinkat:1000", "--bundle-dir", str(tmp_path / "b"), "--workdir", str(tmp_path / "w")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
