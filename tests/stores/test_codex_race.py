"""codex 0.171.0 against itself, its windows held open by --syscall-delay (codex has no failpoints).

Each test parks a real codex pass inside one window (strace delays the syscall that closes it), waits
on the disk until the pass is provably there, then acts.  Skipped when codex or strace is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time

import pytest

from conformance.oracle import disk as oracle
from conformance.stores.codex import passes
from conformance.stores.codex.install import missing_reason
from conformance.api.errors import Inconclusive
from conformance.stores.selection import open_store
from race_harness.history import make_header, make_line
from race_harness.syscall_delay import SyscallDelay, delayed_selection

pytestmark = [
    pytest.mark.skipif(missing_reason() is not None, reason=f"codex not installed: {missing_reason()}"),
    pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed (.ci/run installs it)"),
]
WEEK = 7 * 86_400
HOLD_US = 3_000_000  # long enough for the other side to act inside the window; the test waits on the disk
UNLINK_HOLD_US = 1_000_000  # codex unlinks a dozen files as it starts: each waits this long too
WAIT_S = 60


@pytest.fixture
def cold(tmp_path):
    """A home with one rollout back-dated past codex's 7 days."""
    home = tmp_path / "home"
    (home / "sessions").mkdir(parents=True)
    rollout_id = "0199a213-81c0-7800-8aa1-bbab2a035a61"
    rel = oracle.active_path(f"rollout-2025-01-03T12-00-00-{rollout_id}.jsonl")
    oracle.write_plain(home, rel, (make_header(rollout_id, "h-0") + "\n" + make_line("h-1", 100) + "\n").encode())
    past = time.time() - 8 * 86_400
    os.utime(home / rel, (past, past))
    return home, rel


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"codex never got {what}"
        time.sleep(0.01)


def _coordination_lock_held(home) -> bool:
    return passes.lock_file_held(str(home / "thread-writer-locks" / ".coordination.lock"))


def _pass_in_background(store):
    """A thread running one pass; its result holds the report, or the error the pass raised."""
    result = {}

    def run() -> None:
        try:
            result["report"] = store.run_worker()
        except Exception as exc:  # noqa: BLE001 - handed to the test, which says what it expects
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_resume_waits_out_a_pass_parked_between_its_lock_probe_and_its_rename(cold):
    """The pass holds .coordination.lock from its writer-lock probe to its unlink; resume waits for it."""
    home, rel = cold
    compressor = open_store(delayed_selection("codex", SyscallDelay(("renameat2",), HOLD_US)))
    writer = open_store("codex")
    try:
        compressor.configure(str(home), WEEK)
        writer.configure(str(home), WEEK)
        thread, result = _pass_in_background(compressor)
        temps = lambda: list((home / os.path.dirname(rel)).glob("rollout-compress-*.tmp"))  # noqa: E731
        _wait_until(lambda: temps() and _coordination_lock_held(home), "past its writer-lock probe")
        handle = writer.open_writer(rel)  # codex polls the coordination lock: returns after the pass
        writer.write(handle, "resumed-inside-the-window")
        writer.close_writer(handle)
        thread.join(WAIT_S)
    finally:
        writer.close()
        compressor.close()
    assert result["report"].outcomes == {rel: "compressed"}  # the pass went through the window, not busy
    assert b"resumed-inside-the-window" in oracle.logical_content(home, rel)  # materialized from the .zst


def test_a_pass_killed_between_publish_and_unlink_leaves_a_pair_codex_never_reconciles(cold):
    """SIGKILL in the pass's rename-to-unlink window: codex then writes to the plain file, the .zst goes stale."""
    home, rel = cold
    compressor = open_store(delayed_selection("codex", SyscallDelay(("unlink",), UNLINK_HOLD_US)))
    try:
        compressor.configure(str(home), WEEK)
        thread, result = _pass_in_background(compressor)
        _wait_until(lambda: oracle.representations(home, rel) == (rel, rel + ".zst"), "to publish its .zst")
        strace = compressor.pid
        with open(f"/proc/{strace}/task/{strace}/children") as children:
            served = int(children.read().split()[0])  # the store program strace runs
        os.kill(served, signal.SIGKILL)  # and, by PR_SET_PDEATHSIG, the codex it started: a crash in the window
        thread.join(WAIT_S)
    finally:
        compressor.close()
    assert isinstance(result.get("error"), Inconclusive), result  # a crashed pass has no verdict
    store = open_store("codex")
    try:
        store.configure(str(home), WEEK)
        handle = store.open_writer(rel)
        store.write(handle, "after-the-crash")
        store.close_writer(handle)
        # the crashed pass's 6 h marker names a codex an adapter started: removed, so this pass runs
        assert store.run_worker().outcomes == {rel: "skipped_already_compressed"}
        assert store.read_messages(rel) == ["after-the-crash"]  # codex reads the plain file of the pair
    finally:
        store.close()
    assert oracle.representations(home, rel) == (rel, rel + ".zst")  # never reconciled
    assert b"after-the-crash" in (home / rel).read_bytes()
    assert b"after-the-crash" not in oracle.decode_zst(home / (rel + ".zst"))  # the stale half
