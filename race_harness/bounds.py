"""Usage checks of ``race`` done before any work: names resolved (window ids as aliases), bounds possible.

Contract: :func:`race_problem` returns "" or one line saying what is wrong and the fix; it rewrites
``args.scenario`` to the scenario names a window id (``R2``) stands for.
"""

from __future__ import annotations

import argparse
import difflib

from race_harness.roles import STORE_ROLES

ROLE_COUNTS = ("writers", "compressors", "readers", "listers", "archivers")
#: --seconds of a random campaign when not given: the same as ``check``'s campaign.
DEFAULT_CAMPAIGN_SECONDS = 30.0


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
    prefix = [k for k in known if k.startswith(name.lower())][:3]
    hints = list(dict.fromkeys(prefix + close))
    return f"; did you mean {' or '.join(hints)}?" if hints else "; see --list-scenarios"


def resolve_scenarios(names: list[str]) -> tuple[list[str], str]:
    """Scenario names for ``names`` (a window id such as R2 selects that window's scenarios), or a problem."""
    from race_harness.scenarios import SCENARIOS

    resolved: list[str] = []
    for name in names:
        if name in SCENARIOS:
            resolved.append(name)
            continue
        of_window = [s.name for s in SCENARIOS.values() if s.window.lower() == name.lower()]
        if of_window:
            resolved.extend(of_window)
            continue
        return [], f"unknown scenario {name!r}{_did_you_mean(name, list(SCENARIOS))}"
    return list(dict.fromkeys(resolved)), ""


def race_problem(args: argparse.Namespace) -> str:
    """The first impossible option of a ``race`` command line, or ""."""
    if args.list_scenarios:
        args.skip_store_check = True
        return ""
    from race_harness.explore import PAIRS
    from race_harness.faults import TARGETS

    if args.scenario:
        args.scenario, problem = resolve_scenarios(args.scenario)
        if problem:
            return problem
    if args.exhaustive and args.exhaustive not in PAIRS:
        return f"unknown pair {args.exhaustive!r}{_did_you_mean(args.exhaustive, list(PAIRS))}"
    if args.countdown and args.countdown not in TARGETS:
        return f"unknown countdown target {args.countdown!r}{_did_you_mean(args.countdown, list(TARGETS))}"
    if args.seconds is not None and args.seconds < 0:
        return f"--seconds {args.seconds:g}: a time bound cannot be negative"
    for name in ("ops", "sample", "rollouts", "big_line", "shrink_runs", "limit", *ROLE_COUNTS):
        value = getattr(args, name, None)
        if value is not None and value < 0:
            return f"--{name.replace('_', '-')} {value}: cannot be negative"
    if args.max_delay_ms < 0:
        return f"--max-delay-ms {args.max_delay_ms:g}: cannot be negative"
    if any(size <= 0 for size in args.line_size or ()):
        return "--line-size must be a positive number of bytes"
    for mount in getattr(args, "home_mount", None) or ():
        role, _, name = mount.partition("=")
        if role not in STORE_ROLES or not name or "/" in name:
            return (f"--home-mount {mount}: give ROLE=NAME, ROLE one of {', '.join(STORE_ROLES)} and NAME a "
                    "plain name (e.g. --home-mount writer=one --home-mount compressor=two)")
    problem = _hosts_problem(args)
    if problem:
        return problem
    if args.random:
        if args.seconds == 0 and not args.ops:
            return "--seconds 0 with no --ops would never end: give --seconds > 0 or --ops N"
        if not any(getattr(args, name) for name in ("writers", "compressors", "readers", "listers", "archivers")):
            return "every role is at 0: nothing would run (give --writers N, --compressors N, ...)"
        if args.rollouts < 1:
            return "--rollouts must be at least 1"
    if getattr(args, "cross_schemes", False) and not (args.random and args.store):
        return "--cross-schemes races the --store's halves against the reference's in random campaigns: give --store and --random"
    if args.exhaustive and args.limit < 1:
        return "--limit must be at least 1"
    if not args.store and not all(getattr(args, f"{role}_store", None) for role in ("writer", "compressor")):
        return ("--store is required unless --writer-store and --compressor-store are both given "
                "(reference | reference:<scheme> | py:mod:factory | cmd:<command line> | mutant:<name>)")
    return ""


def _hosts_problem(args) -> str:
    """What is wrong with ``--host`` / ``--place`` ("" when nothing is)."""
    from race_harness.hosts import Placement

    hosts, place = getattr(args, "host", None) or (), getattr(args, "place", None) or ()
    if not hosts and not place:
        return ""
    if getattr(args, "home_mount", None):
        return ("--home-mount and --host both say how roles see the home: use one (two --host paths without a "
                "gateway stand for two machines as two --home-mount names do)")
    if args.exhaustive or args.countdown:
        return "--host places the actors of --random campaigns and --scenario runs; not of --exhaustive or --countdown"
    pairs = []
    for item in place:
        role, equals, name = item.partition("=")
        if not equals:
            return f"--place {item}: give ROLE=HOST (e.g. --place writer=a --place compressor=b)"
        pairs.append((role, name))
    try:
        Placement.of(hosts, pairs)
    except ValueError as exc:
        return str(exc)
    return ""
