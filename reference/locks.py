"""The inode-lock protocol: locks live on the data file itself, so they die with their process.

Writers hold ``LOCK_SH`` on the plain file for as long as they may write; anything that replaces
or removes a representation holds ``LOCK_EX`` on it and re-checks, under the lock, that the handle
is still the file at the path (same ``st_dev``/``st_ino``, ``st_nlink > 0``).  flock (not POSIX
fcntl locks) because fcntl locks drop when *any* handle of the process on the file closes.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import stat
import time
from dataclasses import dataclass

from conformance.api.errors import BusyError, OutsideHomeError, from_os_error

_temp_counter = itertools.count()
OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Identity:
    dev: int
    ino: int

    @classmethod
    def of(cls, st: os.stat_result) -> "Identity":
        return cls(st.st_dev, st.st_ino)


def still_at(fd: int, path: str) -> bool:
    """True when ``fd`` is the file currently linked at ``path`` (not unlinked, not replaced)."""
    mine = os.fstat(fd)
    if mine.st_nlink == 0:
        return False
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return Identity.of(mine) == Identity.of(there)


def lock(fd: int, exclusive: bool, wait: bool = True, path: str | None = None) -> bool:
    """Take a flock; with ``wait=False`` return False instead of blocking when it is held."""
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    if not wait:
        flags |= fcntl.LOCK_NB
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise from_os_error(exc, path) from None
    return True


def lock_with_timeout(fd: int, exclusive: bool, timeout: float, path: str) -> None:
    """Poll for a flock up to ``timeout`` seconds, then raise BusyError (never wait forever)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not lock(fd, exclusive, wait=False, path=path):
        if time.monotonic() >= deadline:
            raise BusyError("another process holds the rollout; retry later", path=path)
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


def fsync_folder(folder: str) -> None:
    """Make a link/unlink in ``folder`` durable: without it a crash can undo the rename."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_locked_temp(final_path: str, purpose: str, final_mode: int) -> tuple[int, str]:
    """Create ``<final_path>.<purpose>.<pid>.<n>.tmp`` locked by us, mode within the owner bits.

    The temp starts with at most the owner bits of its final mode, whatever the umask, so its
    content is never readable by group or others before publish (SEC); the lock tells cleanup
    its owner is alive, whatever its mtime says (R10).
    """
    owner_only = stat.S_IMODE(final_mode) & 0o700
    while True:
        path = f"{final_path}.{purpose}.{os.getpid()}.{next(_temp_counter)}.tmp"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, owner_only)
        except FileExistsError:
            continue
        except OSError as exc:
            raise from_os_error(exc, path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # os.open's mode is filtered by the umask: set the owner bits exactly.
            os.fchmod(fd, owner_only)
        except BaseException:
            discard_temp(fd, path)
            raise
        return fd, path


def discard_temp(fd: int | None, path: str) -> None:
    """Remove our temp and close it; a temp already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if fd is not None:
        os.close(fd)


def open_existing(path: str, flags: int) -> int | None:
    """Open without creating and without following a symlink; None when the file is absent."""
    try:
        return os.open(path, flags | OPEN_FLAGS)
    except (FileNotFoundError, IsADirectoryError):
        return None  # a folder named like a rollout is not one (NAME-005)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OutsideHomeError("refusing to follow a symlinked rollout", path=path) from None
        raise from_os_error(exc, path) from None
