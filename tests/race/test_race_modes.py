"""Exhaustive/random interleavings, campaigns with kills, countdown sweeps, CLI and replay."""

from __future__ import annotations

import json
import os

import pytest

from conformance.cli import race as cli
from helpers.campaigns import until_found
from race_harness.campaign import CampaignConfig, run_campaign
from race_harness.explore import explore
from race_harness.faults import sweep
from race_harness.replay import replay

UNLOCKED = "mutant:upstream-stat-recheck"
RAW_ZST = "mutant:append-to-zst"
SOAK = bool(os.environ.get("ROLLOUT_SOAK"))


def test_exhaustive_reference_has_no_violating_interleaving(tmp_path):
    # inode-flock alone leaves the writer's open and the compressor's encode free to interleave (the
    # locks come later); the default reference also holds the thread lock from before the open, so
    # most orders end at once in skipped_busy. Both must be safe in every order.
    verdict, items = explore("reference:inode-flock", "append-vs-compress", str(tmp_path / "i"), limit=50)
    assert verdict.status == "passed", verdict.describe()
    assert verdict.stats["complete"] and len(items) >= 3
    assert len({i.choices for i in items}) == len(items)  # every interleaving is a different one
    verdict, items = explore("reference", "append-vs-compress", str(tmp_path / "r"), limit=50)
    assert verdict.status == "passed" and verdict.stats["complete"] and items, verdict.describe()


def test_exhaustive_finds_and_replays_the_unlocked_writer_loss(tmp_path):
    verdict, items = explore(UNLOCKED, "append-vs-compress", str(tmp_path / "w"), limit=6,
                             bundle_dir=str(tmp_path / "b"))
    assert "lost_line" in verdict.classes
    assert any(i.verdict.status == "passed" for i in items)  # only some orders lose the line
    again = replay(verdict.bundle, root=str(tmp_path / "r"))
    assert again.reproduced and not again.diverged, again.describe()


def test_random_interleavings_are_seeded(tmp_path):
    # inode-flock alone: every choice point is reached whatever the timing (the default reference's
    # thread lock, taken before the open, lets timing decide whether the compressor gets that far).
    first, a = explore("reference:inode-flock", "writer-vs-compress", str(tmp_path / "a"), random_runs=2, seed_value=5)
    second, b = explore("reference:inode-flock", "writer-vs-compress", str(tmp_path / "b"), random_runs=2, seed_value=5)
    assert first.status == "passed" and [i.choices for i in a] == [i.choices for i in b]


def test_campaign_with_kills_on_reference_passes(tmp_path):
    config = CampaignConfig(seconds=20.0 if SOAK else 3.0, seed=11, kills=True,
                            big_line=(3 << 20) if SOAK else 0)
    verdict = run_campaign("reference", config, str(tmp_path), str(tmp_path / "b"))
    assert verdict.status == "passed", verdict.describe()
    assert any(note.startswith("killed") for note in verdict.notes)
    assert verdict.stats["operations"]["write"]["ok"] > 0


def test_campaign_catches_raw_bytes_in_zst(tmp_path):
    config, verdict = until_found(RAW_ZST, tmp_path, "raw_bytes_in_zst", first_seed=3)
    assert config, verdict.describe()


@pytest.mark.skipif(not SOAK, reason="soak: set ROLLOUT_SOAK=1")
@pytest.mark.parametrize("seed", range(3))
def test_soak_campaign(tmp_path, seed):
    config = CampaignConfig(seconds=60.0, seed=seed, writers=3, compressors=2, archivers=1, kills=True,
                            big_line=4 << 20)
    verdict = run_campaign("reference", config, str(tmp_path), str(tmp_path / "b"))
    assert verdict.status == "passed", verdict.describe()


def test_countdown_sweep_loses_nothing_on_reference(tmp_path):
    verdict = sweep("reference", "materialize", str(tmp_path), errnos=("EIO",))
    assert verdict.status == "passed", verdict.describe()
    assert len(verdict.notes) >= 5 and "no error injected" in verdict.notes[-1]


def _race(*argv: str) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_exit_codes_and_report(tmp_path, capsys):
    report = tmp_path / "out.json"
    assert _race("race", "--store", "reference", "--scenario", "r2-writer-vs-unlink", "--workdir", str(tmp_path / "w"),
                 "--report", str(report)) == 0
    assert json.loads(report.read_text())["status"] == "passed"
    assert _race("race", "--store", UNLOCKED, "--scenario", "r12-idle-writer", "--workdir", str(tmp_path / "x"),
                 "--bundle-dir", str(tmp_path / "b")) == 1
    assert _race("race", "--store", "no-such-form") == 2
    assert _race("race", "--store", "reference", "--scenario", "no-such-scenario") == 2
    assert _race("race", "--list-scenarios") == 0
    assert "r2-writer-vs-unlink" in capsys.readouterr().out
    bundle = next((tmp_path / "b").iterdir())
    assert _race("replay", str(bundle)) == 1
    assert "reproduced" in capsys.readouterr().out


def test_cli_inconclusive_when_failpoints_missing(tmp_path):
    store = "py:doubles.stores:no_failpoint_store"
    assert _race("race", "--store", store, "--scenario", "r10-cleanup-vs-live-temp",
                 "--workdir", str(tmp_path)) == 3
    # a scenario that is meaningful on timing alone still runs and passes
    assert _race("race", "--store", store, "--scenario", "r2-writer-vs-unlink", "--workdir", str(tmp_path / "t")) == 0


