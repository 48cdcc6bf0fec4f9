"""Generated inputs catch what listed ones miss, and each catch is filed under the broken requirement:
the state machine (its line content from conformance.oracle.strategies) blames the failing check's id only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import Phase

from conformance.selftest import gallery_run as selftest
from conformance.stores.mutants import MUTANTS
from conformance.machine.state_machine import RequirementViolation, RolloutStoreMachine, run_machine


REPO = Path(__file__).resolve().parents[2]


def _machine_on(mutant: str) -> type[RolloutStoreMachine]:
    class OnMutant(RolloutStoreMachine):
        def make_store(self, home):
            store = MUTANTS[mutant]()
            store.configure(os.fspath(home), 0)
            return store

    return OnMutant


def test_state_machine_files_a_splitlines_reader_under_read_007():
    """Right bytes, wrong counts: the machine's generated lines hold raw U+2028 and friends, and the
    failure names READ-007 whichever rule happened to read (not READ-002, APPEND-002, ...)."""
    with pytest.raises(RequirementViolation) as caught:
        run_machine(_machine_on("splitlines-reader"), "smoke", seed=7, max_examples=50,
                    report_multiple_bugs=False, phases=[Phase.explicit, Phase.generate])
    assert caught.value.requirement == "READ-007", caught.value
    assert "JSON object lines" in str(caught.value)


def test_the_report_files_a_machine_failure_under_the_blamed_id_only(tmp_path):
    """Through the real suite command: the state machine on splitlines-reader fails under READ-007
    alone, not under the other ten-odd ids the test is tagged with."""
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "suite", "--store", "mutant:splitlines-reader",
                           "--seed", "7", "--report", str(report), "--", "-q", "-n", "0", "-k", "test_state_machine"],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert report.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    requirements = json.loads(report.read_text())["requirements"]
    failed = {rid for rid, r in requirements.items()
              if any(t["outcome"] == "failed" and "test_state_machine" in t["nodeid"] for t in r["tests"])}
    assert failed == {"READ-007"}, failed


def _suite_run(failing: dict[str, list[str]], tags: dict[str, list[str]]) -> selftest.SuiteRun:
    run = selftest.SuiteRun("mutant:x", {rid: "failed" for rid in failing}, dict(failing), {}, 1.0, 1)
    run.tags = tags
    return run


def test_selftest_counts_a_catch_only_by_a_test_tagged_with_the_id():
    """A failure the report files under the mutant's id (a blame) but from a test not tagged with it is
    a catch elsewhere: wrong-id, and selftest fails; the same failure from a tagged test is caught."""
    untagged = _suite_run({"LIFE-005": ["test_state_machine.py::test_state_machine"]},
                          {"test_state_machine.py::test_state_machine": ["READ-001", "APPEND-005"]})
    row = selftest.judge_store("x", ("LIFE-005",), untagged, [])
    assert (row.verdict, row.ok) == ("wrong-id", False), row
    assert "no test tagged with LIFE-005" in row.note
    tagged = _suite_run({"LIFE-005": ["test_lifecycle.py::test_delete"]}, {"test_lifecycle.py::test_delete": ["LIFE-005"]})
    assert selftest.judge_store("x", ("LIFE-005",), tagged, []).verdict == "caught"
