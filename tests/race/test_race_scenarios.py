"""The named race scenarios against the reference (no violation) and broken stores (caught)."""

from __future__ import annotations

import json
import os

import pytest

from race_harness.scenarios import SCENARIOS, run_scenario

UNLOCKED = "mutant:upstream-stat-recheck"
RAW_ZST = "mutant:append-to-zst"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_reference_passes_every_scenario(name, tmp_path):
    verdict = run_scenario("reference", name, str(tmp_path), bundle_dir=str(tmp_path / "bundles"))
    assert verdict.status == "passed", verdict.describe()


@pytest.mark.parametrize("name", ["r2-writer-vs-unlink", "r12-idle-writer"])
def test_unlocked_writer_loses_lines(name, tmp_path):
    verdict = run_scenario(UNLOCKED, name, str(tmp_path), bundle_dir=str(tmp_path / "bundles"))
    assert verdict.status == "violation"
    assert "lost_line" in verdict.classes, verdict.describe()
    lost = next(v for v in verdict.violations if v.cls == "lost_line")
    assert lost.requirement.startswith("COORD-") and lost.operations


def test_raw_append_into_zst_is_caught(tmp_path):
    verdict = run_scenario(RAW_ZST, "r6-two-materializers", str(tmp_path), bundle_dir=str(tmp_path / "bundles"))
    assert "raw_bytes_in_zst" in verdict.classes, verdict.describe()


def test_failing_run_writes_a_self_contained_bundle(tmp_path):
    verdict = run_scenario(UNLOCKED, "r2-writer-vs-unlink", str(tmp_path / "work"), seed=7,
                           bundle_dir=str(tmp_path / "bundles"))
    folder = verdict.bundle
    assert folder and os.path.isdir(folder)
    for name in ("meta.json", "schedule.json", "history.jsonl", "verdict.txt", "verdict.json", "timeline.html",
                 "snapshot-before.json", "snapshot-after.json", "stderr"):
        assert os.path.exists(os.path.join(folder, name)), name
    meta = json.load(open(os.path.join(folder, "meta.json")))
    assert meta["selection"] == UNLOCKED and meta["seed"] == 7 and "--scenario r2-writer-vs-unlink" in meta["command"]
    schedule = json.load(open(os.path.join(folder, "schedule.json")))
    assert any(d["point"] == "compress.before_unlink" for d in schedule["decisions"])
    assert "lost_line" in open(os.path.join(folder, "verdict.txt")).read()
