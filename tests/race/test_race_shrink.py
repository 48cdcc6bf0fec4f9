"""Random campaigns with widened race windows, shrinking what they find, and saved regression tests.

Real processes throughout; the whole file stays well under 40 s on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conformance.cli import race as cli
from helpers.campaigns import ATTEMPTS, until_found
from race_harness.campaign import WINDOW_POINTS, CampaignConfig, campaign_policy
from conformance.protocol.failpoint_channel import CONTINUE, Hit
from race_harness.shrink import attach, no_bigger, shrink, write_regression

MUTANT = "mutant:upstream-stat-recheck"


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    """Operation-bounded campaigns against upstream's stat-recheck store, from seed 3 until one loses a line."""
    config, verdict = until_found(MUTANT, tmp_path_factory.mktemp("campaign"), "lost_line", first_seed=3)
    assert config, verdict.describe()
    return config, verdict


def test_campaign_with_delays_finds_lost_lines(found):
    config, verdict = found
    assert "lost_line" in verdict.classes, verdict.describe()
    assert 0 <= verdict.stats["time_to_detection_s"] <= config.seconds
    assert "witness" in verdict.stats["time_to_detection_basis"]
    # the delays are decisions of the schedule: in the verdict's stats and in the bundle
    assert any(d.endswith("ms") for d in verdict.stats["decisions"])
    with open(os.path.join(verdict.bundle, "schedule.json")) as handle:
        decisions = json.load(handle)["decisions"]
    delayed = [d for d in decisions if d["delay"] > 0]
    assert delayed and all(d["action"] == CONTINUE and d["delay"] <= 0.030 for d in delayed)
    assert {d["point"] for d in delayed} & set(WINDOW_POINTS)


def test_delays_are_seeded_per_actor_whatever_the_interleaving():
    config = CampaignConfig(seed=9)
    hits = [Hit(i, actor, point, None, 0, 0.0) for i, (actor, point) in enumerate(
        [("writer-0", "append.before_write"), ("compressor-0", "compress.before_publish")] * 20)]

    def delays(order):
        policy = campaign_policy(config, set())
        return sorted((h.id, policy(h)[2]) for h in order)

    assert delays(hits) == delays(hits[1::2] + hits[::2])  # same per-actor draws in another order
    assert any(d for _, d in delays(hits))
    quiet = campaign_policy(CampaignConfig(seed=9, max_delay_ms=0), set())
    assert all(quiet(h)[2] == 0 for h in hits)
    # a recorded schedule is imposed again: each actor's n-th hit takes the recorded delay
    imposed = [{"actor": "writer-0", "point": "append.before_write", "delay": 0.0123}]
    assert campaign_policy(config, set(), imposed)(hits[0]) == (CONTINUE, None, 0.0123)


def test_shrinking_keeps_the_class_and_saves_a_regression_that_runs(found, tmp_path):
    config, verdict = found
    # each re-run bounded by the campaign's operations, not by a shorter time (which luck would decide)
    shrunk = shrink(MUTANT, config, verdict, str(tmp_path / "shrink"), max_runs=6, run_seconds=config.seconds)
    assert shrunk.cls == "lost_line" and 1 <= shrunk.runs <= 6
    assert no_bigger(shrunk.config, config), shrunk.as_dict()
    assert shrunk.steps and shrunk.config != config, shrunk.tried  # something was kept
    verdict = attach(verdict, shrunk)
    assert verdict.stats["shrunk"]["config"]["writers"] == shrunk.config.writers
    with open(os.path.join(verdict.bundle, "shrunk.json")) as handle:
        saved = json.load(handle)
    assert saved["class"] == "lost_line" and "--ops" in saved["command"]

    path = write_regression(str(tmp_path / "test_regression_lost_line.py"), MUTANT, shrunk.config, shrunk.cls)
    for store, env in ((MUTANT, {}), ("reference", {"RACE_STORE": "reference"})):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
                                cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                env={**os.environ, **env})
        assert result.returncode == 0, f"{store}:\n{result.stdout}\n{result.stderr}"


def test_cli_no_shrink_with_save_regression(tmp_path, capsys):
    import argparse

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    target = tmp_path / "test_saved.py"
    # bounded by operations (the time only caps it), from seed 3 until a run finds the lost line
    for seed in range(3, 3 + ATTEMPTS):
        args = parser.parse_args(["race", "--store", MUTANT, "--random", "--seconds", "120", "--ops", "200",
                                  "--seed", str(seed), "--writers", "1", "--readers", "0", "--listers", "0",
                                  "--rollouts", "1", "--no-shrink", "--save-regression", str(target),
                                  "--workdir", str(tmp_path / f"w{seed}"), "--bundle-dir", str(tmp_path / "b"),
                                  "--report", str(tmp_path / "r.json")])
        code = args.func(args)
        out = capsys.readouterr().out
        if code == 1:
            break
    assert code == 1, out[-3000:]
    assert "time_to_detection_s=" in out and "regression test written" in out
    report = json.loads((tmp_path / "r.json").read_text())["verdicts"][0]
    assert "shrunk" not in report["stats"] and report["stats"]["time_to_detection_s"] >= 0
    text = target.read_text()
    assert "'compressor': 'mutant:upstream-stat-recheck'" in text and "'writers': 1" in text
    compile(text, str(target), "exec")
