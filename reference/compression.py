"""Compressing one cold rollout: encode outside the exclusive lock, publish and unlink inside it.

Phase 1 encodes bytes [0, size) into a locked temp and verifies the round trip byte for byte,
while writers may still open the file.  Phase 2 claims the rollout through every coordination
scheme (``LOCK_EX|LOCK_NB`` on the plain handle; the coordination lock and the thread's lock file:
any writer makes it ``skipped_busy``, R2, R12), re-checks identity, size, mtime and mode (R1, R7),
publishes without replacing, and unlinks the plain file while still holding the claim, so no
writer can have it open for writing at that moment; a writer that takes no lock at all is looked
for in ``/proc`` just before the unlink (COORD-013), and finding one withdraws the ``.zst``.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass

from reference import codec, failpoints, open_files, reading, shared_home
from reference.coordination import Coordination
from conformance.api.errors import NotARolloutError, NotFoundError, StoreError, from_os_error
from reference.home import Home, Location
from reference.locks import create_locked_temp, discard_temp, fsync_folder, open_existing, still_at
from reference.recovery import Reconciled, reconcile_all, remove_orphaned_temps
from reference.run_lock import RunLock


@dataclass(frozen=True)
class CompressResult:
    outcome: str
    bytes_before: int = 0
    bytes_after: int = 0
    detail: str = ""


def is_cold(home: Home, mtime_ns: int, now_ns: int) -> bool:
    return now_ns - mtime_ns >= home.cold_after_seconds * 1e9


def _last_byte_is_newline(fd: int, size: int) -> bool:
    return size > 0 and os.pread(fd, 1, size - 1) == b"\n"


def _check_header(fd: int, size: int, rel: str) -> None:
    chunks = codec.read_chunks(fd, 0, size)
    reading.session_meta(chunks, rel)


class Compressor:
    """Compresses one rollout of one home; every step is a method so a variant changes exactly one.

    The steps (``is_cold`` ... ``claim``) are the places where a port can go wrong; ``compress``
    is the order SPEC.md section 5.2 gives them, and the only place that order lives.
    """

    def __init__(self, home: Home, coord: Coordination, sees_lockless_writers: bool = True) -> None:
        self.home = home
        self.coord = coord
        self.sees_lockless_writers = sees_lockless_writers

    # -- the steps ---------------------------------------------------------------------------
    def is_cold(self, st: os.stat_result) -> bool:
        return is_cold(self.home, st.st_mtime_ns, time.time_ns())

    def tail_is_complete(self, fd: int, size: int) -> bool:
        """No published `.zst` may end in a partial line (COMP-006, R3)."""
        return _last_byte_is_newline(fd, size)

    def create_temp(self, location: Location, mode: int) -> tuple[int, str]:
        return create_locked_temp(location.zst, "compress", mode)

    def publish(self, temp_path: str, zst: str) -> bool:
        """Link the temp as the `.zst`; False when one exists (never replaces, COORD-006)."""
        try:
            os.link(temp_path, zst)
        except FileExistsError:
            return False
        return True

    def discard(self, temp_fd: int, temp_path: str) -> None:
        """Drop the temp's name (after a publish the `.zst` keeps the inode) and close it."""
        discard_temp(temp_fd, temp_path)

    def encode(self, fd: int, size: int, temp_fd: int) -> int:
        return codec.encode(fd, size, temp_fd)

    def verify(self, temp_fd: int, fd: int, size: int, temp_path: str) -> bool:
        """The temp decodes to exactly the source bytes [0, size) (COMP-003)."""
        return codec.same_bytes(temp_fd, fd, size, temp_path)

    def copy_attributes(self, temp_fd: int, st: os.stat_result) -> None:
        os.fchmod(temp_fd, stat.S_IMODE(st.st_mode))
        os.utime(temp_fd, ns=(st.st_atime_ns, st.st_mtime_ns))

    def fsync_folder(self, folder: str) -> None:
        fsync_folder(folder)

    def writer_present(self, location: Location, fd: int) -> bool:
        return self.coord.writer_present(location, fd)

    def locks_not_shared(self) -> str:
        """Why no lock here can show a writer on another machine or mount (SPEC.md 5.8), or ""."""
        return shared_home.refusal(self.home.root)

    def claim(self, location: Location, fd: int):
        """Every scheme's claim (None: a writer is present)."""
        return self.coord.claim(location, fd)

    def lockless_writer(self, fd: int, location: Location, st: os.stat_result) -> CompressResult | None:
        """The outcome when a writer that takes no lock of any scheme (codex before 0.147.0, a
        third-party tool) still holds the plain file open for writing, or wrote to it and closed it,
        since the claim; None when there is none (COORD-013, SPEC.md 5.9).  Locks cannot show such a
        writer: only ``/proc`` and the file itself can.  ``reference:<scheme>`` does not look."""
        if not self.sees_lockless_writers:
            return None
        holders = open_files.writers_elsewhere(fd)
        if holders:
            return CompressResult("skipped_busy", detail=f"held open for writing by pid {holders[0]}")
        # one that appended and closed before the scan left no descriptor to find, only a longer file
        # (size and identity: an mtime set meanwhile, by an ager or a touch, loses no line)
        if not (still_at(fd, location.plain) and os.fstat(fd).st_size == st.st_size):
            return CompressResult("skipped_changed", detail="written to while the .zst was published")
        return None

    def unchanged(self, fd: int, location: Location, st: os.stat_result) -> bool:
        """Under the claim: still the same inode at the path, same size, mtime and mode (R1, R7)."""
        now = os.fstat(fd)
        return (
            still_at(fd, location.plain)
            and now.st_size == st.st_size
            and now.st_mtime_ns == st.st_mtime_ns
            and stat.S_IMODE(now.st_mode) == stat.S_IMODE(st.st_mode)
        )

    # -- the order ---------------------------------------------------------------------------
    def compress(
        self, location: Location, fork_bases: frozenset[str] = frozenset(), dry_run: bool = False
    ) -> CompressResult:
        """Compress one rollout if it is cold, complete, idle and not a fork base."""
        fd = open_existing(location.plain, os.O_RDONLY)
        if fd is None:
            if os.path.lexists(location.zst):
                return CompressResult("skipped_already_compressed")
            raise NotFoundError("no such rollout", path=location.rel)
        try:
            failpoints.hit("compress.after_open", location.rel)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return CompressResult("failed", detail="not a regular file")
            if os.path.lexists(location.zst):
                return CompressResult("skipped_already_compressed", detail="both representations present")
            if not self.is_cold(st):
                return CompressResult("skipped_not_cold")
            if not self.tail_is_complete(fd, st.st_size):
                return CompressResult("skipped_incomplete_tail")
            try:
                _check_header(fd, st.st_size, location.rel)
            except NotARolloutError as exc:
                return CompressResult("skipped_not_rollout", detail=exc.message)
            if location.name.id in fork_bases:
                return CompressResult("skipped_fork_base")
            refused = self.locks_not_shared()
            if refused:
                return CompressResult("skipped_busy", detail=refused)  # a writer may be where no lock shows it
            # Cheap early exit before the expensive encode: a live writer holds its locks.
            if self.writer_present(location, fd):
                return CompressResult("skipped_busy")
            if dry_run:
                return CompressResult("compressed", st.st_size, 0, detail="dry run")
            return self._encode_and_publish(location, fd, st)
        except StoreError as exc:
            return CompressResult("failed", detail=f"{exc.kind}: {exc}")
        except OSError as exc:
            error = from_os_error(exc, location.rel)
            return CompressResult("failed", detail=f"{error.kind}: {error}")
        finally:
            os.close(fd)

    def _encode_and_publish(self, location: Location, fd: int, st: os.stat_result) -> CompressResult:
        size = st.st_size
        temp_fd, temp_path = self.create_temp(location, stat.S_IMODE(st.st_mode))
        published = False
        claim = None
        try:
            compressed_size = self.encode(fd, size, temp_fd)
            failpoints.hit("compress.after_encode", location.rel)
            if not self.verify(temp_fd, fd, size, temp_path):
                return CompressResult("failed", detail="round trip differs from the source")
            failpoints.hit("compress.after_verify", location.rel)
            self.copy_attributes(temp_fd, st)
            os.fsync(temp_fd)
            failpoints.hit("compress.before_lock", location.rel)
            claim = self.claim(location, fd)
            if claim is None:
                return CompressResult("skipped_busy")
            failpoints.hit("compress.after_lock", location.rel)
            if not self.unchanged(fd, location, st):
                return CompressResult("skipped_changed")
            failpoints.hit("compress.before_publish", location.rel)
            if not self.publish(temp_path, location.zst):
                return CompressResult("skipped_already_compressed")
            published = True
            failpoints.hit("compress.after_publish", location.rel)
            self.fsync_folder(location.folder)
            failpoints.hit("compress.before_unlink", location.rel)
            # Last, just before the unlink, so the window left is the one from this look to the unlink.
            seen = self.lockless_writer(fd, location, st)
            if seen is not None:
                return seen
            os.unlink(location.plain)
            published = False
            failpoints.hit("compress.after_unlink", location.rel)
            self.fsync_folder(location.folder)
            return CompressResult("compressed", size, compressed_size)
        finally:
            if published and still_at(temp_fd, location.zst):
                # Failed between publish and unlink: withdraw our `.zst` so plain stays the only copy.
                os.unlink(location.zst)
            self.discard(temp_fd, temp_path)
            if claim is not None:
                claim.release()

    # -- the worker's other steps ------------------------------------------------------------
    def run_lock(self) -> RunLock:
        return RunLock(self.home)

    def reconcile_all(self) -> list[Reconciled]:
        return reconcile_all(self.home, self.coord)

    def remove_orphaned_temps(self) -> list[str]:
        return remove_orphaned_temps(self.home)
