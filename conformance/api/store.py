"""The operations every store under test offers, as one Python interface.

Every way of selecting a store (``reference``, ``py:``, ``cmd:``, ``mutant:``) yields an object
that satisfies :class:`Store`.  The stdio protocol (PROTOCOL.md) is this interface spelled as JSON
lines: one request per method, same names, same fields.  Paths are *relative to the home* (for
example ``sessions/2025/01/03/rollout-2025-01-03T12-00-00-<uuid>.jsonl``); a store accepts the
logical ``.jsonl`` path or the physical ``.jsonl.zst`` path for any operation.  Lines are text
without their trailing newline; the store adds exactly one ``\\n``.

Failures are raised as :class:`reference.errors.StoreError` subclasses whose ``kind`` is one of
:data:`reference.errors.ERROR_KINDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from conformance.api.errors import UnsupportedError

#: The version of the stdio protocol (PROTOCOL.md) this package speaks and a store's handshake names.
PROTOCOL_VERSION = 1

#: A rollout id as it appears in a file name: a UUID, either case (SPEC.md section 1).
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

#: Capability profiles a store may declare in its handshake.  ``full`` means all of them.
#: ``discovery`` is the part of ``reader`` a tool that only enumerates sessions offers: list and find.
CAPABILITIES = ("reader", "discovery", "writer", "compressor", "lifecycle", "failpoints")

#: What ``suite --profile`` accepts: one capability's tests (with what it includes), or all of them.
PROFILES = ("discovery", "reader", "writer", "compressor", "lifecycle", "full")

#: Areas of a home a store may declare it reads (``hello.scope``); a tool that ignores the archive
#: declares ``("sessions",)`` and archive-only tests skip for it with that reason.
SCOPES = ("sessions", "archived_sessions")


def effective_capabilities(declared) -> frozenset[str]:
    """The declared capabilities plus what they include (``reader`` includes ``discovery``)."""
    return frozenset(declared) | ({"discovery"} if "reader" in declared else set())

#: Narrower capabilities, for a store that cannot honour a whole profile byte for byte: each unlocks
#: only the ops listed and no SPEC.md requirement is judged through it (the race harness uses it).
#: ``session-writer``: the line given to ``write`` becomes the text of a user message the store
#: records in lines of its own (e.g. codex's ``event_msg``/``user_message`` line), not those bytes.
NARROW_CAPABILITIES = {"session-writer": ("open_writer", "write", "close_writer")}

#: Coordination schemes a store may declare it follows (SPEC.md section 5): every writer lock of each
#: declared scheme is held by its writers, every one is probed by its compressor.  None declared:
#: the store is judged by outcomes alone (no lost line, no raw bytes in a .zst, ...).
COORDINATION_SCHEMES = ("inode-flock", "codex-thread-locks")

#: Worker/compress outcomes, as upstream names them (plus the reference's extra skip reasons).
OUTCOMES = (
    "compressed",
    "skipped_not_cold",
    "skipped_changed",
    "skipped_busy",
    "skipped_already_compressed",
    "skipped_incomplete_tail",
    "skipped_not_rollout",
    "skipped_fork_base",
    "failed",
)


class UndeclaredCapabilityError(UnsupportedError):
    """An op was asked of a store that did not declare its capability (the suite skips such a test)."""

    def __init__(self, message: str, capability: str | None) -> None:
        super().__init__(message)
        self.capability = capability


@dataclass(frozen=True)
class Hello:
    """What a store says about itself before any operation."""

    protocol: int
    name: str
    version: str
    capabilities: tuple[str, ...]
    failpoints: tuple[str, ...] = ()
    coordination: tuple[str, ...] = ()  # schemes of COORDINATION_SCHEMES the store follows
    scope: tuple[str, ...] = SCOPES  # the areas of the home it reads


@dataclass(frozen=True)
class ReadResult:
    """The logical content of one rollout as the store read it."""

    content: bytes  # every byte of the selected representation, decoded if compressed
    items: int  # lines that parsed as JSON objects
    parse_errors: int  # complete lines that did not parse (torn, junk, invalid UTF-8)
    representation: str  # "plain" or "zst"
    physical_path: str  # relative to home


@dataclass(frozen=True)
class RolloutEntry:
    """One logical rollout as listing / lookup reports it."""

    path: str  # logical .jsonl path, relative to home
    physical_path: str  # the selected representation, relative to home
    id: str  # the UUID from the file name
    archived: bool
    representation: str  # "plain" or "zst"
    mtime_ns: int  # of the selected representation


@dataclass(frozen=True)
class SearchHit:
    path: str  # logical path
    line_number: int  # 1-based


@dataclass(frozen=True)
class WorkerReport:
    """The outcome of one worker run (or of ``compress`` for one rollout)."""

    ran: bool  # False when another run held the home (nothing was touched)
    outcomes: dict[str, str] = field(default_factory=dict)  # logical path -> outcome
    bytes_before: int = 0
    bytes_after: int = 0
    temps_removed: tuple[str, ...] = ()
    reconciled: tuple[str, ...] = ()


@dataclass(frozen=True)
class CleanupReport:
    temps_removed: tuple[str, ...]
    reconciled: tuple[str, ...]  # logical paths whose duplicate representation was resolved
    conflicts: tuple[str, ...]  # logical paths left with both representations (diverged)


@runtime_checkable
class Store(Protocol):
    """One store under test, bound to one home after :meth:`configure`."""

    def hello(self) -> Hello: ...

    def configure(self, home: str, cold_after_seconds: float) -> None:
        """Bind to ``home``; a rollout is cold when its mtime is at least this old (0: all)."""

    # reader
    def read(self, path: str) -> ReadResult: ...
    def header(self, path: str) -> dict:
        """The ``session_meta`` payload (errors: not_a_rollout)."""
    def list(self, archived: bool = False) -> list[RolloutEntry]:
        """Logical rollouts, newest first by the selected representation's mtime."""
    def find(self, rollout_id: str) -> RolloutEntry | None: ...
    def search(self, text: str, archived: bool = False) -> list[SearchHit]: ...

    # writer
    def create(self, path: str, lines: list[str]) -> str: ...
    def append(self, path: str, lines: list[str]) -> str:
        """Short append: materialize if needed, write each line with one write, close."""
    def open_writer(self, path: str) -> str:
        """A long-lived writer handle (an opaque token)."""
    def write(self, handle: str, line: str) -> None: ...
    def close_writer(self, handle: str) -> None: ...
    def materialize(self, path: str) -> bool:
        """Make the plain representation exist; True if a .zst was decoded."""

    # compressor
    def compress(self, path: str) -> str:
        """Compress one rollout now (ignores the run lock, honours the cold rule); an outcome."""
    def run_worker(self) -> WorkerReport: ...
    def cleanup(self) -> CleanupReport: ...

    # lifecycle
    def archive(self, path: str) -> str: ...
    def unarchive(self, path: str) -> str: ...
    def delete(self, path: str) -> None: ...

    def close(self) -> None:
        """Release everything (writer handles, child processes)."""
