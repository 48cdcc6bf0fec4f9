"""The forked search (big homes) gives the hits, notes and errors of the single-process one (ERR-012)."""

from __future__ import annotations

import os

import pytest

from conformance.oracle import homegen
from reference import searching
from reference.discovery import collecting_unreadable, listing
from conformance.api.errors import StoreError
from reference.home import Home

ALWAYS, NEVER = 1, 10**9


@pytest.fixture
def home(tmp_path):
    homegen.demo_home(tmp_path / "home", count=40, seed=5)
    return Home.open(str(tmp_path / "home"))


def _rels(home: Home) -> list[str]:
    return [row[0] for row in listing(home)]


def _corrupt(home: Home, rel: str) -> None:
    with open(os.path.join(home.root, rel + ".zst"), "r+b") as file:
        file.seek(-6, os.SEEK_END)
        file.write(b"\xff" * 6)  # the last block and checksum: the frame no longer decodes


def _search_both_ways(home: Home, needle: bytes):
    rels = _rels(home)
    return [searching.search(home.root + os.sep, rels, needle, fork_from=fork_from) for fork_from in (NEVER, ALWAYS)]


def test_forked_search_finds_the_same_hits_in_the_same_order(home):
    single, forked = _search_both_ways(home, b"e")
    assert len({rel for rel, _line in single}) > len(_rels(home)) // 2  # hits in both halves
    assert forked == single


def _zst_rels(home: Home) -> list[str]:
    return [rel for rel, _rid, _archived, compressed, _mtime in listing(home) if compressed]


def test_forked_search_notes_every_unreadable_rollout_in_listing_order(home):
    rels, zst = _rels(home), _zst_rels(home)
    first_half, second_half = [r for r in zst if rels.index(r) < len(rels) // 2], [r for r in zst if rels.index(r) >= len(rels) // 2]
    assert first_half and second_half, "the demo home has compressed rollouts in both halves"
    for rel in (first_half[0], second_half[-1]):
        _corrupt(home, rel)
    results = []
    for fork_from in (NEVER, ALWAYS):
        with collecting_unreadable() as notes:
            hits = searching.search(home.root + os.sep, rels, b"e", fork_from=fork_from)
        results.append((hits, notes))
    assert results[1] == results[0]
    assert len(results[0][1]) == 2 and "[corrupt]" in results[0][1][0]


@pytest.mark.parametrize("half", ["parent's", "child's"])
def test_forked_search_raises_the_first_unreadable_rollout_like_one_process(home, half):
    rels, zst = _rels(home), _zst_rels(home)
    in_child = [r for r in zst if rels.index(r) >= len(rels) // 2]
    _corrupt(home, in_child[0])
    if half == "parent's":
        _corrupt(home, next(r for r in zst if rels.index(r) < len(rels) // 2))
    raised = []
    for fork_from in (NEVER, ALWAYS):
        with pytest.raises(StoreError) as caught:
            searching.search(home.root + os.sep, rels, b"e", fork_from=fork_from)
        raised.append((type(caught.value), caught.value.kind, caught.value.message, caught.value.path))
    assert raised[1] == raised[0]
    assert raised[0][1] == "corrupt"
