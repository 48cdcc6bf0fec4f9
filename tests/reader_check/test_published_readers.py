"""reader-check on a published reader of ~/.codex (docs/reader-check.md, "Published readers"): needs a download,
so it runs only with ROLLOUT_PUBLISHED_READERS=1 (`tox -e published`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("ROLLOUT_PUBLISHED_READERS") != "1",
                                reason="downloads agent-history 0.10.0 from PyPI: set ROLLOUT_PUBLISHED_READERS=1 "
                                       "(tox -e published)")


def test_agent_history_loses_compressed_sessions_and_crashes_on_a_zst_path(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run([str(venv / "bin/pip"), "install", "-q", "agent-history==0.10.0"],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        pytest.skip(f"agent-history 0.10.0 could not be installed: {installed.stderr.strip()[-300:]}")
    tool = venv / "bin/agent-history"
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "reader-check", "--scope", "sessions",
                          "--count", "40", "--lookups", "1", "--case", "cold-zst", "--report", str(report),
                          "--cmd", f"{tool} list --source codex -n 1000", "--cmd", f"{tool} view {{path}}"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 1, out.stdout + out.stderr
    titles = [f["title"] for f in json.loads(report.read_text())["findings"]]
    assert any("sessions disappear once compressed" in t for t in titles), titles
    assert any(t.startswith("crashes once compressed: UnicodeDecodeError") for t in titles), titles
