"""Coordination-protocol mutants: the locks and identity checks of SPEC section 5, one at a time."""

from __future__ import annotations

import os

from reference.appending import Appender
from reference.compression import Compressor
from reference.coordination import Held
from reference.home import Location
from reference.lifecycle import Lifecycle
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery
from conformance.stores.mutants.writing import ZstUnlocked

MUTANTS = Gallery()


class _UnlockedAppender(Appender):
    """Upstream's writer as merged: O_APPEND on plain (materializing first), no lock of any scheme,
    no identity check."""

    def writer_locks(self, location: Location) -> Held:
        return Held()

    def guard(self, fd: int, location: Location) -> None:
        pass

    def still_current(self, fd: int, path: str) -> bool:
        return True


class _StatRecheckCompressor(Compressor):
    """Upstream as merged: no lock of any scheme, a re-check of size, mtime and mode by path."""

    def writer_present(self, location: Location, fd: int) -> bool:
        return False

    def claim(self, location: Location, fd: int) -> Held:
        return Held()

    def lockless_writer(self, fd: int, location: Location, st: os.stat_result) -> None:
        return None  # upstream looks for no open descriptor either

    def unchanged(self, fd: int, location: Location, st: os.stat_result) -> bool:
        try:
            now = os.stat(location.plain, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return (now.st_size, now.st_mtime_ns, now.st_mode) == (st.st_size, st.st_mtime_ns, st.st_mode)


@MUTANTS.store(
    "upstream-stat-recheck", ("COORD-001", "COORD-003", "COORD-004", "COORD-009", "COORD-013", "CTL-001", "CTL-003"),
    "upstream as merged: writers hold no lock, the compressor takes no LOCK_EX and re-checks only "
    "size, mtime and mode before unlinking; a writer that opened the file earlier writes into the "
    "unlinked inode (R2), a writer idle for 7+ days loses every later line (R12), and a replaced "
    "file with the same size/mtime/mode passes the check (R7)",
    scenarios=("r2-writer-vs-unlink", "r12-idle-writer", "r7-aba"),
)
class UpstreamStatRecheck(ReferenceStore):
    compressor_class = _StatRecheckCompressor
    appender_class = _UnlockedAppender


@MUTANTS.store(
    "materialize-no-lock", ("COORD-007",),
    "a materializer that decodes without LOCK_EX on the .zst: archive, delete and a second "
    "materializer run beside it (R6, R8, R9)",
    scenarios=("r6-two-materializers",),
)
class MaterializeNoLock(ReferenceStore):
    materializer_class = ZstUnlocked


class _MovesWhatItFinds(Lifecycle):
    """Renames the first representation it finds, unlocked and without looking for the other one."""

    def lock_for_move(self, fd: int, compressed: bool, location: Location) -> None:
        pass

    def hold_for_move(self, location: Location) -> Held:
        return Held()

    def refuse_pair(self, location: Location) -> None:
        pass


@MUTANTS.store(
    "archive-races-materialize", ("LIFE-004", "COORD-008", "CTL-005"),
    "archive that renames whatever it finds first, without locking it or checking for the other "
    "representation: racing a materialize leaves the rollout both active and archived (R8)",
    scenarios=("r8-archive-vs-materialize",),
)
class ArchiveRacesMaterialize(ReferenceStore):
    lifecycle_class = _MovesWhatItFinds
