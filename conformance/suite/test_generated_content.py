"""Reading, headers, listing, search and lookup over generated content (conformance.oracle.strategies), the oracle as judge.

Fixed lists of tricky lines miss the bugs of a line splitter that breaks on what JSON allows raw
inside strings, or of a search that numbers lines differently around blank lines.  These tests draw
rollouts from the whole space the format allows; the run's seed fixes the draws (``--seed``).
"""

from __future__ import annotations

import itertools
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import fixtures
from conformance.oracle import disk as oracle
from conformance.oracle import strategies
from conformance.machine.state_machine import RequirementViolation, profile_name
from conformance.suite import kit
from conformance.api.errors import StoreError

# Examples per test by profile (the state machine's): heavier generation runs in the nightly profile.
EXAMPLES = int(os.environ.get("ROLLOUT_GENERATED_EXAMPLES") or {"smoke": 10, "nightly": 400}.get(profile_name(), 25))
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, report_multiple_bugs=False,
                     suppress_health_check=list(HealthCheck))
_ids = itertools.count(1)


def _run(suite_seed: int, test) -> None:
    seed(suite_seed)(_SETTINGS(test))()


def _write(home, data: bytes, layout: tuple[int, bool] | None) -> kit.Rollout:
    r = kit.make_rollout(home, minute=next(_ids) % 1400, data=data, compressed=False)
    if layout is not None:
        frames, skippable = layout
        (home / r.rel).unlink()
        oracle.write_plain(home, r.zst, oracle.encode_zst(data, frames, skippable), 0o600)
    return r


@pytest.mark.req("READ-007")
def test_read_splits_and_counts_generated_content_as_the_oracle_does(store, home, suite_seed):
    """Every byte back, and items / parse errors as the reading rule counts them, plain or any .zst layout,
    with or without a line of 200 000 characters."""
    header = oracle.session_meta_line("00000000-0000-4000-8000-000000000777")

    content = st.one_of(strategies.rollout_content(header), strategies.rollout_content(header, long_lines=True))

    @given(data=content, layout=st.one_of(st.none(), strategies.zst_layout()))
    def check(data, layout):
        r = _write(home, data, layout)
        result = store.read(r.rel)
        assert result.content == data, "read did not return every byte"
        assert (result.items, result.parse_errors) == oracle.line_counts(data), \
            f"counts {(result.items, result.parse_errors)} != {oracle.line_counts(data)} for {data[:300]!r}"

    _run(suite_seed, check)


def _expected_hits(rel: str, data: bytes, needle: bytes) -> list[tuple[str, int]]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [(rel, number) for number, line in enumerate(lines, start=1) if needle in line]


@pytest.mark.req("DISC-006")
def test_search_numbers_lines_of_generated_content_as_the_oracle_does(store, home, suite_seed):
    """The 1-based line number of every line holding the needle, whatever the other lines hold."""
    header = oracle.session_meta_line("00000000-0000-4000-8000-000000000778")

    @given(data=strategies.rollout_content(header, marker=st.sampled_from(["", "NEEDLE-7 ", "NEEDLE-7"])),
           layout=st.one_of(st.none(), strategies.zst_layout()))
    def check(data, layout):
        for path in list(home.rglob("rollout-*")):
            path.unlink()  # one rollout at a time: the hits are this one's
        r = _write(home, data, layout)
        hits = [(h.path, h.line_number) for h in store.search("NEEDLE-7")]
        assert hits == _expected_hits(r.rel, data, b"NEEDLE-7"), f"for {data[:300]!r}"

    _run(suite_seed, check)


@pytest.mark.req("DISC-005")
def test_find_tells_apart_ids_that_share_a_prefix(store, home, suite_seed):
    """Generated ids that share long prefixes: find returns exactly the rollout of each id."""

    @given(prefix=st.text("0123456789abcdef", min_size=8, max_size=8),
           tails=st.lists(st.text("0123456789abcdef", min_size=12, max_size=12), min_size=2, max_size=4, unique=True))
    def check(prefix, tails):
        for path in list(home.rglob("rollout-*")):
            path.unlink()
        made = {}
        for n, tail in enumerate(tails):
            ident = f"{prefix}-0000-4000-8000-{tail}"
            name = oracle.rollout_name(kit._BASE.replace(minute=n), ident)
            oracle.write_plain(home, oracle.active_path(name), oracle.session_meta_line(ident))
            made[ident] = oracle.active_path(name)
        for ident, rel in made.items():
            entry = store.find(ident)
            assert entry is not None and entry.path == rel, f"find({ident}) gave {entry}"

    _run(suite_seed, check)


