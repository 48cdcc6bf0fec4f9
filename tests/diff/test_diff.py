"""``rollout-conformance diff``: a deliberately different store is reported with the request that
shows it; the reference in process and behind the stdio protocol are the same store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _diff(tmp_path: Path, *stores: str, steps: int = 60) -> tuple[int, str, dict]:
    out = tmp_path / "diff.json"
    argv = [sys.executable, "-m", "conformance.cli", "diff", "--seed", "1", "--steps", str(steps),
            "--shrink-seconds", "20", "--json", str(out)]
    for store in stores:
        argv += ["--store", store]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=REPO)
    return done.returncode, done.stdout + done.stderr, json.loads(out.read_text()) if out.exists() else {}


def test_a_store_that_loses_the_mode_on_materialize_differs_from_the_reference(tmp_path):
    code, output, result = _diff(tmp_path, "mutant:materialize-loses-mode")
    assert code == 1, output
    difference = result["difference"]
    assert difference["sequence"][-1] == difference["request"]
    assert difference["request"].startswith(("append(", "open_writer(", "materialize(")), difference
    assert "0000000041" in difference["request"]  # the group-readable compressed rollout
    assert difference["disk"], difference
    assert "MAT-001" in difference["concerns"] or "MAT-003" in difference["concerns"]
    assert "DIFFERENT" in output and difference["request"] in output


def test_the_reference_in_process_and_over_the_protocol_are_the_same(tmp_path):
    served = f"cmd:{sys.executable} -m conformance.cli.serve --store reference"
    code, output, result = _diff(tmp_path, "reference", served)
    assert code == 0, output
    assert result["status"] == "same" and result["steps"] > 60


def test_an_unknown_selection_is_a_usage_error(tmp_path):
    code, output, _ = _diff(tmp_path, "mutant:nope")
    assert code == 2 and "nope" in output
