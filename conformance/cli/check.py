"""``rollout-conformance check``: the main job in one command, ending in one verdict per requirement.

It runs the suite (Hypothesis at its ``smoke`` profile), every scheduled race scenario, a random
campaign with kills against one store (default: the embedded reference) and one campaign per
cross-scheme pairing (``race_harness.pairing``), then folds them into one table by SPEC.md id (the
merge rules: :mod:`conformance.cli.check_merge`).  A race scenario speaks for the requirements that
close its window; a pairing for the store's half of its scheme.  With ``--profile`` only that
capability's tests run (no race); requirements outside the profile, or of a capability or scheme the
store did not declare, are skipped whatever a column says, with the reason.  ``--report`` and
``--junitxml`` write the table for CI (:mod:`conformance.cli.check_report`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone

from conformance.runtime import interrupts
from conformance.api import requirements
from conformance.api.exit_codes import FAILED, INCONCLUSIVE, INTERRUPTED, PASSED
from conformance.cli import check_report
from conformance.cli.check_merge import merge
from conformance.runtime.workfolder import WorkFolder

PROFILES = ("reader", "writer", "compressor", "lifecycle", "full")
DEFAULT_SECONDS = 30.0
_PROGRESS_EVERY_SECONDS = 10.0
_SUITE_STOP_SECONDS = 15.0


def _suite_progress(log: str) -> str:
    """How far the suite is, from the last ``[ NN%]`` pytest wrote to its log (the whole log: its
    tail may be a long run of output without one, which must not read as "collecting" again)."""
    try:
        with open(log, errors="replace") as handle:
            found = re.findall(r"\[\s*(\d+)%\]", handle.read())
    except OSError:
        return ""
    return f"{found[-1]}% of the tests done" if found else "collecting"


def _run_suite(selection: str, workdir: str, profile: str, seed: int) -> tuple[int, dict, bool]:
    """(exit code, statuses by requirement, interrupted) of one suite run, with a progress line every 10 s."""
    report = os.path.join(workdir, "suite.json")
    log = os.path.join(workdir, "suite.log")
    env = dict(os.environ, ROLLOUT_HYPOTHESIS_PROFILE="smoke")
    command = [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--profile", profile,
               "--seed", str(seed), "--report", report, "--", "-q",
               # the tests' homes live in the work folder: gone after a pass, kept with it otherwise
               "--basetemp", os.path.join(workdir, "pytest")]
    started = time.monotonic()
    interrupted = False
    with open(log, "w") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def progress() -> None:
            while not done.wait(_PROGRESS_EVERY_SECONDS):
                print(f"suite: running, {_suite_progress(log)} ({time.monotonic() - started:.0f} s)", flush=True)

        threading.Thread(target=progress, daemon=True).start()
        try:
            proc.wait()
        except KeyboardInterrupt:
            interrupted = True  # let the suite stop its workers and write its partial report
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(_SUITE_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            done.set()
    with open(log, errors="replace") as handle:
        lines = handle.read().strip().splitlines()
    print(f"suite: exit {proc.returncode}: {(lines[-1:] or ['(no output)'])[0]} (log: {log})", flush=True)
    if not os.path.exists(report):
        print("\n".join(lines[-20:]), file=sys.stderr)
        return proc.returncode, {}, interrupted
    with open(report) as handle:
        return proc.returncode, json.load(handle)["requirements"], interrupted


def _run_race(selection: str, workdir: str, seconds: float, seed: int, verdicts: list, hello, paired: list) -> None:
    """Every scenario, one campaign with kills, then each cross-scheme pairing's campaign; each
    (window, verdict) appended as it ends, and each pairing's (pairing, verdict) to ``paired`` too."""
    from race_harness.pairing import pairing_config, pairings, run_pairing

    from race_harness.campaign import CampaignConfig, run_campaign
    from race_harness.scenarios import SCENARIOS, run_scenario

    bundles = os.path.join(workdir, "bundles")
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
    for pairing in pairings(selection, hello.capabilities, hello.coordination):
        verdict = run_pairing(pairing, pairing_config(seconds, seed), workdir, bundles)
        print(f"race pairing {pairing.name} ({seconds:.0f} s): {verdict.status}{_timeline_note(verdict)}", flush=True)
        verdicts.append(("campaign", verdict))
        paired.append((pairing, verdict))


def _plan(args: argparse.Namespace, hello) -> tuple[bool, str]:
    """(run the race?, the header line saying what will run)."""
    from race_harness.scenarios import SCENARIOS

    declared = set(hello.capabilities)
    race = args.profile == "full" and {"writer", "compressor"} <= declared
    why_not = ("" if race else f" (race: not run: profile {args.profile})" if args.profile != "full"
               else " (race: not run: the store did not declare writer and compressor)")
    parts = [f"the suite (profile {args.profile})"]
    if race:
        parts.append(f"{len(SCENARIOS)} race scenarios and a {args.seconds:g} s random campaign with kills")
        from race_harness.pairing import pairings

        crossed = pairings(args.store, hello.capabilities, hello.coordination)
        if crossed:
            parts.append(f"{len(crossed)} cross-scheme pairing campaign(s) of {args.seconds:g} s "
                         f"({'; '.join(p.name for p in crossed)})")
    return race, f"will run: {' + '.join(parts)}{why_not}"


