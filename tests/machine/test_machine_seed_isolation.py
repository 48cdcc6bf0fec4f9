"""A seeded state-machine verdict does not depend on what else ran in the process (issue #21, item 6).

Hypothesis mixes the literals of every local module loaded in the process into some draws; before the
kit neutralised that, ``test_same_seed_same_verdict_and_blame_on_the_failing_step`` failed in one
``-n 2`` combination of test files.  Here one seed runs in two worker arrangements: a process that
loaded only the kit, and one that had loaded much of the project first (as a pytest worker that ran
other test files has).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUN = """
import importlib, sys
sys.path.insert(0, {here!r})
for name in sys.argv[1:]:
    importlib.import_module(name)
from test_state_machine_kit import ReadsZstWhenBoth, _violation
found = _violation(ReadsZstWhenBoth, 1234)
print(found.requirement, found)
"""
# Modules full of literals (strings, numbers) that a worker may have loaded before the machine runs.
OTHER_WORK = ("race_harness.campaign", "race_harness.checker", "conformance.reader_check.cases",
              "conformance.oracle.homegen", "conformance.suite.test_read", "conformance.suite.test_compression")


def _verdict(*loaded: str) -> str:
    done = subprocess.run([sys.executable, "-c", RUN.format(here=str(HERE)), *loaded], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout.strip()


def test_one_seed_gives_one_verdict_in_two_worker_arrangements():
    alone, after_other_work = _verdict(), _verdict(*OTHER_WORK)
    assert alone == after_other_work
    assert alone.startswith(("READ-", "RECOVER-")), alone
