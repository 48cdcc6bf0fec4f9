"""``soak``: many seeded random race campaigns and state-machine runs of one store, spread by
pytest-xdist over local workers and remote execnet gateways, merged into one report.

Contract: :func:`register` adds the subcommand; it returns the exit code of conformance.api.exit_codes:
0 every seed passed, 1 a seed found a violation, 2 usage error, 3 a seed was inconclusive or never
ran, 4 interrupted.  Each failing seed's repro bundle is brought into ``--bundle-dir`` on this machine,
whichever worker ran it (docs/soak.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from conformance.api.exit_codes import FOR_STATUS, INCONCLUSIVE, INTERRUPTED, USAGE

KINDS = ("campaign", "machine")
PROFILES = ("smoke", "ci", "nightly")


def register(subparsers) -> None:
    """Add ``soak`` to a subparsers object (conformance.cli.main wires this in)."""
    p = subparsers.add_parser(
        "soak", help="many seeded campaigns / state-machine runs over local workers and remote gateways",
        description="Run seeds 0..N-1 (or the --seed values) of a random race campaign and/or the state machine "
                    "against one store, each seed one pytest-xdist item, spread over -n local workers and any "
                    "--tx execnet gateways (socket=HOST:PORT, ssh=HOST, popen); each failing seed's repro bundle "
                    "is brought back into --bundle-dir here, and one report lists every seed with its verdict, "
                    "classes, bundle and the worker that ran it. A remote gateway needs this project installed "
                    "for the same Python there. Exit 1 when a seed found a violation, 3 when one was "
                    "inconclusive or never ran, 0 when every seed passed.")
    p.add_argument("--store", required=True, help="reference | py:mod:factory | cmd:<command line> | mutant:<name>")
    p.add_argument("--seeds", type=int, default=10, metavar="N", help="run N seeds, from --first-seed on")
    p.add_argument("--first-seed", type=int, default=0, metavar="S", help="the first of the --seeds seeds")
    p.add_argument("--seed", type=int, action="append", metavar="S",
                   help="run exactly this seed (repeatable; replaces --seeds and --first-seed)")
    p.add_argument("--kind", action="append", choices=KINDS,
                   help="what each seed runs: a random race campaign, a state-machine run, or both when given "
                        "twice (default: campaign)")
    p.add_argument("--seconds", type=float, default=5.0, help="each campaign's length")
    p.add_argument("--ops", type=int, default=0, help="each campaign's operation budget over all actors (0: none)")
    p.add_argument("--kills", action="store_true", help="campaigns SIGKILL writers/compressors and crash at failpoints")
    p.add_argument("--max-delay-ms", type=float, default=30.0, metavar="MS",
                   help="campaigns answer a seeded random subset of failpoint hits up to MS late (0: none)")
    p.add_argument("--profile", choices=PROFILES, default="smoke", help="each state-machine run's Hypothesis profile")
    p.add_argument("-n", "--workers", type=int, default=os.cpu_count() or 1, metavar="K",
                   help="local worker processes (0 with no --tx: run every seed in this process)")
    p.add_argument("--tx", action="append", default=[], metavar="SPEC",
                   help="an execnet gateway to run workers on as well, passed to pytest-xdist (repeatable), "
                        "e.g. socket=192.168.1.7:8888, ssh=build2//python=python3, 2*popen")
    p.add_argument("--bundle-dir", default="soak-bundles",
                   help="where every failing seed's repro bundle is brought, whichever worker ran it")
    p.add_argument("--report", metavar="OUT.json",
                   help="write the merged report here (conformance/protocol/schemas/soak-report.schema.json)")
    p.add_argument("--html", metavar="OUT.html", help="write the merged report as one HTML page here")
    p.set_defaults(func=_cmd_soak, validate=_problem)


def _problem(args: argparse.Namespace) -> str:
    """The first impossible option, or ""."""
    if args.seeds <= 0 and not args.seed:
        return f"--seeds {args.seeds}: run at least one seed"
    if args.seconds <= 0 and args.ops <= 0:
        return "a campaign needs a bound: --seconds or --ops above 0"
    for name in ("ops", "workers", "max_delay_ms"):
        if getattr(args, name) < 0:
            return f"--{name.replace('_', '-')} {getattr(args, name):g}: cannot be negative"
    if any(not spec.strip() for spec in args.tx):
        return "--tx needs an execnet spec, e.g. socket=HOST:PORT or 2*popen"
    return ""


def _cmd_soak(args: argparse.Namespace) -> int:
    from pytest import ExitCode

    from conformance.reports.soak_page import html
    from race_harness.soak.plan import SoakPlan
    from race_harness.soak.runner import run_soak

    if args.seed:
        seeds = tuple(dict.fromkeys(args.seed))
    else:
        seeds = tuple(range(args.first_seed, args.first_seed + args.seeds))
    plan = SoakPlan(args.store, seeds, tuple(dict.fromkeys(args.kind or ["campaign"])), args.seconds, args.ops,
                    args.kills, args.max_delay_ms, args.profile)
    report, pytest_code = run_soak(plan, args.bundle_dir, args.workers, args.tx)
    for seed in report["seeds"]:
        if seed["status"] != "passed":
            print(_describe(seed))
    counts = report["counts"]
    print(f"soak {plan.store}: {report['seeds_run']}/{len(report['seeds'])} seeds in {report['seconds']:.1f} s "
          f"({report['seeds_per_hour']:g}/hour): " + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items())
          + f" -> {report['status']}")
    if args.report:
        with open(args.report, "w") as handle:
            json.dump(report, handle, indent=1)
        print(f"report: {args.report}")
    if args.html:
        with open(args.html, "w") as handle:
            handle.write(html(report, os.path.dirname(os.path.abspath(args.html))))
        print(f"html:   {args.html}")
    if pytest_code == ExitCode.INTERRUPTED:
        return INTERRUPTED
    if pytest_code in (ExitCode.INTERNAL_ERROR, ExitCode.USAGE_ERROR) and not report["seeds_run"]:
        print("soak: no seed ran; pytest's message above says why (a --tx gateway not reachable?)", file=sys.stderr)
        return USAGE if pytest_code == ExitCode.USAGE_ERROR else INCONCLUSIVE
    return FOR_STATUS[report["status"]]


def _describe(seed: dict) -> str:
    """A seed that did not pass, in a few lines: verdict, classes, worker, bundle, first notes."""
    worker = seed["worker"]
    where = f" [{worker['id']} {worker.get('gateway') or ''}]".replace(" ]", "]") if worker["id"] else ""
    lines = [f"  {seed['name']}: {seed['status']}" + (f" ({', '.join(seed['classes'])})" if seed["classes"] else "")
             + where]
    lines += [f"    bundle: {seed['bundle']}"] if seed["bundle"] else []
    return "\n".join(lines + [f"    note: {note}" for note in seed["notes"][:2]])
