"""How reader-check reads an output (conformance/reader_check/facts.py, noise.py): sessions recognised in every
form, both streams apart, numbers that are ids never counted as numbers, noise learnt from repeated runs."""

from __future__ import annotations

import itertools
from pathlib import Path

from conformance.oracle.homegen import HomeManifest, RolloutTruth
from conformance.reader_check.facts import compare, facts_of
from conformance.reader_check.noise import Noise, learn

A = "6f1c2a3b-1234-4abc-8def-727561994015"
B = "6f1c2a3b-9999-4abc-8def-000000000001"  # shares its first 8 hex digits with A
C = "0a0b0c0d-5555-4666-8777-123456789abc"


def manifest(*ids: str) -> HomeManifest:
    rollouts = tuple(RolloutTruth(f"sessions/2025/11/21/rollout-2025-11-21T10-00-42-{i}.jsonl", i, False, False,
                                  True, 0o600, 0, "", marker=f"mk{n}marker") for n, i in enumerate(ids))
    return HomeManifest(Path("/h"), rollouts, ())


def test_every_printed_form_of_an_id_is_recognised():
    m = manifest(A, C)
    forms = [A, A.upper(), A.replace("-", ""), A[-12:], "…" + A[-8:], A[:13], C[:8],
             f"/h/sessions/2025/11/21/rollout-2025-11-21T10-00-42-{A}.jsonl.zst", f"rollout-2025-11-21T10-00-42-{C}"]
    for form in forms:
        facts = facts_of(f"session {form}  42 tokens\n", "", m)
        assert facts.sessions_seen == 1, form
        numbers = facts.lines[0].numbers  # a path's date stays a (stable) number; the id's digits never count
        assert "42" in numbers and "727561994015" not in numbers and "1234" not in numbers, form


def test_a_uuid_tail_of_digits_is_an_id_not_the_largest_number():
    facts = facts_of(f"{A[-12:]}  2025-11-21  1,234\n", "", manifest(A))
    assert facts.ids["stdout"][A] == 1
    assert "727561994015" not in facts.lines[0].numbers and "1234" in facts.lines[0].numbers


def test_a_fragment_of_several_sessions_is_reported_ambiguous_and_counted_for_none():
    facts = facts_of("6f1c2a3b  7 calls\n", "", manifest(A, B))
    assert facts.sessions_seen == 0 and facts.ambiguous == ("6f1c2a3b",)


def test_short_fragments_and_the_tools_own_hex_are_not_sessions():
    facts = facts_of(f"{A[:7]} run deadbeef01 at 2025-11-21\n", "", manifest(A))
    assert facts.sessions_seen == 0
    assert facts.lines[0].shape == "<hex> run <hex> at #-#-#"


def test_each_stream_is_read_apart():
    facts = facts_of(f"{A}\n", f"Found 1 session file(s) {C}\n", manifest(A, C))
    assert facts.seen_in("stdout") == 1 and facts.seen_in("stderr") == 1
    assert facts.streams_seeing([C]) == ("stderr",)


def test_markers_count_as_seeing_a_session():
    facts = facts_of("title: mk0marker and more\n", "", manifest(A))
    assert facts.markers["stdout"][A] == 1 and facts.sessions_seen == 1


def _runs(texts):
    m = manifest(A, C)
    it = itertools.cycle(texts)
    return m, lambda: facts_of(next(it), "", m)


def test_noise_learns_varying_slots_and_keeps_the_stable_ones():
    m, once = _runs([f"{A} 10\nScanned 2 files in 31ms\n", f"{A} 10\nScanned 2 files in 7ms\n",
                     f"{A} 10\nScanned 2 files in 12ms\n"])
    seen, noise = learn(once, max_runs=8)
    assert noise.slots == {("stdout", "Scanned # files in #ms", 1)}
    assert 3 <= noise.runs <= 8 and "Scanned # files in #ms" in noise.describe()
    after = facts_of(f"{A} 10\nScanned 1 files in 4ms\n", "", m)
    change = compare(seen[0], after, m, noise)
    assert change.numbers_lost == ("stdout:2",) and change.numbers_gained == ("stdout:1",)
    assert change.lines == ("stdout before: Scanned 2 files in 31ms", "stdout after: Scanned 1 files in 4ms")


def test_identical_runs_stop_after_the_minimum():
    calls = []
    m = manifest(A)

    def once():
        calls.append(1)
        return facts_of(f"{A} 10\n", "", m)
    _, noise = learn(once, max_runs=8)
    assert len(calls) == 3 and noise == Noise(runs=3)


def test_noise_that_keeps_growing_stops_at_the_cap():
    counter = itertools.count()
    m = manifest(A)
    # Each run prints a line never seen before: every run teaches something, so only the cap stops it.
    _, noise = learn(lambda: facts_of(f"{A}\n" + "x" * next(counter), "", m), max_runs=5)
    assert noise.runs == 5 and noise.shapes == {("stdout", "x" * n) for n in range(1, 5)}