def _timeline_note(verdict) -> str:
    return f"  timeline: {os.path.join(verdict.bundle, 'timeline.html')}" if verdict.bundle else ""


def _cmd_check(args: argparse.Namespace) -> int:
    from conformance.stores.preflight import check_store
    from conformance.stores.selection import describe

    started, started_at = time.monotonic(), _now()
    known = requirements.load()
    hello = check_store(args.store)  # checked before the run too; here for its capabilities
    folder = WorkFolder.create(args.workdir, args.keep, "rollout-check-")
    workdir = folder.path
    run_race, plan = _plan(args, hello)
    print(f"check: {args.store}: {describe(args.store)}; it says {hello.name} {hello.version}, capabilities "
          f"{', '.join(sorted(hello.capabilities)) or 'none'}, coordination "
          f"{', '.join(sorted(hello.coordination)) or 'none'}", flush=True)
    print(f"check: {plan}; work folder {workdir}", flush=True)

    race: list = []
    paired: list = []  # (cross-scheme pairing, its verdict): race_harness/pairing.py
    suite: dict = {}
    interrupted = False
    try:
        _, suite, interrupted = _run_suite(args.store, workdir, args.profile, args.seed)
        if run_race and not interrupted:
            # the suite stops its own workers (and writes its partial report); race actors go at once
            interrupts.stop_children_at_once()
            _run_race(args.store, workdir, args.seconds, args.seed, race, hello, paired)
    except KeyboardInterrupt:
        interrupted = True

    rows = merge(known, suite, race, args.profile, set(hello.capabilities), set(hello.coordination),
                 [(pairing.requirement, verdict) for pairing, verdict in paired])
    print(f"\n{'requirement':<12} {'level':<6} {'suite':<13} {'race':<13} verdict")
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row.verdict] += 1
        note = f"  ({'; '.join(row.evidence[:2])})" if row.evidence else ""
        print(f"{row.rid:<12} {row.level:<6} {row.suite:<13} {row.race:<13} {row.verdict}{note}")
    status = ("interrupted" if interrupted else "failed" if totals.get("failed")
              else "inconclusive" if totals.get("inconclusive") or totals.get("not_run") else "passed")
    print("\n" + ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) +
          f" -- {len(race)} race runs, {time.monotonic() - started:.0f} s")
    for pairing, verdict in paired:
        print(f"cross-scheme pairing: {pairing.name}: {verdict.status} (speaks for {pairing.requirement})")
    if args.report:
        check_report.write_json(check_report.build(
            rows, known, race + [("pairing", verdict) for _, verdict in paired], hello, store=args.store, profile=args.profile, seed=args.seed, seconds=args.seconds,
            started=started_at, finished=_now(), interrupted=interrupted, status=status, totals=totals), args.report)
    if args.junitxml:
        check_report.write_junit(rows, args.junitxml)
    if interrupted:
        print("check: interrupted: the table above is partial (what finished before the signal)")
    print(f"check: {status}")
    kept = folder.finish(status)
    if kept:
        print(kept)
    return {"interrupted": INTERRUPTED, "failed": FAILED, "inconclusive": INCONCLUSIVE}.get(status, PASSED)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _bounds_problem(args: argparse.Namespace) -> str:
    if args.seconds <= 0:
        return f"--seconds {args.seconds:g}: the random campaign needs a positive length"
    return ""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="suite + every race scenario + a random campaign, one verdict per requirement",
        description="Exit 0: every requirement passed or was skipped (by --profile or declared capability, "
        "with the reason); 1: a requirement failed; 3: something could not be checked (inconclusive).",
    )
    p.add_argument("--store", default="reference", help="the store selection (default: the embedded reference store)")
    p.add_argument("--profile", choices=PROFILES, default="full",
                   help="check only this capability's requirements (reader: a read-only tool); the race runs "
                        "only with full")
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="random campaign length in seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (same seed, same schedule)")
    p.add_argument("--workdir", help="keep reports, run folders and repro bundles here (default: a temporary "
                                     "folder, removed after a passing run, kept and named otherwise)")
    p.add_argument("--report", metavar="OUT.json", help="write the table as JSON here (schema: "
                   "conformance/protocol/schemas/check-report.schema.json)")
    p.add_argument("--junitxml", metavar="OUT.xml", help="write the table as JUnit XML here, one testcase per "
                   "requirement (for CI)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder even after a passing run")
    p.set_defaults(func=_cmd_check, validate=_bounds_problem)
