"""selftest: mutants are caught under their own ids, programs are inconclusive, the reference passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conformance.selftest import gallery_run as selftest
from conformance.stores.mutants import MUTANTS

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ["reader-prefers-zst", "append-to-zst", "loses-mtime", "program-invalid-json"]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real command line (``python -m conformance.cli``, the console script's module)."""
    module = "conformance.cli"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_mutants_lists_every_mutant_with_what_it_breaks() -> None:
    done = cli("mutants")
    assert done.returncode == 0, done.stderr
    mutants, _, variants = done.stdout.partition("\n\n")
    lines = mutants.splitlines()
    assert len(lines) == len(MUTANTS)
    for line, mutant in zip(lines, MUTANTS.values()):
        assert line.split()[0] == mutant.name and all(rid in line for rid in mutant.breaks)
    # the correct variants are listed apart: they are no mutants and never count as caught
    assert variants.startswith("correct variants") and "spec-literal" in variants


def test_selftest_catches_a_subset_under_the_right_ids(tmp_path: Path) -> None:
    report = tmp_path / "selftest.json"
    done = cli("selftest", "--quick", "--jobs", "2", "--report", str(report), "--only", *SUBSET)
    assert report.exists(), done.stdout + done.stderr
    rows = {row["name"]: row for row in json.loads(report.read_text())["rows"]}
    assert rows["reference"]["verdict"] == "passed", rows["reference"]
    for name in ("reader-prefers-zst", "append-to-zst", "loses-mtime"):
        row = rows[name]
        assert row["verdict"] == "caught", row
        assert any(rid in " ".join(row["caught_by"]) for rid in MUTANTS[name].breaks), row
        assert row["seconds"] is not None
    assert rows["program-invalid-json"]["verdict"] == "inconclusive", rows["program-invalid-json"]
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    assert "reader-prefers-zst" in table and "READ-001" in table and "inconclusive" in table


def _run(statuses: dict[str, str], failing: dict[str, list[str]] | None = None) -> selftest.SuiteRun:
    return selftest.SuiteRun("mutant:x", statuses, failing or {}, {}, 1.0, 1)


def test_judging_rules() -> None:
    caught = selftest.judge_store("x", ("READ-001",), _run({"READ-001": "failed"}, {"READ-001": ["t"]}), [])
    assert caught.ok and caught.verdict == "caught"
    wrong = selftest.judge_store("x", ("READ-001",), _run({"READ-001": "passed", "READ-002": "failed"}, {"READ-002": ["t"]}), [])
    assert not wrong.ok and wrong.verdict == "wrong-id"
    survived = selftest.judge_store("x", ("READ-001",), _run({"READ-001": "not_run"}), [])
    assert not survived.ok and survived.verdict == "survived" and "no suite test" in survived.note
    race = selftest.ScenarioRun("mutant:x", "r2-writer-vs-unlink", "violation", ("COORD-001",), 2.0)
    by_race = selftest.judge_store("x", ("COORD-001",), _run({"COORD-001": "passed"}), [race])
    assert by_race.ok and "race:r2-writer-vs-unlink" in by_race.caught_by[0]
    assert selftest.judge_program("p", ("ERR-001",), _run({"ERR-001": "inconclusive"}, {"ERR-001": ["t"]})).ok
    assert not selftest.judge_program("p", ("ERR-001",), _run({"ERR-001": "passed"})).ok
    assert not selftest.judge_program("p", ("ERR-001",), _run({"ERR-001": "failed"})).ok
    assert not selftest.judge_reference(_run({"READ-001": "failed"}), []).ok
    assert selftest.judge_reference(_run({"READ-001": "passed"}), []).ok
