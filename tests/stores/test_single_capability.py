"""A store that declares one profile gets "skipped", never "failed", for what it did not declare.

The full reference is served with a narrower handshake (``serve --declare``), as a third party with
that profile would declare it; every requirement must then be passed or skipped (never failed, never
inconclusive): a test that calls an operation of an undeclared capability is skipped, whatever its
markers say. The default run checks the reader profile; ``ROLLOUT_SOAK=1`` checks every profile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILES = ["reader"] + (["reader,writer", "reader,compressor", "reader,lifecycle", "reader,writer,failpoints"]
                         if os.environ.get("ROLLOUT_SOAK") else [])


@pytest.mark.parametrize("declared", PROFILES)
def test_a_narrower_profile_gets_only_passes_and_skips(tmp_path, declared):
    report = tmp_path / "report.json"
    served = f"cmd:{sys.executable} -m conformance.cli.serve --store reference --declare {declared}"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "suite", "--store", served, "--seed", "3", "--report", str(report),
         "--", "-q", "-n", "2"],
        capture_output=True, text=True, timeout=1500, cwd=REPO,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-2000:]
    requirements = json.loads(report.read_text())["requirements"]
    bad = {rid: (r["status"], [t["nodeid"] for t in r["tests"] if t["outcome"] in ("failed", "inconclusive")][:3])
           for rid, r in requirements.items() if r["status"] in ("failed", "inconclusive")}
    assert not bad, bad
    assert any(r["status"] == "passed" for r in requirements.values())
    skipped = [t for r in requirements.values() for t in r["tests"] if t["outcome"] == "skipped"]
    assert skipped and all("declare" in t["detail"] for t in skipped), [t["detail"] for t in skipped][:5]
