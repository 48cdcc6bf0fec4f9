"""``race`` and ``replay`` subcommands: run the harness against any store selection.

Contract: :func:`register` adds both subcommands to an argparse subparsers object; each command
returns the exit code of conformance.api.exit_codes: 0 no violation, 1 violation found, 2 usage error,
3 inconclusive, 4 interrupted (the verdicts finished so far are printed and reported).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone

from conformance.cli.contract import tool_version
from conformance.api.exit_codes import INTERRUPTED, USAGE
from conformance.runtime.workfolder import WorkFolder

from race_harness.bounds import DEFAULT_CAMPAIGN_SECONDS, race_problem
from race_harness.verdict import Verdict, worst
from conformance.api.exit_codes import FOR_STATUS

USAGE_ERROR = USAGE
#: Version of the JSON ``race --report`` writes (conformance/protocol/schemas/race-report.schema.json).
REPORT_FORMAT_VERSION = 1


def register(subparsers) -> None:
    """Add ``race`` and ``replay`` to a subparsers object (conformance.cli.main wires this in)."""
    race = subparsers.add_parser("race", help="race processes on one home and check nothing is lost",
                                 description="Without a mode, every named scenario runs.")
    race.add_argument("--store", help="reference | py:mod:factory | cmd:<command line> | mutant:<name> "
                                      "(every role's store unless a --ROLE-store below says otherwise)")
    for role, who in (("writer", "writers, appenders, archivers, deleters and the setup that creates rollouts"),
                      ("compressor", "compressors, cleaners and the recovery run"),
                      ("reader", "readers and listers")):
        default_else = (", else the writer store when it reads, else the compressor store when it reads, "
                        "else reference") if role == "reader" else ""
        race.add_argument(f"--{role}-store", metavar="SELECTION",
                          help=f"the store of the {who} (default --store{default_else})")
    mode = race.add_mutually_exclusive_group()
    mode.add_argument("--scenario", action="append", metavar="NAME",
                      help="a named scenario, or a window id such as R2 for its scenarios (repeatable)")
    mode.add_argument("--exhaustive", metavar="PAIR", help="every interleaving of a two-actor pair")
    mode.add_argument("--random", action="store_true", help="a random campaign (roles, bounds and --kills below)")
    mode.add_argument("--countdown", metavar="TARGET", help="fail the N-th failpoint hit of an operation, N=1,2,...")
    mode.add_argument("--list-scenarios", action="store_true", help="list scenarios, pairs and countdown targets")
    race.add_argument("--sample", type=int, default=0, metavar="N",
                      help="with --exhaustive: N seeded random interleavings instead of all of them")
    race.add_argument("--limit", type=int, default=200, help="at most this many interleavings (--exhaustive)")
    race.add_argument("--seconds", type=float, default=None,
                      help=f"time bound: campaign length (default: {DEFAULT_CAMPAIGN_SECONDS:g}, as in check, unless "
                           "--ops bounds it); --exhaustive: stop exploring after this long (default: no bound)")
    race.add_argument("--ops", type=int, default=0, help="campaign: operation bound over all actors (0: none)")
    race.add_argument("--seed", type=int, default=0, help="seed of every random choice (same seed, same schedule)")
    race.add_argument("--writers", type=int, default=2, help="campaign: long-lived writer processes")
    race.add_argument("--compressors", type=int, default=1, help="campaign: compressor processes")
    race.add_argument("--readers", type=int, default=1, help="campaign: reader processes")
    race.add_argument("--listers", type=int, default=1, help="campaign: list/search processes")
    race.add_argument("--archivers", type=int, default=0, help="campaign: archive/unarchive/delete processes")
    race.add_argument("--agers", type=int, default=1,
                      help="campaign: harness actors back-dating random rollouts by 8 days while writers hold them "
                           "(the idle week, R12); needed by stores with a fixed cold age (codex: 7 days), harmless "
                           "to stores the campaign configures with cold age 0 (0: none)")
    race.add_argument("--rollouts", type=int, default=4, help="campaign: rollouts the actors share")
    race.add_argument("--line-size", type=int, action="append", metavar="BYTES", help="line sizes (repeatable)")
    race.add_argument("--big-line", type=int, default=0, metavar="BYTES", help="an occasional line this big (MBs)")
    race.add_argument("--syscall-delay", metavar="SYSCALLS:USEC",
                      help="run every role's store under strace, delaying these syscalls (e.g. unlink,unlinkat:20000), "
                           "or a named target (create-check:2000: after every existence check, the window of a "
                           "check-then-act create): widens windows in stores without failpoints")
    race.add_argument("--cross-schemes", action="store_true",
                      help="with --random: also race the store's writers against each single-scheme reference "
                           "compressor (reference:inode-flock, reference:codex-thread-locks) its declared schemes make "
                           "relevant, and its compressor against each single-scheme reference writer, one campaign "
                           "each (check does this by default): a bug in one scheme's half that the store's other "
                           "half hides is then caught")
    race.add_argument("--kills", action="store_true", help="SIGKILL writers/compressors and crash at failpoints")
    race.add_argument("--home-mount", action="append", metavar="ROLE=NAME", default=[],
                      help="campaign: ROLE's actors see the home through their own bindfs mount NAME (two names "
                           "stand for two machines whose locks do not meet; docs/shared-homes.md)")
    race.add_argument("--host", action="append", metavar="NAME=PATH[@GATEWAY]", default=[],
                      help="a host for actors: its PATH to the shared folder the run makes its home in, and the "
                           "execnet GATEWAY that starts actors there (popen, socket=HOST:PORT, ssh=USER@HOST; none: "
                           "processes on this machine, and the first such host is where the checker reads the home; "
                           "repeatable; docs/shared-homes.md)")
    race.add_argument("--place", action="append", metavar="ROLE=HOST", default=[],
                      help="--random and --scenario: ROLE's actors (writer, compressor, reader) run on HOST (default: "
                           "the checker's host)")
    race.add_argument("--one-writer-machine", action="store_true",
                      help="campaign: the home declares one writer machine (.one-writer-machine, SPEC.md 5.8)")
    race.add_argument("--max-delay-ms", type=float, default=30.0, metavar="MS",
                      help="campaign: answer a seeded random subset of failpoint hits up to MS late, widening race "
                           "windows (0: no delays)")
    race.add_argument("--no-shrink", action="store_true", help="campaign: do not shrink a violation found")
    race.add_argument("--shrink-runs", type=int, default=12, metavar="N", help="campaign: at most N shrinking re-runs")
    race.add_argument("--save-regression", metavar="FILE.py",
                      help="campaign: on a violation, write a pytest file re-running the (shrunk) config; it runs "
                           "against $RACE_STORE (default the failing store) and asserts the class present for the "
                           "failing store, absent for any other (RACE_EXPECT overrides)")
    race.add_argument("--bundle-dir", default="race-bundles", help="where failing runs leave repro bundles")
    race.add_argument("--workdir", help="keep run folders here (default: a temporary folder, removed after a "
                                        "passing run, kept and named otherwise)")
    race.add_argument("--keep", action="store_true", help="keep the temporary work folder even after a passing run")
    race.add_argument("--report", metavar="OUT.json", help="write every verdict as JSON here (format: docs/store-authors.md)")
    race.set_defaults(func=_cmd_race, validate=race_problem)
    rep = subparsers.add_parser("replay", help="re-impose a repro bundle's schedule and say if it reproduced")
    rep.add_argument("bundle", help="a bundle folder written by race")
    rep.add_argument("--bundle-dir", help="where a reproduced failure leaves its new bundle (default: next to it)")
    rep.set_defaults(func=_cmd_replay, validate=_replay_problem)


def _usage(message: str) -> int:
    print(f"race: {message}", file=sys.stderr)
    return USAGE_ERROR


def _cmd_race(args: argparse.Namespace) -> int:
    from conformance.runtime import interrupts

    from race_harness.explore import PAIRS
    from race_harness.faults import TARGETS
    from race_harness.roles import role_of_point
    from race_harness.scenarios import SCENARIOS

    if args.list_scenarios:
        for scenario in SCENARIOS.values():
            needs = ", ".join(f"{role_of_point(p)}: {p}" for p in scenario.needs)
            needs = f"  (needs {needs})" if needs else ""
            print(f"{scenario.name:<34} {scenario.window:<6} {scenario.summary}{needs}")
        for pair in PAIRS.values():
            print(f"{pair.name:<34} pair   {pair.summary} (--exhaustive)")
        for target in TARGETS:
            print(f"{target:<34} target countdown with ENOSPC and EIO (--countdown)")
        return 0
    from conformance.cli.contract import checked

    problem = checked(args)  # done already when run from the command line; not when called directly
    if problem:
        return _usage(problem)
    roles = _roles(args)
    if isinstance(roles, str):
        return _usage(roles)
    wrap = None  # what --syscall-delay does to a selection (also to a cross-scheme pairing's)
    if args.syscall_delay:
        from race_harness.syscall_delay import SyscallDelay, SyscallDelayError, delayed_selection

        try:
            delay = SyscallDelay.parse(args.syscall_delay)
            wrap = lambda selection: delayed_selection(selection, delay)  # noqa: E731
            roles = roles.map(wrap)
        except SyscallDelayError as exc:
            return _usage(str(exc))
    interrupts.stop_children_at_once()  # actors are killed anyway; the history on disk is what is judged
    folder = WorkFolder.create(args.workdir, args.keep, "race-")
    root = folder.path
    bundles = os.path.abspath(args.bundle_dir)
    say = _printer()
    started = _now()
    verdicts: list[Verdict] = []
    planned = 1 if args.random or args.exhaustive or args.countdown else len(args.scenario or SCENARIOS)
    say(f"race: {planned} run(s) against {roles.describe()}; work folder {root}")
    try:
        _run_mode(args, roles, root, bundles, say, verdicts, wrap)
    except KeyboardInterrupt:
        return _finish(verdicts, args, roles, folder, started, interrupted=planned)
    return _finish(verdicts, args, roles, folder, started)



def _run_mode(args: argparse.Namespace, roles, root: str, bundles: str, say, verdicts: list[Verdict],
              wrap=None) -> None:
    """Run the chosen mode, appending each verdict to ``verdicts`` as soon as it is known."""
    from race_harness.campaign import CampaignConfig
    from race_harness.explore import explore
    from race_harness.faults import sweep
    from race_harness.scenarios import SCENARIOS, run_scenario

    if args.random:
        seconds = args.seconds if args.seconds is not None else 0.0 if args.ops else DEFAULT_CAMPAIGN_SECONDS
        config = CampaignConfig(seconds=seconds,
                                ops=args.ops, seed=args.seed, writers=args.writers, compressors=args.compressors,
                                readers=args.readers, listers=args.listers, archivers=args.archivers,
                                agers=args.agers, rollouts=args.rollouts, line_sizes=tuple(args.line_size or (200, 2000)),
                                big_line=args.big_line, kills=args.kills, max_delay_ms=args.max_delay_ms,
                                home_mounts=tuple(tuple(m.split("=", 1)) for m in args.home_mount),
                                one_writer_machine=args.one_writer_machine, hosts=tuple(args.host),
                                placement=_placement(args).roles)
        verdicts.append(_campaign(args, roles, config, root, bundles, say))
        if args.cross_schemes:
            _cross_schemes(args.store, config, root, bundles, say, verdicts, wrap)
    elif args.exhaustive:
        verdict, _ = explore(roles, args.exhaustive, root, args.limit, args.seconds or 0.0, args.sample,
                             args.seed, bundles, progress=say)
        verdicts.append(verdict)
    elif args.countdown:
        verdicts.append(sweep(roles, args.countdown, root, bundle_dir=bundles, progress=say))
    else:
        for name in args.scenario or list(SCENARIOS):
            verdicts.append(run_scenario(roles, name, root, args.seed, bundles, _placement(args)))
            say(f"{name}: {verdicts[-1].status}")


def _placement(args: argparse.Namespace):
    """The hosts and role placement of ``--host`` / ``--place`` (checked already by race_problem)."""
    from race_harness.hosts import Placement

    return Placement.of(args.host, [item.split("=", 1) for item in args.place])


def _campaign(args: argparse.Namespace, roles, config, root: str, bundles: str, say) -> Verdict:
    """One campaign; on a violation, shrink it (unless --no-shrink) and save a regression if asked."""
    from race_harness.campaign import run_campaign
    from race_harness.shrink import attach, regression_command, shrink, target_class, write_regression

    verdict = run_campaign(roles, config, root, bundles, show_progress=sys.stderr.isatty())
    if "time_to_detection_s" in verdict.stats:
        verdict = replace(verdict, notes=verdict.notes + (
            f"time_to_detection_s={verdict.stats['time_to_detection_s']} "
            f"(race start to {verdict.stats['time_to_detection_basis']})",))
    if not verdict.violations:
        return verdict
    shrunk = None
    if not args.no_shrink and args.shrink_runs > 0:
        say(f"shrinking ({target_class(verdict.classes)}, at most {args.shrink_runs} re-runs)")
        shrunk = shrink(roles, config, verdict, os.path.join(root, "shrink"), max_runs=args.shrink_runs,
                        progress=say)
        verdict = attach(verdict, shrunk)
    if args.save_regression:
        path = write_regression(args.save_regression, roles, shrunk.config if shrunk else config,
                                shrunk.cls if shrunk else target_class(verdict.classes),
                                original=config, steps=shrunk.steps if shrunk else ())
        verdict = replace(verdict, notes=verdict.notes + (
            f"regression test written to {path}; run: {regression_command(path)}",))
    return verdict


def _cross_schemes(selection: str, config, root: str, bundles: str, say, verdicts: list[Verdict], wrap) -> None:
    """One campaign per cross-scheme pairing of ``selection`` (race_harness/pairing.py)."""
    from conformance.stores.selection import open_store

    from race_harness.pairing import pairings, run_pairing

    store = open_store(selection)
    try:
        hello = store.hello()
    finally:
        store.close()
    crossed = pairings(selection, hello.capabilities, hello.coordination)
    if not crossed:
        say(f"cross-schemes: no pairing: {selection} declares coordination "
            f"{', '.join(hello.coordination) or 'none'} (only a store that is not itself reference:<scheme> "
            "and declares a scheme has one)")
    for pairing in crossed:
        if wrap is not None:
            pairing = replace(pairing, roles=pairing.roles.map(wrap))
        verdicts.append(run_pairing(pairing, config, root, bundles))
        say(f"{verdicts[-1].name}: {verdicts[-1].status}")


def _replay_problem(args: argparse.Namespace) -> str:
    if not os.path.isfile(os.path.join(args.bundle, "meta.json")):
        return f"{args.bundle} is not a repro bundle (no meta.json); bundles are folders under race-bundles/"
    return ""


def _roles(args: argparse.Namespace):
    """The Roles the arguments select, or the usage error in words."""
    from conformance.stores.selection import SelectionError, default_reader, describe, has_reader

    from race_harness.roles import STORE_ROLES, Roles

    chosen = {role: getattr(args, f"{role}_store") or args.store for role in STORE_ROLES}
    if not (chosen["writer"] and chosen["compressor"]):
        return ("--store is required unless --writer-store and --compressor-store are both given "
                "(reference | py:mod:factory | cmd:<command line> | mutant:<name>)")
    # the readers read with the writers' store when it can read (the issue's `--writer-store X
    # --compressor-store Y` pairing), else with one that can (codex declares no reader)
    if not args.reader_store and not (args.store and has_reader(args.store)):
        chosen["reader"] = default_reader(chosen["writer"], chosen["compressor"])
    if not all(chosen.values()):
        return ("--store is required unless --writer-store and --compressor-store are both given "
                "(reference | py:mod:factory | cmd:<command line> | mutant:<name>)")
    for selection in set(chosen.values()):
        try:
            describe(selection)
        except SelectionError as exc:
            return str(exc)
    return Roles(**chosen)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _printer():
    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    return say


def _finish(verdicts: list[Verdict], args: argparse.Namespace, roles, folder: WorkFolder, started: str,
            interrupted: int = 0) -> int:
    """Print and report the verdicts; ``interrupted`` is the number of runs planned when cut short."""
    status = "interrupted" if interrupted else worst(verdicts)
    print()
    for verdict in verdicts:
        print(verdict.describe())
        for row in _summary_rows(verdict):
            print(row)
    partial = f"interrupted after {len(verdicts)} of {interrupted} run(s) finished; " if interrupted else ""
    print(f"\nrace: {status} ({partial}{len(verdicts)} run(s): " + ", ".join(
        f"{sum(v.status == s for v in verdicts)} {s}" for s in ("passed", "violation", "inconclusive")) + ")")
    if interrupted and verdicts and worst(verdicts) != "passed":
        print(f"race: before the interrupt: {worst(verdicts)}")
    if args.report:
        with open(args.report, "w") as handle:
            json.dump({"format": "rollout-conformance/race-report", "format_version": REPORT_FORMAT_VERSION,
                       "kind": "race", "tool": {"name": "rollout-conformance", "version": tool_version()},
                       "store": roles.default, "roles": roles.as_dict(), "seed": args.seed,
                       "started": started, "finished": _now(), "status": status,
                       "interrupted": bool(interrupted), "verdicts": [v.as_dict() for v in verdicts]}, handle, indent=1)
    kept = folder.finish(status)
    if kept:
        print(kept)
    return INTERRUPTED if interrupted else FOR_STATUS[status]


def _summary_rows(verdict: Verdict) -> list[str]:
    ops = verdict.stats.get("operations") or {}
    if not ops or len(ops) < 4:
        return []  # scenarios are short: their notes say it all
    rows = [f"  {name:<13} " + " ".join(f"{k}={v}" for k, v in sorted(row.items())) for name, row in sorted(ops.items())]
    outcomes = verdict.stats.get("outcomes") or {}
    if outcomes:
        rows.append("  outcomes      " + " ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))
    return rows


def _cmd_replay(args: argparse.Namespace) -> int:
    from race_harness.replay import replay

    result = replay(args.bundle, bundle_dir=args.bundle_dir)
    print(result.describe())
    print(f"timeline of the recorded run: {_timeline_of(args.bundle)}")
    return FOR_STATUS[result.verdict.status]


def _timeline_of(bundle: str) -> str:
    """The bundle's timeline.html, drawn now if the bundle predates timelines."""
    from race_harness.timeline import PAGE, write_timeline

    path = os.path.join(bundle, PAGE)
    return path if os.path.isfile(path) else write_timeline(bundle)
