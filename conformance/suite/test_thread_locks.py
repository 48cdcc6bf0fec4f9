"""CTL: the codex-thread-locks scheme, observed from a test process that takes the locks as codex does.

Every lock here is taken by this process with flock(2) on the files codex 0.171.0 uses
(``thread-writer-locks/<id>.lock`` under ``thread-writer-locks/.coordination.lock``); the store
under test is only ever asked through its public operations.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.suite import kit

MARKER = Path(".tmp") / "rollout-compression.lock"
HOUR_NS = 3600 * 10**9


def _data_snapshot(home: Path) -> dict:
    return {rel: st for rel, st in oracle.snapshot(home).items() if not rel.startswith(".tmp/")}


# --- CTL-001: every writer holds the thread lock ------------------------------------------------


@pytest.mark.req("CTL-001")
def test_open_writer_holds_the_thread_lock_until_closed(store, home):
    """While a writer handle is open, LOCK_EX|LOCK_NB on its thread lock fails; closing frees it."""
    r = kit.make_rollout(home)
    handle = store.open_writer(r.rel)
    try:
        store.write(handle, kit.line_text("while-held"))
        assert kit.thread_lock_held(home, r.id), "an open writer handle holds no thread lock"
    finally:
        store.close_writer(handle)
    assert not kit.thread_lock_held(home, r.id), "the thread lock outlived close_writer"


@pytest.mark.req("CTL-001")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("op", ["append", "create", "materialize"])
def test_short_writers_hold_the_thread_lock(store_selection, home, op):
    """An append or create held before its write, a materialize held after its link: the thread
    lock is held at that instant."""
    r = kit.unwritten_rollout() if op == "create" else kit.make_rollout(home, compressed=op == "materialize")
    point = "materialize.after_link" if op == "materialize" else "append.before_write"
    line = kit.line_text(f"{op}-held")
    with kit.failpoint_session(store_selection, home) as session:
        args = (r.rel,) if op == "materialize" else (r.rel, [line])
        with session.held_at(point, getattr(session.store, op), *args) as box:
            held = kit.thread_lock_held(home, r.id)
        assert "error" not in box, box.get("error")
    assert held, f"{op} reached {point} without holding thread-writer-locks/{r.id}.lock"


# --- CTL-002: lock files only under the coordination lock ---------------------------------------


@pytest.mark.req("CTL-002")
def test_writer_takes_its_thread_lock_only_under_the_coordination_lock(store, home):
    """While the test holds the coordination lock, open_writer takes no thread lock; released, it
    proceeds, and the coordination lock is free while the handle stays open."""
    r = kit.make_rollout(home)
    with kit.holding_coordination_lock(home):
        thread, box = kit.start_at_held_lock(kit.coordination_lock_path(home), "open_writer",
                                             store.open_writer, r.rel)
        taken_meanwhile = kit.thread_lock_held(home, r.id)
    kit.finish(thread, "open_writer, once the test released the coordination lock,")
    assert "error" not in box, box.get("error")
    try:
        assert not taken_meanwhile, "the thread lock was taken while the test held the coordination lock"
        assert kit.thread_lock_held(home, r.id)
        assert not kit.lock_nb_fails(kit.coordination_lock_path(home)), \
            "the writer keeps the coordination lock while its handle is open"
    finally:
        store.close_writer(box["value"])


# --- CTL-003: the compressor probes the thread lock under the coordination lock ------------------


@pytest.mark.req("CTL-003")
def test_thread_lock_held_like_codex_makes_compression_skip_busy(store, home):
    """A cold rollout whose thread lock the test holds (as a live codex session does): compress and
    run_worker report skipped_busy and change nothing; released, it is compressed."""
    r = kit.make_rollout(home, old=True)  # 8 days old: cold under the default 7-day threshold
    before = _data_snapshot(home)
    with kit.holding_thread_lock(home, r.id):
        assert store.compress(r.rel) == "skipped_busy"
        assert store.run_worker().outcomes.get(r.rel) == "skipped_busy"
        assert _data_snapshot(home) == before
    assert store.compress(r.rel) == "compressed"
    assert oracle.logical_content(home, r.rel) == r.data


@pytest.mark.req("CTL-003")
@pytest.mark.needs("failpoints")
def test_compressor_holds_the_coordination_lock_until_the_unlink(store_selection, home):
    """Held at compress.before_unlink, the compressor still holds the coordination lock."""
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("compress.before_unlink", session.store.compress, r.rel) as box:
            held = kit.lock_nb_fails(kit.coordination_lock_path(home))
        assert box.get("value") == "compressed", box
    assert held, "the coordination lock was free between the probe and the unlink of the plain file"


# --- CTL-004: a held lock file is never unlinked -------------------------------------------------


@pytest.mark.req("CTL-004")
@pytest.mark.needs("compressor")
def test_a_held_thread_lock_file_is_never_swept(store, home):
    """The test holds an old-looking thread lock while the store writes other rollouts and runs the
    worker: the lock file at that path is still the inode the test holds."""
    idle = kit.make_rollout(home, minute=1)
    busy = kit.make_rollout(home, minute=2)
    with kit.holding_thread_lock(home, idle.id) as fd:
        two_days_ago = time.time_ns() - 48 * HOUR_NS
        os.utime(fd, ns=(two_days_ago, two_days_ago))
        handle = store.open_writer(busy.rel)
        store.write(handle, kit.line_text("other-thread"))
        store.close_writer(handle)
        store.append(busy.rel, [kit.line_text("other-thread-again")])
        store.run_worker()
        path = kit.thread_lock_path(home, idle.id)
        assert path.exists(), "a thread lock file held by a live process was unlinked"
        assert os.stat(path).st_ino == os.fstat(fd).st_ino, "a held thread lock file was replaced"


@pytest.mark.req("CTL-004")
def test_closing_one_of_two_writers_of_a_thread_keeps_the_lock_of_the_other(store_selection, store, home):
    """Two writers of one thread (one rollout id), the second from another store instance: when the
    first closes, the second still holds ``<id>.lock`` at its path (a closing writer that unlinks a
    lock file someone else holds leaves the second writer invisible to codex's compressor).  The first
    closes once the second has opened the lock file: a store whose writers take it exclusively
    opens the second once the first has closed."""
    r = kit.make_rollout(home)
    first = store.open_writer(r.rel)
    other = kit.fresh_store(store_selection, home)
    try:
        store.write(first, kit.line_text("first-writer"))
        # the first closes once the second has opened the lock file (shares it, or waits for it)
        thread, box = kit.start_at_held_lock(kit.thread_lock_path(home, r.id), "the second writer's open_writer",
                                             other.open_writer, r.rel)
        store.close_writer(first)
        kit.finish(thread, "the second writer's open_writer")
        if "error" in box:
            raise box["error"]  # COORD-010: concurrent writers of one rollout all succeed
        second = box["value"]
        try:
            assert kit.thread_lock_held(home, r.id), (
                "closing one writer removed (or freed) thread-writer-locks/<id>.lock while a second writer "
                "of the same thread still held it")
            other.write(second, kit.line_text("second-writer"))
        finally:
            other.close_writer(second)
    finally:
        other.close()
    assert not kit.thread_lock_held(home, r.id), "the thread lock outlived both writers"


# --- CTL-005: delete claims, archive renames under the coordination lock ------------------------


@pytest.mark.req("CTL-005")
def test_delete_with_a_thread_lock_held_is_busy(store, home):
    """With the test holding the thread lock, delete fails with busy and nothing changes."""
    r = kit.make_rollout(home)
    before = _data_snapshot(home)
    with kit.holding_thread_lock(home, r.id):
        assert kit.error_kind(store.delete, r.rel) == "busy"
    assert _data_snapshot(home) == before


@pytest.mark.req("CTL-005")
def test_archive_waits_for_the_coordination_lock(store, home):
    """With the test holding the coordination lock, archive does not move the rollout; released, it does."""
    r = kit.make_rollout(home)
    with kit.holding_coordination_lock(home):
        thread, box = kit.start_at_held_lock(kit.coordination_lock_path(home), "archive", store.archive, r.rel)
        moved_meanwhile = oracle.representations(home, r.rel) != (r.rel,)
    kit.finish(thread, "archive, once the test released the coordination lock,")
    assert "error" not in box, box.get("error")
    assert not moved_meanwhile, "archive renamed the rollout while the test held the coordination lock"
    assert oracle.representations(home, oracle.archived_path(Path(r.rel).name)) != ()


# --- CTL-006: the 6 h run marker -----------------------------------------------------------------


@pytest.mark.zones
@pytest.mark.req("CTL-006")
@pytest.mark.parametrize("age_hours, runs", [(0, False), (5, False), (7, True)])
def test_run_marker_younger_than_six_hours_blocks_a_run(store, home, age_hours, runs):
    """codex's marker ``pid=… started_at=…``: younger than 6 h, no run and nothing changed; older, a run."""
    r = kit.make_rollout(home, old=True)
    marker = home / MARKER
    marker.parent.mkdir(exist_ok=True)
    marker.write_text(f"pid=4242 started_at={int(time.time()) - age_hours * 3600}\n")
    stamp = time.time_ns() - age_hours * HOUR_NS
    os.utime(marker, ns=(stamp, stamp))
    before = _data_snapshot(home)
    report = store.run_worker()
    assert report.ran is runs
    if runs:
        assert report.outcomes.get(r.rel) == "compressed"
    else:
        assert _data_snapshot(home) == before


# --- CTL-007: recovery claims before unlinking ---------------------------------------------------


@pytest.mark.req("CTL-007")
def test_recovery_leaves_a_pair_alone_while_its_thread_lock_is_held(store, home):
    """Plain + equal `.zst` (a codex resume between its link and its unlink) with the thread lock
    held: cleanup and run_worker keep both; released, cleanup reconciles them."""
    r = kit.make_rollout(home, old=True)
    oracle.write_zst(home, r.zst, r.data, 0o600)
    with kit.holding_thread_lock(home, r.id):
        store.cleanup()
        store.run_worker()
        assert oracle.representations(home, r.rel) == (r.rel, r.zst), \
            "recovery unlinked a representation while a writer held the thread lock"
    report = store.cleanup()
    assert r.rel in report.reconciled
    assert oracle.representations(home, r.rel) == (r.zst,)
