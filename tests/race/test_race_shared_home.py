"""Two paths to one home whose locks do not meet (issue #25): a writer sees the home through one bindfs
mount and the compressor through another, as a writer and a compressor on two machines would.

A writer holds a cold rollout open under its locks and writes; a compression pass runs through the
other mount; the writer writes again.  Across two mounts the pass sees no lock, compresses and
unlinks, and the second line is in no representation: for ``reference:inode-flock``, for the default
reference once the home (wrongly) declares one writer machine, and for codex 0.171.0 where installed
(whose second turn is answered but never written: the adapter calls that write unacknowledged).
Through one mount the pass finds the rollout busy and the line is kept.  The default reference, not
told, refuses to compress there (SPEC.md 5.8) and loses nothing.  No outcome depends on timing: the
hold is a sequence of calls, not a race (the scheduled two-host loss and its replay are in
test_race_hosts.py)."""

from __future__ import annotations

import os

import pytest

from conformance.api.errors import Inconclusive
from conformance.oracle import disk as oracle
from conformance.stores.codex.install import missing_reason
from conformance.suite.mounts import require_bindfs, two_mount_home
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.versions import AFTER_LINE, hold_then_compress

TWO_MOUNTS = (("writer", "one"), ("compressor", "two"))
CODEX = "0.171.0"


@pytest.fixture(autouse=True)
def _bindfs():
    require_bindfs()


def campaign(selection: str, tmp_path, seed: int, mounts, declared: bool):
    config = CampaignConfig(seconds=3.0, seed=seed, rollouts=3, home_mounts=mounts, one_writer_machine=declared)
    work = tmp_path / f"{'-'.join(n for _, n in mounts)}-{seed}"
    return run_campaign(selection, config, str(work / "runs"), str(work / "bundles")), work / "bundles"


def _anywhere(backing) -> bool:
    """Whether the held writer's second line is in any file of the home (a ``.zst`` decoded as far as it goes)."""
    return any(AFTER_LINE.encode() in oracle.readable_bytes(os.path.join(folder, name))
               for folder, _dirs, names in os.walk(backing) for name in names)


@pytest.mark.parametrize("selection", ["reference:inode-flock", "reference", f"codex:{CODEX}"])
@pytest.mark.parametrize("mounts", ["two", "one"])
def test_a_held_writer_loses_its_line_to_a_pass_through_another_mount_and_not_through_its_own(
        selection, mounts, tmp_path):
    if selection.startswith("codex:") and missing_reason(CODEX):
        pytest.skip(f"codex {CODEX} not installed: {missing_reason(CODEX)}")
    with two_mount_home(tmp_path) as (backing, one, two):
        (backing / ".one-writer-machine").touch()  # the reference refuses on FUSE otherwise (SPEC.md 5.8)
        through = two if mounts == "two" else one
        try:
            hold = hold_then_compress(selection, selection, str(one), 45, str(through))
        except Inconclusive as exc:
            # codex 0.171.0 across two mounts: turn/start answered, the turn written to no file
            assert selection.startswith("codex:") and mounts == "two", exc
            assert "wrote no user_message line" in str(exc), exc
            assert not _anywhere(backing)
            return
        if mounts == "two":
            assert (hold.outcome, hold.kept, hold.line_in) == ("compressed", False, ()), hold
            assert not _anywhere(backing), hold
        else:
            assert (hold.outcome, hold.kept) == ("skipped_busy", True), hold


def test_the_default_reference_not_told_refuses_across_two_mounts_and_loses_nothing(tmp_path):
    verdict, _ = campaign("reference", tmp_path, 1, TWO_MOUNTS, declared=False)
    assert verdict.status == "passed", verdict.describe()
    outcomes = verdict.stats["outcomes"]
    # refused as busy; a rollout caught mid-line is skipped for its torn tail first, before the refusal
    assert outcomes.get("skipped_busy", 0) > 0 and "compressed" not in outcomes, outcomes
