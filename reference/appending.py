"""Appending: materialize a `.zst` before any append, then write each line with one ``write``.

An appender never creates the plain file (no ``O_CREAT``: a reopen-with-create after the worker's
unlink would hide the history in the `.zst`, R4), holds every writer lock of its coordination
schemes while writing (``LOCK_SH`` on the file, the thread's lock file: so no compressor replaces it
under the handle, R2/R12), and re-checks under the locks that its handle is still the file at the path.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from reference import codec, failpoints
from conformance.api.errors import AlreadyExistsError, BadRequestError, BusyError, IoError, NotFoundError, OutsideHomeError, ReadOnlyError, from_os_error
from reference.coordination import Coordination, Held
from reference.home import Location
from reference.locks import (
    OPEN_FLAGS,
    create_locked_temp,
    discard_temp,
    fsync_folder,
    lock_with_timeout,
    open_existing,
    still_at,
)

# Each retry means a transition completed between our open and our lock; a handful is plenty
# unless a compressor with a zero cold threshold keeps winning, which the caller hears as busy.
MAX_ATTEMPTS = 50
LOCK_TIMEOUT = 30.0
CREATE_MODE = 0o600


def _exists(path: str) -> bool:
    return os.path.lexists(path)


def _refuse_read_only(mode: int, path: str) -> None:
    if not mode & stat.S_IWUSR:
        raise ReadOnlyError("rollout is read-only (owner-write bit clear); nothing was changed", path=path)


class Materializer:
    """Decodes a `.zst` back to the plain file; every step is a method so a variant changes one.

    Holds ``LOCK_EX`` on the `.zst` from the identity check to its unlink, so archive and delete
    wait for it (R8, R9) and a second materializer finds the plain file instead (R6).
    """

    # -- the steps ---------------------------------------------------------------------------
    def create_temp(self, location: Location, mode: int) -> tuple[int, str]:
        return create_locked_temp(location.plain, "materialize", mode)

    def drop_temp_name(self, temp_path: str) -> None:
        """Once linked, the temp's own name goes; the plain file keeps the inode.

        A name already gone is fine (MAT-001): the temp and the plain file share one inode, so a
        back-dated plain file makes the temp look stale to a foreign sweeper (codex 0.171.0's pass
        removes every ``*.tmp`` older than 6 h, held or not), and failing here would leave the `.zst`
        beside a plain file that the caller was told does not exist.
        """
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass

    def discard(self, temp_fd: int, temp_path: str) -> None:
        """At the end, linked or not: the temp's name if still there, and our descriptor (its lock)."""
        discard_temp(temp_fd, temp_path)

    def lock_zst(self, zst_fd: int, location: Location) -> None:
        lock_with_timeout(zst_fd, True, LOCK_TIMEOUT, location.rel)

    def copy_mode(self, temp_fd: int, mode: int) -> None:
        os.fchmod(temp_fd, mode)

    def publish(self, temp_path: str, plain: str) -> bool:
        """Link the decoded temp into place; False when a plain file exists (never clobbers, MAT-002)."""
        try:
            os.link(temp_path, plain)
        except FileExistsError:
            return False
        return True

    def refresh_mtime(self, temp_fd: int, zst_stat: os.stat_result) -> None:
        # A fresh mtime keeps the worker from seeing the file cold before its writer appends (R5).
        now = max(time.time_ns(), zst_stat.st_mtime_ns + 1)
        os.utime(temp_fd, ns=(now, now))

    # -- the order ---------------------------------------------------------------------------
    def materialize(self, location: Location) -> bool:
        """Make the plain file exist from the `.zst`; True if this call decoded it."""
        for _ in range(MAX_ATTEMPTS):
            if os.path.islink(location.plain):
                # A symlink is not a plain representation: never report it as one (SEC-005).
                raise OutsideHomeError("refusing to materialize at a symlinked rollout path", path=location.rel)
            if _exists(location.plain):
                return False
            zst_fd = open_existing(location.zst, os.O_RDONLY)
            if zst_fd is None:
                if _exists(location.plain):
                    return False
                raise NotFoundError("no plain or compressed representation of this rollout", path=location.rel)
            try:
                self.lock_zst(zst_fd, location)
                failpoints.hit("materialize.after_lock", location.rel)
                if not still_at(zst_fd, location.zst):
                    continue  # it moved while we waited; look again
                if _exists(location.plain):
                    return False  # plain wins; the stale `.zst` is recovery's to reconcile
                return self._decode_and_publish(location, zst_fd)
            finally:
                os.close(zst_fd)
        raise BusyError("the rollout kept changing while materializing; retry later", path=location.rel)

    def _decode_and_publish(self, location: Location, zst_fd: int) -> bool:
        zst_stat = os.fstat(zst_fd)
        mode = stat.S_IMODE(zst_stat.st_mode)
        temp_fd, temp_path = self.create_temp(location, mode)
        try:
            codec.decode_into(zst_fd, temp_fd, location.rel)
            failpoints.hit("materialize.after_decode", location.rel)
            self.copy_mode(temp_fd, mode)
            os.fsync(temp_fd)
            failpoints.hit("materialize.before_link", location.rel)
            if not self.publish(temp_path, location.plain):
                return False
            failpoints.hit("materialize.after_link", location.rel)
            self.refresh_mtime(temp_fd, zst_stat)
            self.drop_temp_name(temp_path)  # our descriptor keeps the new plain file locked (COORD-007)
            fsync_folder(location.folder)
            failpoints.hit("materialize.before_unlink", location.rel)
            os.unlink(location.zst)
            failpoints.hit("materialize.after_unlink", location.rel)
            fsync_folder(location.folder)
            return True
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            # Linked or not, the temp name goes; if linked, both representations hold the same bytes
            # and recovery reconciles them.
            self.discard(temp_fd, temp_path)


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None


