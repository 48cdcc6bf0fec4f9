"""Stdio-protocol programs that misbehave at protocol level; the suite must call them inconclusive.

Each ``*.py`` here is a script run with ``sys.executable``; it serves the reference store through
:mod:`conformance.stores.mutants.programs._misbehave` and breaks the protocol in one way.  The factories
return a :class:`conformance.protocol_client.CommandStore` with a short timeout, so a hang costs
seconds, not the client's default 30 s per test.
"""

from __future__ import annotations

import os
import shlex
import sys

from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()
HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 3.0


def command_line(script: str) -> str:
    """The ``cmd:`` command line that runs ``script`` (a file of this folder)."""
    return f"{shlex.quote(sys.executable)} {shlex.quote(os.path.join(HERE, script))}"


def _factory(script: str):
    def factory():
        from conformance.protocol.client import CommandStore

        return CommandStore(command_line(script), timeout=TIMEOUT)

    factory.__name__ = f"program_{script.removesuffix('.py').replace('-', '_')}"
    factory.script = script
    return factory


MUTANTS.program(
    "program-hangs", ("ERR-001",),
    "a store program that stops answering after configure (a deadlock on its own lock, a blocking "
    "read on a FIFO): the suite must time out and say inconclusive, not wait forever or pass",
    _factory("hangs.py"),
)
MUTANTS.program(
    "program-crashes", ("ERR-001",),
    "a store program that dies (SIGKILL, panic) in the middle of a session, after configure",
    _factory("crashes.py"),
)
MUTANTS.program(
    "program-invalid-json", ("ERR-001",),
    "a store program whose stdout carries a debug print instead of the JSON response line",
    _factory("invalid_json.py"),
)
MUTANTS.program(
    "program-lies-version", ("ERR-009",),
    "a store program whose hello claims a protocol version it does not speak",
    _factory("lies_version.py"),
)
MUTANTS.program(
    "program-lies-capabilities", ("ERR-009",),
    "a store program that declares every capability in hello, then answers writer, compressor "
    "and lifecycle operations with unsupported",
    _factory("lies_capabilities.py"),
)
MUTANTS.program(
    "program-mutes-failpoints", ("RECOVER-005", "RECOVER-006"),
    "a store program that declares failpoints in its hello but never reports reaching one (a port "
    "that kept the list and dropped the channel): every failpoint-driven test and scenario must end "
    "inconclusive, naming the point, never pass",
    _factory("mutes_failpoints.py"),
)
