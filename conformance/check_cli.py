"""``rollout-conformance check``: the main job in one command, ending in one verdict per requirement.

It runs the suite (Hypothesis at its ``smoke`` profile), every scheduled race scenario and a random
campaign with kills against one store (default: the embedded reference), then folds the three into
one table by SPEC.md id.  A race scenario speaks for the requirements that close its window.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from . import requirements

_RANK = ("failed", "inconclusive", "passed", "skipped", "not_run")
_RACE_TO_SUITE = {"violation": "failed", "inconclusive": "inconclusive", "passed": "passed"}


def _worst(statuses) -> str:
    statuses = [s for s in statuses if s]
    return min(statuses, key=_RANK.index) if statuses else "not_run"


def _run_suite(selection: str, workdir: str) -> tuple[int, dict]:
    report = os.path.join(workdir, "suite.json")
    env = dict(os.environ, ROLLOUT_HYPOTHESIS_PROFILE="smoke")
    command = [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--report", report, "--", "-q"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"suite: exit {proc.returncode}: {tail[0]}", flush=True)
    if not os.path.exists(report):
        print(proc.stdout[-3000:] + proc.stderr[-2000:], file=sys.stderr)
        return proc.returncode, {}
    with open(report) as handle:
        return proc.returncode, json.load(handle)["requirements"]


def _run_race(selection: str, workdir: str, seconds: float, seed: int) -> list:
    from race_harness.campaign import CampaignConfig, run_campaign
    from race_harness.scenarios import SCENARIOS, run_scenario

    bundles = os.path.join(workdir, "bundles")
    verdicts = []
    for name, scenario in SCENARIOS.items():
        verdict = run_scenario(selection, name, workdir, seed, bundles)
        print(f"race {name:<34} {verdict.status}{_timeline_note(verdict)}", flush=True)
        verdicts.append((scenario.window, verdict))
    config = CampaignConfig(seconds=seconds, seed=seed, writers=2, compressors=2, archivers=1, kills=True)
    verdict = run_campaign(selection, config, workdir, bundles, show_progress=sys.stderr.isatty())
    ops = sum(sum(row.values()) for row in (verdict.stats.get("operations") or {}).values())
    print(f"race random campaign ({seconds:.0f} s, kills): {verdict.status}, {ops} operations"
          f"{_timeline_note(verdict)}", flush=True)
    verdicts.append(("campaign", verdict))
    return verdicts


def _timeline_note(verdict) -> str:
    return f"  timeline: {os.path.join(verdict.bundle, 'timeline.html')}" if verdict.bundle else ""


def _cmd_check(args: argparse.Namespace) -> int:
    started = time.monotonic()
    known = requirements.load()
    workdir = args.workdir or tempfile.mkdtemp(prefix="rollout-check-")
    os.makedirs(workdir, exist_ok=True)
    _, suite = _run_suite(args.store, workdir)
    race = _run_race(args.store, workdir, args.seconds, args.seed)

    race_status: dict[str, list[str]] = defaultdict(list)
    evidence: dict[str, list[str]] = defaultdict(list)
    for window, verdict in race:
        for violation in verdict.violations:
            race_status[violation.requirement].append("failed")
            evidence[violation.requirement].append(f"{verdict.name}: {violation.cls}")
        for rid, requirement in known.items():
            if window in requirement.closes:
                race_status[rid].append(_RACE_TO_SUITE[verdict.status])
                if verdict.status != "passed":
                    evidence[rid].append(f"{verdict.name}: {verdict.status}")

    print(f"\n{'requirement':<12} {'level':<6} {'suite':<13} {'race':<13} verdict")
    totals: dict[str, int] = defaultdict(int)
    for rid, requirement in known.items():
        suite_status = suite.get(rid, {}).get("status", "not_run")
        suite_status = "failed" if suite_status == "expected_failure" else suite_status
        race_result = _worst(race_status.get(rid, ()))
        verdict = _worst([suite_status, race_result if race_result != "not_run" else None])
        totals[verdict] += 1
        note = f"  ({'; '.join(evidence[rid][:2])})" if evidence.get(rid) else ""
        print(f"{rid:<12} {requirement.level:<6} {suite_status:<13} {race_result:<13} {verdict}{note}")
    print("\n" + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) +
          f" -- {len(race)} race runs, {time.monotonic() - started:.0f} s, details in {workdir}")
    if totals.get("failed"):
        return 1
    if totals.get("inconclusive") or totals.get("not_run"):
        return 3
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="suite + every race scenario + a random campaign, one verdict per requirement",
        description="Exit 0: every requirement passed or was skipped by declared capability; "
        "1: a requirement failed; 3: something could not be checked (inconclusive).",
    )
    p.add_argument("--store", default="reference", help="default: the embedded reference store")
    p.add_argument("--seconds", type=float, default=30.0, help="random campaign length (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="keep reports, run folders and repro bundles here")
    p.set_defaults(func=_cmd_check)
