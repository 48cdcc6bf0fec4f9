"""COMP: compressing one rollout (cold rule, round trip, modes, skips, temps) and SEC-006.

Every verdict is drawn from the disk through the oracle; the store is asked only through the
Store interface.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import zstandard

import fixtures
from conformance.oracle import disk as oracle
from conformance.api.store import OUTCOMES
from conformance.suite import kit
from conformance.api.errors import Inconclusive, StoreError

DAY = 86_400


def _append_raw(home: Path, rel: str, data: bytes) -> None:
    """Write bytes into the plain file from the test process (a foreign writer, no store involved)."""
    fd = os.open(Path(home, rel), os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _snap(home: Path) -> dict:
    """The home as the oracle sees it, minus .tmp/ (the run lock is the worker's own file)."""
    return {rel: st for rel, st in oracle.snapshot(home).items() if not rel.startswith(".tmp/")}


def _assert_compressed(home: Path, r: kit.Rollout, data: bytes | None = None) -> None:
    data = r.data if data is None else data
    assert oracle.representations(home, r.rel) == (r.zst,), f"{r.rel}: expected only the .zst"
    assert oracle.decode_zst(home / r.zst) == data, f"{r.rel}: the .zst does not decode to the plain bytes"


@pytest.mark.zones
@pytest.mark.req("COMP-001")
def test_compress_honours_the_cold_rule(store, home):
    """A fresh rollout is skipped_not_cold and untouched; an 8-day-old one is compressed."""
    fresh = kit.make_rollout(home, minute=1)
    old = kit.make_rollout(home, old=True, minute=2)
    before = _snap(home)
    assert store.compress(fresh.rel) == "skipped_not_cold"
    assert _snap(home) == before, "skipped_not_cold must change nothing"
    assert store.compress(old.rel) == "compressed"
    _assert_compressed(home, old)
    assert oracle.representations(home, fresh.rel) == (fresh.rel,)


@pytest.mark.zones
@pytest.mark.req("COMP-001")
def test_compress_uses_the_configured_cold_threshold(store_selection, home):
    """cold_after_seconds is honoured in both directions (1 hour threshold, 2 h and 10 min old files)."""
    warm = kit.make_rollout(home, minute=1)
    cold = kit.make_rollout(home, minute=2)
    oracle.backdate(home, warm.rel, 10 / (24 * 60))
    oracle.backdate(home, cold.rel, 2 / 24)
    s = kit.fresh_store(store_selection, home, 3600)
    try:
        assert s.compress(warm.rel) == "skipped_not_cold"
        assert s.compress(cold.rel) == "compressed"
    finally:
        s.close()
    assert oracle.representations(home, warm.rel) == (warm.rel,)
    _assert_compressed(home, cold)


@pytest.mark.req("COMP-001", "COMP-011")
def test_compress_does_not_take_the_run_lock(store, home):
    """compress(path) ignores the run lock: it compresses while a test process holds it LOCK_EX."""
    old = kit.make_rollout(home, old=True)
    lock = home / ".tmp" / "rollout-maintenance.lock"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text("held by the test\n")
    with kit.holding_lock(lock, exclusive=True):
        baseline = kit.open_count(lock)
        t, outcome = kit.in_thread(store.compress, old.rel)
        kit.finish(t, "compress", waiting_on=(lock, baseline))
    if "error" in outcome:
        raise outcome["error"]  # a store that broke is inconclusive, a typed error fails below
    assert outcome["value"] == "compressed"
    _assert_compressed(home, old)


@pytest.mark.req("COMP-003", "COMP-004", "COMP-010")
@pytest.mark.parametrize("case", ["plain_rollout", "invalid_utf8_tail", "bom", "header_junk_first"])
def test_round_trip_byte_for_byte(store, home, case):
    """Round trip byte-for-byte: the published .zst decodes to exactly the plain bytes; every frame
    has a checksum and a content size; read reports the same content and counts as before."""
    installed = fixtures.install(case, home)
    plains = [rel for rel, e in installed.expected["rollouts"].items()
              if e.get("representation") == "plain" and e.get("error") is None
              and e.get("header_error") is None]
    assert plains, f"fixture {case} has no plain rollout"
    for rel in plains:
        oracle.backdate(home, rel, 8)
        original = (home / rel).read_bytes()
        before = store.read(rel)
        outcome = store.compress(rel)
        assert outcome in OUTCOMES
        assert outcome == "compressed", f"{rel}: {outcome}"
        assert oracle.representations(home, rel) == (rel + ".zst",)
        assert oracle.decode_zst(home / (rel + ".zst")) == original
        for info in oracle.frame_info(home / (rel + ".zst")):
            if not info.skippable:
                assert info.has_checksum, "data frame without the content checksum flag"
                assert info.content_size is not None, "data frame without the frame content size"
        raw = (home / (rel + ".zst")).read_bytes()
        params = zstandard.get_frame_parameters(raw)
        assert params.has_checksum and params.content_size != zstandard.CONTENTSIZE_UNKNOWN
        after = store.read(rel)
        assert (after.content, after.items, after.parse_errors) == (before.content, before.items, before.parse_errors)
        assert after.representation == "zst"
    assert oracle.temps(home) == []


@pytest.mark.req("COMP-003")
def test_round_trip_of_a_multi_mebibyte_line(store, home):
    """A 3 MiB tool output line survives compression byte for byte."""
    ident_line = oracle.tool_output_line("call_big", "0123456789abcdef" * (3 * 65536))
    r = kit.make_rollout(home, old=True)
    data = r.data + ident_line + oracle.user_message_line("after ✓")
    oracle.write_plain(home, r.rel, data, 0o600, time.time_ns() - 8 * kit.DAY_NS)
    assert store.compress(r.rel) == "compressed"
    _assert_compressed(home, r, data)


@pytest.mark.req("COMP-005")
@pytest.mark.parametrize("mode,umask", [(0o600, 0o077), (0o400, 0o000), (0o640, 0o077), (0o644, 0o000)])
def test_compression_keeps_mode_and_exact_mtime(store_selection, home, mode, umask):
    """Upstream cases 15 and 19: the .zst keeps the exact mode and st_mtime_ns, whatever the umask."""
    r = kit.make_rollout(home, old=True, mode=mode)
    mtime_ns = (time.time_ns() - 8 * kit.DAY_NS) // 10**9 * 10**9 + 123_456_789
    os.utime(home / r.rel, ns=(mtime_ns, mtime_ns))
    previous = os.umask(umask)
    try:
        s = kit.fresh_store(store_selection, home)
    finally:
        os.umask(previous)
    try:
        previous = os.umask(umask)
        try:
            assert s.compress(r.rel) == "compressed"
        finally:
            os.umask(previous)
    finally:
        s.close()
    st = oracle.file_state(home / r.zst)
    assert st.mode == mode, f"mode {st.mode:o}, want {mode:o}"
    assert st.mtime_ns == mtime_ns, "the .zst must carry the plain file's st_mtime_ns exactly"
    _assert_compressed(home, r)


@pytest.mark.req("COMP-006")
@pytest.mark.parametrize("tail", [b'{"timestamp":"x","type":"event_msg","pay', b'{"type":"event_msg","payload":{}}'])
def test_incomplete_tail_is_never_compressed(store, home, tail):
    """No .zst ending in a partial line: a plain rollout whose last byte is not \\n is skipped."""
    r = kit.make_rollout(home, old=True)
    _append_raw(home, r.rel, tail)
    oracle.backdate(home, r.rel, 8)
    before = _snap(home)
    assert store.compress(r.rel) == "skipped_incomplete_tail"
    assert _snap(home) == before
    report = store.run_worker()
    assert report.outcomes.get(r.rel) == "skipped_incomplete_tail"
    assert _snap(home) == before


@pytest.mark.req("COMP-007", "COMP-010")
@pytest.mark.parametrize("junk", [b"{not json}\n", oracle.response_item_line("hi") + oracle.user_message_line("x")])
def test_unreadable_header_is_skipped_without_blocking_others(store, home, junk):
    """Upstream case 13: a rollout with an unreadable header is skipped_not_rollout, its neighbour compressed."""
    bad = kit.make_rollout(home, old=True, data=junk, minute=1)
    good = kit.make_rollout(home, old=True, minute=2)
    bad_before = oracle.file_state(home / bad.rel)
    assert store.compress(bad.rel) == "skipped_not_rollout"
    report = store.run_worker()
    assert report.ran
    assert report.outcomes.get(bad.rel) == "skipped_not_rollout"
    assert report.outcomes.get(good.rel) == "compressed"
    assert oracle.file_state(home / bad.rel) == bad_before
    assert oracle.representations(home, bad.rel) == (bad.rel,)
    _assert_compressed(home, good)


@pytest.mark.req("COMP-007")
def test_only_junk_fixture_is_skipped(store, home):
    """Upstream case 13 with the corpus: only junk lines is not a rollout; the run goes on."""
    case = fixtures.install("only_junk", home)
    other = kit.make_rollout(home, old=True, minute=30)
    report = store.run_worker()
    for rel, outcome in case.expected.get("compress", {}).items():
        assert report.outcomes.get(rel) == outcome, rel
    junk = [rel for rel, e in case.expected["rollouts"].items() if e.get("header_error") == "not_a_rollout"]
    assert junk
    for rel in junk:
        assert report.outcomes.get(rel) == "skipped_not_rollout"
        assert oracle.representations(home, rel) == (rel,)
    _assert_compressed(home, other)


@pytest.mark.req("COMP-008")
@pytest.mark.parametrize("child", ["plain", "compressed", "archived_plain", "archived_compressed"])
def test_fork_base_is_never_compressed(store, home, child):
    """Upstream cases 11 and 12: a rollout named as forked_from_id by another is skipped_fork_base."""
    parent = kit.make_rollout(home, old=True, minute=1)
    kit.make_rollout(home, old=False, minute=2, forked_from_id=parent.id,
                     archived=child.startswith("archived"), compressed=child.endswith("compressed"))
    unrelated = kit.make_rollout(home, old=True, minute=3)
    before = oracle.file_state(home / parent.rel)
    assert store.compress(parent.rel) == "skipped_fork_base"
    report = store.run_worker()
    assert report.outcomes.get(parent.rel) == "skipped_fork_base"
    assert oracle.file_state(home / parent.rel) == before
    assert oracle.representations(home, parent.rel) == (parent.rel,)
    _assert_compressed(home, unrelated)


@pytest.mark.req("COMP-008")
@pytest.mark.parametrize("case", ["fork_plain_child", "fork_compressed_child"])
def test_fork_base_fixtures(store, home, case):
    """Upstream cases 11/12 from the corpus."""
    installed = fixtures.install(case, home)
    bases = installed.expected["fork_bases"]
    before = _snap(home)
    report = store.run_worker()
    base_paths = [rel for rel, e in installed.expected["rollouts"].items() if e.get("id") in bases]
    assert base_paths
    for rel in base_paths:
        assert report.outcomes.get(rel) == "skipped_fork_base"
        assert oracle.file_state(home / rel) == before[rel]
        assert oracle.representations(home, rel) == (rel,)


@pytest.mark.req("COMP-009")
def test_existing_zst_is_left_alone(store, home):
    """Upstream case 20: an old .zst without a plain sibling, valid or not, is untouched and still loads."""
    good = kit.make_rollout(home, old=True, compressed=True, minute=1)
    bad = kit.make_rollout(home, old=True, compressed=True, minute=2)
    raw = bytearray((home / bad.zst).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    oracle.write_plain(home, bad.zst, bytes(raw), 0o600, time.time_ns() - 8 * kit.DAY_NS)
    arch = kit.make_rollout(home, old=True, compressed=True, archived=True, minute=3)
    before = _snap(home)
    for path in (good.rel, good.zst, bad.rel, arch.zst):
        assert store.compress(path) == "skipped_already_compressed", path
    report = store.run_worker()
    assert report.ran
    for rel in (good.rel, bad.rel, arch.rel):
        assert report.outcomes.get(rel) in (None, "skipped_already_compressed"), rel
    store.cleanup()
    assert _snap(home) == before
    assert store.read(good.rel).content == good.data
    assert store.read(arch.rel).content == arch.data


@pytest.mark.req("COMP-010", "COMP-002")
def test_outcome_names_and_logical_keys(store, home):
    """Every outcome is a spec name and every key a logical path of the home."""
    kit.make_rollout(home, old=True, minute=1)
    kit.make_rollout(home, minute=2)
    kit.make_rollout(home, old=True, minute=3, data=b"junk\n")
    torn = kit.make_rollout(home, old=True, minute=4)
    _append_raw(home, torn.rel, b"{")
    oracle.backdate(home, torn.rel, 8)
    kit.make_rollout(home, old=True, minute=5, archived=True)
    report = store.run_worker()
    assert report.ran
    assert report.outcomes, "the run reported no outcome"
    for key, outcome in report.outcomes.items():
        assert outcome in OUTCOMES, f"{key}: unknown outcome {outcome!r}"
        assert key.endswith(".jsonl") and not key.startswith("/"), f"{key} is not a logical relative path"
        assert oracle.representations(home, key), f"{key} names no rollout of the home"
    compressed = sorted(k for k, v in report.outcomes.items() if v == "compressed")
    on_disk = sorted(oracle.logical_of(rel) for rel, st in _snap(home).items() if st.kind == "zst")
    assert compressed == on_disk, "every compressed rollout must be reported as compressed"


@pytest.mark.req("COMP-016", "COORD-003")
def test_no_temp_and_no_zst_after_any_outcome(store, home):
    """compress leaves no temp whatever the outcome, and publishes a .zst only for compressed."""
    busy = kit.make_rollout(home, old=True, minute=1)
    fresh = kit.make_rollout(home, minute=2)
    torn = kit.make_rollout(home, old=True, minute=3, data=b'{"a":1}')
    good = kit.make_rollout(home, old=True, minute=4)
    with kit.holding_lock(home / busy.rel):
        assert store.compress(busy.rel) == "skipped_busy"
        assert oracle.temps(home) == []
    assert store.compress(fresh.rel) == "skipped_not_cold"
    assert store.compress(torn.rel) == "skipped_incomplete_tail"
    assert oracle.temps(home) == []
    for r in (busy, fresh, torn):
        assert oracle.representations(home, r.rel) == (r.rel,)
    assert store.compress(good.rel) == "compressed"
    assert oracle.temps(home) == []
    store.cleanup()
    assert oracle.temps(home) == []


@pytest.mark.req("SEC-006")
@pytest.mark.parametrize("case", ["symlink_file_escape", "symlink_dir_escape"])
def test_symlinks_are_never_compressed(store, home, case):
    """A symlink named like a rollout (or a symlinked folder) is neither compressed nor followed."""
    fixtures.install(case, home)
    outside = fixtures.outside_root(home)
    # Make the targets cold whatever the fixture says, so only the symlink rule protects them.
    for folder, _dirs, names in os.walk(outside):
        for name in names:
            oracle.backdate(outside, os.path.relpath(os.path.join(folder, name), outside), 9)
    home_before, outside_before = _snap(home), _snap(outside)
    links = [rel for rel, st in home_before.items() if st.kind == "other"]
    assert links, f"fixture {case} has no symlink"
    report = store.run_worker()
    assert report.ran
    store.cleanup()
    for rel in links:
        assert report.outcomes.get(oracle.logical_of(rel)) in (None, "skipped_not_rollout", "failed",
                                                               "skipped_changed", "skipped_busy")
        try:
            outcome = store.compress(rel)
        except StoreError as exc:
            assert exc.kind in ("outside_home", "invalid_name", "not_found"), exc.kind
        else:
            assert outcome != "compressed", f"{rel}: compressed a symlink"
    after = _snap(home)
    for rel in links:
        assert after.get(rel) == home_before[rel], f"{rel}: the symlink was replaced or removed"
        assert rel + ".zst" not in after and not any(k.startswith(rel + "/") and k.endswith(".zst") for k in after)
    assert _snap(outside) == outside_before, "the symlink target changed"


@pytest.mark.zones
@pytest.mark.req("COMP-002")
def test_fresh_rollout_stays_plain_after_a_run(store, home):
    """Upstream case 9 (fresh part): a fresh rollout stays plain with no .zst after a run."""
    fresh = kit.make_rollout(home)
    before = oracle.file_state(home / fresh.rel)
    report = store.run_worker()
    assert report.outcomes.get(fresh.rel) in (None, "skipped_not_cold")
    assert oracle.representations(home, fresh.rel) == (fresh.rel,)
    assert oracle.file_state(home / fresh.rel) == before


# --- time as an input: zones, future mtimes, the threshold to the nanosecond, mtimes before 1970 --

#: cold_after of the threshold tests, and how long the young-side test lets one ``compress`` take:
#: its mtime is 1 ns younger than the threshold at the latest instant the store may read its clock.
_THRESHOLD_SECONDS = 3600
_CALL_BOUND_NS = 60 * 10**9


@pytest.mark.req("COMP-001")
@pytest.mark.zones
@pytest.mark.parametrize("ahead", ["1-minute", "beyond-the-threshold"])
def test_a_future_mtime_is_not_cold(store_selection, home, ahead):
    """A rollout whose mtime lies in the future (clock skew, a copied home, a restored backup) is not
    cold: ``compress`` and a worker run leave it plain and untouched."""
    r = kit.make_rollout(home)
    future = time.time_ns() + (60 * 10**9 if ahead == "1-minute" else (_THRESHOLD_SECONDS + DAY) * 10**9)
    os.utime(home / r.rel, ns=(future, future))
    before = _snap(home)
    s = kit.fresh_store(store_selection, home, _THRESHOLD_SECONDS)
    try:
        assert s.compress(r.rel) == "skipped_not_cold", "a rollout with a future mtime was judged cold"
        report = s.run_worker()
        assert report.outcomes.get(r.rel) in (None, "skipped_not_cold"), "the worker compressed a future mtime"
    finally:
        s.close()
    assert _snap(home) == before, "a rollout with a future mtime must stay untouched"


@pytest.mark.req("COMP-001")
@pytest.mark.zones
@pytest.mark.parametrize("offset_ns", [-1, 0, 1], ids=["1ns-older", "exactly-at", "1ns-younger"])
def test_the_cold_threshold_to_the_nanosecond(store_selection, home, offset_ns):
    """A mtime exactly ``cold_after`` old, or 1 ns older, at the earliest instant the store can read
    its clock is cold; one 1 ns younger than the threshold at the latest instant it can read it is
    not (the call is given 60 s; a slower one is inconclusive)."""
    r = kit.make_rollout(home)
    s = kit.fresh_store(store_selection, home, _THRESHOLD_SECONDS)
    try:
        earliest = time.time_ns()
        latest = earliest + _CALL_BOUND_NS
        mtime = (latest if offset_ns > 0 else earliest) - _THRESHOLD_SECONDS * 10**9 + offset_ns
        os.utime(home / r.rel, ns=(mtime, mtime))
        outcome = s.compress(r.rel)
        if offset_ns > 0 and time.time_ns() > latest:
            raise Inconclusive("compress took longer than 60 s: the young side of the threshold was not shown")
    finally:
        s.close()
    if offset_ns > 0:
        assert outcome == "skipped_not_cold", "a rollout 1 ns younger than the cold threshold was compressed"
        assert oracle.representations(home, r.rel) == (r.rel,)
    else:
        assert outcome == "compressed", f"a rollout {'exactly' if not offset_ns else '1 ns more than'} " \
            f"cold_after old was {outcome}: cold means at least cold_after old"
        _assert_compressed(home, r)


@pytest.mark.req("COMP-001", "COMP-005")
@pytest.mark.zones
def test_a_mtime_before_1970_is_cold_and_kept(store, home):
    """A mtime before the epoch (negative ``st_mtime_ns``) is old: compressed, and the `.zst` keeps it."""
    r = kit.make_rollout(home)
    mtime = -DAY * 10**9 - 123_456_789  # 1969-12-30T23:59:59.876543211Z
    os.utime(home / r.rel, ns=(mtime, mtime))
    if os.stat(home / r.rel).st_mtime_ns != mtime:
        raise Inconclusive("this file system cannot store a mtime before 1970")
    assert store.compress(r.rel) == "compressed"
    _assert_compressed(home, r)
    assert oracle.file_state(home / r.zst).mtime_ns == mtime, "the .zst must keep a mtime before 1970 exactly"
