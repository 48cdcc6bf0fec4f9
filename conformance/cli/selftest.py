"""``rollout-conformance mutants`` and ``selftest``: list the gallery; prove the suite catches every mutant.

Contract: what ``selftest`` runs and how it judges is :mod:`conformance.selftest.gallery_run`; this module
parses the command line, prints the table and the summary, and writes ``--report``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from conformance.api.exit_codes import INTERRUPTED
from conformance.runtime import interrupts
from conformance.runtime.workfolder import WorkFolder
from conformance.selftest.gallery_run import SelftestInterrupted, header_line, selftest
from conformance.selftest import gallery_run


def _cmd_mutants(args: argparse.Namespace) -> int:
    from conformance.stores.mutants import MUTANTS

    for m in MUTANTS.values():
        race = f"  race: {', '.join(m.scenarios)}" if m.scenarios and args.verbose else ""
        print(f"{m.name:<28} {m.kind:<8} breaks {', '.join(m.breaks)}{race}")
        if args.verbose:
            print(textwrap.fill(m.mirrors, 100, initial_indent="    ", subsequent_indent="    "))
    from conformance.stores.mutants.variants import VARIANTS

    print("\ncorrect variants (variant:<name>; they must pass what the reference passes, never counted as caught):")
    for v in VARIANTS.values():
        print(f"{v.name:<28} {'correct':<8} {v.differs if args.verbose else ''}".rstrip())
    return 0


def _cmd_selftest(args: argparse.Namespace) -> int:
    from conformance.stores.mutants import MUTANTS

    interrupts.stop_children_at_once()  # each suite run is judged whole; a cut one is simply not judged

    unknown = [n for n in args.only or [] if n not in MUTANTS]
    if unknown:
        print(f"selftest: unknown mutants {unknown}; see `rollout-conformance mutants`", file=sys.stderr)
        return 2
    race = args.race if args.race is not None else not args.quick
    started = time.monotonic()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    folder = WorkFolder(tempfile.mkdtemp(prefix="rollout-selftest-", dir=args.keep), given=False, keep=False)
    print(header_line(), flush=True)
    try:
        rows = selftest(args.only, args.quick, race, args.jobs, folder.path,
                        log=lambda line: print(line, flush=True))
    except SelftestInterrupted as stop:
        rows, planned = stop.rows, stop.planned
    else:
        planned = len(rows)
    interrupted = len(rows) < planned
    bad = [r for r in rows if not r.ok]
    if args.keep and not interrupted:
        kept = os.path.join(args.keep, "last")
        subprocess.run(["rm", "-rf", kept], check=False)
        os.rename(folder.path, kept)
        print(f"pytest logs and JSON reports kept in {kept}")
    if interrupted:
        print(f"\nselftest: interrupted: the table above is partial ({len(rows)} of {planned} rows judged, "
              f"{len(bad)} not ok so far); the rest were stopped or never started")
    else:
        print(f"\n{len(rows) - 1} mutants: "
              f"{sum(r.verdict == 'caught' for r in rows)} caught, "
              f"{sum(r.verdict == 'inconclusive' for r in rows)} programs inconclusive, "
              f"{sum(r.verdict == 'survived' for r in rows)} survived, "
              f"{sum(r.verdict == 'wrong-id' for r in rows)} caught under the wrong id; "
              f"reference {rows[0].verdict}; {time.monotonic() - started:.0f} s")
    if args.report:
        Path(args.report).write_text(json.dumps({
            "quick": args.quick, "race": race, "ok": not bad and not interrupted, "interrupted": interrupted,
            "rows": [r.as_dict() for r in rows]}, indent=2) + "\n")
        print(f"report written to {args.report}")
    if os.path.isdir(folder.path):
        status = "interrupted" if interrupted else "failed" if bad else "passed"
        line = folder.finish(status)
        if line:
            print(line, flush=True)
    return INTERRUPTED if interrupted else 1 if bad else 0


def _add_selftest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="per mutant, only the tests tagged with its ids, stop at the first failure; no race")
    p.add_argument("--race", dest="race", action="store_true", default=None, help="run race scenarios (default: not with --quick)")
    p.add_argument("--no-race", dest="race", action="store_false", help="skip the race scenarios")
    p.add_argument("--only", nargs="+", metavar="MUTANT", help="these mutants only (the reference always runs)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="suite runs at once (default: cores)")
    p.add_argument("--report", metavar="FILE", help="write the table as JSON here")
    p.add_argument("--keep", metavar="DIR", help="keep each run's pytest log and JSON report in DIR/last")
    p.set_defaults(func=_cmd_selftest, validate=_selftest_problem)


def _selftest_problem(args: argparse.Namespace) -> str:
    """The usage problem of a selftest command line, found before any suite runs, or ""."""
    from conformance.stores.mutants import MUTANTS

    if args.jobs < 1:
        return f"--jobs {args.jobs}: at least one suite must run at a time"
    unknown = [n for n in args.only or [] if n not in MUTANTS]
    if unknown:
        return f"unknown mutants {unknown}; see `rollout-conformance mutants`"
    return ""


def register(subparsers) -> None:
    m = subparsers.add_parser("mutants", help="list the deliberately broken stores and what each breaks")
    m.add_argument("-v", "--verbose", action="store_true", help="also say what upstream behaviour each mirrors")
    m.set_defaults(func=_cmd_mutants)
    s = subparsers.add_parser(
        "selftest", help="run the suite against every mutant and the reference; fail if a mutant survives",
        description=gallery_run.__doc__.split("\n\n")[1] if gallery_run.__doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_selftest_arguments(s)
