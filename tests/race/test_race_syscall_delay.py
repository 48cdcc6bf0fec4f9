"""--syscall-delay runs any store under strace with delays injected at chosen syscalls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from conformance.oracle import disk as oracle
from conformance.stores.codex.install import missing_reason
from conformance.runtime.processes import descendants
from conformance.stores.selection import open_store
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


def _program(pid: int) -> str | None:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None  # ended meanwhile (a short-lived helper)


def _delayed(lines: list[str], call: str) -> bool:
    """Whether strace's log shows ``call`` returning ``(DELAYED)``: on its own line or, when another
    thread's syscall interleaved (``<unfinished ...>``), on the same thread's ``<... resumed>`` line."""
    name = call.split("(", 1)[0]
    for at, line in enumerate(lines):
        if call not in line:
            continue
        if "(DELAYED)" in line:
            return True
        if line.endswith("<unfinished ...>"):
            thread = line.split()[0]
            resumed = next((later for later in lines[at + 1:]
                            if later.startswith(thread + " ") and f"<... {name} resumed>" in later), "")
            if "(DELAYED)" in resumed:
                return True
    return False


def _tracer_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("TracerPid:")).split()[1])


@needs_strace
@pytest.mark.skipif(missing_reason() is not None, reason=f"codex not installed: {missing_reason()}")
def test_delays_land_in_the_codex_app_server_the_adapter_starts(tmp_path):
    """codex has no failpoints: --syscall-delay must reach the app-server processes its adapter spawns."""
    home, log = tmp_path / "home", tmp_path / "strace.log"
    (home / "sessions").mkdir(parents=True)
    rollout = kit.make_rollout(home, old=True)
    store = open_store(delayed_selection("codex", SyscallDelay(("unlink", "unlinkat"), 1000), str(log)))
    try:
        store.configure(str(home), 7 * 86_400)
        assert store.run_worker().outcomes == {rollout.rel: "compressed"}
        strace_pid = store.pid
        codex_pids = [pid for pid in descendants(strace_pid) if _program(pid) == "codex"]
        assert codex_pids, "the adapter's codex app-server is not a descendant of the strace'd store program"
        assert {_tracer_of(pid) for pid in codex_pids} == {strace_pid}
    finally:
        store.close()
    # codex's unlink of the plain rollout after publishing the .zst was delayed (strace names the
    # thread, not the process; only codex unlinks a rollout here: the adapter never does)
    lines = log.read_text().splitlines()
    assert _delayed(lines, f'unlink("{home / rollout.rel}"'), [line for line in lines if "unlink" in line]
    assert oracle.logical_content(home, rollout.rel) == rollout.data
