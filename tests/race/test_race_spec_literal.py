"""The campaign's actors issue only operations a correct store's answers make legitimate, so a store
that follows SPEC.md's letter where the reference is stricter gets no violation the harness caused
(issue #21, item 3).  ``variant:spec-literal`` answers ``unarchive`` with ``conflict`` while a worker
is between publish and unlink; the archiver then leaves the rollout's active path alone."""

from __future__ import annotations

import os
import random

import pytest

from race_harness.actor import Op
from race_harness.campaign import ARCHIVED, CampaignConfig, _Archiver, run_campaign
from race_harness.history import OK
from race_harness.scenarios import seed
from race_harness.run import Run

SPEC_LITERAL = "variant:spec-literal"
SOAK = bool(os.environ.get("ROLLOUT_SOAK"))
PATH = "sessions/2025/01/03/rollout-2025-01-03T12-00-00-0b1e0b1e-0000-4000-8000-000000000000.jsonl"
ROLLOUT = "0b1e0b1e-0000-4000-8000-000000000000"


def test_after_a_refused_unarchive_the_archiver_never_touches_the_active_path():
    archiver = _Archiver(random.Random(0), [(ROLLOUT, PATH)], CampaignConfig(), frozenset({"writer", "lifecycle"}))
    archive, unarchive = Op("archive", PATH, ROLLOUT), Op("unarchive", ARCHIVED + os.path.basename(PATH), ROLLOUT)
    assert archiver.answered(archive, OK, "")
    assert not archiver.answered(unarchive, "fail", "conflict: both representations present")
    for _ in range(50):  # until a later unarchive succeeds, every round only tries to unarchive again
        assert [op.kind for op in archiver()] == ["unarchive"]
    archiver.answered(unarchive, OK, "")
    kinds = {tuple(op.kind for op in archiver()) for _ in range(50)}
    assert kinds == {("archive", "unarchive"), ("delete", "create")}, kinds
    assert not archiver.answered(Op("delete", PATH, ROLLOUT), "fail", "not_found: no representation")


def test_the_variant_refuses_unarchive_between_publish_and_unlink(tmp_path):
    """The window the campaign met by chance, forced: a compressor held before unlinking an archived
    rollout, and the variant's unarchive answers ``conflict`` where the reference would wait."""
    run = Run(SPEC_LITERAL, str(tmp_path))
    try:
        rollout, path = seed(run)
        run.spawn("archiver")
        assert run.call("archiver", Op("archive", path, rollout)).status == OK
        archived = ARCHIVED + os.path.basename(path)
        run.age(archived, rollout)
        run.spawn("compressor")
        run.hold("compressor", "compress.before_unlink")
        run.start("compressor", Op("compress", archived, rollout))
        assert run.held_or_done("compressor").__class__.__name__ == "Held"
        refused = run.call("archiver", Op("unarchive", archived, rollout))
        assert refused.status != OK and refused.error.startswith("conflict"), refused
    finally:
        run.close()


@pytest.mark.parametrize("seed_value", range(5))
def test_random_campaigns_with_kills_find_no_violation_in_the_spec_literal_variant(tmp_path, seed_value):
    # bounded by operations, not time: a loaded machine runs the same campaign, only slower (the
    # time bound only caps it, and spreads the seeded kills over the run)
    config = CampaignConfig(seconds=120.0, ops=4000 if SOAK else 400, seed=seed_value, writers=2, compressors=2,
                            archivers=1, kills=True)
    verdict = run_campaign(SPEC_LITERAL, config, str(tmp_path), str(tmp_path / "b"))
    assert not verdict.violations, verdict.describe()
    assert verdict.stats["operations"]["unarchive"], verdict.stats["operations"]
