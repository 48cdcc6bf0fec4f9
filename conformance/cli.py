"""``rollout-conformance``: one console script; each area registers its own subcommands."""

from __future__ import annotations

import argparse
import sys

from reference import cli as reference_cli

from race_harness import cli as race_cli
from race_harness import interop_cli

from . import check_cli, diff_cli, selftest, serve_cli, suite_cli, views_cli
from .codex import cli as codex_cli
from .reader_check import cli as reader_check_cli
from .cli_contract import apply_contract, run_with_contract


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rollout-conformance",
        description="Reference store, conformance suite and race harness for .jsonl/.jsonl.zst rollout stores.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _areas():
        module.register(subparsers)
    return apply_contract(parser, subparsers)


def _areas():
    return [check_cli, reference_cli, suite_cli, serve_cli, race_cli, interop_cli, selftest, diff_cli, views_cli,
            codex_cli, reader_check_cli]


def main(argv: list[str] | None = None) -> int:
    return run_with_contract(build_parser(), argv, lambda args: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
