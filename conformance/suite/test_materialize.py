"""Materialize before append (MAT), materialize errors (ERR-004, ERR-007) and durability (DUR-002).

Every verdict comes from the disk: the oracle writes the `.zst` fixtures, and os.stat / the oracle
judge what the store left behind.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.suite import kit, strace_kit
from conformance.api.errors import StoreError

# Kernel file timestamps come from a coarse clock that may lag the process clock by a tick.
CLOCK_SLACK_NS = 20_000_000


def _mode(home: Path, rel: str) -> int:
    return stat.S_IMODE(os.stat(home / rel, follow_symlinks=False).st_mode)


def _only_plain(home: Path, rel: str) -> None:
    assert oracle.representations(home, rel) == (rel,), f"expected only the plain file of {rel}"
    assert oracle.temps(home) == [], f"temps left behind: {oracle.temps(home)}"


# --- MAT-001 ------------------------------------------------------------------------------------


@pytest.mark.req("MAT-001")
@pytest.mark.parametrize("given", ["logical", "zst"])
def test_append_to_compressed_materializes_first(store, home, given):
    """Upstream case 7: appending to a compressed rollout materializes it (3 items, 0 errors)."""
    r = kit.make_rollout(home, compressed=True, old=True)
    line = kit.line_text("appended")
    returned = store.append(r.rel if given == "logical" else r.zst, [line])
    assert returned == r.rel
    _only_plain(home, r.rel)
    assert (home / r.rel).read_bytes() == r.data + line.encode() + b"\n"
    result = store.read(r.rel)
    assert (result.items, result.parse_errors, result.representation) == (3, 0, "plain")


@pytest.mark.req("MAT-001")
def test_open_writer_on_compressed_materializes_first(store, home):
    r = kit.make_rollout(home, compressed=True, old=True)
    handle = store.open_writer(r.zst)
    try:
        _only_plain(home, r.rel)
        assert (home / r.rel).read_bytes() == r.data, "open_writer must materialize before any write"
        store.write(handle, kit.line_text("w1"))
    finally:
        store.close_writer(handle)
    assert (home / r.rel).read_bytes() == r.data + kit.line_text("w1").encode() + b"\n"
    _only_plain(home, r.rel)


@pytest.mark.req("MAT-001")
def test_materialize_decodes_then_reports_false(store, home):
    """Upstream cases 16, 17/18 (destination absent: installed)."""
    r = kit.make_rollout(home, compressed=True, old=True, lines=3)
    assert store.materialize(r.zst) is True
    _only_plain(home, r.rel)
    assert (home / r.rel).read_bytes() == r.data
    before = oracle.snapshot(home)
    assert store.materialize(r.rel) is False
    assert oracle.snapshot(home) == before


@pytest.mark.req("MAT-001", "MAT-002")
def test_materialize_with_plain_present_changes_nothing(store, home):
    """Upstream cases 17/18: an existing destination is left untouched."""
    r = kit.make_rollout(home, compressed=True, old=True)
    oracle.write_plain(home, r.rel, r.data + kit.line_text("newer").encode() + b"\n", 0o600)
    before = oracle.snapshot(home)
    assert store.materialize(r.zst) is False
    assert oracle.snapshot(home) == before


@pytest.mark.req("MAT-002")
@pytest.mark.needs("failpoints")
def test_plain_appearing_before_link_is_not_replaced(store_selection, home):
    """Upstream cases 17/18: publish never clobbers; the temp is removed, the `.zst` stays."""
    r = kit.make_rollout(home, compressed=True, old=True)
    zst_before = oracle.file_state(home / r.zst)
    intruder = r.data + kit.line_text("written meanwhile").encode() + b"\n"
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("materialize.before_link", session.store.materialize, r.rel) as outcome:
            oracle.write_plain(home, r.rel, intruder, 0o600)
            plain_before = oracle.file_state(home / r.rel)
    assert "error" not in outcome, f"materialize failed: {outcome.get('error')!r}"
    assert outcome["value"] is False, "a materialize that did not publish must report False"
    assert oracle.file_state(home / r.rel) == plain_before, "the existing plain file was modified or replaced"
    assert oracle.file_state(home / r.zst) == zst_before, "the .zst must be left for recovery"
    assert oracle.temps(home) == []


@pytest.mark.req("MAT-001")
@pytest.mark.needs("failpoints")
def test_temp_swept_after_link_still_finishes(store_selection, home):
    """A foreign sweeper removing the linked temp (seen racing codex 0.171.0's 6 h temp sweep while
    the plain file was back-dated) must not fail the materialization nor leave the `.zst`."""
    r = kit.make_rollout(home, compressed=True, old=True)
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("materialize.after_link", session.store.materialize, r.rel) as outcome:
            swept = oracle.temps(home)
            for temp in swept:
                os.unlink(home / temp)
    assert swept, "no temp was on disk while the materialization was held after its link"
    assert "error" not in outcome, f"materialize failed once its temp was swept: {outcome.get('error')!r}"
    assert outcome["value"] is True
    _only_plain(home, r.rel)
    assert (home / r.rel).read_bytes() == r.data


# --- MAT-003 ------------------------------------------------------------------------------------


@pytest.mark.req("MAT-003")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400], ids=oct)
def test_materialize_keeps_the_zst_mode(store, home, mode):
    """Upstream case 16: 0600 stays 0600 (and every other mode stays itself)."""
    r = kit.make_rollout(home, compressed=True, old=True, mode=mode)
    assert store.materialize(r.rel) is True
    _only_plain(home, r.rel)
    assert _mode(home, r.rel) == mode


@pytest.mark.req("MAT-003", "APPEND-004")
def test_0400_materialize_then_append(store, home):
    """0400 materialize then append: the mode is kept and the append is refused read_only."""
    r = kit.make_rollout(home, compressed=True, old=True, mode=0o400)
    assert store.materialize(r.zst) is True
    assert _mode(home, r.rel) == 0o400
    before = oracle.snapshot(home)
    assert kit.store_error(store.append, r.rel, [kit.line_text("nope")]).kind == "read_only"
    assert kit.store_error(store.open_writer, r.rel).kind == "read_only"
    assert oracle.snapshot(home) == before


@pytest.mark.req("MAT-003")
@pytest.mark.parametrize("mode", [0o600, 0o640], ids=oct)
def test_append_materializes_with_the_zst_mode(store, home, mode):
    r = kit.make_rollout(home, compressed=True, old=True, mode=mode)
    store.append(r.rel, [kit.line_text("x")])
    assert _mode(home, r.rel) == mode


# --- MAT-004 ------------------------------------------------------------------------------------


@pytest.mark.req("MAT-004", "MAT-001")
def test_resume_from_zst_refreshes_mtime(store, home):
    """Upstream case 14: resuming from the `.zst` path returns the plain path, refreshes the mtime
    past the old `.zst` mtime, and a further append gives 3 items."""
    r = kit.make_rollout(home, compressed=True, old=True)
    zst_mtime = os.stat(home / r.zst).st_mtime_ns
    start = time.time_ns()
    handle = store.open_writer(r.zst)
    store.close_writer(handle)
    mtime = os.stat(home / r.rel).st_mtime_ns
    assert mtime > zst_mtime, "the materialized file kept the .zst mtime: it looks cold (R5)"
    assert mtime >= start - CLOCK_SLACK_NS, "the materialized mtime is earlier than the operation"
    assert store.append(r.zst, [kit.line_text("again")]) == r.rel
    result = store.read(r.rel)
    assert (result.items, result.parse_errors) == (2 + 1, 0)


@pytest.mark.req("MAT-004")
def test_materialize_sets_mtime_to_now(store, home):
    r = kit.make_rollout(home, compressed=True, old=True)
    zst_mtime = os.stat(home / r.zst).st_mtime_ns
    start = time.time_ns()
    assert store.materialize(r.rel) is True
    mtime = os.stat(home / r.rel).st_mtime_ns
    assert mtime > zst_mtime
    assert start - CLOCK_SLACK_NS <= mtime <= time.time_ns() + CLOCK_SLACK_NS


@pytest.mark.req("MAT-004")
def test_materialize_mtime_strictly_after_a_future_zst_mtime(store, home):
    """Even a `.zst` stamped in the future gives a plain file strictly newer than it."""
    r = kit.make_rollout(home, compressed=True)
    future = time.time_ns() + 5 * 10**9 + 123
    os.utime(home / r.zst, ns=(future, future))
    assert store.materialize(r.rel) is True
    assert os.stat(home / r.rel).st_mtime_ns > future


@pytest.mark.req("MAT-004")
@pytest.mark.needs("compressor")
def test_worker_right_after_materialize_finds_it_not_cold(store, home):
    """Upstream case 14 / R5: the 8-day-old `.zst` must not make the new plain file cold."""
    r = kit.make_rollout(home, compressed=True, old=True)
    assert store.materialize(r.rel) is True
    assert store.compress(r.rel) == "skipped_not_cold"
    report = store.run_worker()
    assert report.outcomes.get(r.rel, "skipped_not_cold") == "skipped_not_cold"
    _only_plain(home, r.rel)


# --- MAT-005 ------------------------------------------------------------------------------------


@pytest.mark.req("MAT-005")
@pytest.mark.parametrize("op", ["append", "open_writer", "materialize"])
@pytest.mark.parametrize("given", ["logical", "zst"])
def test_writer_ops_never_create_a_missing_rollout(store, home, op, given):
    r = kit.make_rollout(home)
    missing = r.rel.replace(r.id, "0f0e0d0c-0b0a-4908-8706-050403020100")
    (home / r.rel).unlink()
    args = {"append": (missing, [kit.line_text("x")]), "open_writer": (missing,), "materialize": (missing,)}[op]
    if given == "zst":
        args = (missing + ".zst",) + args[1:]
    assert kit.store_error(getattr(store, op), *args).kind == "not_found"
    assert oracle.snapshot(home) == {}, "a writer operation created a file for a missing rollout"


@pytest.mark.req("MAT-005", "MAT-001")
def test_no_o_creat_on_the_plain_path(store_selection, home, tmp_path):
    """strace: materialization publishes with link; no open of the plain path carries O_CREAT."""
    r = kit.make_rollout(home, compressed=True, old=True)
    s = kit.make_rollout(home, compressed=True, old=True, minute=1)
    t = kit.make_rollout(home, compressed=True, old=True, minute=2)
    log = tmp_path / "strace.log"
    with strace_kit.traced_store(store_selection, home, log) as traced:
        traced.append(r.zst, [kit.line_text("a")])
        handle = traced.open_writer(s.rel)
        traced.write(handle, kit.line_text("b"))
        traced.close_writer(handle)
        assert traced.materialize(t.rel) is True
    plains = {strace_kit.real(home, x.rel) for x in (r, s, t)}
    opens = [c for c in strace_kit.parse(log) if c.name in ("open", "openat")]
    touching = [c for c in opens if set(c.path_args()) & plains]
    assert touching, "strace saw no open of the plain paths at all (is the log complete?)"
    creating = [c.args for c in touching if "O_CREAT" in c.args]
    assert not creating, f"the plain path was opened with O_CREAT: {creating}"
    for x in (r, s, t):
        _only_plain(home, x.rel)


# --- ERR-004 ------------------------------------------------------------------------------------


@pytest.mark.req("ERR-004")
@pytest.mark.parametrize("case", ["corrupt_zst", "truncated_zst", "zst_with_raw_append"])
@pytest.mark.parametrize("op", ["append", "open_writer", "materialize"])
def test_undecodable_zst_refuses_writer_ops(store, home, case, op):
    installed = fixtures.install(case, home)
    rel = next(iter(installed.expected["rollouts"]))
    before = oracle.snapshot(home)
    args = {"append": (rel, [kit.line_text("x")]), "open_writer": (rel,), "materialize": (rel,)}[op]
    assert kit.store_error(getattr(store, op), *args).kind == "corrupt"
    assert oracle.snapshot(home) == before, "the .zst changed, or a plain file / temp was left"


# --- ERR-007 ------------------------------------------------------------------------------------


@pytest.mark.req("ERR-007")
@pytest.mark.needs("failpoints")
@pytest.mark.parametrize("point", ["materialize.after_decode", "materialize.before_link"])
@pytest.mark.parametrize("op", ["materialize", "append"])
def test_refused_step_gives_io_error_and_keeps_the_zst(store_selection, home, point, op):
    r = kit.make_rollout(home, compressed=True, old=True, mode=0o640)
    before = oracle.snapshot(home)
    with kit.failpoint_session(store_selection, home) as session:
        session.answer(point, "error", "ENOSPC")
        call = (lambda: session.store.materialize(r.rel)) if op == "materialize" else \
            (lambda: session.store.append(r.rel, [kit.line_text("lost")]))
        try:
            call()
            error = None
        except StoreError as exc:
            error = exc
        session.require(point, "error")
        assert error is not None, f"{op} succeeded although {point} was refused ENOSPC"
        assert error.kind == "io_error"
        assert oracle.snapshot(home) == before, "the .zst changed, or a plain file / temp was left"
        # The store keeps serving, and a later attempt succeeds (ERR-001).
        session.controller.policy = lambda hit: ("continue", None)
        assert session.store.materialize(r.rel) is True
    assert (home / r.rel).read_bytes() == r.data


# --- DUR-002 ------------------------------------------------------------------------------------


@pytest.mark.req("DUR-002")
def test_materialize_fsyncs_temp_before_link_and_folder_after(store_selection, home, tmp_path):
    r = kit.make_rollout(home, compressed=True, old=True)
    log = tmp_path / "strace.log"
    with strace_kit.traced_store(store_selection, home, log) as traced:
        assert traced.materialize(r.rel) is True
    folder = os.path.dirname(strace_kit.real(home, r.rel))
    plain, zst = strace_kit.real(home, r.rel), strace_kit.real(home, r.zst)
    calls = strace_kit.parse(log)
    links = [i for i, c in enumerate(calls)
             if c.name in ("link", "linkat") and c.ret == 0 and c.path_args()[-1:] == [plain]]
    assert len(links) == 1, f"expected one successful link to the plain path, saw {len(links)}"
    unlinks = [i for i, c in enumerate(calls)
               if c.name in ("unlink", "unlinkat") and c.ret == 0 and zst in c.path_args()]
    assert len(unlinks) == 1, "expected one unlink of the .zst"
    link, unlink = links[0], unlinks[0]

    def syncs(lo, hi, on_folder):
        found = []
        for c in calls[lo:hi]:
            if c.name in ("fsync", "fdatasync") and c.ret == 0 and c.fd_paths:
                path = c.fd_paths[0]
                if on_folder and path == folder:
                    found.append(c)
                if not on_folder and path != folder and path.startswith(folder + "/") and path != zst:
                    found.append(c)
        return found

    assert syncs(0, link, on_folder=False), "no fsync of the temp before it was linked to the plain path"
    assert syncs(link, len(calls), on_folder=True), "no fsync of the folder after the link"
    assert syncs(unlink, len(calls), on_folder=True), "no fsync of the folder after unlinking the .zst"
