"""The conformance suite on one home layout's filesystem, for the filesystem matrix.

Contract: :func:`run_suite` runs ``rollout-conformance suite`` for one store in a child process with
pytest's ``--basetemp`` in a folder on that filesystem, so every test's home (``tmp_path``) lies
there, and returns a :class:`SuiteResult`: the report's status, its test counts and the SPEC.md ids
it failed.  A suite that ran no test or wrote no report is ``inconclusive`` with why, never passed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

#: The profile the matrix runs by default: the tests of compression, where a filesystem's locks,
#: renames, mtimes and folder fsyncs are at stake (a full suite per cell takes too long).
DEFAULT_PROFILE = "compressor"
TIMEOUT_S = 1800


@dataclass(frozen=True)
class SuiteResult:
    store: str
    status: str  # passed | failed | inconclusive | skipped
    tests: tuple[tuple[str, int], ...] = ()  # outcome and count, e.g. ("passed", 110)
    failed: tuple[str, ...] = ()  # SPEC.md ids with a failed test
    note: str = ""

    def shown(self) -> str:
        """One table cell: status, counts, failed ids (or the note of a skip or an inconclusive run)."""
        if self.status == "skipped" or not self.tests:
            return f"{self.status}: {self.note}" if self.note else self.status
        counts = ", ".join(f"{name} {n}" for name, n in self.tests)
        ids = f"; failed {', '.join(self.failed)}" if self.failed else ""
        return f"{self.status} [{counts}{ids}]"


def run_suite(store: str, profile: str, root: str, seed: int, one_writer_machine: bool = False,
              select: str = "", workers: int = 2) -> SuiteResult:
    """The suite of ``profile`` (only the tests matching the pytest ``-k`` expression ``select``, when
    given) against ``store`` with its temp homes under ``root`` (see the module docstring)."""
    base = tempfile.mkdtemp(prefix="suite-", dir=root)
    report = os.path.join(base, "report.json")
    argv = [sys.executable, "-m", "conformance.cli", "suite", "--store", store, "--profile", profile,
            "--seed", str(seed), "--report", report, "--", "-q", "-p", "no:cacheprovider", "-n", str(workers),
            "--basetemp", os.path.join(base, "tmp"), "-o", "tmp_path_retention_policy=failed"]
    if one_writer_machine:
        argv.append("--one-writer-machine")
    if select:
        argv += ["-k", select]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
        with open(report, encoding="utf-8") as handle:
            data = json.load(handle)
    except subprocess.TimeoutExpired:
        return SuiteResult(store, "inconclusive", note=f"the suite did not finish within {TIMEOUT_S} s")
    except (OSError, ValueError):
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        return SuiteResult(store, "inconclusive", note=f"the suite wrote no report (exit {done.returncode}): {tail[0]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)  # its homes: the next cells need the room
    tests = tuple((name, n) for name, n in sorted(data["totals"]["tests"].items()) if n)
    failed = tuple(rid for rid, entry in data["requirements"].items() if entry["status"] == "failed")
    if not tests:
        return SuiteResult(store, "inconclusive", note="the suite ran no test")
    return SuiteResult(store, data["status"], tests, failed)
