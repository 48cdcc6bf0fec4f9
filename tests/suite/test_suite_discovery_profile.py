"""A tool that only lists and finds active sessions declares `discovery` and scope `sessions` honestly:
the suite runs the listing and lookup tests on sessions/ and skips the rest with the declared reason."""

from __future__ import annotations

import json
import subprocess
import sys

STORE = "py:doubles.discovery_store:make_store"


def suite(tmp_path, *args: str) -> dict:
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "suite", "--store", STORE, "--report",
                          str(report), *args, "--", "-n", "2", "-q", "-k", "test_discovery"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return json.loads(report.read_text())["requirements"]


def _details(requirement: dict, outcome: str) -> set[str]:
    return {t["detail"] for t in requirement["tests"] if t["outcome"] == outcome}


def test_discovery_store_passes_list_and_find_and_skips_the_rest_with_reasons(tmp_path):
    reqs = suite(tmp_path)
    for rid in ("DISC-001", "DISC-004", "DISC-005"):
        assert reqs[rid]["status"] == "passed", reqs[rid]
        assert any(t["outcome"] == "passed" for t in reqs[rid]["tests"])
    assert _details(reqs["DISC-006"], "skipped") == {"store did not declare capability reader"}
    assert reqs["DISC-006"]["status"] == "skipped"
    assert "store declared scope sessions: it does not read archived_sessions/" in _details(reqs["DISC-003"], "skipped")
    assert reqs["READ-001"]["status"] == "not_run"  # other suite modules were not selected


def test_profile_discovery_selects_only_the_list_and_find_tests():
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "suite", "--store", STORE, "--profile", "discovery",
                          "--", "-n", "0", "--collect-only", "-q"], capture_output=True, text=True, timeout=600)
    collected = [line for line in out.stdout.splitlines() if "::" in line]
    assert collected and all("test_discovery.py::" in line for line in collected), collected[:5]
    assert any("test_find_compressed_returns_zst" in line for line in collected)
    assert not any("search" in line for line in collected)
