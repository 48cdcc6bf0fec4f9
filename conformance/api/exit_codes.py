"""The one exit-code table every ``rollout-conformance`` subcommand follows, as constants and help text.

Contract: a subcommand returns one of :data:`PASSED`, :data:`FAILED`, :data:`USAGE`,
:data:`INCONCLUSIVE` or :data:`INTERRUPTED`; :data:`TABLE` is what README and every ``--help`` print.
"""

from __future__ import annotations

import sys

PASSED = 0  # conforms / no violation / the command did what was asked
FAILED = 1  # a requirement failed, a violation was found, a mutant survived
USAGE = 2  # nothing was run: a bad option, bound, store selection or path
INCONCLUSIVE = 3  # something could not be judged (a store that broke at protocol level, a missed event)
INTERRUPTED = 4  # SIGINT or SIGTERM: children stopped, partial verdict printed
#: ``reference`` commands over a home: done, but something could not be read (each one named on stderr).
UNREADABLE = 5

TABLE = (
    (PASSED, "conforms / no violation found / done"),
    (FAILED, "a requirement failed or a violation was found"),
    (USAGE, "usage error: bad option, bound, path or store selection (nothing was run)"),
    (INCONCLUSIVE, "inconclusive: something could not be judged"),
    (INTERRUPTED, "interrupted (SIGINT/SIGTERM): children stopped, partial verdict printed"),
    (UNREADABLE, "reference home commands only: done, but some files or folders could not be read"),
)

EPILOG = "exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in TABLE)

#: What a verdict word maps to, for every command that ends in one.
FOR_STATUS = {
    "passed": PASSED,
    "violation": FAILED,
    "failed": FAILED,
    "inconclusive": INCONCLUSIVE,
    "interrupted": INTERRUPTED,
}


def usage_error(command: str, message: str) -> int:
    """Print ``command: message`` on stderr as one line and return :data:`USAGE`."""
    print(f"{command}: {message}", file=sys.stderr)
    return USAGE
