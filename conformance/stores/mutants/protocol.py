"""Coordination-protocol mutants: the locks and identity checks of SPEC section 5, one at a time."""

from __future__ import annotations

import os

from reference import appending, lifecycle
from reference.compression import Compressor
from reference.coordination import Coordination, Held
from conformance.api.errors import from_os_error
from reference.home import Location
from reference.locks import OPEN_FLAGS, fsync_folder
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery
from conformance.stores.mutants.writing import ZstUnlocked

MUTANTS = Gallery()


def _open_unlocked(location: Location, coord: Coordination) -> int:
    """Upstream's writer as merged: O_APPEND on plain (materializing first), no flock, no identity check."""
    if not os.path.lexists(location.plain) and os.path.lexists(location.zst):
        st = os.stat(location.zst, follow_symlinks=False)
        appending._refuse_read_only(st.st_mode, location.rel)
        appending.Materializer().materialize(location)
    try:
        fd = os.open(location.plain, os.O_WRONLY | os.O_APPEND | OPEN_FLAGS)
    except FileNotFoundError:
        return appending.open_for_append(location, coord)  # reference errors (not_found) for absent rollouts
    except OSError as exc:
        raise from_os_error(exc, location.rel) from None
    try:
        appending._refuse_read_only(os.fstat(fd).st_mode, location.rel)
    except BaseException:
        os.close(fd)
        raise
    return fd


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
    "upstream-stat-recheck", ("COORD-001", "COORD-003", "COORD-004", "COORD-009", "COORD-012", "CTL-001", "CTL-003"),
    "upstream as merged: writers hold no lock, the compressor takes no LOCK_EX and re-checks only "
    "size, mtime and mode before unlinking; a writer that opened the file earlier writes into the "
    "unlinked inode (R2), a writer idle for 7+ days loses every later line (R12), and a replaced "
    "file with the same size/mtime/mode passes the check (R7)",
    scenarios=("r2-writer-vs-unlink", "r12-idle-writer", "r7-aba"),
)
class UpstreamStatRecheck(ReferenceStore):
    compressor_class = _StatRecheckCompressor

    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        payloads = [appending.encode_line(line) for line in lines]
        fd = _open_unlocked(location, self.coord)
        try:
            for data in payloads:
                appending.write_line(fd, data, location.rel)
        finally:
            os.close(fd)
        return location.rel

    def open_writer(self, path: str) -> str:
        location = self._locate(path)
        fd = _open_unlocked(location, self.coord)
        handle = f"w{next(self._handles)}"
        self._writers[handle] = (fd, location, Held())  # upstream's writer holds no lock of any scheme
        return handle


@MUTANTS.store(
    "materialize-no-lock", ("COORD-007",),
    "a materializer that decodes without LOCK_EX on the .zst: archive, delete and a second "
    "materializer run beside it (R6, R8, R9)",
    scenarios=("r6-two-materializers",),
)
class MaterializeNoLock(ReferenceStore):
    materializer_class = ZstUnlocked


@MUTANTS.store(
    "archive-races-materialize", ("LIFE-004", "COORD-008", "CTL-005"),
    "archive that renames whatever it finds first, without locking it or checking for the other "
    "representation: racing a materialize leaves the rollout both active and archived (R8)",
    scenarios=("r8-archive-vs-materialize",),
)
class ArchiveRacesMaterialize(ReferenceStore):
    def archive(self, path: str) -> str:
        location = self._locate(path)
        if location.archived:
            return location.rel
        target = self.home.archived_location(location.name)
        if os.path.lexists(target.plain) or os.path.lexists(target.zst):
            return lifecycle.archive(self.home, location, self.coord)  # the reference's already_exists
        for source, destination in ((location.plain, target.plain), (location.zst, target.zst)):
            if os.path.lexists(source):
                os.makedirs(target.folder, mode=0o700, exist_ok=True)
                try:
                    lifecycle.rename_noreplace(source, destination)
                except OSError as exc:
                    raise from_os_error(exc, location.rel) from None
                fsync_folder(target.folder)
                return target.rel
        return lifecycle.archive(self.home, location, self.coord)  # not_found, as the reference says it

