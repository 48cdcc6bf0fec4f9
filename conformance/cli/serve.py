"""``rollout-conformance serve --store S``: expose any selected store as a stdio protocol program.

Contract: the protocol owns file descriptor 1; anything else the process prints (including a store's
stray ``print``) goes to stderr, so it can never corrupt the JSON lines.
Run standalone with ``python -m conformance.cli.serve --store S``.
"""

from __future__ import annotations

import argparse
import os
import sys

from conformance.api.exit_codes import INCONCLUSIVE
from conformance.api.errors import Inconclusive
from conformance.protocol.wire import encode_result
from conformance.protocol.server import serve
from conformance.stores.selection import FORMS, SelectionError, open_store

_DESCRIPTION = "Serve the selected store over the stdio protocol (PROTOCOL.md) on stdin/stdout."


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` sub-command; it sets ``func`` to :func:`run` (returns an exit status)."""
    parser = subparsers.add_parser("serve", help=_DESCRIPTION, description=_DESCRIPTION)
    _add_arguments(parser)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", required=True, metavar="S", help=f"the store to serve; one of: {FORMS}")
    parser.add_argument("--declare", metavar="CAPS",
                        help="declare only these capabilities (comma-separated, e.g. reader,writer) of what the "
                             "store offers: a narrower profile of a full store, as a third party would declare it")
    parser.add_argument("--no-reopen", action="store_true",
                        help="do not declare the reopen capability: every session of a client then starts a new "
                             "process (as a program without reopen would)")
    parser.set_defaults(func=run)


class _Narrowed:
    """The store, with a handshake that declares only some of its capabilities (the server then
    refuses the other operations with ``unsupported``, ERR-009)."""

    def __init__(self, store, declared: tuple[str, ...]) -> None:
        self._store = store
        self._declared = declared

    def hello(self):
        from dataclasses import replace

        hello = self._store.hello()
        offered = set(encode_result("hello", hello)["capabilities"])
        keep = tuple(c for c in self._declared if c in offered)
        return replace(hello, capabilities=keep, failpoints=hello.failpoints if "failpoints" in keep else ())

    def __getattr__(self, name):
        return getattr(self._store, name)


def run(args: argparse.Namespace) -> int:
    """Serve ``args.store`` until shutdown or end of input; 2 when the selection is unusable."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    try:
        store = _open(args)
    except SelectionError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    with protocol_out:
        try:
            serve(store, sys.stdin.buffer, protocol_out, reopen=None if args.no_reopen else lambda: _reopen(args))
        except Inconclusive as exc:
            print(f"serve: the served store broke at protocol level: {str(exc).splitlines()[0]}", file=sys.stderr)
            return INCONCLUSIVE
    return 0


def _open(args: argparse.Namespace):
    """A new store of the selection, narrowed to ``--declare`` when given."""
    store = open_store(args.store)
    if args.declare:
        store = _Narrowed(store, tuple(c.strip() for c in args.declare.split(",") if c.strip()))
    return store


def _reopen(args: argparse.Namespace):
    """The store of the next session: a new one, with the failpoint channel dropped and re-read from the
    environment, so nothing of the last session (its controller's connection) carries over."""
    from reference import failpoints

    failpoints.reload_from_environment()
    return _open(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m conformance.cli.serve``."""
    parser = argparse.ArgumentParser(prog="python -m conformance.cli.serve", description=_DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