def encode_line(line: str) -> bytes:
    if not isinstance(line, str):
        raise BadRequestError("a line must be text")
    if "\n" in line:
        raise BadRequestError("a line must not contain a newline; send one line per write")
    return line.encode("utf-8", "surrogateescape") + b"\n"


def write_line(fd: int, data: bytes, path: str) -> None:
    """One ``write`` per line: O_APPEND places it whole after every earlier line (R6)."""
    failpoints.hit("append.before_write", path)
    try:
        written = os.write(fd, data)
    except OSError as exc:
        raise from_os_error(exc, path) from None
    if written != len(data):
        raise IoError(f"short write ({written} of {len(data)} bytes); the line is not acknowledged", path=path)
    failpoints.hit("append.after_write", path)


class Appender:
    """Opens, writes and creates rollouts; every step is a method so a variant changes exactly one.

    ``open`` and ``create`` are the order SPEC.md section 5 gives the steps, and the only place
    that order lives; a store builds one per operation over its coordination and materializer.
    """

    def __init__(self, coord: Coordination, materializer: Materializer) -> None:
        self.coord = coord
        self.materializer = materializer

    # -- the steps ---------------------------------------------------------------------------
    def writer_locks(self, location: Location) -> Held:
        """Every scheme's writer lock, taken before the open and held until the writer closes."""
        return self.coord.writer_locks(location)

    def open_plain(self, location: Location) -> tuple[int, str] | None:
        """``O_APPEND`` on the plain file, never creating it (R4); None when there is none."""
        try:
            fd = open_existing(location.plain, os.O_WRONLY | os.O_APPEND)
        except IoError:
            st = os.stat(location.plain, follow_symlinks=False)
            _refuse_read_only(st.st_mode, location.rel)
            raise
        return None if fd is None else (fd, location.plain)

    def materialize(self, location: Location) -> None:
        """No plain file: decode the `.zst` back first (a read-only one refuses, nothing changed)."""
        zst = _stat_or_none(location.zst)
        if zst is not None:
            _refuse_read_only(zst.st_mode, location.rel)
        self.materializer.materialize(location)

    def guard(self, fd: int, location: Location) -> None:
        """Every scheme's lock on the fresh handle (``LOCK_SH`` on the inode: no compressor replaces it)."""
        self.coord.guard_handle(fd, location)

    def still_current(self, fd: int, path: str) -> bool:
        """Under the guard: the handle is still the file at ``path`` (not unlinked or replaced meanwhile)."""
        return still_at(fd, path)

    def create_plain(self, location: Location) -> int:
        """``O_CREAT|O_EXCL``: of two concurrent creates exactly one succeeds (APPEND-006)."""
        os.makedirs(location.folder, mode=0o700, exist_ok=True)
        # Between the existence check and the open: only O_EXCL keeps a create that lands here from
        # truncating a rollout another process created meanwhile (APPEND-006).
        failpoints.hit("create.before_open", location.rel)
        return os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, CREATE_MODE)

    # -- the order ---------------------------------------------------------------------------
    def open(self, location: Location) -> tuple[int, Held]:
        """An ``O_APPEND`` handle on the plain file with the writer locks that guard it (the caller
        closes the one and releases the other)."""
        held = self.writer_locks(location)
        try:
            return self._open_guarded(location), held
        except BaseException:
            held.release()
            raise

    def _open_guarded(self, location: Location) -> int:
        for _ in range(MAX_ATTEMPTS):
            opened = self.open_plain(location)
            if opened is None:
                self.materialize(location)
                continue
            fd, path = opened
            try:
                failpoints.hit("append.after_open", location.rel)
                self.guard(fd, location)
                failpoints.hit("append.after_lock", location.rel)
                if self.still_current(fd, path):
                    _refuse_read_only(os.fstat(fd).st_mode, location.rel)
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # replaced or unlinked between open and lock: start over
        raise BusyError("the rollout kept changing under the writer; retry later", path=location.rel)

    def append(self, location: Location, lines: list[str]) -> None:
        """Short append: take the writer locks, open (materializing if needed), write each line, close."""
        payloads = [encode_line(line) for line in lines]
        fd, held = self.open(location)
        try:
            for data in payloads:
                write_line(fd, data, location.rel)
        finally:
            os.close(fd)
            held.release()

    def create(self, location: Location, lines: list[str]) -> None:
        """A new rollout with ``lines``, under the writer locks; refuses when either representation exists."""
        held = self.writer_locks(location)
        try:
            self._create(location, lines)
        finally:
            held.release()

    def _create(self, location: Location, lines: list[str]) -> None:
        payloads = [encode_line(line) for line in lines]
        if os.path.islink(location.plain) or os.path.islink(location.zst):
            # Never create at (or beside) a symlink, wherever it points (SEC-005).
            raise OutsideHomeError("refusing to create at a symlinked rollout path", path=location.rel)
        if _exists(location.zst):
            raise AlreadyExistsError("a compressed representation already exists", path=location.rel)
        try:
            fd = self.create_plain(location)
        except OSError as exc:
            if exc.errno == errno.EEXIST and os.path.islink(location.plain):
                raise OutsideHomeError("refusing to create at a symlinked rollout path", path=location.rel) from None
            raise from_os_error(exc, location.rel) from None
        try:
            os.fchmod(fd, CREATE_MODE)
            self.guard(fd, location)
            if _exists(location.zst):
                # A compressor cannot have made it (the file is fresh); someone created the `.zst`
                # beside us: undo, so the two never split the history (R4).
                os.unlink(location.plain)
                raise AlreadyExistsError("a compressed representation appeared", path=location.rel)
            for data in payloads:
                write_line(fd, data, location.rel)
        finally:
            os.close(fd)
