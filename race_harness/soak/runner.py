"""Run a soak: pytest with xdist over the chosen workers, then one merged report.

Contract: :func:`run_soak` runs every item of a :class:`~race_harness.soak.plan.SoakPlan` through
pytest in this process, spread by pytest-xdist over ``workers`` local processes (popen gateways) and the
execnet gateways ``tx`` (``--tx``, e.g. ``socket=HOST:PORT``, ``2*popen``, ``ssh=host``), brings each
failing seed's bundle into ``bundle_dir`` and returns the merged report (a dict in the form of
conformance/protocol/schemas/soak-report.schema.json).  Its ``status`` adds the seeds up: any
violation, else any inconclusive seed or seed not run, else passed.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

import conformance
from race_harness.soak.collect import Collector
from race_harness.soak.plan import SoakPlan, item_id
from race_harness.verdict import INCONCLUSIVE, PASSED, VIOLATION

#: Version of the merged report (conformance/protocol/schemas/soak-report.schema.json).
REPORT_FORMAT_VERSION = 1
NOT_RUN = "not_run"
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pytest_arguments(plan: SoakPlan, workers: int, tx: list[str]) -> list[str]:
    """The pytest command line of a soak over ``workers`` local processes plus the gateways ``tx`` (none of
    either: in this process).  Every argument is one ``--opt=value`` word and the tests are named as a
    module (``--pyargs``), never as a path: xdist rewrites path arguments for remote gateways relative
    to folders it would rsync, and a remote worker imports the installed package instead."""
    # no ini file and no conftest.py of the folder it runs in (pytest loads ./test*/conftest.py); the root
    # folder is where the package is, so every worker names the items alike
    argv = ["-p", "race_harness.soak.plugin", "-p", "no:cacheprovider", "--config-file=/dev/null", "--noconftest",
            f"--rootdir={_PACKAGE_PARENT}", "--pyargs", "race_harness.soak.seeds", f"--soak-plan={plan.to_json()}",
            "-q", "-rN", "--tb=line"]
    # xdist's -n replaces any --tx, so local workers become popen gateways beside the remote ones
    specs = ([f"{workers}*popen"] if workers else []) + list(tx)
    if specs:
        argv += [f"--tx={spec}" for spec in specs] + ["--dist=load"]
    return argv


def run_soak(plan: SoakPlan, bundle_dir: str, workers: int = 0, tx: list[str] = ()) -> tuple[dict, int]:
    """Run the soak; (merged report, pytest's exit code)."""
    bundle_dir = os.path.abspath(bundle_dir)
    collector = Collector(bundle_dir)
    started, clock = datetime.now(timezone.utc), time.monotonic()
    code = pytest.main(pytest_arguments(plan, workers, list(tx)), plugins=[collector])
    seconds = time.monotonic() - clock
    return merged_report(plan, collector.rows, started, seconds, workers, list(tx), bundle_dir), int(code)


def merged_report(plan: SoakPlan, rows: dict[str, dict], started: datetime, seconds: float, workers: int,
                  tx: list[str], bundle_dir: str) -> dict:
    """One report over every seed of ``plan``: a row per seed in plan order (a seed that never reported
    is ``not_run``), counts, the overall status and seeds per hour."""
    seeds = []
    for kind, seed in plan.items():
        name = item_id(kind, seed)
        seeds.append(rows.get(name) or {"kind": kind, "seed": seed, "name": name, "status": NOT_RUN, "classes": [],
                                        "requirements": [], "notes": ["never reported: the soak ended first"],
                                        "bundle": "", "seconds": 0.0, "worker": {"id": "", "gateway": ""}})
    counts = {status: sum(row["status"] == status for row in seeds) for status in (PASSED, VIOLATION, INCONCLUSIVE,
                                                                                     NOT_RUN)}
    run = len(seeds) - counts[NOT_RUN]
    status = VIOLATION if counts[VIOLATION] else INCONCLUSIVE if counts[INCONCLUSIVE] or counts[NOT_RUN] else PASSED
    finished = started + timedelta(seconds=seconds)
    return {"format": "rollout-conformance/soak-report", "format_version": REPORT_FORMAT_VERSION, "kind": "soak",
            "tool": {"name": "rollout-conformance", "version": conformance.__version__}, "store": plan.store,
            "kinds": list(plan.kinds), "params": plan.params(), "workers": {"local": workers, "tx": tx},
            "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
            "seconds": round(seconds, 3), "seeds_run": run,
            "seeds_per_hour": round(run * 3600 / seconds, 1) if seconds > 0 else 0.0,
            "status": status, "counts": counts, "bundle_dir": bundle_dir, "seeds": seeds}
