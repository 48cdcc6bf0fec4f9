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

from reference import failpoints
from conformance.api.errors import AlreadyExistsError, BusyError, ConflictError, NotFoundError, OutsideHomeError, from_os_error
from reference.coordination import Coordination
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


def _open_selected_locked(location: Location, plain_timeout: float) -> tuple[int, str, bool]:
    """Open and lock the selected representation; identity verified under the lock."""
    for _ in range(MAX_ATTEMPTS):
        for path, compressed in ((location.plain, False), (location.zst, True)):
            fd = open_existing(path, os.O_RDONLY)
            if fd is not None:
                break
        else:
            raise NotFoundError("no plain or compressed representation of this rollout", path=location.rel)
        try:
            lock_with_timeout(fd, compressed, LOCK_TIMEOUT if compressed else plain_timeout, location.rel)
            if still_at(fd, path):
                return fd, path, compressed
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise BusyError("the rollout kept changing; retry later", path=location.rel)


def move(home: Home, source: Location, target: Location, touch: bool, coord: Coordination) -> str:
    """Move whichever representation exists from ``source`` to ``target``; return the new path."""
    if os.path.lexists(target.plain) or os.path.lexists(target.zst):
        raise AlreadyExistsError("a rollout of that name is already there", path=target.rel)
    fd, path, compressed = _open_selected_locked(source, LOCK_TIMEOUT)
    held = None
    try:
        held = coord.hold_for_move(source)
        # Checked under the lock: a compressor killed between publish and unlink leaves both, and
        # moving one of them would make the rollout both active and archived (R8).
        if os.path.lexists(source.plain) and os.path.lexists(source.zst):
            raise ConflictError("both representations present; run cleanup first", path=source.rel)
        destination = target.zst if compressed else target.plain
        os.makedirs(target.folder, mode=0o700, exist_ok=True)
        if not home.inside(os.path.realpath(target.folder)):
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


def archive(home: Home, location: Location, coord: Coordination) -> str:
    if location.archived:
        return location.rel
    return move(home, location, home.archived_location(location.name), False, coord)


def unarchive(home: Home, location: Location, coord: Coordination) -> str:
    if not location.archived:
        return location.rel
    return move(home, location, home.active_location(location.name), True, coord)


def delete(location: Location, coord: Coordination) -> None:
    """Remove every representation, each locked exclusively and verified first."""
    removed_any = False
    for _ in range(MAX_ATTEMPTS):
        try:
            fd, path, compressed = _open_selected_locked(location, DELETE_LOCK_TIMEOUT)
        except NotFoundError:
            if removed_any:
                return
            raise
        claim = None
        try:
            # Every scheme's claim: no writer may hold the rollout we unlink (the plain file's
            # LOCK_EX upgrade, the thread's lock file).
            claim = coord.claim(location, None if compressed else fd, wait=DELETE_LOCK_TIMEOUT)
            if claim is None:
                raise BusyError("a writer holds the rollout; close it or retry later", path=location.rel)
            if not still_at(fd, path):
                continue
            failpoints.hit("delete.before_unlink", location.rel)
            os.unlink(path)
            removed_any = True
            fsync_folder(location.folder)
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            if claim is not None:
                claim.release()
            os.close(fd)
    raise BusyError("the rollout kept changing; retry later", path=location.rel)
