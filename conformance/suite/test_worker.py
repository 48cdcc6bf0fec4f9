"""The worker run: both areas, run exclusion (flock run lock, upstream marker), temp cleanup, failures.

Run locks are held from the test process or from real child processes; crashes mid-run come from
failpoints.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.api.errors import Inconclusive
from conformance.suite import kit

RUN_LOCK = Path(".tmp") / "rollout-maintenance.lock"
MARKER = Path(".tmp") / "rollout-compression.lock"
HOUR_NS = 3600 * 10**9


def _snap(home: Path) -> dict:
    """Everything under sessions/ and archived_sessions/ (the worker owns .tmp/)."""
    return {rel: st for rel, st in oracle.snapshot(home).items() if not rel.startswith(".tmp/")}


def _run_lock(home: Path) -> Path:
    path = home / RUN_LOCK
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_text('{"pid": 1, "heartbeat_ns": 0}\n')
    return path


_HOLDER = r"""
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
os.write(fd, b'{"pid": %d, "heartbeat_ns": %d}\n' % (os.getpid(), time.time_ns()))
fcntl.flock(fd, fcntl.LOCK_EX)
print("ready", flush=True)
sys.stdin.read()  # hold the lock until the test kills this process, however long the test takes
"""


@pytest.mark.zones
@pytest.mark.req("COMP-002", "COMP-014", "COMP-010")
def test_one_run_compresses_both_areas_and_cleans_temps(store, home):
    """Upstream case 9: old active (several date folders) and old archived rollouts become .zst only,
    a fresh rollout stays plain, a stale (8-day-old) temp is removed and a fresh one kept."""
    a = kit.make_rollout(home, old=True, minute=1)
    b_name = oracle.rollout_name(datetime(2024, 12, 31, 23, 59, 59), uuid.uuid4())
    b_rel = oracle.active_path(b_name)
    b_data = oracle.session_meta_line(oracle.parse_name(b_name)[1]) + oracle.user_message_line("other day")
    oracle.write_plain(home, b_rel, b_data, 0o600, time.time_ns() - 9 * kit.DAY_NS)
    arch = kit.make_rollout(home, old=True, archived=True, minute=2)
    fresh = kit.make_rollout(home, minute=3)
    stale_temp = a.rel + ".zst.compress.999999.0.tmp"
    fresh_temp = a.rel + ".zst.compress.999999.1.tmp"
    oracle.write_plain(home, stale_temp, b"x", 0o600, time.time_ns() - 8 * kit.DAY_NS)
    oracle.write_plain(home, fresh_temp, b"y", 0o600)
    report = store.run_worker()
    assert report.ran
    for rel, data in ((a.rel, a.data), (b_rel, b_data), (arch.rel, arch.data)):
        assert report.outcomes.get(rel) == "compressed", rel
        assert oracle.representations(home, rel) == (rel + ".zst",), rel
        assert oracle.decode_zst(home / (rel + ".zst")) == data
    assert oracle.representations(home, fresh.rel) == (fresh.rel,)
    assert report.outcomes.get(fresh.rel) in (None, "skipped_not_cold")
    assert stale_temp in report.temps_removed
    assert not (home / stale_temp).exists()
    assert (home / fresh_temp).exists(), "a fresh unowned temp must be kept"
    assert fresh_temp not in report.temps_removed


@pytest.mark.zones
@pytest.mark.req("COMP-014")
def test_cleanup_removes_only_stale_unowned_temps(store, home):
    """Upstream case 9 with the corpus: stale temps of every naming go, fresh ones stay."""
    case = fixtures.install("temps_stale_and_fresh", home)
    expected = case.expected["cleanup"]
    report = store.cleanup()
    assert sorted(report.temps_removed) == sorted(expected["removed"])
    for rel in expected["removed"]:
        assert not (home / rel).exists(), rel
    for rel in expected["kept"]:
        assert (home / rel).exists(), rel


@pytest.mark.req("COMP-014")
@pytest.mark.zones
def test_cleanup_judges_temp_age_by_the_clock_not_its_distance(store, home):
    """The 6 h rule of temps with a mtime in the future (kept: not stale) and before 1970 (stale)."""
    r = kit.make_rollout(home)
    future = r.rel + ".zst.compress.1.0.tmp"
    ancient = r.rel + ".zst.compress.1.1.tmp"
    oracle.write_plain(home, future, b"a", 0o600, time.time_ns() + 7 * HOUR_NS)
    oracle.write_plain(home, ancient, b"b", 0o600, -HOUR_NS)
    report = store.cleanup()
    assert (home / future).exists() and future not in report.temps_removed, "a temp with a future mtime is not stale"
    assert not (home / ancient).exists() and list(report.temps_removed) == [ancient], (
        "a temp whose mtime is before 1970 is older than 6 h")


@pytest.mark.zones
@pytest.mark.req("COMP-014")
def test_worker_run_removes_stale_temps_in_archived_area(store, home):
    """Temps under archived_sessions/ are cleaned by the run too, by the 6 h rule."""
    r = kit.make_rollout(home, archived=True)
    old = r.rel + ".zst.compress.1.0.tmp"
    young = r.rel + ".materialize.1.1.tmp"
    oracle.write_plain(home, old, b"a", 0o600, time.time_ns() - 7 * HOUR_NS)
    oracle.write_plain(home, young, b"b", 0o600, time.time_ns() - 5 * HOUR_NS)
    report = store.run_worker()
    assert report.ran
    assert list(report.temps_removed) == [old]
    assert not (home / old).exists() and (home / young).exists()


@pytest.mark.req("COMP-015")
@pytest.mark.parametrize("exclusive", [False, True])
def test_locked_temp_is_never_removed(store, home, exclusive):
    """A temp a live process holds a flock on stays, however old; once released it goes."""
    r = kit.make_rollout(home)
    temp = r.rel + ".zst.compress.424242.0.tmp"
    oracle.write_plain(home, temp, b"in flight", 0o600, time.time_ns() - 8 * kit.DAY_NS)
    with kit.holding_lock(home / temp, exclusive=exclusive):
        assert temp not in store.cleanup().temps_removed
        assert (home / temp).exists()
        report = store.run_worker()
        assert report.ran and temp not in report.temps_removed
        assert (home / temp).read_bytes() == b"in flight"
    assert temp in store.cleanup().temps_removed
    assert not (home / temp).exists()


@pytest.mark.req("COMP-011")
def test_run_lock_held_by_the_test_process(store, home):
    """Upstream case 10: while the run lock is held elsewhere a run changes nothing; after release it compresses."""
    r = kit.make_rollout(home, old=True)
    stale_temp = r.rel + ".zst.compress.1.0.tmp"
    oracle.write_plain(home, stale_temp, b"x", 0o600, time.time_ns() - 8 * kit.DAY_NS)
    lock = _run_lock(home)
    before = _snap(home)
    with kit.holding_lock(lock, exclusive=True):
        report = store.run_worker()
        assert report.ran is False
        assert _snap(home) == before, "a run that did not claim the home touched it"
    report = store.run_worker()
    assert report.ran and report.outcomes.get(r.rel) == "compressed"
    assert oracle.representations(home, r.rel) == (r.zst,)


@pytest.mark.req("COMP-011", "COMP-012", "COORD-011")
def test_run_lock_held_by_a_child_then_killed(store, home):
    """A live child holding the run lock blocks runs; once SIGKILLed, the lock file it leaves
    (with its content) does not block, and no lock file needs removing."""
    r = kit.make_rollout(home, old=True)
    lock = home / RUN_LOCK
    lock.parent.mkdir(exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lock)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        before = _snap(home)
        assert store.run_worker().ran is False
        assert _snap(home) == before
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdin.close()
        child.stdout.close()
    assert lock.exists() and lock.read_bytes(), "the killed holder left its lock file behind (as intended)"
    report = store.run_worker()
    assert report.ran is True
    assert report.outcomes.get(r.rel) == "compressed"


@pytest.mark.req("COMP-012")
@pytest.mark.parametrize("content", [b"", b"garbage\x00\xff", b'{"pid": 1, "heartbeat_ns": 1}\n'])
def test_unlocked_run_lock_file_does_not_block(store, home, content):
    """File existence is not ownership: an unlocked run lock file with any content does not block."""
    r = kit.make_rollout(home, old=True)
    lock = home / RUN_LOCK
    lock.parent.mkdir(exist_ok=True)
    lock.write_bytes(content)
    now = time.time_ns()
    os.utime(lock, ns=(now, now))
    report = store.run_worker()
    assert report.ran is True
    assert report.outcomes.get(r.rel) == "compressed"


@pytest.mark.req("COMP-012")
def test_missing_tmp_folder_is_created(store, home):
    """The store creates .tmp/ when it is missing and runs."""
    r = kit.make_rollout(home, old=True)
    assert not (home / ".tmp").exists()
    report = store.run_worker()
    assert report.ran
    assert (home / ".tmp").is_dir()
    assert report.outcomes.get(r.rel) == "compressed"


@pytest.mark.req("COMP-011", "COMP-012")
@pytest.mark.needs("failpoints")
def test_run_lock_is_held_for_the_whole_run(store_selection, home):
    """While a run is held mid-way, the run lock cannot be taken by the test and a second run
    (another process) reports ran = False and changes nothing."""
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session(store_selection, home, cold_after=0) as session:
        with session.held_at("compress.after_encode", session.store.run_worker) as outcome:
            assert (home / RUN_LOCK).exists(), "a run is in progress without the run lock file"
            assert kit.lock_nb_fails(home / RUN_LOCK), "a test process took LOCK_EX on the run lock during a run"
            second = kit.fresh_store(store_selection, home, 0)
            try:
                before = _snap(home)
                assert second.run_worker().ran is False, "two worker runs on one home ran at once"
                assert _snap(home) == before
            finally:
                second.close()
    assert "value" in outcome and outcome["value"].ran and outcome["value"].outcomes.get(r.rel) == "compressed"


@pytest.mark.req("COMP-012", "COORD-011")
@pytest.mark.needs("failpoints")
def test_run_killed_mid_way_does_not_block_the_next(store_selection, home):
    """A worker run killed with SIGKILL after claiming the home leaves no lock that blocks a later run."""
    r = kit.make_rollout(home, old=True)
    with kit.failpoint_session(store_selection, home, cold_after=0) as session:
        points = session.store.hello().failpoints
        point = "worker.after_claim" if "worker.after_claim" in points else "compress.after_open"
        session.answer(point, "crash")
        try:
            session.store.run_worker()
        except Inconclusive:
            pass  # the store killed itself at the point, as scheduled
        session.require(point, "crash")
    s = kit.fresh_store(store_selection, home, 0)
    try:
        report = s.run_worker()
        assert report.ran is True, "the killed run still blocks"
        assert report.outcomes.get(r.rel) == "compressed"
    finally:
        s.close()


@pytest.mark.zones
@pytest.mark.req("COMP-013")
def test_fresh_upstream_marker_blocks_a_run(store, home):
    """Upstream cases 21/22: a fresh (persisted) upstream run marker means no compression."""
    r = kit.make_rollout(home, old=True)
    marker = home / MARKER
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("12345\n")
    before = _snap(home)
    assert store.run_worker().ran is False
    assert _snap(home) == before
    assert oracle.representations(home, r.rel) == (r.rel,)


@pytest.mark.zones
@pytest.mark.req("COMP-013")
def test_stale_upstream_marker_does_not_block(store, home):
    """Upstream case 22: a marker older than 6 hours no longer blocks a run."""
    r = kit.make_rollout(home, old=True)
    marker = home / MARKER
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("12345\n")
    old = time.time_ns() - 7 * HOUR_NS
    os.utime(marker, ns=(old, old))
    report = store.run_worker()
    assert report.ran is True
    assert report.outcomes.get(r.rel) == "compressed"


@pytest.mark.req("ERR-008", "COMP-016")
@pytest.mark.needs("failpoints")
def test_one_failure_does_not_stop_the_run(store_selection, home):
    """One rollout whose encode fails (ENOSPC) is failed; the others are compressed; ran = True."""
    bad = kit.make_rollout(home, old=True, minute=1)
    goods = [kit.make_rollout(home, old=True, minute=m) for m in (2, 3, 4)]
    bad_before = oracle.file_state(home / bad.rel)
    with kit.failpoint_session(store_selection, home, cold_after=0) as session:
        kit.require_failpoints(session, "compress.after_encode")
        session.controller.policy = lambda hit: (
            ("error", "ENOSPC") if hit.point == "compress.after_encode" and hit.path == bad.rel
            else ("continue", None))
        report = session.store.run_worker()
        session.require("compress.after_encode", "error")
    assert report.ran is True
    assert report.outcomes.get(bad.rel) == "failed"
    for g in goods:
        assert report.outcomes.get(g.rel) == "compressed", g.rel
        assert oracle.representations(home, g.rel) == (g.zst,)
    assert oracle.representations(home, bad.rel) == (bad.rel,)
    assert oracle.file_state(home / bad.rel) == bad_before
    assert oracle.temps(home) == []


@pytest.mark.req("COORD-012")
def test_a_compressor_refuses_a_home_whose_locks_stay_local_unless_it_declares_one_writer_machine(
        store_selection, tmp_path):
    """SPEC.md 5.8: through a bindfs (FUSE) mount, whose locks no other mount sees, a cold idle rollout
    is not compressed (compress: skipped_busy; run_worker: ran = false; nothing changed) until the
    home's root holds ``.one-writer-machine``; then it is."""
    from conformance.suite.mounts import two_mount_home

    with two_mount_home(tmp_path) as (backing, home, _other):
        (home / "sessions").mkdir()
        (home / "archived_sessions").mkdir()
        rollout = kit.make_rollout(home, old=True)
        before = _snap(backing)
        store = kit.fresh_store(store_selection, home, cold_after=0)
        try:
            assert store.compress(rollout.rel) == "skipped_busy"
            assert store.run_worker().ran is False
            assert _snap(backing) == before
            (backing / ".one-writer-machine").touch()
            assert store.compress(rollout.rel) == "compressed"
        finally:
            store.close()
        assert oracle.logical_content(backing, rollout.rel) == rollout.data
        assert not (backing / rollout.rel).exists()
