"""CI runs the quick self-validation over the whole gallery: every mutant caught, the reference clean."""

from __future__ import annotations

import json
import subprocess
import sys

from conformance.stores.mutants import MUTANTS


def test_every_mutant_is_caught_under_its_requirement(tmp_path):
    report = tmp_path / "selftest.json"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "selftest", "--quick", "--jobs", "2", "--report", str(report)],
        capture_output=True, text=True, timeout=1200,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(report.read_text())["rows"]}
    assert set(rows) == set(MUTANTS) | {"reference"}
    bad = {name: row["verdict"] for name, row in rows.items() if not row["ok"]}
    assert not bad, done.stdout[-4000:]
    assert done.returncode == 0, done.stdout[-4000:]
