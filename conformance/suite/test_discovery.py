"""DISC: listing, lookup by id and search; SEC-004 for discovery (symlinks are never reported)."""

from __future__ import annotations

import os
import uuid as uuidlib
from datetime import datetime, timezone

import pytest

import fixtures
from conformance.oracle import disk as oracle
from conformance.suite import kit


def _paths(entries) -> list[str]:
    return [e.path for e in entries]


def _hits(hits) -> list[tuple[str, int]]:
    return [(h.path, h.line_number) for h in hits]


_BASE = datetime(2025, 1, 3, 12, 0, 0, tzinfo=timezone.utc)
ALL_CASES = [case.name for case in fixtures.cases()]


@pytest.mark.discovery
@pytest.mark.req("DISC-001", "DISC-002", "SEC-004")
@pytest.mark.parametrize("case_name", ALL_CASES)
def test_listing_matches_the_corpus(store, home, case_name, store_scope):
    """Every corpus case: list reports exactly the expected logical rollouts (temps, hidden .zst
    siblings and symlinks excluded) and find gives the expected physical path for each id,
    in the areas of the home the store declared it reads."""
    case = fixtures.install(case_name, home)
    listed = _paths(store.list()) + (_paths(store.list(archived=True)) if "archived_sessions" in store_scope else [])
    assert sorted(listed) == sorted(p for p in case.expected["listed"] if p.split("/", 1)[0] in store_scope)
    for ident, physical in case.expected["lookup"].items():
        entry = store.find(ident)
        if physical is not None and physical.split("/", 1)[0] not in store_scope:
            physical = None  # outside the declared scope: not found
        if physical is None:
            assert entry is None, f"find({ident}) reported {entry}"
        else:
            assert entry is not None, f"find({ident}) found nothing"
            assert entry.physical_path == physical
            assert entry.path == oracle.logical_of(physical)


@pytest.mark.discovery
@pytest.mark.req("DISC-001", "DISC-003", "DISC-005")
def test_realistic_home_lists_and_finds_every_session(store, home, store_scope):
    """Weeks of sessions, half the cold ones compressed: one entry per session in its area, each found by id."""
    manifest = kit.realistic_home(home)
    expected = {r.logical: r for r in manifest.rollouts if r.logical.split("/", 1)[0] in store_scope}
    entries = store.list() + (store.list(archived=True) if "archived_sessions" in store_scope else [])
    assert sorted(e.path for e in entries) == sorted(expected)
    for entry in entries:
        truth = expected[entry.path]
        assert (entry.id, entry.archived, entry.representation) == (truth.id, truth.archived,
                                                                   "zst" if truth.compressed else "plain")
    for truth in expected.values():
        assert store.find(truth.id).path == truth.logical


# --- DISC-001 -----------------------------------------------------------------------------------


@pytest.mark.discovery
@pytest.mark.req("DISC-001")
@pytest.mark.parametrize("case_name", ["both_equal", "both_diverged", "both_stale_zst"])
def test_zst_hidden_when_plain_sibling_exists(store, home, case_name):
    """Upstream case 6: one entry per logical rollout; it describes the plain file."""
    case = fixtures.install(case_name, home)
    (rel,) = case.expected["rollouts"]
    entries = store.list()
    assert len(entries) == 1
    (entry,) = entries
    assert (entry.path, entry.physical_path, entry.representation) == (rel, rel, "plain")
    assert entry.mtime_ns == os.stat(home / rel).st_mtime_ns


@pytest.mark.discovery
@pytest.mark.archived_sessions
@pytest.mark.req("DISC-001")
def test_hidden_sibling_in_archive(store, home):
    """The same rule in archived_sessions/."""
    r = kit.make_rollout(home, archived=True)
    oracle.write_zst(home, r.zst, r.data, mtime_ns=os.stat(home / r.rel).st_mtime_ns + 10**9)
    (entry,) = store.list(archived=True)
    assert (entry.physical_path, entry.representation) == (r.rel, "plain")


# --- DISC-002 -----------------------------------------------------------------------------------


