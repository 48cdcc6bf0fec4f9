"""The conformance suite passes against the reference, in process and through the stdio protocol.

These run the suite exactly as an implementer does (``rollout-conformance suite``), in a child
process, and read its JSON report by requirement id.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from conformance.api import requirements

SERVE = f"{shlex.quote(sys.executable)} -m conformance.cli.serve --store reference"


def run_suite(tmp_path, selection: str, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--report", str(report),
         *extra, "--", "-n", "2", "-q"],
        capture_output=True, text=True, timeout=900,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc, data


@pytest.mark.parametrize("selection", ["reference", f"cmd:{SERVE}"], ids=["in-process", "stdio"])
def test_reference_passes_every_requirement(tmp_path, selection):
    proc, report = run_suite(tmp_path, selection)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    statuses = {rid: r["status"] for rid, r in report["requirements"].items()}
    assert set(statuses) == set(requirements.load())
    # ERR-009 is about operations of undeclared capabilities: the reference declares every one.
    not_passed = {rid: s for rid, s in statuses.items() if s != "passed" and (rid, s) != ("ERR-009", "skipped")}
    assert not not_passed, f"requirements not passed by the reference: {not_passed}"


def test_reader_profile_runs_the_reader_part_alone(tmp_path):
    proc, report = run_suite(tmp_path, "reference", "--profile", "reader")
    assert proc.returncode == 0, proc.stdout[-4000:]
    ran = {rid for rid, r in report["requirements"].items() if r["status"] != "not_run"}
    capabilities = {requirements.load()[rid].capability for rid in ran}
    assert capabilities == {"reader"}, capabilities


@pytest.mark.skipif(not (shutil.which("perl") and shutil.which("zstd")), reason="needs perl and the zstd CLI (.ci/run installs zstd)")
def test_perl_reader_adapter_passes_the_reader_profile(tmp_path):
    """The non-Python adapter of PROTOCOL.md passes every reader requirement through the protocol."""
    adapter = Path(conformance.__file__).parent / "stores" / "adapters" / "reader.pl"
    proc, report = run_suite(tmp_path, f"cmd:perl {adapter}", "--profile", "reader")
    assert proc.returncode == 0, proc.stdout[-4000:]
    reader_ids = {rid for rid, r in requirements.load().items() if r.capability == "reader"}
    statuses = {rid: report["requirements"][rid]["status"] for rid in reader_ids}
    assert {rid for rid, s in statuses.items() if s != "passed"} == set(), statuses
