"""``rollout-conformance``: one console script; each area registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys

from conformance.cli.contract import apply_contract, run_with_contract

#: The module that registers each subcommand.  Only the module of the command being run is
#: imported, so a hot command (``serve``, ``read``, ``compress``, ...) never pays for pytest,
#: hypothesis, jsonschema or the race harness; ``tests/cli/test_cli_imports.py`` fails when a
#: registered subcommand is missing here or a hot command imports one of them.
COMMANDS: dict[str, str] = {
    "check": "conformance.cli.check",
    **dict.fromkeys(("demo-home", "compress", "read", "list", "find", "search", "materialize", "cleanup"),
                    "conformance.cli.home"),
    "suite": "conformance.cli.suite",
    "serve": "conformance.cli.serve",
    "race": "conformance.cli.race",
    "soak": "conformance.cli.soak",
    "replay": "conformance.cli.race",
    "interop": "conformance.cli.interop",
    "mutants": "conformance.cli.selftest",
    "selftest": "conformance.cli.selftest",
    "diff": "conformance.cli.diff",
    "report": "conformance.cli.views",
    "timeline": "conformance.cli.views",
    "codex": "conformance.cli.codex",
    "versions": "conformance.cli.versions",
    "reader-check": "conformance.cli.reader_check",
    "probe": "conformance.cli.probe",
    "matrix": "conformance.cli.matrix",
}


def build_parser(modules: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser with the subcommands of ``modules`` (default: every module in COMMANDS)."""
    parser = argparse.ArgumentParser(
        prog="rollout-conformance",
        description="Reference store, conformance suite and race harness for .jsonl/.jsonl.zst rollout stores.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in dict.fromkeys(modules or COMMANDS.values()):
        importlib.import_module(name).register(subparsers)
    return apply_contract(parser, subparsers)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command_module = COMMANDS.get(argv[0]) if argv else None
    return run_with_contract(build_parser([command_module] if command_module else None), argv,
                             lambda args: args.func(args))

