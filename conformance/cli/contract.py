"""What every subcommand of ``rollout-conformance`` promises, applied once to the whole parser.

Contract: :func:`apply_contract` gives every (sub)command the exit-code table as epilog, help that
shows each option's default, and ``--version``; :func:`run_with_contract` checks bounds (a
subcommand's ``validate``), output paths and every store selection before any work, turns SIGINT and
SIGTERM into exit 4 with every child stopped, and a closed stdout into a quiet exit.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable

import conformance

from conformance.runtime import interrupts
from conformance.api.exit_codes import INTERRUPTED, TABLE, usage_error

#: Attributes that name a file a command will write: checked to be writable before the run.
OUTPUT_ATTRIBUTES = ("report", "junitxml", "save_regression", "html", "markdown", "json")


def tool_version() -> str:
    """The version of this package (a constant: importlib.metadata costs every CLI start ~0.1 s)."""
    return conformance.__version__


def exit_code_epilog() -> str:
    """The exit-code table as printed at the end of every ``--help``."""
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in TABLE)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions and epilogs as written; shows every option's default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = "%(default)" in text or "default" in text.lower()
        if not shown and action.option_strings and action.nargs != 0 and action.default not in (
            None, argparse.SUPPRESS, [], ()
        ):
            text += " (default: %(default)s)"
        return text


def _subparsers_of(parser: argparse.ArgumentParser):
    for action in parser._actions:  # argparse has no public walk over subcommands
        if isinstance(action, argparse._SubParsersAction):
            yield action


def _apply(parser: argparse.ArgumentParser) -> None:
    if parser.formatter_class is not _Formatter:
        if not issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter) and parser.description:
            parser.description = textwrap.fill(" ".join(parser.description.split()), 100)
        if parser.epilog and not issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter):
            parser.epilog = textwrap.fill(" ".join(parser.epilog.split()), 100)
        parser.formatter_class = _Formatter
    if "exit codes:\n" not in (parser.epilog or ""):
        parser.epilog = ((parser.epilog or "").rstrip() + "\n\n" + exit_code_epilog()).lstrip()
    for group in _subparsers_of(parser):
        for sub in dict.fromkeys(group.choices.values()):
            _apply(sub)


def apply_contract(parser: argparse.ArgumentParser, subparsers) -> argparse.ArgumentParser:
    """Add ``--version``, the exit-code epilog and shown defaults to ``parser`` and every subcommand."""
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    _apply(parser)
    return parser


def _output_problem(args: argparse.Namespace) -> str:
    for name in OUTPUT_ATTRIBUTES:
        path = getattr(args, name, None)
        if not isinstance(path, str) or path in ("", "-"):
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path):
            return f"--{name.replace('_', '-')} {path}: is a folder; name a file"
        if not os.path.isdir(folder):
            return f"--{name.replace('_', '-')} {path}: folder {folder} does not exist; create it first"
        if not os.access(folder, os.W_OK):
            return f"--{name.replace('_', '-')} {path}: folder {folder} is not writable"
    return ""


def preflight(args: argparse.Namespace) -> str:
    """The one-line usage problem with ``args`` (bounds, output paths, store selections), or ""."""
    validate = getattr(args, "validate", None)
    problem = validate(args) if validate else ""
    if problem:
        return problem
    problem = _output_problem(args)
    if problem:
        return problem
    from conformance.stores.preflight import check_store, selections_in
    from conformance.stores.selection import SelectionError

    if getattr(args, "skip_store_check", False):
        return ""
    for selection in selections_in(args):
        try:
            check_store(selection)
        except SelectionError as exc:
            return str(exc)
    return ""


def checked(args: argparse.Namespace) -> str:
    """:func:`preflight` once per parsed command line (commands called directly call this first)."""
    if getattr(args, "preflight_done", False):
        return ""
    args.preflight_done = True
    return preflight(args)


def run_with_contract(parser: argparse.ArgumentParser, argv: list[str] | None,
                      run: Callable[[argparse.Namespace], int]) -> int:
    """Parse ``argv``, check it, run the command under the interrupt guard; the exit code."""
    args, unknown = parser.parse_known_args(argv)
    command = getattr(args, "command", None) or parser.prog
    if unknown and hasattr(args, "pytest_args"):
        given = " ".join(unknown + [a for a in args.pytest_args if a != "--"])
        return usage_error(command, f"{unknown[0]!r} is not a {command} option; pytest options go after --, "
                                    f"e.g. rollout-conformance {command} --store S -- {given}")
    if unknown:
        # the subcommand's own usage: the options it takes are the ones the user needs to see
        sub = next((group.choices[command] for group in _subparsers_of(parser) if command in group.choices), parser)
        sub.error(f"unrecognized arguments: {' '.join(unknown)}")
    problem = checked(args)
    if problem:
        return usage_error(command, problem)
    with interrupts.guarded():
        try:
            return run(args)
        except KeyboardInterrupt:
            print(f"{command}: interrupted before any verdict; nothing was judged", file=sys.stderr, flush=True)
            return INTERRUPTED
        except BrokenPipeError:
            # The reader of our output went away (``... | head -1``): stop quietly, no traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return INTERRUPTED
