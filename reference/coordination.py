"""The coordination seam: the one object appenders, materializers, the compressor and lifecycle ask
"take the writer locks" and "claim this rollout for replacing or removing it".

Contract: a :class:`Coordination` follows every scheme it was built with (SPEC.md section 5): a
writer holds every scheme's writer lock, a claim succeeds only when no scheme sees a writer.  The
reference follows both ``inode-flock`` and ``codex-thread-locks`` by default, so it is safe next to
a running codex and next to any ``inode-flock`` store; ``reference:<scheme>`` selects one alone.
Variants (the mutant gallery) override one step of one scheme class, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reference import thread_locks
from conformance.api.errors import BadRequestError
from reference.home import Home, Location
from reference.locks import lock, lock_with_timeout, unlock

INODE_FLOCK = "inode-flock"
CODEX_THREAD_LOCKS = "codex-thread-locks"
SCHEMES = (INODE_FLOCK, CODEX_THREAD_LOCKS)

# A writer may have to wait for a codex writer's exclusive thread lock, or for a short append's
# inode lock: long enough for those, short enough that the caller hears `busy`, never hangs.
WRITER_LOCK_TIMEOUT = 30.0
# The compressor only waits out someone else's brief coordination step, never a writer.
PUBLISH_CLAIM_TIMEOUT = 2.0


class Held:
    """Something a scheme holds for a writer or a claim; ``release`` is idempotent."""

    def release(self) -> None:
        """Nothing to release: the scheme had nothing to hold."""


@dataclass
class _Holds(Held):
    parts: list[Held] = field(default_factory=list)

    def release(self) -> None:
        while self.parts:
            self.parts.pop().release()


@dataclass
class _InodeUnlock(Held):
    fd: int

    def release(self) -> None:
        unlock(self.fd)


class Scheme:
    """One coordination scheme; the default of every step is "this scheme has nothing to do"."""

    name = ""

    def writer_lock(self, home: Home, location: Location) -> Held:
        """Taken before a writer opens, creates or materializes the rollout; held until it closes."""
        return Held()

    def guard_handle(self, fd: int, location: Location) -> None:
        """Called on a writer's freshly opened plain handle, before its identity is re-checked."""

    def claim(self, home: Home, location: Location, fd: int | None, wait: float) -> Held | None:
        """Exclusive right to replace or remove the rollout (``fd``: our handle on the plain file,
        if any); None when a writer of this scheme is present."""
        return Held()

    def hold_for_move(self, home: Home, location: Location) -> Held:
        """Held while archive/unarchive renames the rollout (writers keep writing into the inode)."""
        return Held()


class InodeFlock(Scheme):
    """Locks on the data inode itself (SPEC.md 5.2): ``LOCK_SH`` by writers, ``LOCK_EX`` to replace."""

    name = INODE_FLOCK

    def guard_handle(self, fd: int, location: Location) -> None:
        lock_with_timeout(fd, False, WRITER_LOCK_TIMEOUT, location.rel)

    def claim(self, home: Home, location: Location, fd: int | None, wait: float) -> Held | None:
        if fd is None:
            return Held()
        if wait > 0:
            lock_with_timeout(fd, True, wait, location.rel)
        elif not lock(fd, exclusive=True, wait=False, path=location.rel):
            return None
        return _InodeUnlock(fd)


class CodexThreadLocks(Scheme):
    """codex 0.171.0's lock files (SPEC.md 5.6): ``<id>.lock`` per writer under ``.coordination.lock``."""

    name = CODEX_THREAD_LOCKS

    def writer_lock(self, home: Home, location: Location) -> Held:
        held = thread_locks.ThreadWriterLock(home.root, location.name.id, self.sweep_stale)
        held.acquire(WRITER_LOCK_TIMEOUT)
        return held

    def sweep_stale(self, home_root: str, keep: str | None) -> list[str]:
        """Remove lock files nobody holds (under the coordination lock, each under its own LOCK_EX)."""
        return thread_locks.sweep_stale(home_root, keep)

    def claim(self, home: Home, location: Location, fd: int | None, wait: float) -> Held | None:
        return thread_locks.claim_for_publish(home.root, location.name.id, max(wait, PUBLISH_CLAIM_TIMEOUT))

    def hold_for_move(self, home: Home, location: Location) -> Held:
        # A codex compressor holds the coordination lock from its probe to its unlink: renaming
        # under the same lock keeps a rollout from ending up both active and archived (R8).
        return thread_locks.CoordinationLock(home.root).acquire(PUBLISH_CLAIM_TIMEOUT)


SCHEME_CLASSES: dict[str, type[Scheme]] = {INODE_FLOCK: InodeFlock, CODEX_THREAD_LOCKS: CodexThreadLocks}


class Coordination:
    """Every scheme of one store, bound to its home; the only place appenders and compressors ask."""

    def __init__(self, home: Home, schemes: tuple[Scheme, ...]) -> None:
        self.home = home
        self.schemes = schemes

    @classmethod
    def following_all(cls, home: Home) -> "Coordination":
        """The reference's default: every scheme, so it is safe beside any declared-scheme store."""
        return cls(home, tuple(scheme_class() for scheme_class in SCHEME_CLASSES.values()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(scheme.name for scheme in self.schemes)

    def writer_locks(self, location: Location) -> Held:
        """Every scheme's writer lock for ``location`` (all or nothing)."""
        holds = _Holds()
        try:
            for scheme in self.schemes:
                holds.parts.append(scheme.writer_lock(self.home, location))
        except BaseException:
            holds.release()
            raise
        return holds

    def guard_handle(self, fd: int, location: Location) -> None:
        for scheme in self.schemes:
            scheme.guard_handle(fd, location)

    def claim(self, location: Location, fd: int | None, wait: float = 0.0) -> Held | None:
        """Every scheme's claim, in order; None (nothing held) as soon as one sees a writer.

        ``wait`` > 0 waits that long for writers (delete); 0 means "busy is an answer" (compress).
        """
        holds = _Holds()
        try:
            for scheme in self.schemes:
                part = scheme.claim(self.home, location, fd, wait)
                if part is None:
                    holds.release()
                    return None
                holds.parts.append(part)
        except BaseException:
            holds.release()
            raise
        return holds

    def hold_for_move(self, location: Location) -> Held:
        holds = _Holds()
        try:
            for scheme in self.schemes:
                holds.parts.append(scheme.hold_for_move(self.home, location))
        except BaseException:
            holds.release()
            raise
        return holds

    def writer_present(self, location: Location, fd: int | None) -> bool:
        """A cheap probe (claim and release at once), used before expensive work."""
        claim = self.claim(location, fd)
        if claim is None:
            return True
        claim.release()
        return False


def schemes_named(names: tuple[str, ...]) -> tuple[Scheme, ...]:
    unknown = [name for name in names if name not in SCHEME_CLASSES]
    if unknown:
        raise BadRequestError(f"unknown coordination scheme(s) {unknown}; known: {', '.join(SCHEMES)}")
    return tuple(SCHEME_CLASSES[name]() for name in names)


__all__ = [
    "CODEX_THREAD_LOCKS",
    "INODE_FLOCK",
    "SCHEMES",
    "CodexThreadLocks",
    "Coordination",
    "Held",
    "InodeFlock",
    "Scheme",
    "schemes_named",
]
