"""Archive, unarchive and delete of either representation (LIFE-001 .. LIFE-006).

Verdicts come from the disk: which representation sits in which area, with which bytes, mode and
mtime, judged by the oracle and os.stat.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.api.store import COORDINATION_SCHEMES
from conformance.suite import kit

CLOCK_SLACK_NS = 20_000_000  # kernel timestamps use a coarse clock


def _archived_rel(rel: str) -> str:
    return oracle.archived_path(Path(rel).name)


def _active_rel(rel: str) -> str:
    return oracle.active_path(Path(rel).name)


def _files_under(home: Path, top: str) -> list[str]:
    return [rel for rel in oracle.snapshot(home) if rel.startswith(top + "/")]


def _moved_as_is(before: oracle.FileState, after: oracle.FileState, keep_mtime: bool = True) -> None:
    assert after.kind == before.kind, "the representation changed while moving"
    assert after.sha256 == before.sha256, "the bytes changed while moving (a .zst must not be re-encoded)"
    assert after.mode == before.mode, "the mode changed while moving"
    if keep_mtime:
        assert after.mtime_ns == before.mtime_ns, "archive must keep st_mtime_ns"


# --- LIFE-001 -----------------------------------------------------------------------------------


@pytest.mark.req("LIFE-001")
@pytest.mark.parametrize("compressed,mode", [(False, 0o640), (True, 0o400), (True, 0o600)],
                         ids=["plain-0640", "zst-0400", "zst-0600"])
@pytest.mark.parametrize("given", ["logical", "zst"])
def test_archive_moves_the_selected_representation_as_is(store, home, compressed, mode, given):
    """archive of a `.zst` keeps it compressed, byte for byte (upstream list: lifecycle of a .zst)."""
    r = kit.make_rollout(home, compressed=compressed, old=True, mode=mode)
    physical = r.zst if compressed else r.rel
    before = oracle.file_state(home / physical)
    returned = store.archive(r.zst if given == "zst" else r.rel)
    target = _archived_rel(r.rel)
    assert returned == target
    assert oracle.representations(home, target) == ((target + ".zst",) if compressed else (target,))
    _moved_as_is(before, oracle.file_state(home / (target + ".zst" if compressed else target)))
    assert _files_under(home, "sessions") == [], "archive left something under sessions/"
    assert oracle.logical_content(home, target) == r.data


@pytest.mark.req("LIFE-001")
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "zst"])
def test_archive_of_an_archived_rollout_changes_nothing(store, home, compressed):
    r = kit.make_rollout(home, archived=True, compressed=compressed, old=True)
    before = oracle.snapshot(home)
    assert store.archive(r.rel) == r.rel
    assert store.archive(r.zst) == r.rel
    assert oracle.snapshot(home) == before


# --- LIFE-002 -----------------------------------------------------------------------------------


@pytest.mark.req("LIFE-002")
@pytest.mark.parametrize("compressed,mode", [(False, 0o600), (True, 0o600), (True, 0o440)],
                         ids=["plain", "zst-0600", "zst-0440"])
def test_unarchive_moves_to_the_date_folder_and_touches_mtime(store, home, compressed, mode):
    r = kit.make_rollout(home, archived=True, compressed=compressed, old=True, mode=mode)
    physical = r.zst if compressed else r.rel
    before = oracle.file_state(home / physical)
    start = time.time_ns()
    returned = store.unarchive(r.zst if compressed else r.rel)
    target = _active_rel(r.rel)
    assert target.startswith("sessions/2025/01/03/")
    assert returned == target
    moved = target + ".zst" if compressed else target
    assert oracle.representations(home, target) == (moved,), "a .zst must stay compressed on unarchive"
    after = oracle.file_state(home / moved)
    _moved_as_is(before, after, keep_mtime=False)
    assert after.mtime_ns >= start - CLOCK_SLACK_NS, "unarchive must set the mtime to the time of the operation"
    assert after.mtime_ns > before.mtime_ns
    assert _files_under(home, "archived_sessions") == []


@pytest.mark.req("LIFE-002", "LIFE-001", "LIFE-005")
def test_zst_round_trip_archive_unarchive_delete(store, home):
    """Archive, unarchive and delete of a `.zst`: it stays compressed until the next append."""
    r = kit.make_rollout(home, compressed=True, old=True, lines=3)
    raw = (home / r.zst).read_bytes()
    archived = store.archive(r.rel)
    assert (home / (archived + ".zst")).read_bytes() == raw
    assert store.read(archived).content == r.data
    active = store.unarchive(archived)
    assert active == r.rel
    assert (home / r.zst).read_bytes() == raw
    assert not (home / r.rel).exists()
    result = store.read(r.rel)
    assert (result.content, result.representation) == (r.data, "zst")
    store.delete(r.zst)
    assert oracle.representations(home, r.rel) == ()
    assert oracle.representations(home, archived) == ()
    assert kit.store_error(store.read, r.rel).kind == "not_found"


# --- LIFE-003 -----------------------------------------------------------------------------------


@pytest.mark.req("LIFE-003")
@pytest.mark.parametrize("op", ["archive", "unarchive"])
@pytest.mark.parametrize("source", ["plain", "zst"])
@pytest.mark.parametrize("destination", ["plain", "zst"])
def test_never_replaces_the_destination(store, home, op, source, destination):
    r = kit.make_rollout(home, archived=op == "unarchive", compressed=source == "zst", old=True)
    other = _archived_rel(r.rel) if op == "archive" else _active_rel(r.rel)
    squatter = oracle.session_meta_line(r.id) + kit.line_text("other copy").encode() + b"\n"
    if destination == "zst":
        oracle.write_zst(home, other + ".zst", squatter, 0o600, time.time_ns() - kit.DAY_NS)
    else:
        oracle.write_plain(home, other, squatter, 0o600, time.time_ns() - kit.DAY_NS)
    before = oracle.snapshot(home)
    assert kit.store_error(getattr(store, op), r.rel).kind == "already_exists"
    assert oracle.snapshot(home) == before


# --- LIFE-004 -----------------------------------------------------------------------------------


@pytest.mark.req("LIFE-004")
@pytest.mark.parametrize("op", ["archive", "unarchive"])
@pytest.mark.parametrize("pair", ["equal", "stale_zst"])
def test_both_representations_refuse_to_move(store, home, op, pair):
    r = kit.make_rollout(home, archived=op == "unarchive", compressed=True, old=True)
    extra = b"" if pair == "equal" else kit.line_text("later").encode() + b"\n"
    oracle.write_plain(home, r.rel, r.data + extra, 0o600)
    before = oracle.snapshot(home)
    assert kit.store_error(getattr(store, op), r.rel).kind == "conflict"
    assert oracle.snapshot(home) == before


@pytest.mark.req("LIFE-004")
@pytest.mark.needs("failpoints", "writer")
@pytest.mark.parametrize("point", ["materialize.after_lock", "materialize.after_decode", "materialize.before_link",
                                   "materialize.after_link", "materialize.before_unlink"])
def test_archive_racing_materialize_leaves_one_area(store_selection, store, home, point):
    """R8: an archive issued while a materialize is held never splits the rollout across areas."""
    r = kit.make_rollout(home, compressed=True, old=True)
    target = _archived_rel(r.rel)
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at(point, session.store.materialize, r.rel) as mat:
            arch_thread, arch = kit.in_thread(store.archive, r.rel)
            # Archive gets a moment to race the held materialize; a loaded machine only makes it
            # start later (archive then meets a finished materialize), never fails a correct store.
            arch_thread.join(0.3)
        kit.finish(arch_thread, "archive")
    assert "error" not in mat, f"materialize failed: {mat.get('error')!r}"
    if "error" in arch:
        assert getattr(arch["error"], "kind", None) in ("conflict", "busy"), f"archive failed: {arch['error']!r}"
    active, archived = oracle.representations(home, r.rel), oracle.representations(home, target)
    assert not (active and archived), f"the rollout is both active {active} and archived {archived}"
    assert active or archived, "the rollout vanished"
    assert oracle.logical_content(home, target if archived else r.rel) == r.data
    if "value" in arch:
        assert arch["value"] == target and archived and not active


# --- LIFE-005 -----------------------------------------------------------------------------------


def _setup(home: Path, shape: str, archived: bool = False) -> kit.Rollout:
    r = kit.make_rollout(home, compressed=shape != "plain", archived=archived, old=True)
    if shape == "both_equal":
        oracle.write_plain(home, r.rel, r.data, 0o600)
    elif shape == "both_stale":
        oracle.write_plain(home, r.rel, r.data + kit.line_text("later").encode() + b"\n", 0o600)
    return r


@pytest.mark.req("LIFE-005")
@pytest.mark.parametrize("shape", ["plain", "zst", "both_equal", "both_stale"])
@pytest.mark.parametrize("archived", [False, True], ids=["active", "archived"])
@pytest.mark.parametrize("given", ["logical", "zst"])
def test_delete_removes_every_representation(store, home, shape, archived, given):
    r = _setup(home, shape, archived)
    keep = kit.make_rollout(home, minute=9)
    store.delete(r.zst if given == "zst" else r.rel)
    assert oracle.representations(home, r.rel) == ()
    assert oracle.temps(home) == []
    assert set(oracle.snapshot(home)) == {keep.rel}, "delete touched another rollout"
    assert kit.store_error(store.read, r.rel).kind == "not_found"
    assert r.rel not in {e.path for e in store.list(archived=archived)}
    assert store.find(r.id) is None
    assert kit.store_error(store.materialize, r.rel).kind == "not_found"
    assert kit.store_error(store.append, r.rel, [kit.line_text("x")]).kind == "not_found"
    assert kit.store_error(store.delete, r.rel).kind == "not_found"
    assert set(oracle.snapshot(home)) == {keep.rel}, "a later operation brought the rollout back"


@pytest.mark.req("LIFE-005")
@pytest.mark.needs("compressor")
@pytest.mark.parametrize("shape", ["zst", "both_equal", "both_stale"])
def test_deleted_rollout_stays_deleted_through_worker_and_cleanup(store, home, shape):
    r = _setup(home, shape)
    store.delete(r.rel)
    store.cleanup()
    store.run_worker()
    assert oracle.representations(home, r.rel) == ()
    assert kit.store_error(store.read, r.rel).kind == "not_found"


@pytest.mark.req("LIFE-005")
def test_delete_of_a_missing_rollout_is_not_found(store, home):
    r = kit.make_rollout(home)
    missing = r.rel.replace(r.id, "00000000-1111-4222-8333-444444444444")
    before = oracle.snapshot(home)
    assert kit.store_error(store.delete, missing).kind == "not_found"
    assert kit.store_error(store.delete, missing + ".zst").kind == "not_found"
    assert oracle.snapshot(home) == before


# --- LIFE-006 -----------------------------------------------------------------------------------


def _delete_is_busy(deleter, rel: str, locked: Path) -> None:
    """``delete(rel)`` fails busy, within a bounded wait, while a live process holds ``locked``."""
    baseline = kit.open_count(locked)
    thread, outcome = kit.in_thread(deleter.delete, rel)
    kit.finish(thread, "delete", waiting_on=(locked, baseline))
    assert "error" in outcome, "delete removed a rollout a live process holds"
    assert getattr(outcome["error"], "kind", None) == "busy", f"expected busy, got {outcome['error']!r}"


@pytest.mark.req("LIFE-006")
def test_delete_with_open_writer_is_busy(store, store_selection, home):
    r = kit.make_rollout(home)
    handle = store.open_writer(r.rel)
    other = kit.fresh_store(store_selection, home)
    try:
        before = oracle.snapshot(home)
        _delete_is_busy(other, r.rel, home / r.rel)
        assert oracle.snapshot(home) == before
    finally:
        other.close()
    store.write(handle, kit.line_text("still writing"))
    store.close_writer(handle)
    assert (home / r.rel).read_bytes() == r.data + kit.line_text("still writing").encode() + b"\n"


@pytest.mark.req("LIFE-006")
@pytest.mark.parametrize("scheme", COORDINATION_SCHEMES)
@pytest.mark.parametrize("with_zst", [False, True], ids=["plain", "plain+zst"])
def test_delete_with_a_test_process_lock_is_busy(store, home, with_zst, scheme):
    """The test process holds a live writer's lock of a scheme the store declares: delete is busy."""
    r = kit.make_rollout(home, compressed=with_zst, old=True)
    if with_zst:
        oracle.write_plain(home, r.rel, r.data, 0o600)
    before = oracle.snapshot(home)
    with kit.holding_writer_lock(home, r, scheme, store.hello().coordination):
        locked = home / r.rel if scheme == "inode-flock" else kit.thread_lock_path(home, r.id)
        _delete_is_busy(store, r.rel, locked)
        assert oracle.snapshot(home) == before, "delete removed something while the plain file was locked"
    store.delete(r.rel)
    assert oracle.representations(home, r.rel) == ()
