"""The codex store selection against the real Codex CLI 0.171.0 (skipped when it is not installed).

Install it with ``rollout-conformance codex install`` (``.ci/run`` does when npm is available).
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from conformance.oracle import disk as oracle
from conformance.stores.codex.install import CodexMissing, PINNED_VERSION, find_binary
from conformance.api.errors import Inconclusive
from conformance.stores.selection import SelectionError, describe, open_store, serve_command
from conformance.api.store import Store, UndeclaredCapabilityError
from conformance.suite import kit
from race_harness.history import make_header, make_line, rids_in

try:
    find_binary()
    _MISSING = None
except CodexMissing as exc:
    _MISSING = str(exc)

needs_codex = pytest.mark.skipif(_MISSING is not None, reason=f"codex not installed: {_MISSING}")
WEEK = 7 * 86_400


@pytest.fixture
def home(tmp_path):
    (tmp_path / "sessions").mkdir()
    (tmp_path / "archived_sessions").mkdir()
    return tmp_path


@pytest.fixture
def codex(home):
    store = open_store("codex")
    try:
        store.configure(os.fspath(home), WEEK)
        yield store
    finally:
        store.close()


def test_a_missing_binary_is_inconclusive_with_the_reason(tmp_path):
    store = open_store(f"codex:{tmp_path / 'no-such-codex'}")
    with pytest.raises(Inconclusive, match="cannot run .*no-such-codex"):
        store.hello()
    with pytest.raises(Inconclusive, match="codex install"):
        store.configure(os.fspath(tmp_path), WEEK)


@needs_codex
def test_handshake_declares_what_codex_really_does(codex):
    assert isinstance(codex, Store)
    hello = codex.hello()
    assert hello.version == f"codex-cli {PINNED_VERSION}"
    assert hello.capabilities == ("compressor", "session-writer")
    assert hello.coordination == ("codex-thread-locks",) and hello.failpoints == ()
    with pytest.raises(UndeclaredCapabilityError):
        codex.read("sessions/2025/01/03/rollout-2025-01-03T12-00-00-0199a213-81c0-7800-8aa1-bbab2a035a53.jsonl")


@needs_codex
def test_a_real_pass_compresses_a_back_dated_cold_rollout(codex, home):
    cold = kit.make_rollout(home, old=True, minute=1)
    fresh = kit.make_rollout(home, minute=2)
    report = codex.run_worker()
    assert report.ran
    assert report.outcomes == {cold.rel: "compressed", fresh.rel: "skipped_not_cold"}
    assert oracle.representations(home, cold.rel) == (cold.zst,)
    assert oracle.decode_zst(home / cold.zst) == cold.data
    assert oracle.representations(home, fresh.rel) == (fresh.rel,)
    # a second pass runs too: the adapter removes codex's 6 h cooldown marker first
    assert codex.run_worker().ran


@needs_codex
def test_compress_one_rollout_leaves_the_others_alone(codex, home):
    target = kit.make_rollout(home, old=True, minute=1)
    other = kit.make_rollout(home, old=True, minute=2)
    assert codex.compress(target.rel) == "compressed"
    assert oracle.representations(home, target.rel) == (target.zst,)
    assert oracle.representations(home, other.rel) == (other.rel,)
    assert not any(name.endswith(".lock") and other.id in name for name in os.listdir(home / "thread-writer-locks"))


@needs_codex
def test_compress_creates_the_others_lock_files_only_under_the_coordination_lock(codex, home):
    """As codex and the reference do: else a writer could lock a lock file the adapter then unlinks."""
    target = kit.make_rollout(home, old=True, minute=1)
    other = kit.make_rollout(home, old=True, minute=2)
    other_lock = home / "thread-writer-locks" / f"{other.id}.lock"
    with kit.holding_coordination_lock(home):
        thread, outcome = kit.in_thread(codex.compress, target.rel)
        thread.join(1.0)  # time enough to create a lock file, were it not waiting for ours
        assert not other_lock.exists() and thread.is_alive()
    thread.join(60)
    assert outcome == {"value": "compressed"}
    assert oracle.representations(home, other.rel) == (other.rel,)


@needs_codex
def test_a_pass_blocked_by_the_maintenance_lock_did_not_run(codex, home):
    cold = kit.make_rollout(home, old=True)
    lock = home / ".tmp" / "rollout-maintenance.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.touch()
    with kit.holding_lock(lock, exclusive=True):
        assert codex.run_worker().ran is False
        with pytest.raises(Inconclusive, match="maintenance lock"):
            codex.compress(cold.rel)
    assert oracle.representations(home, cold.rel) == (cold.rel,)


@needs_codex
def test_codex_judges_by_its_own_seven_days_whatever_is_configured(home):
    """A pass ignores the configured cold age; compress(path) is inconclusive where the two disagree."""
    fresh = kit.make_rollout(home, minute=1)
    cold = kit.make_rollout(home, old=True, minute=2)
    store = open_store("codex")
    try:
        store.configure(os.fspath(home), 0)
        with pytest.raises(Inconclusive, match="fixes the cold age at 7 days"):
            store.compress(fresh.rel)
        assert store.compress(cold.rel) == "compressed"  # cold under both ages: a verdict
        assert store.run_worker().outcomes == {fresh.rel: "skipped_not_cold"}
    finally:
        store.close()


@needs_codex
def test_thread_read_of_a_zst_changes_nothing(codex, home):
    r = kit.make_rollout(home, compressed=True, old=True, lines=2)
    before = oracle.snapshot(home)
    assert codex.read_messages(r.rel) == ["hello 0", "hello 1"]
    assert oracle.snapshot(home) == before


@needs_codex
def test_session_writer_lines_carry_record_ids_the_checker_finds(codex, home):
    rollout_id = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    rel = oracle.active_path(f"rollout-2025-01-03T12-00-00-{rollout_id}.jsonl")
    oracle.write_zst(home, rel + ".zst", (make_header(rollout_id, "h-0") + "\n").encode())
    handle = codex.open_writer(rel)
    assert oracle.representations(home, rel) == (rel,), "thread/resume materializes the .zst"
    codex.write(handle, make_line("w-1", 200))
    codex.write(handle, make_line("w-2", 10))
    codex.close_writer(handle)
    rids = rids_in(oracle.logical_content(home, rel))
    assert [rid for rid in rids if rid != "?"] == ["h-0", "w-1", "w-2"]
    lines = [json.loads(raw) for raw in oracle.logical_content(home, rel).splitlines()]
    copies = [line for line in lines if line["type"] == "response_item" and "w-1" in json.dumps(line)]
    assert len(copies) == 1, "codex also copies the text into one response_item message"


@needs_codex
def test_a_live_codex_writer_makes_its_pass_skip_the_rollout(codex, home):
    r = kit.make_rollout(home, old=True)
    handle = codex.open_writer(r.rel)
    oracle.backdate(home, r.rel, 8)  # resume set its mtime to now: age it past the cold age again
    assert codex.run_worker().outcomes == {r.rel: "skipped_busy"}
    codex.close_writer(handle)


@needs_codex
def test_a_hung_codex_is_inconclusive(codex, home):
    kit.make_rollout(home, old=True)
    codex.timeout = 2.0
    os.killpg(codex.server_pid, signal.SIGSTOP)  # codex can never answer now (the adapter kills it)
    with pytest.raises(Inconclusive, match="did not answer rollout/compress"):
        codex.run_worker()


def test_codex_selection_forms():
    assert "pinned install" in describe("codex")
    assert "/opt/codex" in describe("codex:/opt/codex")
    with pytest.raises(SelectionError, match="nothing after codex:"):
        describe("codex:")


@needs_codex
def test_served_codex_writes_through_the_stdio_protocol(home):
    """`serve --store codex` (how the race harness runs each actor): the session-writer ops pass the
    protocol, any writer op of the undeclared full profile is refused before it is sent."""
    rollout_id = "0199a213-81c0-7800-8aa1-bbab2a035a53"
    rel = oracle.active_path(f"rollout-2025-01-03T12-00-00-{rollout_id}.jsonl")
    oracle.write_plain(home, rel, (make_header(rollout_id, "h-0") + "\n").encode())
    store = open_store("cmd:" + serve_command("codex"))
    try:
        assert store.hello().capabilities == ("compressor", "session-writer")
        store.configure(os.fspath(home), 0)  # a writer does not care about the cold age
        handle = store.open_writer(rel)
        store.write(handle, make_line("w-1", 100))
        store.close_writer(handle)
        with pytest.raises(UndeclaredCapabilityError):
            store.append(rel, [make_line("w-2", 10)])
    finally:
        store.close()
    assert [rid for rid in rids_in(oracle.logical_content(home, rel)) if rid != "?"] == ["h-0", "w-1"]


def _codex_processes_on(home) -> list[int]:
    """Live codex processes whose CODEX_HOME is ``home``."""
    mark = f"CODEX_HOME={home}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if mark in handle.read().split(b"\0"):
                    found.append(int(pid))
        except OSError:
            continue  # gone, or not ours to read
    return found


@needs_codex
def test_a_killed_owner_crashes_its_codex_sessions_too(home):
    """A race kill SIGKILLs the actor: its codex must die unclean too, not see EOF and close the turn."""
    rollout_id = "0199a213-81c0-7800-8aa1-bbab2a035a54"
    rel = oracle.active_path(f"rollout-2025-01-03T12-00-00-{rollout_id}.jsonl")
    oracle.write_plain(home, rel, (make_header(rollout_id, "h-0") + "\n").encode())
    store = open_store("cmd:" + serve_command("codex"))
    try:
        store.configure(os.fspath(home), 0)
        store.write(store.open_writer(rel), make_line("w-1", 100))
        assert _codex_processes_on(home)
        os.kill(store.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _codex_processes_on(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _codex_processes_on(home), "codex outlived the process that started it"
    finally:
        store.close()
    last = json.loads(oracle.logical_content(home, rel).splitlines()[-1])
    assert last["payload"]["type"] == "user_message"  # no turn_aborted: codex never shut down cleanly


@needs_codex
def test_a_session_opened_in_a_short_lived_thread_outlives_the_thread(codex, home):
    """codex must die with the adapter's process, not with whichever thread happened to start it."""
    rollout_id = "0199a213-81c0-7800-8aa1-bbab2a035a55"
    rel = oracle.active_path(f"rollout-2025-01-03T12-00-00-{rollout_id}.jsonl")
    oracle.write_plain(home, rel, (make_header(rollout_id, "h-0") + "\n").encode())
    thread, outcome = kit.in_thread(codex.open_writer, rel)
    thread.join(60)
    time.sleep(0.5)  # room for a wrongly aimed death signal to land before the write
    codex.write(outcome["value"], make_line("w-1", 100))
    codex.close_writer(outcome["value"])
    assert "w-1" in rids_in(oracle.logical_content(home, rel))
