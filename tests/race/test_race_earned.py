"""Every scheduled mode of the race harness earns its pass: a scheduled crash that did not happen, or
an operation that went past a declared point without reporting it, makes the run inconclusive,
naming the point (issue #21, item 1; SPEC.md 5.4).

Two stores declare every failpoint: the gallery's ``program-mutes-failpoints`` reports none, and
``doubles.stores:partial_failpoint_store`` reports only the first half of each operation.
"""

from __future__ import annotations

import pytest

from race_harness.explore import explore
from race_harness.faults import sweep
from race_harness.scenarios import run_scenario

MUTED = "mutant:program-mutes-failpoints"
PARTIAL = "py:doubles.stores:partial_failpoint_store"


def _unearned(verdict) -> str:
    return next((n for n in verdict.notes if n.startswith("not earned")), "")


@pytest.mark.parametrize("store, scenario, named", [
    (MUTED, "r11-read-during-transition", ("compressor's compress", "compress.after_open")),
    (MUTED, "r8-archive-vs-crashed-compress", ("compressor's compress", "compress.after_lock")),
    (PARTIAL, "r4-append-after-unlink", ("compressor's compress", "compress.after_unlink")),
    (PARTIAL, "r11-read-during-transition", ("compressor's compress", "compress.after_publish")),
    (PARTIAL, "crash-compress.after_publish", ("crash at victim@compress.after_publish",)),
])
def test_a_scenario_whose_points_were_never_reported_is_inconclusive(tmp_path, store, scenario, named):
    verdict = run_scenario(store, scenario, str(tmp_path))
    assert verdict.status == "inconclusive", verdict.describe()
    assert all(text in _unearned(verdict) for text in named), verdict.describe()


@pytest.mark.parametrize("store, point", [(MUTED, "compress.after_open"), (PARTIAL, "compress.before_publish")])
def test_a_countdown_that_missed_points_on_the_way_is_inconclusive(tmp_path, store, point):
    verdict = sweep(store, "compress", str(tmp_path), errnos=("EIO",))
    assert verdict.status == "inconclusive", verdict.describe()
    assert f"victim's compress ended compressed without reporting" in verdict.describe(), verdict.describe()
    assert point in verdict.describe(), verdict.describe()


@pytest.mark.parametrize("store, named", [(MUTED, "writer's append ended ok without reporting append.after_open"),
                                          (PARTIAL, "compress.before_unlink")])
def test_an_exploration_that_missed_choice_points_is_inconclusive(tmp_path, store, named):
    verdict, items = explore(store, "append-vs-compress", str(tmp_path), limit=20)
    assert verdict.status == "inconclusive", verdict.describe()
    assert named in " ".join(verdict.notes), verdict.describe()
    assert f"{len(items)} interleaving(s) explored of {verdict.stats['possible']} possible" in verdict.notes[0]


def test_the_reference_earns_every_scheduled_event(tmp_path):
    """The guard is no blanket: the reference reports every point its operations pass."""
    for scenario in ("r11-read-during-transition", "r8-archive-vs-crashed-compress", "crash-materialize.after_link"):
        verdict = run_scenario("reference", scenario, str(tmp_path / scenario))
        assert verdict.status == "passed", verdict.describe()
    assert sweep("reference", "append", str(tmp_path / "c"), errnos=("EIO",)).status == "passed"
    verdict, items = explore("reference:inode-flock", "archive-vs-materialize", str(tmp_path / "x"), limit=50)
    assert verdict.status == "passed", verdict.describe()
    assert verdict.stats["possible"] == len(items) and verdict.stats["complete"], verdict.describe()
