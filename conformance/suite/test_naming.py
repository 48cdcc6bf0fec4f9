"""NAME: logical and physical paths, file-name parsing, paths relative to the home; SEC-008 ids."""

from __future__ import annotations

import os
import uuid as uuidlib
from datetime import datetime, timezone

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.suite import kit
from conformance.api.errors import StoreError

DAY = "sessions/2025/01/03"


def _world(home) -> tuple[dict, dict]:
    """The home and its outside sibling, as the oracle sees them."""
    outside = fixtures.outside_root(home)
    return oracle.snapshot(home), (oracle.snapshot(outside) if outside.exists() else {})


# Every path-taking operation, with the capability it needs beyond `reader`.
def _ops(store, path):
    return {
        "read": lambda: store.read(path),
        "header": lambda: store.header(path),
        "create": lambda: store.create(path, [kit.line_text("c")]),
        "append": lambda: store.append(path, [kit.line_text("a")]),
        "open_writer": lambda: store.open_writer(path),
        "materialize": lambda: store.materialize(path),
        "compress": lambda: store.compress(path),
        "archive": lambda: store.archive(path),
        "unarchive": lambda: store.unarchive(path),
        "delete": lambda: store.delete(path),
    }


_NEEDS = {"create": "writer", "append": "writer", "open_writer": "writer", "materialize": "writer",
          "compress": "compressor", "archive": "lifecycle", "unarchive": "lifecycle", "delete": "lifecycle"}
PATH_OPS = [pytest.param(op, marks=[pytest.mark.needs(_NEEDS[op])] if op in _NEEDS else [], id=op)
            for op in ("read", "header", "create", "append", "open_writer", "materialize", "compress",
                       "archive", "unarchive", "delete")]


# --- NAME-001 -----------------------------------------------------------------------------------


@pytest.mark.req("NAME-001")
def test_zst_path_of_plain_rollout_reads_plain(store, home):
    """read("X.jsonl.zst") of a rollout that is plain returns the plain content."""
    r = kit.make_rollout(home, lines=3)
    result = store.read(r.zst)
    assert (result.content, result.representation, result.physical_path) == (r.data, "plain", r.rel)
    assert store.header(r.zst)["id"] == r.id


@pytest.mark.req("NAME-001")
@pytest.mark.parametrize("archived", [False, True])
def test_both_paths_act_on_one_rollout(store, home, archived):
    """Logical and physical paths give the same result for either representation."""
    plain = kit.make_rollout(home, archived=archived, minute=1)
    zst = kit.make_rollout(home, archived=archived, compressed=True, minute=2)
    for r in (plain, zst):
        a, b = store.read(r.rel), store.read(r.zst)
        assert a == b
        assert a.content == r.data
        assert store.header(r.rel) == store.header(r.zst)


@pytest.mark.req("NAME-001", "ERR-002")
def test_zst_path_normalizes_without_files(store, home):
    """Upstream case 5: a .jsonl.zst path names the logical rollout even when no file exists:
    both spellings give not_found (never invalid_name), and nothing is created."""
    r = kit.make_rollout(home)
    os.unlink(home / r.rel)
    before = _world(home)
    assert kit.error_kind(lambda: store.read(r.zst)) == "not_found"
    assert kit.error_kind(lambda: store.read(r.rel)) == "not_found"
    assert kit.error_kind(lambda: store.header(r.zst)) == "not_found"
    assert _world(home) == before


@pytest.mark.req("NAME-001")
def test_returned_reader_paths_are_logical(store, home):
    """RolloutEntry.path and SearchHit.path are logical .jsonl paths; only physical_path names a .zst."""
    a = kit.make_rollout(home, compressed=True, minute=1)
    b = kit.make_rollout(home, archived=True, compressed=True, minute=2)
    entries = store.list() + store.list(archived=True)
    assert sorted(e.path for e in entries) == sorted([a.rel, b.rel])
    assert sorted(e.physical_path for e in entries) == sorted([a.zst, b.zst])
    assert store.find(a.id).path == a.rel
    assert [h.path for h in store.search(a.id)] == [a.rel]
    assert [h.path for h in store.search(b.id, archived=True)] == [b.rel]