@pytest.mark.req("DISC-002")
def test_temp_with_valid_content_is_not_a_rollout(store, home):
    """Upstream case 24: lookup by uuid ignores a compress temp holding a valid compressed rollout."""
    case = fixtures.install("temp_with_valid_content", home)
    (ident,) = case.expected["lookup"]
    assert store.list() == [] and store.list(archived=True) == []
    assert store.find(ident) is None
    assert store.search("hello") == []


@pytest.mark.req("DISC-002")
def test_temps_and_unparsable_names_are_never_reported(store, home):
    """Temps of every naming (with plain, valid content) and names that do not parse are ignored,
    and do not make list, find or search fail."""
    ident = str(uuidlib.uuid4())
    data = oracle.session_meta_line(ident) + oracle.user_message_line("needle-c41b")
    folder = "sessions/2025/01/03"
    name = oracle.rollout_name(_BASE, ident)
    junk = [
        f"{name}.zst.compress.1.0.tmp", f"{name}.materialize.2.1.tmp", f"{name}.tmp", f"{name}.zst.tmp",
        "rollout-2025-01-03T12-00-00-notauuid.jsonl", f"session-2025-01-03T12-00-00-{ident}.jsonl",
        f"rollout-2025-01-03T12-00-00-{ident}.json", f"rollout-2025-01-03T12-00-00-{ident}.jsonl.gz",
        f"rollout-2025-01-03T12-00-00-{ident}.jsonl.zst.zst", f"rollout-{ident}.jsonl",
        f"rollout-2025-01-03T12-00-00-{ident.replace('-', '')}.jsonl", "notes.txt", ".hidden.jsonl",
    ]
    for n in junk:
        oracle.write_plain(home, f"{folder}/{n}", data)
        oracle.write_plain(home, f"archived_sessions/{n}", data)
    # A folder named like a rollout is not a rollout either.
    (home / folder / f"rollout-2025-01-03T12-00-00-{uuidlib.uuid4()}.jsonl").mkdir()
    real = kit.make_rollout(home, minute=30)
    assert _paths(store.list()) == [real.rel]
    assert store.list(archived=True) == []
    assert store.find(ident) is None
    assert store.find(real.id).path == real.rel
    assert store.search("needle-c41b") == [] and store.search("needle-c41b", archived=True) == []


# --- DISC-003 -----------------------------------------------------------------------------------


@pytest.mark.discovery
@pytest.mark.archived_sessions
@pytest.mark.req("DISC-003")
def test_entry_fields_and_area_split(store, home):
    """Each entry's fields, and list(archived) reports exactly one area."""
    made = {
        "active_plain": kit.make_rollout(home, minute=1),
        "active_zst": kit.make_rollout(home, minute=2, compressed=True, old=True),
        "archived_plain": kit.make_rollout(home, minute=3, archived=True),
        "archived_zst": kit.make_rollout(home, minute=4, archived=True, compressed=True, old=True),
    }
    oracle.write_plain(home, "sessions/2024/12/31/" + oracle.rollout_name(_BASE, made["active_plain"].id)
                       .replace(made["active_plain"].id, str(uuidlib.uuid4())), made["active_plain"].data)
    entries = {e.id.lower(): e for e in store.list()}
    archived = {e.id.lower(): e for e in store.list(archived=True)}
    assert len(entries) == 3 and len(archived) == 2
    for key, r in made.items():
        is_archived, compressed = key.startswith("archived"), key.endswith("zst")
        e = (archived if is_archived else entries)[r.id]
        physical = r.zst if compressed else r.rel
        assert e.path == r.rel
        assert e.physical_path == physical
        assert e.archived is is_archived
        assert e.representation == ("zst" if compressed else "plain")
        assert e.mtime_ns == os.stat(home / physical).st_mtime_ns
    for e in entries.values():
        assert e.path.startswith("sessions/") and not e.archived
    for e in archived.values():
        assert e.path.startswith("archived_sessions/") and e.archived


@pytest.mark.archived_sessions
@pytest.mark.req("DISC-003", "DISC-006")
def test_search_splits_areas(store, home):
    """search(archived=False) sees only sessions/, search(archived=True) only archived_sessions/."""
    active = kit.make_rollout(home)
    archived = kit.make_rollout(home, archived=True, compressed=True)
    oracle.write_plain(home, active.rel, active.data + oracle.user_message_line("needle-active-9"))
    oracle.write_zst(home, archived.zst, archived.data + oracle.user_message_line("needle-archived-9"))
    assert _hits(store.search("needle-active-9")) == [(active.rel, 3)]
    assert store.search("needle-active-9", archived=True) == []
    assert store.search("needle-archived-9") == []
    assert _hits(store.search("needle-archived-9", archived=True)) == [(archived.rel, 3)]


