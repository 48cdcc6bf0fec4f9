"""Issue 14, item 5: no verdict from timing luck. The stdio suite against the reference passes while
every core is busy with a CPU burner: tests that need something to happen wait for the event itself,
or end inconclusive when a generous bound runs out, never failed.

The default run covers the tests that once failed under load (READ-004's transitions and retries)
and the lock-wait tests that once slept a fixed 0.3-0.4 s;
`tox -e soak` (ROLLOUT_SOAK=1) runs the whole stdio suite five times beside the burners."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from helpers.cli import cli

STDIO = f"cmd:{sys.executable} -m conformance.cli.serve --store reference"
SOAK = bool(os.environ.get("ROLLOUT_SOAK"))
#: READ-004's transitions and retries, and the tests that hold a lock and check the store waits for it.
TIMING_TESTS = ("compressed_and_materialized or appears_during_retry or not_found_only_after_retrying"
                " or waits_for or only_under_the_coordination_lock")


@contextmanager
def cpu_burners():
    """One busy-looping process per core for as long as the block runs."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_stdio_timing_tests_pass_beside_a_cpu_burner():
    """Before: READ-004 demanded 3 compress and 3 materialize transitions inside a fixed 1.0 s window,
    and the stdio suite against the reference failed it on a loaded runner."""
    with cpu_burners():
        done = cli("suite", "--store", STDIO, "--", "-q", "-n", "2", "-k", TIMING_TESTS, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1] and "READ-004" in done.stdout


@pytest.mark.skipif(not SOAK, reason="five full stdio suite runs beside a CPU burner: tox -e soak (ROLLOUT_SOAK=1)")
@pytest.mark.parametrize("run", range(5))
def test_full_stdio_suite_passes_beside_a_cpu_burner(run):
    with cpu_burners():
        done = cli("suite", "--store", STDIO, "--", "-q", "-n", "2", timeout=3600)
    assert done.returncode == 0, f"run {run + 1} of 5:\n" + done.stdout[-6000:] + done.stderr[-2000:]
