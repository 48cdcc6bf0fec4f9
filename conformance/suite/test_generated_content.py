"""Reading, search and lookup over generated content (conformance.strategies), the oracle as judge.

Fixed lists of tricky lines miss the bugs of a line splitter that breaks on what JSON allows raw
inside strings, or of a search that numbers lines differently around blank lines.  These tests draw
rollouts from the whole space the format allows; the run's seed fixes the draws (``--seed``).
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from conformance import oracle, strategies
from conformance.suite import kit

EXAMPLES = int(os.environ.get("ROLLOUT_GENERATED_EXAMPLES", "25"))
_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
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
    """Every byte back, and items / parse errors as the reading rule counts them, plain or any .zst layout."""
    header = oracle.session_meta_line("00000000-0000-4000-8000-000000000777")

    @given(data=strategies.rollout_content(header), layout=st.one_of(st.none(), strategies.zst_layout()))
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
