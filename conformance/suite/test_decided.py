"""Behaviours SPEC.md decides that a differential probe (an independent store against the reference)
found open: JSON edge cases, empty `.zst`, archived subfolders, folders named like rollouts, search
order, handle reuse, errors after the point of no return, error precedence and the error's path."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.suite import kit

SKIPPABLE_FRAME = struct.pack("<II", 0x184D2A50, 3) + b"abc"


def _deep(levels: int) -> bytes:
    return b'{"d":' * levels + b"1" + b"}" * levels + b"\n"


@pytest.mark.req("READ-007")
def test_json_edge_lines_are_counted_as_spec_says(store, home):
    """NaN/Infinity are not JSON (parse errors); whitespace-only lines count in neither; 100 levels of
    nesting is an item; 5000 levels never makes read fail."""
    meta = oracle.session_meta_line("00000000-0000-4000-8000-000000000001")
    r = kit.make_rollout(home, minute=1, data=meta + b'{"a": NaN}\n{"b": -Infinity}\n  \t\r\n' + _deep(100))
    result = store.read(r.rel)
    assert (result.items, result.parse_errors) == (2, 2), (result.items, result.parse_errors)
    deep = kit.make_rollout(home, minute=2, data=meta + _deep(5000))
    result = store.read(deep.rel)
    assert result.content == deep.data and result.items + result.parse_errors == 2


@pytest.mark.req("READ-013")
@pytest.mark.parametrize("content", [b"", SKIPPABLE_FRAME], ids=["zero_length", "skippable_only"])
def test_a_zst_without_a_data_frame_is_corrupt(store, home, content):
    r = kit.make_rollout(home, compressed=True)
    (home / r.zst).write_bytes(content)
    assert kit.error_kind(store.read, r.rel) == "corrupt"
    assert kit.error_kind(store.header, r.rel) == "corrupt"


@pytest.mark.req("NAME-004")
def test_a_subfolder_of_archived_sessions_holds_no_rollouts(store, home):
    r = kit.make_rollout(home, archived=True, lines=1)
    nested = Path("archived_sessions", "old", Path(r.rel).name)
    (home / nested).parent.mkdir()
    os.rename(home / r.rel, home / nested)
    before = oracle.snapshot(home)
    assert store.list(archived=True) == []
    assert store.find(r.id) is None
    assert store.search("hello 0", archived=True) == []
    assert kit.error_kind(store.read, nested.as_posix()) == "invalid_name"
    assert oracle.snapshot(home) == before


@pytest.mark.req("NAME-005", "ERR-011")
def test_a_folder_named_like_a_rollout_is_not_one(store, home):
    r = kit.make_rollout(home)
    folder = kit.make_rollout(home, minute=1)
    (home / folder.rel).unlink()
    (home / folder.rel).mkdir()
    assert [e.path for e in store.list()] == [r.rel]
    for op in (store.read, store.header):
        error = kit.store_error(op, folder.rel)
        assert (error.kind, error.path) == ("not_found", folder.rel), (error.kind, error.path)


@pytest.mark.zones
@pytest.mark.req("DISC-007")
def test_search_hits_follow_the_listing_order_then_line_numbers(store, home):
    now = time.time_ns()
    rollouts = []
    for minute, age_days in ((1, 3), (2, 1), (3, 2)):
        meta = oracle.session_meta_line(f"00000000-0000-4000-8000-00000000000{minute}")
        r = kit.make_rollout(home, minute=minute, data=meta + b'{"m":"needle one"}\n{"x":1}\n{"m":"needle two"}\n')
        stamp = now - age_days * kit.DAY_NS
        os.utime(home / r.rel, ns=(stamp, stamp))
        rollouts.append(r)
    hits = [(h.path, h.line_number) for h in store.search("needle")]
    order = [e.path for e in store.list()]
    assert hits == [(path, n) for path in order for n in (2, 4) if path in {r.rel for r in rollouts}]


@pytest.mark.req("APPEND-007")
def test_a_string_that_names_no_open_writer_is_a_bad_request(store, home):
    r = kit.make_rollout(home)
    before = oracle.snapshot(home)
    for op, args in ((store.write, ("never-issued", kit.line_text("x"))), (store.close_writer, ("never-issued",))):
        assert kit.error_kind(op, *args) == "bad_request"
    handle = store.open_writer(r.rel)
    store.close_writer(handle)
    assert kit.error_kind(store.write, handle, kit.line_text("after-close")) == "bad_request"
    assert oracle.snapshot(home) == before


@pytest.mark.req("RECOVER-008")
@pytest.mark.needs("failpoints", "compressor")
@pytest.mark.parametrize("point", ["materialize.after_link", "materialize.before_unlink",
                                   "materialize.after_unlink", "append.after_write"])
def test_an_error_after_the_point_of_no_return_leaves_a_crash_state(store_selection, home, point):
    r = kit.make_rollout(home, compressed=True, old=True, lines=2)
    line = kit.line_text(f"after-{point}")
    with kit.failpoint_session(store_selection, home) as session:
        kit.require_failpoints(session, point)
        session.answer(point, "error", "EIO")
        try:
            session.store.append(r.rel, [line])
            acknowledged = True
        except kit.StoreError:
            acknowledged = False
        session.require(point, "error")
    checker = kit.fresh_store(store_selection, home)
    try:
        content = checker.read(r.rel).content
        assert content in (r.data, r.data + line.encode() + b"\n"), f"{point}: read lost or mangled lines"
        assert not acknowledged or content.endswith(line.encode() + b"\n"), f"{point}: an acknowledged line is gone"
        oracle.age_temps(home)
        checker.cleanup()
    finally:
        checker.close()
    assert len(oracle.representations(home, r.rel)) == 1, oracle.representations(home, r.rel)
    assert oracle.temps(home) == []
    assert oracle.logical_content(home, r.rel) == content


@pytest.mark.req("ERR-010")
@pytest.mark.parametrize("direction", ["archive", "unarchive"])
def test_the_destination_is_checked_before_the_source(store, home, direction):
    """Source missing, destination present: already_exists (the destination wins)."""
    present = kit.make_rollout(home, archived=direction == "archive")
    source = oracle.active_path(Path(present.rel).name) if direction == "archive" \
        else oracle.archived_path(Path(present.rel).name)
    before = oracle.snapshot(home)
    assert kit.error_kind(getattr(store, direction), source) == "already_exists"
    assert oracle.snapshot(home) == before


@pytest.mark.req("ERR-010")
def test_a_name_that_is_not_a_rollout_is_invalid_even_if_a_file_is_there(store, home):
    (home / "sessions" / "notes.jsonl").write_text("{}\n")
    assert kit.error_kind(store.read, "sessions/notes.jsonl") == "invalid_name"


@pytest.mark.req("ERR-011")
def test_an_error_names_the_logical_path(store, home):
    r = kit.make_rollout(home)
    missing = r.rel.replace(r.id, "00000000-1111-4222-8333-444444444444")
    for given in (missing, missing + ".zst", str(home / missing)):
        error = kit.store_error(store.read, given)
        assert (error.kind, error.path) == ("not_found", missing), (given, error.kind, error.path)
