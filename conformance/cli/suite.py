"""``rollout-conformance suite``: run the conformance tests against one store selection."""

from __future__ import annotations

import argparse
import random
import sys

import pytest

from conformance.api.store import PROFILES
from conformance.suite.runner import SuiteVerdict, exit_code, pytest_arguments


def _cmd_suite(args: argparse.Namespace) -> int:
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if args.seed is None:
        args.seed = random.randrange(2**32)
    print(f"seed {args.seed} (rerun with --seed {args.seed} for the same verdicts)", flush=True)
    verdict = SuiteVerdict()
    code = pytest.main(pytest_arguments(args, extra), plugins=[verdict])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print("suite: no test selected (check -k, -m or --profile); nothing was judged", file=sys.stderr)
    if code == pytest.ExitCode.INTERRUPTED:
        # pytest's own last line counts what finished ("485 passed"): it must not read as the verdict
        print("suite: interrupted (exit 4): the verdicts above are partial", flush=True)
    return exit_code(code, verdict.status)


def _pytest_args_problem(args: argparse.Namespace) -> str:
    """A hint when pytest options were given without the ``--`` that separates them."""
    if args.pytest_args and args.pytest_args[0] != "--" and args.pytest_args[0].startswith("-"):
        return (f"{args.pytest_args[0]!r} is not a suite option; pytest options go after --, e.g. "
                f"rollout-conformance suite --store {args.store} -- {' '.join(args.pytest_args)}")
    return ""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "suite",
        help="run the conformance suite against a store",
        description="Extra arguments after -- go to pytest (e.g. -- -k read -x). Inconclusive tests (a store "
                    "that broke at protocol level) are JUnit 'skipped' with a message starting INCONCLUSIVE: and a "
                    "property named inconclusive; each test carries one property named requirement per SPEC.md id.",
    )
    p.add_argument("--store", required=True, help="reference | reference:<scheme> | py:mod:factory | cmd:<command> | mutant:<name>")
    p.add_argument("--profile", choices=PROFILES, default="full", help="run only the tests of this capability")
    p.add_argument("--ledger", help="TOML file of expected failures")
    p.add_argument("--update-ledger", action="store_true", help="rewrite the ledger from this run")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the suite's random choices (default: a new one, printed; the same seed gives the same verdicts)")
    p.add_argument("--report", help="write the JSON report by requirement id here (conformance/protocol/schemas/report.schema.json)")
    p.add_argument("--junitxml", help="write JUnit XML here (for CI)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed to pytest, after --")
    p.set_defaults(func=_cmd_suite, validate=_pytest_args_problem)