@pytest.mark.req("NAME-001")
@pytest.mark.needs("writer", "lifecycle")
def test_returned_writer_and_lifecycle_paths_are_logical(store, home):
    """create, append, open_writer, archive and unarchive return logical paths, given either spelling
    (upstream case 14 returns the plain path when resuming from a .zst)."""
    ident = str(uuidlib.uuid4())
    rel = f"{DAY}/rollout-2025-01-03T12-00-00-{ident}.jsonl"
    assert store.create(rel + ".zst", [oracle.session_meta_line(ident).decode().rstrip("\n")]) == rel
    assert (home / rel).is_file() and not (home / (rel + ".zst")).exists()
    assert store.append(rel + ".zst", [kit.line_text("r1")]) == rel
    handle = store.open_writer(rel + ".zst")
    store.close_writer(handle)
    archived = store.archive(rel + ".zst")
    assert archived == f"archived_sessions/rollout-2025-01-03T12-00-00-{ident}.jsonl"
    assert store.unarchive(archived + ".zst") == rel
    z = kit.make_rollout(home, compressed=True, minute=7)
    assert store.append(z.zst, [kit.line_text("r2")]) == z.rel
    assert store.archive(z.rel) == "archived_sessions/" + z.rel.rsplit("/", 1)[1]


# --- NAME-002 -----------------------------------------------------------------------------------

_ID = "3f9c1a52-7b1e-4c2a-9d5e-8a6b4c3d2e1f"
BAD_NAMES = [
    "rollout-2025-01-03T12-00-00-notauuid.jsonl",
    f"session-2025-01-03T12-00-00-{_ID}.jsonl",
    f"rollout-2025-01-03T12-00-00-{_ID}.json",
    f"rollout-2025-01-03T12-00-00-{_ID}.jsonl.gz",
    f"rollout-2025-01-03T12-00-00-{_ID}.jsonl.zst.zst",
    f"rollout-2025-01-03T12-00-00-{_ID}.jsonl.zst.compress.1.0.tmp",
    f"rollout-2025-01-03T12-00-00-{_ID}.jsonl.materialize.1.0.tmp",
    f"rollout-2025-01-03T12-00-00-{_ID}.jsonl.tmp",
    f"rollout-{_ID}.jsonl",
    f"rollout-2025-01-03T12-00-00{_ID}.jsonl",
    f"rollout-2025-01-03T12-00-00-{_ID.replace('-', '')}.jsonl",
    f"rollout-2025-01-03T12-00-00-{{{_ID}}}.jsonl",
    f"rollout-2025-01-03T12-00-00-{_ID}x.jsonl",
    f"rollout-2025-01-03T12-00-00-g{_ID[1:]}.jsonl",
    f"rollout-garbage-{_ID}.jsonl",
    f"rollout-2025-01-03-{_ID}.jsonl",
    f"rollout-2025-01-03T12:00:00-{_ID}.jsonl",
    f"Rollout-2025-01-03T12-00-00-{_ID}.jsonl",
    f"rollout-2025-01-03T12-00-00-{_ID}.JSONL",
]


@pytest.mark.req("NAME-002")
@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_refused_by_reads(store, home, name):
    """A file that exists under a name that does not parse is never read: invalid_name."""
    data = oracle.session_meta_line(_ID) + oracle.user_message_line("x")
    oracle.write_plain(home, f"{DAY}/{name}", data)
    before = _world(home)
    for call in (lambda: store.read(f"{DAY}/{name}"), lambda: store.header(f"{DAY}/{name}")):
        assert kit.error_kind(call) == "invalid_name"
    assert _world(home) == before


@pytest.mark.req("NAME-002")
@pytest.mark.parametrize("op", PATH_OPS)
@pytest.mark.parametrize("name", [BAD_NAMES[0], BAD_NAMES[5], BAD_NAMES[14]], ids=["notauuid", "temp", "badts"])
def test_bad_names_refused_by_every_operation(store, home, op, name):
    """Every path-taking operation refuses an unparsable name with invalid_name and changes nothing."""
    data = oracle.session_meta_line(_ID) + oracle.user_message_line("x")
    folder = "archived_sessions" if op == "unarchive" else DAY
    oracle.write_plain(home, f"{folder}/{name}", data, mtime_ns=1_700_000_000 * 10**9)
    before = _world(home)
    assert kit.error_kind(_ops(store, f"{folder}/{name}")[op]) == "invalid_name"
    assert _world(home) == before


@pytest.mark.req("NAME-002")
def test_uuid_matched_case_insensitively(store, home):
    """A file name with an upper-case UUID parses; reading it through either path works."""
    ident = str(uuidlib.uuid4()).upper()
    rel = oracle.active_path(oracle.rollout_name(datetime(2025, 1, 3, 12, tzinfo=timezone.utc), ident))
    data = oracle.session_meta_line(ident) + oracle.user_message_line("upper")
    oracle.write_plain(home, rel, data)
    assert store.read(rel).content == data
    assert store.read(rel + ".zst").content == data
    assert store.header(rel)["id"] == ident


