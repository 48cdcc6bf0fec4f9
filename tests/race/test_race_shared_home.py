"""Two paths to one home whose locks do not meet (issue #25): writers see the home through one bindfs
mount and the compressor through another, as writers and a compressor on two machines would.

Acknowledged lines are lost for ``reference:inode-flock`` and for the default reference once the home
(wrongly) declares one writer machine; none are lost when the same campaign runs on one mount; the
default reference, not told, refuses to compress there (SPEC.md 5.8) and loses nothing; replaying
the bundle of a loss loses lines again (within a few replays: the interleaving follows timing)."""

from __future__ import annotations

import pytest

from conformance.suite.mounts import require_bindfs
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.replay import replay

TWO_MOUNTS = (("writer", "one"), ("compressor", "two"))
ONE_MOUNT = (("writer", "one"), ("compressor", "one"))
SEEDS = (1, 2, 3)
REPLAYS = 3


@pytest.fixture(autouse=True)
def _bindfs():
    require_bindfs()


def campaign(selection: str, tmp_path, seed: int, mounts, declared: bool):
    config = CampaignConfig(seconds=3.0, seed=seed, rollouts=3, home_mounts=mounts, one_writer_machine=declared)
    work = tmp_path / f"{'-'.join(n for _, n in mounts)}-{seed}"
    return run_campaign(selection, config, str(work / "runs"), str(work / "bundles")), work / "bundles"


@pytest.mark.parametrize("selection, declared", [("reference:inode-flock", True), ("reference", True)])
def test_lines_are_lost_across_two_mounts_and_not_on_one(selection, declared, tmp_path):
    for seed in SEEDS:
        verdict, bundles = campaign(selection, tmp_path, seed, TWO_MOUNTS, declared)
        if "lost_line" in verdict.classes:
            break
    else:
        pytest.fail(f"no campaign on two mounts lost an acknowledged line (seeds {SEEDS})")
    lost = [v for v in verdict.violations if v.cls == "lost_line"]
    assert all(v.requirement == "COORD-009" for v in lost)
    [bundle] = list(bundles.iterdir())
    # Replay imposes the seed and the recorded delays; the interleaving still follows timing, so a
    # loaded machine gets a few tries (REPLAYS) to show the loss again.
    for attempt in range(REPLAYS):
        again = replay(str(bundle), str(tmp_path / f"replay-{attempt}"))
        if "lost_line" in again.verdict.classes:
            break
    else:
        pytest.fail(f"{REPLAYS} replays of {bundle.name} lost no line:\n{again.describe()}")

    control, _ = campaign(selection, tmp_path, seed, ONE_MOUNT, declared)
    assert control.status == "passed", control.describe()
    assert control.stats["outcomes"].get("compressed", 0) > 0  # the compressor did unlink plain files


def test_the_default_reference_not_told_refuses_across_two_mounts_and_loses_nothing(tmp_path):
    verdict, _ = campaign("reference", tmp_path, SEEDS[0], TWO_MOUNTS, declared=False)
    assert verdict.status == "passed", verdict.describe()
    outcomes = verdict.stats["outcomes"]
    # refused as busy; a rollout caught mid-line is skipped for its torn tail first, before the refusal
    assert outcomes.get("skipped_busy", 0) > 0 and "compressed" not in outcomes, outcomes
