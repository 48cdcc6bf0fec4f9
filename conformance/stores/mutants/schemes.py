"""Coordination-scheme mutants: each overrides one step of one scheme through the reference's seam
(``reference.coordination``), or declares a scheme it does not follow.

The scheme bugs are the ones a port of upstream's lock files could plausibly ship: an append path
that forgets the thread lock, a stale sweep that judges lock files by age, a compressor that lets go
of the coordination lock right after its probe.  A store that *declares* a scheme it does not follow
is a bug too: SPEC.md section 5.1 holds it to every scheme it declares.
"""

from __future__ import annotations

import os
import time

from reference import thread_locks
from reference.coordination import CODEX_THREAD_LOCKS, SCHEMES, CodexThreadLocks, Coordination, Held, InodeFlock
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()


class _DeclaresBoth(ReferenceStore):
    """Follows only the schemes in ``schemes``, but its handshake declares both."""

    def declared_coordination(self) -> tuple[str, ...]:
        return SCHEMES


@MUTANTS.store(
    "claims-codex-thread-locks", ("CTL-001", "CTL-003"),
    "an inode-flock store that declares codex-thread-locks as well without taking thread locks: next "
    "to codex its writers lose lines to codex's compressor and its compressor unlinks codex's open "
    "rollouts; the suite must hold it to the scheme it declares",
)
class ClaimsCodexThreadLocks(_DeclaresBoth):
    schemes = (InodeFlock,)


@MUTANTS.store(
    "claims-inode-flock", ("COORD-001", "COORD-003"),
    "a codex-thread-locks store (like codex itself) that declares inode-flock as well without "
    "locking the data inode: an inode-flock writer's LOCK_SH does not stop its compressor",
)
class ClaimsInodeFlock(_DeclaresBoth):
    schemes = (CodexThreadLocks,)


@MUTANTS.store(
    "append-skips-thread-lock", ("CTL-001",),
    "a short append (codex's metadata update path) that writes without taking the thread lock, while "
    "long-lived writers take it: a codex compressor probing the lock file sees no writer and unlinks "
    "the plain file under the append (R2)",
)
class AppendSkipsThreadLock(ReferenceStore):
    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        without_thread_locks = tuple(s for s in self.coord.schemes if s.name != CODEX_THREAD_LOCKS)
        self.appender_class(Coordination(self.home, without_thread_locks), self._materializer()).append(location, lines)
        return location.rel


class _SweepByAge(CodexThreadLocks):
    """Judges a lock file stale by its mtime (older than an hour), not by whether its flock is free."""

    def sweep_stale(self, home_root: str, keep: str | None) -> list[str]:
        removed = []
        folder = thread_locks.lock_dir(home_root)
        for name in sorted(os.listdir(folder)):
            if name in (thread_locks.COORDINATION_LOCK, keep) or not name.endswith(thread_locks.LOCK_SUFFIX):
                continue
            path = os.path.join(folder, name)
            if time.time() - os.stat(path).st_mtime > 3600:
                os.unlink(path)
                removed.append(name)
        return removed


@MUTANTS.store(
    "sweep-by-age", ("CTL-004",),
    "a stale-lock sweep that removes thread lock files older than an hour instead of those whose flock "
    "it can take: a session idle for a day loses its lock file, the compressor then finds no lock file, "
    "sees no writer, and compresses the rollout under the live writer (R12)",
)
class SweepByAge(ReferenceStore):
    schemes = (InodeFlock, _SweepByAge)


class _ProbeThenLetGo(CodexThreadLocks):
    """Probes the thread lock under the coordination lock, then releases both before publishing."""

    def claim(self, home, location, fd, wait):
        claim = super().claim(home, location, fd, wait)
        if claim is None:
            return None
        claim.release()
        return Held()


@MUTANTS.store(
    "probe-then-let-go", ("CTL-003",),
    "a compressor that releases the coordination lock right after probing the thread lock: a writer "
    "that registers between the probe and the unlink opens the plain file the compressor then unlinks",
)
class ProbeThenLetGo(ReferenceStore):
    schemes = (InodeFlock, _ProbeThenLetGo)
