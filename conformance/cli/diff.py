"""``rollout-conformance diff``: differential testing of one store against another (the reference by default)."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from conformance.api.errors import Inconclusive
from conformance.stores.selection import SelectionError, open_store

EXIT_SAME, EXIT_DIFFERENT, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def _cmd_diff(args: argparse.Namespace) -> int:
    from conformance.diff.differential import run_diff

    stores = args.store or []
    if not 1 <= len(stores) <= 2:
        print("diff: give --store A, and optionally --store B (default: reference)")
        return EXIT_USAGE
    store_a, store_b = stores[0], stores[1] if len(stores) == 2 else "reference"
    for selection in (store_a, store_b):
        try:
            open_store(selection).close()  # a selection that cannot be opened costs no run
        except SelectionError as exc:
            print(f"diff: {exc}")
            return EXIT_USAGE
        except Inconclusive as exc:
            print(f"diff: inconclusive: {selection} could not be started: {exc}")
            return EXIT_INCONCLUSIVE
    if args.steps < 1:
        print("diff: --steps must be at least 1")
        return EXIT_USAGE
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"diff {store_a} vs {store_b}: seed {seed}, {args.steps} random requests after the corpus sweep", flush=True)
    result = run_diff(store_a, store_b, seed, args.steps, args.shrink_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2) + "\n")
    if result.status == "inconclusive":
        print(f"inconclusive: {result.note}")
        return EXIT_INCONCLUSIVE
    if result.status == "same":
        print(f"no difference over {result.steps} requests (capabilities both declared: {', '.join(result.capabilities)})")
        return EXIT_SAME
    d = result.difference
    print(f"DIFFERENT after {len(d.sequence)} request(s) (shrunk; rerun with --seed {seed}):")
    for request in d.sequence:
        print(f"  > {request}")
    print(f"  {store_a} answered: {d.answer_a!r}"[:2000])
    print(f"  {store_b} answered: {d.answer_b!r}"[:2000])
    if d.disk:
        print(f"  the homes differ at: {', '.join(d.disk)}")
    print(f"  SPEC.md requirements concerned: {', '.join(d.concerns) or '(none names it yet)'}")
    return EXIT_DIFFERENT


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="send the same requests to two stores on identical homes and report the first difference",
        description="Differential testing: corpus-driven, then seeded random requests to store A and store B "
                    "(default B: reference) on identical homes; the first difference in answers or on disk is "
                    "shrunk and printed with the SPEC.md ids it concerns. Exit: 0 same, 1 different, 2 usage, "
                    "3 inconclusive.",
    )
    p.add_argument("--store", action="append", metavar="SELECTION",
                   help="store A (and, given twice, store B); any store selection")
    p.add_argument("--seed", type=int, default=None, help="seed of the random requests (default: new, printed)")
    p.add_argument("--steps", type=int, default=200, help="random requests after the corpus sweep (default 200)")
    p.add_argument("--shrink-seconds", type=float, default=60.0, help="time spent shrinking a difference (default 60)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON")
    p.set_defaults(func=_cmd_diff)
