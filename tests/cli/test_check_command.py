"""`rollout-conformance check`, the README's first command, ends in one verdict per requirement."""

from __future__ import annotations

import subprocess
import sys

from conformance.api import requirements


def test_check_on_the_reference_passes_every_requirement(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "check", "--seconds", "3", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line[:1].isupper() and "-" in line.split()[0]}
    assert set(requirements.load()) <= set(rows)
    verdicts = {rid: rows[rid][-1] for rid in requirements.load()}
    assert set(verdicts.values()) <= {"passed", "skipped"}, verdicts
    assert "race random campaign" in done.stdout
    # the reference follows both schemes: its writers and its compressor meet each single-scheme reference
    pairings = [line for line in done.stdout.splitlines() if line.startswith("cross-scheme pairing: ")]
    assert len(pairings) == 4 and all(line.split(": ")[2].startswith("passed") for line in pairings), pairings
