"""Archive, unarchive and delete either representation, never clobbering and never racing.

Each operation locks the representation it moves (``LOCK_SH`` on plain, so live writers keep
writing into the moved inode; ``LOCK_EX`` on `.zst`, so a materializer in flight finishes first)
and re-checks identity under the lock; a compressor in its publish phase holds ``LOCK_EX`` on the
plain file, so the two never interleave (R8).  Delete takes ``LOCK_EX`` on both (R9).
"""

from __future__ import annotations

import errno
import functools
import os
import time
from collections.abc import Callable

from reference import failpoints
from conformance.api.errors import AlreadyExistsError, BusyError, ConflictError, NotFoundError, OutsideHomeError, from_os_error
from reference.coordination import Coordination, Held
from reference.home import Home, Location
from reference.locks import fsync_folder, lock_with_timeout, open_existing, still_at

MAX_ATTEMPTS = 50
LOCK_TIMEOUT = 30.0
# A writer holds LOCK_SH for a whole session: delete waits only briefly for short appends.
DELETE_LOCK_TIMEOUT = 2.0
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


@functools.cache
def _libc():
    """libc through ctypes, loaded on first use: importing ctypes costs every CLI start-up ~10 ms."""
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def rename_noreplace(source: str, target: str) -> None:
    """Atomic rename that fails with EEXIST instead of replacing ``target``."""
    ctypes, libc = _libc()
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), source)
    # Filesystems without RENAME_NOREPLACE: link refuses to clobber; the unlink completes the move.
    os.link(source, target)
    os.unlink(source)


class Lifecycle:
    """Archive, unarchive and delete in one home; every step is a method so a variant changes exactly one.

    ``move`` and ``delete`` are the order the module docstring gives the steps, and the only place
    that order lives.
    """

    def __init__(self, home: Home, coord: Coordination) -> None:
        self.home = home
        self.coord = coord

    # -- the steps ---------------------------------------------------------------------------
    def lock_for_move(self, fd: int, compressed: bool, location: Location) -> None:
        """``LOCK_SH`` on plain (its writers keep writing into the moved inode), ``LOCK_EX`` on `.zst`."""
        lock_with_timeout(fd, compressed, LOCK_TIMEOUT, location.rel)

    def hold_for_move(self, location: Location) -> Held:
        """Every scheme's hold while the rename happens (codex's coordination lock, R8)."""
        return self.coord.hold_for_move(location)

    def refuse_pair(self, location: Location) -> None:
        """Under the lock: a compressor killed between publish and unlink leaves both, and moving one of
        them would make the rollout both active and archived (R8)."""
        if os.path.lexists(location.plain) and os.path.lexists(location.zst):
            raise ConflictError("both representations present; run cleanup first", path=location.rel)

    def lock_for_delete(self, fd: int, compressed: bool, location: Location) -> None:
        """As for a move, but the plain file's lock is waited for only ``DELETE_LOCK_TIMEOUT``."""
        lock_with_timeout(fd, compressed, LOCK_TIMEOUT if compressed else DELETE_LOCK_TIMEOUT, location.rel)

    def claim_for_delete(self, location: Location, fd: int, compressed: bool) -> Held | None:
        """Every scheme's claim: no writer may hold the rollout we unlink (the plain file's
        ``LOCK_EX`` upgrade, the thread's lock file); None when one does."""
        return self.coord.claim(location, None if compressed else fd, wait=DELETE_LOCK_TIMEOUT)

    # -- the order ---------------------------------------------------------------------------
    def open_selected(self, location: Location, lock: Callable[[int, bool, Location], None]) -> tuple[int, str, bool]:
        """Open and ``lock`` the selected representation (plain first); identity verified under the lock."""
        for _ in range(MAX_ATTEMPTS):
            for path, compressed in ((location.plain, False), (location.zst, True)):
                fd = open_existing(path, os.O_RDONLY)
                if fd is not None:
                    break
            else:
                raise NotFoundError("no plain or compressed representation of this rollout", path=location.rel)
            try:
                lock(fd, compressed, location)
                if still_at(fd, path):
                    return fd, path, compressed
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise BusyError("the rollout kept changing; retry later", path=location.rel)

    def move(self, source: Location, target: Location, touch: bool) -> str:
        """Move whichever representation exists from ``source`` to ``target``; return the new path."""
        if os.path.lexists(target.plain) or os.path.lexists(target.zst):
            raise AlreadyExistsError("a rollout of that name is already there", path=target.rel)
        fd, path, compressed = self.open_selected(source, self.lock_for_move)
        held = None
        try:
            held = self.hold_for_move(source)
            self.refuse_pair(source)
            destination = target.zst if compressed else target.plain
            os.makedirs(target.folder, mode=0o700, exist_ok=True)
            if not self.home.inside(os.path.realpath(target.folder)):
                # A symlinked destination folder would move the rollout out of the home (SEC-007).
                raise OutsideHomeError("a symlink on the destination leads out of the home", path=target.rel)
            failpoints.hit("archive.before_rename", source.rel)
            rename_noreplace(path, destination)
            if touch:
                now = time.time_ns()
                os.utime(fd, ns=(now, now))
            fsync_folder(target.folder)
            fsync_folder(source.folder)
            return target.rel
        except FileExistsError:
            raise AlreadyExistsError("a rollout of that name is already there", path=target.rel) from None
        except OSError as exc:
            raise from_os_error(exc, source.rel) from None
        finally:
            if held is not None:
                held.release()
            os.close(fd)

    def archive(self, location: Location) -> str:
        if location.archived:
            return location.rel
        return self.move(location, self.home.archived_location(location.name), False)

    def unarchive(self, location: Location) -> str:
        if not location.archived:
            return location.rel
        return self.move(location, self.home.active_location(location.name), True)

    def delete(self, location: Location) -> None:
        """Remove every representation, each locked exclusively and verified first."""
        removed_any = False
        for _ in range(MAX_ATTEMPTS):
            try:
                removed_any = self.remove_selected(location) or removed_any
            except NotFoundError:
                if removed_any:
                    return
                raise
        raise BusyError("the rollout kept changing; retry later", path=location.rel)

    def remove_selected(self, location: Location) -> bool:
        """Unlink the selected representation under every claim; False when it moved meanwhile
        (look again), NotFoundError when there is none."""
        fd, path, compressed = self.open_selected(location, self.lock_for_delete)
        claim = None
        try:
            claim = self.claim_for_delete(location, fd, compressed)
            if claim is None:
                raise BusyError("a writer holds the rollout; close it or retry later", path=location.rel)
            if not still_at(fd, path):
                return False
            failpoints.hit("delete.before_unlink", location.rel)
            os.unlink(path)
            fsync_folder(location.folder)
            return True
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            if claim is not None:
                claim.release()
            os.close(fd)
