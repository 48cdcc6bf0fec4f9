"""``rollout-conformance matrix``: the suite, interop and a short campaign per store on homes on several filesystems (issue #25)."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import sys
import tempfile

from conformance.api.exit_codes import FAILED, INCONCLUSIVE, PASSED
from conformance.api.store import PROFILES


def _cmd_matrix(args: argparse.Namespace) -> int:
    from race_harness.campaign import CampaignConfig
    from race_harness.matrix import (DEFAULT_INTEROP_STORES, DEFAULT_STORES, DEFAULT_SUITE_STORES, LAYOUTS, Plan,
                                     markdown, run_matrix)

    plan = Plan(stores=tuple(args.store or DEFAULT_STORES),
                config=CampaignConfig(seconds=args.seconds, seed=args.seed, rollouts=3),
                suite_stores=() if args.no_suite else tuple(args.suite_store or DEFAULT_SUITE_STORES),
                suite_profile=args.suite_profile, suite_select=args.suite_k or "",
                interop_stores=() if args.no_interop else tuple(args.interop_store or DEFAULT_INTEROP_STORES))
    layouts = tuple(layout for layout in LAYOUTS if not args.home or layout.label in args.home)
    scratch = tempfile.mkdtemp(prefix="matrix-", dir=args.workdir)
    print(f"matrix: {len(layouts)} home(s); suite {', '.join(plan.suite_stores) or 'none'} "
          f"(--profile {plan.suite_profile}); interop {', '.join(plan.interop_stores) or 'none'}; race "
          f"{', '.join(plan.stores)}; {args.seconds:g} s campaigns, seed {args.seed}; work folder {scratch}", flush=True)
    try:
        rows = run_matrix(plan, scratch, os.path.abspath(args.bundle_dir), layouts,
                          progress=lambda line: print(line, flush=True))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # loop images and work folders; bundles stay in --bundle-dir
    command = "rollout-conformance " + shlex.join(sys.argv[1:] if sys.argv[1:2] == ["matrix"] else ["matrix"])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = markdown(rows, command, when, plan)
    print(table, end="")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(table)
    statuses = {cell.status for row in rows for cell in row.cells} | {s.status for row in rows for s in row.suite}
    statuses |= {"violation" if cell.label not in ("safe", "inconclusive", "skipped") else cell.label
                 for row in rows for cell in row.interop}
    failed = statuses & {"violation", "failed"}
    return FAILED if failed else INCONCLUSIVE if "inconclusive" in statuses else PASSED


def _problem(args: argparse.Namespace) -> str:
    from race_harness.matrix import LAYOUTS

    labels = [layout.label for layout in LAYOUTS]
    unknown = [home for home in args.home or () if home not in labels]
    if unknown:
        return f"--home {unknown[0]!r}: not a home of the matrix; choose from: " + "; ".join(labels)
    if args.seconds <= 0:
        return f"--seconds {args.seconds:g}: a campaign needs a positive time bound"
    return ""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "matrix", help="the suite, interop and a short campaign per store on homes on tmpfs, overlayfs, ext4, xfs, "
                       "btrfs and bindfs mounts",
        description="For each home layout (tmpfs, overlayfs, ext4/xfs/btrfs loop images, a bindfs (FUSE) home seen "
                    "through one mount, and writers and compressor on two bindfs mounts that stand for two "
                    "machines, each with and without .one-writer-machine): the probe's verdict, the conformance "
                    "suite of each suite store with its homes on that filesystem, one interop campaign per "
                    "ordered pair of distinct interop stores and one seeded campaign per store. A layout that "
                    "cannot be mounted here (not root, no FUSE), or a default store that cannot be opened (codex "
                    "not installed), is skipped with the reason. Exit 1 when a cell found a violation or a suite "
                    "failed, 3 when one was inconclusive.",
    )
    p.add_argument("--store", action="append", metavar="SELECTION",
                   help="a store to race (repeatable; default: reference, reference:inode-flock, "
                        "reference:codex-thread-locks, codex:0.171.0 where installed)")
    p.add_argument("--suite-store", action="append", metavar="SELECTION",
                   help="a store to run the suite against on each home (repeatable; default: reference, "
                        "codex:0.171.0 where installed)")
    p.add_argument("--suite-profile", choices=PROFILES, default="compressor",
                   help="the suite's profile on each home (default: compressor; full takes minutes per cell)")
    p.add_argument("--suite-k", metavar="EXPR", help="only the suite tests matching this pytest -k expression")
    p.add_argument("--no-suite", action="store_true", help="no suite column")
    p.add_argument("--interop-store", action="append", metavar="SELECTION",
                   help="a store of the interop pairs (repeatable; default: reference, codex:0.171.0 where installed)")
    p.add_argument("--no-interop", action="store_true", help="no interop column")
    p.add_argument("--home", action="append", metavar="LABEL", help="only this home layout (repeatable)")
    p.add_argument("--seconds", type=float, default=3.0, help="time bound of each campaign")
    p.add_argument("--seed", type=int, default=1, help="seed of every campaign (same seed, same schedule)")
    p.add_argument("--markdown", metavar="FILE", help="also write the table here (docs/shared-homes-matrix.md)")
    p.add_argument("--bundle-dir", default="race-bundles", help="where cells with a violation leave repro bundles")
    p.add_argument("--workdir", default=None, help="where images and work folders go (default: the temp folder)")
    p.set_defaults(func=_cmd_matrix, validate=_problem)
