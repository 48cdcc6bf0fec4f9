"""(8) conformance suite wall time: ``python -m conformance.cli suite --store S -- -q`` in a subprocess.

The suite CLI adds ``-n auto`` (pytest-xdist) itself when no ``-n`` is given, so this is the run a
user gets.  S is ``reference`` (goal: under 60 s) and ``cmd:<python> -m conformance.cli.serve
--store reference`` (the same store behind the stdio protocol).  One run each: a suite run is long
enough that timer noise is nothing next to machine load, which the report records, with the CPU time
of the whole run (the suite, its xdist workers and every program they started and reaped), which
load does not inflate.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench_race import cmd_selection
from benchmarks.timing import Settings

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 60.0
_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|xfailed|xpassed)")


def _one(selection: str) -> dict:
    argv = [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--", "-q"]
    load = os.getloadavg()[0]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    tail = [line for line in done.stdout.splitlines() if line.strip()][-1:] or [""]
    counts = {kind: int(n) for n, kind in _SUMMARY.findall(tail[0])}
    return {"selection": selection, "wall_s": wall, "cpu_s": cpu, "returncode": done.returncode, "summary": tail[0].strip("= "),
            "counts": counts, "loadavg_before": load, "loadavg_after": os.getloadavg()[0],
            "stderr_tail": done.stderr[-400:] if done.returncode else ""}


def _children_cpu() -> float:
    """User + system CPU seconds of every reaped descendant of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(settings: Settings, work: Path, log) -> dict:
    out: dict = {"goal_s": GOAL_S, "runs": {}}
    if not settings.suite:
        out["skipped"] = (f"{settings.name} mode: a suite run takes 20+ s by itself, more than this mode's whole "
                          "budget")
        log(f"suite: skipped ({out['skipped']})")
        return out
    for label in settings.suite:
        selection = "reference" if label == "reference" else cmd_selection()
        row = _one(selection)
        out["runs"][label] = row
        log(f"suite {label}: {row['wall_s']:.1f} s ({row['summary']}, exit {row['returncode']})")
    if "cmd" not in settings.suite:
        out["cmd_skipped"] = f"{settings.name} mode runs the suite once, against the reference only"
    return out
