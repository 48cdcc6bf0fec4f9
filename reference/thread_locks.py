"""Upstream's per-thread writer lock files, as codex 0.171.0 uses them (SPEC.md section 5.6).

``<home>/thread-writer-locks/<id>.lock`` is flocked by each writer of thread ``<id>`` for its whole
session; ``<home>/thread-writer-locks/.coordination.lock`` is held (``LOCK_EX``) by whoever creates,
locks, probes or removes a thread lock file, and by a compressor from its probe until it has unlinked
the plain file.  The coordination lock is what makes lock *files* safe: without it a sweeper could
unlink a file between a writer's ``open`` and its ``flock``, and the writer would then hold a lock
on a name no compressor ever probes again.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from conformance.api.errors import BusyError, from_os_error

LOCK_DIR = "thread-writer-locks"
COORDINATION_LOCK = ".coordination.lock"
LOCK_SUFFIX = ".lock"
# codex creates both with mode 0666 (umask applied); the same here, so either side can reopen them.
LOCK_FILE_MODE = 0o666
_OPEN = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW
_POLL = 0.005


def lock_dir(home_root: str) -> str:
    return os.path.join(home_root, LOCK_DIR)


def thread_lock_path(home_root: str, thread_id: str) -> str:
    return os.path.join(lock_dir(home_root), thread_id + LOCK_SUFFIX)


def _try_flock(fd: int, flags: int) -> bool:
    try:
        fcntl.flock(fd, flags | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _poll(attempt, timeout: float, what: str, path: str):
    """Call ``attempt()`` until it returns a value (not None) or ``timeout`` runs out (BusyError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = attempt()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise BusyError(f"{what} is held by another process; retry later", path=path)
        time.sleep(_POLL)


class CoordinationLock:
    """``LOCK_EX`` on ``.coordination.lock``, taken with ``LOCK_NB`` and polled, as codex takes it."""

    def __init__(self, home_root: str) -> None:
        self.path = os.path.join(lock_dir(home_root), COORDINATION_LOCK)
        self.fd: int | None = None

    def acquire(self, timeout: float) -> "CoordinationLock":
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            fd = os.open(self.path, _OPEN | os.O_CREAT, LOCK_FILE_MODE)
        except OSError as exc:
            raise from_os_error(exc, self.path) from None
        try:
            _poll(lambda: True if _try_flock(fd, fcntl.LOCK_EX) else None, timeout,
                  "the thread-writer coordination lock", self.path)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "CoordinationLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def sweep_stale(home_root: str, keep: str | None = None) -> list[str]:
    """Remove every thread lock file nobody holds; the caller MUST hold the coordination lock.

    A file is removed only while this process holds ``LOCK_EX`` on it (taken ``LOCK_NB``): a file
    some live writer holds is never unlinked (file existence is not ownership; a held flock is).
    """
    removed = []
    try:
        names = os.listdir(lock_dir(home_root))
    except FileNotFoundError:
        return removed
    for name in sorted(names):
        if name == COORDINATION_LOCK or not name.endswith(LOCK_SUFFIX) or name == keep:
            continue
        path = os.path.join(lock_dir(home_root), name)
        try:
            fd = os.open(path, _OPEN)
        except OSError:
            continue  # vanished, or not a regular file we may open: not ours to judge
        try:
            if _try_flock(fd, fcntl.LOCK_EX):
                os.unlink(path)
                removed.append(name)
        finally:
            os.close(fd)
    return removed


@dataclass
class ThreadWriterLock:
    """One writer's flock on ``<id>.lock`` (shared, so several writers of this store may share a
    thread; codex takes it exclusive, which a shared holder still blocks).  ``sweep`` runs under
    the coordination lock before the file is opened, as codex's does."""

    home_root: str
    thread_id: str
    sweep: Callable[[str, str | None], list[str]] = sweep_stale
    fd: int | None = None

    @property
    def path(self) -> str:
        return thread_lock_path(self.home_root, self.thread_id)

    def acquire(self, timeout: float) -> "ThreadWriterLock":
        deadline = time.monotonic() + timeout

        def attempt() -> int | None:
            remaining = max(0.0, deadline - time.monotonic())
            with CoordinationLock(self.home_root).acquire(remaining):
                self.sweep(self.home_root, self.thread_id + LOCK_SUFFIX)
                try:
                    fd = os.open(self.path, _OPEN | os.O_CREAT, LOCK_FILE_MODE)
                except OSError as exc:
                    raise from_os_error(exc, self.path) from None
                if _try_flock(fd, fcntl.LOCK_SH):
                    return fd
                os.close(fd)  # a codex writer holds it exclusively: wait outside the coordination lock
                return None

        self.fd = _poll(attempt, timeout, "the thread's writer lock", self.path)
        return self

    def release(self) -> None:
        """Drop the lock; remove the file if no other writer shares it (under the coordination lock)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            with CoordinationLock(self.home_root).acquire(0.0):
                if _try_flock(fd, fcntl.LOCK_EX) and _same_file(fd, self.path):
                    os.unlink(self.path)
        except BusyError:
            pass  # someone is coordinating right now; the file is swept later, it holds no lock
        finally:
            os.close(fd)


def _same_file(fd: int, path: str) -> bool:
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


@dataclass
class PublishClaim:
    """What a compressor (or delete) holds while it replaces or removes a rollout: the coordination
    lock, and ``LOCK_EX`` on the thread's lock file when one exists."""

    coordination: CoordinationLock
    thread_fd: int | None

    def release(self) -> None:
        if self.thread_fd is not None:
            os.close(self.thread_fd)
            self.thread_fd = None
        self.coordination.release()


def claim_for_publish(home_root: str, thread_id: str, timeout: float) -> PublishClaim | None:
    """The coordination lock plus proof that no writer holds ``<id>.lock``; None when one does.

    An absent lock file means no writer (writers create it before they open the rollout, under the
    coordination lock this claim now holds).
    """
    try:
        coordination = CoordinationLock(home_root).acquire(timeout)
    except BusyError:
        return None
    try:
        fd = os.open(thread_lock_path(home_root, thread_id), _OPEN)
    except FileNotFoundError:
        return PublishClaim(coordination, None)
    except OSError as exc:
        coordination.release()
        raise from_os_error(exc, thread_lock_path(home_root, thread_id)) from None
    if _try_flock(fd, fcntl.LOCK_EX):
        return PublishClaim(coordination, fd)
    os.close(fd)
    coordination.release()
    return None