@pytest.mark.discovery
@pytest.mark.req("DISC-003", "DISC-005")
def test_uppercase_uuid_in_file_name(store, home):
    """The id is the UUID from the file name; it is found by either case."""
    ident = str(uuidlib.uuid4()).upper()
    rel = oracle.active_path(oracle.rollout_name(_BASE, ident))
    oracle.write_plain(home, rel, oracle.session_meta_line(ident))
    (entry,) = store.list()
    assert entry.path == rel and entry.id.lower() == ident.lower()
    assert store.find(ident.lower()).path == rel
    assert store.find(ident).path == rel


# --- DISC-004 -----------------------------------------------------------------------------------


@pytest.mark.discovery
@pytest.mark.req("DISC-004")
def test_list_sorted_newest_first_then_path(store, home):
    """Newest first by the selected representation's mtime_ns; equal mtimes by logical path."""
    base = 1_736_000_000_000_000_000
    made = [kit.make_rollout(home, minute=m, compressed=m % 2 == 1) for m in range(8)]
    mtimes = [base + 5, base + 1, base + 7, base + 5, base + 3, base + 5, base, base + 7]
    for r, t in zip(made, mtimes):
        physical = home / (r.zst if (home / r.zst).exists() else r.rel)
        os.utime(physical, ns=(t, t))
    want = sorted(((t, r.rel) for r, t in zip(made, mtimes)), key=lambda p: (-p[0], p[1]))
    got = [(e.mtime_ns, e.path) for e in store.list()]
    assert got == want


@pytest.mark.discovery
@pytest.mark.req("DISC-004")
def test_sort_uses_selected_representation_mtime(store, home):
    """A hidden .zst's mtime does not count: the plain file's mtime orders the entry."""
    a = kit.make_rollout(home, minute=1)
    b = kit.make_rollout(home, minute=2)
    os.utime(home / a.rel, ns=(10**18, 10**18))
    os.utime(home / b.rel, ns=(2 * 10**18, 2 * 10**18))
    oracle.write_zst(home, a.zst, a.data, mtime_ns=3 * 10**18)
    assert _paths(store.list()) == [b.rel, a.rel]


# --- DISC-005 -----------------------------------------------------------------------------------


@pytest.mark.discovery
@pytest.mark.req("DISC-005")
def test_find_compressed_returns_zst(store, home):
    """Upstream case 23: lookup by uuid finds a compressed rollout; physical_path is the .zst."""
    case = fixtures.install("compressed_rollout", home)
    (rel,) = case.expected["rollouts"]
    ident = case.expected["rollouts"][rel]["id"]
    entry = store.find(ident)
    assert (entry.path, entry.physical_path, entry.representation) == (rel, rel + ".zst", "zst")
    assert store.find(ident.upper()).path == rel


@pytest.mark.req("DISC-005", "SEC-008")
@pytest.mark.parametrize("query", ["not-a-uuid", "", "../../etc/passwd", "a/b", "..",
                                   "f385a069fe7d52a7b90ca664ebae96f6", "{f385a069-fe7d-52a7-b90c-a664ebae96f6}",
                                   "f385a069-fe7d-52a7-b90c-a664ebae96f6x", "f385a069-fe7d-52a7-b90c"])
@pytest.mark.discovery
def test_find_non_uuid_returns_none(store, home, query):
    """Upstream case 23: a non-uuid returns nothing (None, not an error), even a near-miss of a real id."""
    fixtures.install("compressed_rollout", home)
    assert store.find(query) is None


@pytest.mark.discovery
@pytest.mark.req("DISC-005")
def test_find_unknown_uuid_returns_none(store, home):
    kit.make_rollout(home)
    assert store.find(str(uuidlib.uuid4())) is None


