"""A scheduled event that did not happen is inconclusive, never a pass (issue: sound verdicts).

The gallery's ``program-mutes-failpoints`` declares every reference failpoint in its hello but never
reports one; every failpoint-driven suite test must then end inconclusive, naming the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from race_harness.scenarios import run_scenario

REPO = Path(__file__).resolve().parents[2]


def test_a_store_that_never_reports_its_failpoints_gets_no_pass_and_no_fail(tmp_path):
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "suite", "--store", "mutant:program-mutes-failpoints",
         "--report", str(report), "--", "-q", "-n", "2", "--needing", "failpoints"],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    tests = [t for req in json.loads(report.read_text())["requirements"].values() for t in req["tests"]]
    assert len({t["nodeid"] for t in tests}) >= 20, "the failpoint-driven tests did not run"
    verdicts = {t["nodeid"]: t["outcome"] for t in tests}
    wrong = {nodeid: outcome for nodeid, outcome in verdicts.items() if outcome != "inconclusive"}
    assert not wrong, wrong
    details = [t["detail"] for t in tests]
    assert all("failpoint" in d for d in details), [d for d in details if "failpoint" not in d][:3]


@pytest.mark.parametrize("scenario", ["crash-compress.after_publish", "crash-materialize.before_unlink",
                                      "r2-writer-vs-unlink", "r4-append-after-unlink"])
def test_race_scenarios_on_a_muted_store_are_inconclusive(tmp_path, scenario):
    verdict = run_scenario("mutant:program-mutes-failpoints", scenario, str(tmp_path))
    assert verdict.status == "inconclusive", verdict.describe()
    assert "failpoint" in " ".join(verdict.notes), verdict.notes


def test_a_crash_through_the_protocol_is_reported_as_the_crash_it_was(tmp_path):
    """Served over stdio, the store dies at the point while the actor lives on: the note says so."""
    served = f"cmd:{sys.executable} -m conformance.cli.serve --store reference"
    verdict = run_scenario(served, "crash-compress.after_publish", str(tmp_path))
    assert verdict.status == "passed", verdict.describe()
    assert any("SIGKILLed at compress.after_publish" in note for note in verdict.notes), verdict.notes