@pytest.mark.req("READ-011", "READ-012")
def test_header_of_generated_content_is_the_oracles(store, home, suite_seed):
    """The first session_meta payload past blank, junk and event lines, or not_a_rollout (a
    response_item first, or none at all), plain or any .zst layout; filed under the rule that decides."""
    ident = "00000000-0000-4000-8000-000000000779"
    meta = st.builds(lambda text: oracle.session_meta_line(ident, note=text), strategies.message_text())

    @given(data=strategies.header_content(meta), layout=st.one_of(st.none(), strategies.zst_layout()))
    def check(data, layout):
        r = _write(home, data, layout)
        want = oracle.header_payload(data)
        try:
            got = store.header(r.rel)
        except StoreError as exc:
            got = exc.kind
        if want is None and got != "not_a_rollout":
            raise RequirementViolation("READ-012", f"header gave {got!r}, not a not_a_rollout error, for {data[:300]!r}")
        if want is not None and got != want:
            raise RequirementViolation("READ-011", f"header gave {got!r}, want {want!r}, for {data[:300]!r}")

    _run(suite_seed, check)


_LISTED = st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["plain", "zst", "both"]), st.booleans(),
                             st.integers(0, 2), st.booleans()),
                   min_size=1, max_size=6, unique_by=lambda row: row[0])


@pytest.mark.req("DISC-001", "DISC-002", "DISC-003", "DISC-004")
def test_list_of_generated_homes_is_the_oracles(store, home, suite_seed, store_scope):
    """Plain, compressed and paired rollouts (active and archived, equal mtimes, temps beside them):
    one entry each with every field, newest first then by path; filed under the rule that broke."""
    archives = "archived_sessions" in store_scope
    old_ns = 1_736_000_000 * 10**9 + 123_456_789

    @given(rows=_LISTED)
    def check(rows):
        for path in list(home.rglob("rollout-*")):
            path.unlink()
        want = {False: [], True: []}
        for minute, rep, archived, tick, temp in rows:
            archived = archived and archives
            ident = str(uuid.UUID(int=next(_ids), version=4))
            name = oracle.rollout_name(kit._BASE.replace(minute=minute), ident)
            rel = oracle.archived_path(name) if archived else oracle.active_path(name)
            data = oracle.session_meta_line(ident)
            mtime = old_ns + tick * 10**9  # few distinct values: equal mtimes are ordered by path
            if rep != "zst":
                oracle.write_plain(home, rel, data, 0o600, mtime)
            if rep != "plain":
                oracle.write_zst(home, rel + ".zst", data, 0o600, mtime + (7 if rep == "both" else 0))
            if temp:
                oracle.write_plain(home, f"{rel}.zst.compress.4242.{minute}.tmp", data)
            physical = rel + ".zst" if rep == "zst" else rel
            # a pair's .zst is 7 ns newer: the entry must carry the plain file's mtime (DISC-001, DISC-003)
            want[archived].append((rel, physical, ident, archived, "zst" if rep == "zst" else "plain", mtime))
        for archived in (False, True) if archives else (False,):
            expected = sorted(want[archived], key=lambda e: (-e[5], e[0]))
            got = [(e.path, e.physical_path, e.id, e.archived, e.representation, e.mtime_ns)
                   for e in store.list(archived=archived)]
            paths = [g[0] for g in got]
            if any(oracle.is_temp(p.rsplit("/", 1)[-1]) for p in paths):
                raise RequirementViolation("DISC-002", f"list(archived={archived}) reported a temp: {paths}")
            if sorted(paths) != sorted(e[0] for e in expected):
                raise RequirementViolation("DISC-001", f"list(archived={archived}) gave {paths}, want one entry "
                                           f"per rollout: {[e[0] for e in expected]}")
            if sorted(got) != sorted(expected):
                raise RequirementViolation("DISC-003", f"list(archived={archived}) entries {got}, want {expected}")
            if got != expected:
                raise RequirementViolation("DISC-004", f"list(archived={archived}) order {paths}, want newest "
                                           f"first, then by path: {[e[0] for e in expected]}")

    _run(suite_seed, check)


@pytest.mark.req("READ-007", "DISC-006")
@pytest.mark.parametrize("case_name", ["generated_lines_plain", "generated_lines_zst"])
def test_generated_fixture_counts_and_search_hits(store, home, case_name):
    """The corpus's generated cases: counts and hit line numbers as counted when the lines were drawn."""
    case = fixtures.install(case_name, home)
    (rel, want), = case.expected["rollouts"].items()
    result = store.read(rel)
    if (result.items, result.parse_errors) != (want["items"], want["parse_errors"]):
        raise RequirementViolation("READ-007", f"counts {(result.items, result.parse_errors)}, "
                                   f"want {(want['items'], want['parse_errors'])}")
    for text, hits in case.expected["search"].items():
        got = [[h.path, h.line_number] for h in store.search(text)]
        if got != hits:
            raise RequirementViolation("DISC-006", f"search({text!r}) gave {got}, want {hits}")
