"""How the suite runs: the pytest command line for a store selection, and the exit code of its verdict."""

from __future__ import annotations

import argparse
from importlib.resources import files

import pytest

from conformance.api.exit_codes import FAILED, INCONCLUSIVE, INTERRUPTED, PASSED, USAGE

#: pytest's own exit codes, mapped to the table of conformance.exit_codes.
_FROM_PYTEST = {
    pytest.ExitCode.INTERRUPTED: INTERRUPTED,
    pytest.ExitCode.USAGE_ERROR: USAGE,
    pytest.ExitCode.NO_TESTS_COLLECTED: USAGE,
    pytest.ExitCode.INTERNAL_ERROR: INCONCLUSIVE,
}


def suite_folder() -> str:
    return str(files("conformance").joinpath("suite"))


def pytest_arguments(args: argparse.Namespace, extra: list[str]) -> list[str]:
    folder = suite_folder()
    argv = [
        "-c", f"{folder}/suite.ini", "--rootdir", folder, "-p", "conformance.suite.plugin",
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


class SuiteVerdict:
    """Remembers the suite's overall verdict (failed / inconclusive / passed) as the session ends."""

    status = ""

    def pytest_sessionfinish(self, session):
        from conformance.suite.plugin import _STATE

        if not hasattr(session.config, "workerinput") and _STATE in session.config.stash:
            self.status = session.config.stash[_STATE].summary.overall()


def exit_code(pytest_code: int, status: str) -> int:
    """The suite's exit code from pytest's and the requirement verdict (README's table)."""
    if pytest_code in _FROM_PYTEST:
        return _FROM_PYTEST[pytest_code]
    if status == "failed" or (pytest_code == pytest.ExitCode.TESTS_FAILED and status != "inconclusive"):
        return FAILED
    return INCONCLUSIVE if status == "inconclusive" else PASSED