@pytest.mark.req("NAME-002")
def test_rollouts_live_under_the_two_areas(store, home):
    """A well-named rollout outside sessions/ and archived_sessions/ (e.g. in .tmp/) is not a rollout path."""
    r = kit.make_rollout(home)
    oracle.write_plain(home, ".tmp/" + r.rel.rsplit("/", 1)[1], r.data)
    with pytest.raises(StoreError) as info:
        store.read(".tmp/" + r.rel.rsplit("/", 1)[1])
    assert info.value.kind in ("invalid_name", "outside_home", "not_found")


# --- NAME-003 -----------------------------------------------------------------------------------


@pytest.mark.req("NAME-003")
def test_absolute_path_inside_home_accepted(store, home):
    r = kit.make_rollout(home, compressed=True)
    for path in (str(home / r.rel), str(home / r.zst)):
        result = store.read(path)
        assert result.content == r.data
        assert result.physical_path == r.zst
    assert store.header(str(home / r.rel))["id"] == r.id


@pytest.mark.req("NAME-003")
def test_dot_dot_that_stays_inside_is_accepted(store, home):
    r = kit.make_rollout(home)
    name = r.rel.rsplit("/", 1)[1]
    assert store.read(f"sessions/../sessions/2025/01/../01/03/{name}").content == r.data


def _outside_rollout(home):
    """A real, readable rollout next to the home (not in it); its absolute path and a ../ escape."""
    outside = fixtures.outside_root(home)
    r = kit.make_rollout(outside)
    absolute = outside / r.rel
    escape = os.path.relpath(absolute, home)
    assert escape.startswith("..")
    return r, str(absolute), escape


@pytest.mark.req("NAME-003")
@pytest.mark.parametrize("op", PATH_OPS)
def test_paths_outside_home_refused(store, home, op):
    """An absolute path elsewhere or a ../ escape: outside_home, nothing read or changed anywhere."""
    r, absolute, escape = _outside_rollout(home)
    oracle.backdate(fixtures.outside_root(home), r.rel, 9)
    kit.make_rollout(home)
    for path in (absolute, escape, absolute + ".zst", f"sessions/../../{escape[3:]}"):
        before = _world(home)
        assert kit.error_kind(_ops(store, path)[op]) == "outside_home", f"{op}({path}) was not refused"
        assert _world(home) == before


# --- SEC-008 ------------------------------------------------------------------------------------

NON_UUID_PATHS = [
    f"{DAY}/rollout-2025-01-03T12-00-00-notauuid.jsonl",
    f"{DAY}/rollout-2025-01-03T12-00-00-...jsonl",
    f"{DAY}/rollout-2025-01-03T12-00-00-00000000-0000-0000-0000-00000000000g.jsonl",
    f"{DAY}/rollout-2025-01-03T12-00-00-{_ID[:-1]}.jsonl",
]


@pytest.mark.req("SEC-008")
@pytest.mark.parametrize("path", NON_UUID_PATHS, ids=["notauuid", "dots", "non-hex", "short"])
def test_non_uuid_ids_rejected(store, home, path):
    """A path whose id is not a canonical UUID: invalid_name for read and header; find gives None."""
    before = _world(home)
    assert kit.error_kind(lambda: store.read(path)) == "invalid_name"
    assert kit.error_kind(lambda: store.header(path)) == "invalid_name"
    assert kit.error_kind(lambda: store.read(path + ".zst")) == "invalid_name"
    assert store.find(path.rsplit("-", 1)[-1].removesuffix(".jsonl")) is None
    assert _world(home) == before


@pytest.mark.req("SEC-008")
@pytest.mark.needs("writer")
@pytest.mark.parametrize("path", NON_UUID_PATHS + [f"{DAY}/rollout-2025-01-03T12-00-00-../../x.jsonl"],
                         ids=["notauuid", "dots", "non-hex", "short", "slash"])
def test_create_with_non_uuid_creates_nothing(store, home, path):
    before = _world(home)
    with pytest.raises(StoreError) as info:
        store.create(path, [oracle.session_meta_line(_ID).decode().rstrip("\n")])
    assert info.value.kind == "invalid_name"
    assert _world(home) == before
