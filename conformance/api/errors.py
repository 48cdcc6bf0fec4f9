"""Typed errors of a rollout store: every failure carries a ``kind`` from one closed set.

The kinds are the same strings the stdio protocol uses (see PROTOCOL.md), so an error raised by the
reference in process and one reported by a third-party program over the protocol compare equal.
"""

from __future__ import annotations

import errno

#: Every error kind a store may report.  Closed on purpose: the suite rejects any other string.
ERROR_KINDS = frozenset(
    {
        "not_found",  # no representation of the rollout exists
        "already_exists",  # create of a rollout that exists in either representation
        "invalid_name",  # not a rollout file name, or the id is not a UUID
        "outside_home",  # the path (or a symlink on it) leads out of the home
        "invalid_home",  # the home is missing, not a folder, or unusable
        "corrupt",  # a .zst that does not decode (bad frame, truncated, checksum mismatch)
        "not_a_rollout",  # the file has no session_meta header, or holds only junk
        "read_only",  # append asked of a rollout whose owner-write bit is clear
        "busy",  # a lock is held by a live process; retry later
        "conflict",  # both representations exist and diverge; a person must decide
        "io_error",  # the operating system refused (ENOSPC, EIO, EACCES, ...)
        "unsupported",  # the store did not declare the capability this operation needs
        "bad_request",  # a malformed request (protocol level)
        "internal",  # a bug in the store
    }
)


class StoreError(Exception):
    """A failure a caller can act on: ``kind`` says which, ``path`` says where."""

    kind = "internal"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.message} ({self.path})" if self.path else self.message


def _error_class(kind_name: str, doc: str) -> type[StoreError]:
    cls = type(
        "".join(part.capitalize() for part in kind_name.split("_")) + "Error",
        (StoreError,),
        {"kind": kind_name, "__doc__": doc},
    )
    return cls


NotFoundError = _error_class("not_found", "No representation of the rollout exists.")
AlreadyExistsError = _error_class("already_exists", "The rollout already exists.")
InvalidNameError = _error_class("invalid_name", "Not a rollout file name, or the id is not a UUID.")
OutsideHomeError = _error_class("outside_home", "The path leads out of the home.")
InvalidHomeError = _error_class("invalid_home", "The home is missing or not a folder.")
CorruptError = _error_class("corrupt", "A compressed rollout does not decode.")
NotARolloutError = _error_class("not_a_rollout", "The file has no session_meta header.")
ReadOnlyError = _error_class("read_only", "The rollout's owner-write bit is clear.")
BusyError = _error_class("busy", "A live process holds a lock on the rollout.")
ConflictError = _error_class("conflict", "Both representations exist and diverge.")
IoError = _error_class("io_error", "The operating system refused the operation.")
UnsupportedError = _error_class("unsupported", "The store did not declare this capability.")
BadRequestError = _error_class("bad_request", "A malformed request.")

_BY_KIND = {cls.kind: cls for cls in StoreError.__subclasses__()}
_BY_KIND["internal"] = StoreError


def error_for_kind(kind: str, message: str, path: str | None = None) -> StoreError:
    """Rebuild a typed error from its kind (used by protocol clients)."""
    return _BY_KIND.get(kind, StoreError)(message, path=path)


def from_os_error(exc: OSError, path: str | None = None) -> StoreError:
    """Map an OSError to the kind a caller can act on, keeping the OS message."""
    path = path or exc.filename
    if exc.errno == errno.ENOENT:
        return NotFoundError(exc.strerror or str(exc), path=path)
    if exc.errno == errno.EEXIST:
        return AlreadyExistsError(exc.strerror or str(exc), path=path)
    if exc.errno == errno.ELOOP:
        return OutsideHomeError("refusing to follow a symlink", path=path)
    return IoError(f"{errno.errorcode.get(exc.errno or 0, 'E?')}: {exc.strerror or exc}", path=path)


class Inconclusive(Exception):
    """Nothing can be concluded either way: a program broke at protocol level, or a run missed what it scheduled.

    ``stderr_tail`` and ``returncode`` are set when a store program is involved (its last stderr lines;
    its exit status once it exited, negative when killed by a signal).
    """

    def __init__(self, reason: str, stderr_tail: str | None = None, returncode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stderr_tail = stderr_tail
        self.returncode = returncode

    def __str__(self) -> str:
        if self.stderr_tail is None:
            return self.reason
        if not self.stderr_tail:
            return f"{self.reason} (the program wrote nothing on stderr)"
        return f"{self.reason}\n--- last lines the program wrote on stderr ---\n{self.stderr_tail}"

