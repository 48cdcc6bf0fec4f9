"""``rollout-conformance suite``: run the conformance tests against one store selection."""

from __future__ import annotations

import argparse
import random
from importlib.resources import files

import pytest

from .store_api import PROFILES


def suite_folder() -> str:
    return str(files("conformance").joinpath("suite"))


def pytest_arguments(args: argparse.Namespace, extra: list[str]) -> list[str]:
    folder = suite_folder()
    argv = [
        "-c", f"{folder}/suite.ini", "--rootdir", folder, "-p", "conformance.plugin",
        folder, "--store", args.store, "--profile", args.profile,
    ]
    if not any(a == "-n" or a.startswith("-n") or a.startswith("--numprocesses") for a in extra):
        argv += ["-n", "auto"]
    if args.ledger:
        argv += ["--ledger", args.ledger]
    if args.update_ledger:
        argv.append("--update-ledger")
    argv += ["--seed", str(args.seed)]
    if args.report:
        argv += ["--conformance-report", args.report]
    if args.junitxml:
        argv += ["--junitxml", args.junitxml]
    return argv + extra


def _cmd_suite(args: argparse.Namespace) -> int:
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if args.seed is None:
        args.seed = random.randrange(2**32)
    print(f"seed {args.seed} (rerun with --seed {args.seed} for the same verdicts)", flush=True)
    return int(pytest.main(pytest_arguments(args, extra)))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "suite",
        help="run the conformance suite against a store",
        description="Extra arguments after -- go to pytest (e.g. -- -k read -x).",
    )
    p.add_argument("--store", required=True, help="reference | reference:<scheme> | py:mod:factory | cmd:<command> | mutant:<name>")
    p.add_argument("--profile", choices=PROFILES, default="full")
    p.add_argument("--ledger", help="TOML file of expected failures")
    p.add_argument("--update-ledger", action="store_true", help="rewrite the ledger from this run")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the suite's random choices (default: a new one, printed; the same seed gives the same verdicts)")
    p.add_argument("--report", help="write the JSON report by requirement id here")
    p.add_argument("--junitxml", help="write JUnit XML here (for CI)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed to pytest")
    p.set_defaults(func=_cmd_suite)
