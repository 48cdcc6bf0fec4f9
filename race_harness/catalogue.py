"""Which catalogue failpoints (SPEC.md 5.4) an operation must have reported, given how it ended.

Contract: :func:`went_through` names the points SPEC.md 5.4's table places on an operation's path
that its answer proves it passed; a store that declared them must have reported them (the judge's
guard, :func:`race_harness.judge.unearned`).
"""

from __future__ import annotations

from conformance.api.failpoints import POINTS

COMPRESS_POINTS = tuple(p for p in POINTS if p.startswith("compress."))
MATERIALIZE_POINTS = tuple(p for p in POINTS if p.startswith("materialize."))
OPEN_POINTS = ("append.after_open", "append.after_lock")
WRITE_POINTS = ("append.before_write", "append.after_write")


def went_through(kind: str, status: str, value: object, lines: int) -> tuple[str, ...]:
    """The points an operation that ended this way must have passed: only answers that prove the
    whole path (a ``compressed`` compress, a materialize that decoded, a write of at least one line)."""
    if status != "ok":
        return ()
    if kind == "compress":
        return COMPRESS_POINTS if value == "compressed" else ()
    if kind == "materialize":
        return MATERIALIZE_POINTS if value is True else ()
    if kind == "open_writer":
        return OPEN_POINTS
    if kind == "append":
        return OPEN_POINTS + WRITE_POINTS if lines else ()
    if kind in ("write", "create"):
        return WRITE_POINTS if lines else ()
    if kind == "delete":
        return ("delete.before_unlink",)
    return ()