@pytest.mark.discovery
@pytest.mark.archived_sessions
@pytest.mark.req("DISC-005")
def test_find_prefers_sessions_over_archive(store, home):
    """The same id in both areas: find returns the active one; archived ids are found too."""
    active = kit.make_rollout(home)
    name = active.rel.rsplit("/", 1)[1]
    oracle.write_zst(home, oracle.archived_path(name) + ".zst", active.data)
    entry = store.find(active.id)
    assert (entry.path, entry.archived) == (active.rel, False)
    only_archived = kit.make_rollout(home, archived=True, compressed=True, minute=9)
    entry = store.find(only_archived.id)
    assert (entry.path, entry.physical_path, entry.archived) == (only_archived.rel, only_archived.zst, True)


# --- DISC-006 -----------------------------------------------------------------------------------


@pytest.mark.req("DISC-006")
def test_search_in_compressed_reports_logical_path(store, home):
    """Upstream case 8: search finds text in a compressed rollout under the logical .jsonl path."""
    case = fixtures.install("compressed_rollout", home)
    for text, hits in case.expected["search"].items():
        assert _hits(store.search(text)) == [tuple(h) for h in hits]


@pytest.mark.req("DISC-006")
def test_search_reports_each_matching_line_once(store, home):
    """A line matching twice is one hit; several lines give several hits, 1-based, in order."""
    r = kit.make_rollout(home)
    other = kit.make_rollout(home, compressed=True, minute=3)
    data = r.data + oracle.user_message_line("zq-x zq-x") + oracle.user_message_line("none") \
        + oracle.user_message_line("zq-x")
    oracle.write_plain(home, r.rel, data)
    oracle.write_zst(home, other.zst, other.data + oracle.user_message_line("zq-x"))
    got = sorted(_hits(store.search("zq-x")))
    assert got == sorted([(r.rel, 3), (r.rel, 5), (other.rel, 3)])


@pytest.mark.req("DISC-006")
def test_search_in_both_representations_uses_plain_once(store, home):
    """A rollout with both representations is searched once, in the plain file."""
    case = fixtures.install("both_equal", home)
    (rel,) = case.expected["rollouts"]
    hits = _hits(store.search(case.expected["rollouts"][rel]["id"]))
    assert hits == [(rel, 1)]


@pytest.mark.req("DISC-006")
def test_search_finds_unicode_text(store, home):
    """The needle is matched as UTF-8 text, including non-ASCII characters."""
    r = kit.make_rollout(home, compressed=True)
    oracle.write_zst(home, r.zst, r.data + oracle.user_message_line("fixed ✓ naïve"))
    assert _hits(store.search("✓ naïve")) == [(r.rel, 3)]


# --- SEC-004 for discovery ----------------------------------------------------------------------


@pytest.mark.req("SEC-004")
@pytest.mark.parametrize("case_name", ["symlink_file_escape", "symlink_dir_escape"])
def test_discovery_ignores_symlinks_out_of_home(store, home, case_name):
    """list, find and search neither report a symlinked file nor descend into a symlinked folder."""
    case = fixtures.install(case_name, home)
    escaping = [rel for rel, want in case.expected["rollouts"].items() if want["error"] == "outside_home"]
    assert _paths(store.list()) == case.expected["listed"]
    for ident, physical in case.expected["lookup"].items():
        if physical is None:
            assert store.find(ident) is None
    for rel in escaping:
        ident = oracle.parse_name(rel.rsplit("/", 1)[1])[1]
        assert store.search(ident) == [], "search read a file through a symlink"


@pytest.mark.req("SEC-004")
def test_discovery_ignores_symlinks_inside_home(store, home):
    """A symlinked rollout file and a symlinked folder pointing inside the home are not reported."""
    r = kit.make_rollout(home)
    link_name = oracle.rollout_name(_BASE, uuidlib.uuid4())
    os.symlink(home / r.rel, home / "sessions/2025/01/03" / link_name)
    os.symlink(home / "sessions/2025/01/03", home / "sessions/2025/01/05")
    os.symlink(home / "sessions/2025", home / "archived_sessions/2025")
    assert _paths(store.list()) == [r.rel]
    assert store.list(archived=True) == []
    assert store.find(oracle.parse_name(link_name)[1]) is None
    assert _hits(store.search(r.id)) == [(r.rel, 1)]
    assert store.search(r.id, archived=True) == []
