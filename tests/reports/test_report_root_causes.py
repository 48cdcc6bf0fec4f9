"""The suite report groups failures by root cause before listing requirement ids."""

from __future__ import annotations

import json
import subprocess
import sys

from conformance.reports.by_requirement import root_cause


def test_varying_ids_paths_and_numbers_do_not_split_a_cause():
    a = "NotFoundError: no representation of sessions/2025/01/03/rollout-2025-01-03T12-00-00-0199a213-81c0-7800-8aa1-bbab2a035a53.jsonl.zst"
    b = "NotFoundError: no representation of archived_sessions/rollout-2026-02-04T10-11-12-1111a213-81c0-7800-8aa1-bbab2a035a99.jsonl.zst"
    assert root_cause(a) == root_cause(b) == "NotFoundError: no representation of <rollout.jsonl.zst>"
    assert root_cause(a) != root_cause(a.removesuffix(".zst"))  # another representation, another cause


def test_failed_assertions_group_by_the_input_they_were_given():
    assert root_cause("assert b'' == b'x'", "test_read.py::test_a[multi_frame_zst]") == \
        root_cause("assert (1, 0) == (2, 0)", "test_read.py::test_b[multi_frame_zst]")
    assert root_cause("assert 1 == 2", "test_x.py::test_c[3]") == "assert N == N"  # a bare index names no input


def test_a_first_frame_reader_reads_as_few_causes(tmp_path):
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "conformance.cli", "suite", "--store", "mutant:reader-first-frame-only",
                          "--report", str(report), "--", "-n", "2", "-q", "-k", "test_read"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 1, out.stdout[-2000:]
    causes = json.loads(report.read_text())["root_causes"]
    failing = sum(c["tests"] for c in causes)
    assert len(causes) < failing / 2, causes
    assert causes[0]["cause"] == "checks of input multi_frame_zst fail" and "READ-005" in causes[0]["requirements"]
    assert "root cause(s) of" in out.stdout
    assert out.stdout.index("root cause(s) of") < out.stdout.index("requirement summary")
