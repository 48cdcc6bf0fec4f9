"""Helpers every suite module shares: rollouts made by the oracle, locks held by the test, and
the store run in a separate process where a test must crash it or hold it at a failpoint.

Nothing here asks the store under test anything: fixtures are written and inspected on disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import threading
import tempfile
import time
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conformance import homegen, oracle
from conformance.selection import open_store, serve_command
from race_harness.controller import Controller, Held, Hit
from reference.errors import ERROR_KINDS, StoreError

DAY_NS = 86_400 * 10**9
_BASE = datetime(2025, 1, 3, 12, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Rollout:
    """A rollout the oracle wrote: its logical path (relative to home), id and logical bytes."""

    rel: str
    id: str
    data: bytes

    @property
    def zst(self) -> str:
        return self.rel + ".zst"


def make_rollout(
    home: Path,
    *,
    archived: bool = False,
    compressed: bool = False,
    old: bool = False,
    mode: int = 0o600,
    lines: int = 1,
    data: bytes | None = None,
    minute: int = 0,
    **meta,
) -> Rollout:
    """Write a rollout shaped like upstream's fixtures: a session_meta line and ``lines`` user messages."""
    ident = str(uuidlib.uuid4())
    name = oracle.rollout_name(_BASE + timedelta(minutes=minute), ident)
    rel = oracle.archived_path(name) if archived else oracle.active_path(name)
    if data is None:
        data = oracle.session_meta_line(ident, **meta) + b"".join(
            oracle.user_message_line(f"hello {n}") for n in range(lines)
        )
    mtime_ns = time.time_ns() - (8 * DAY_NS if old else 0)
    if compressed:
        oracle.write_zst(home, rel + ".zst", data, mode, mtime_ns)
    else:
        oracle.write_plain(home, rel, data, mode, mtime_ns)
    return Rollout(rel, ident, data)


def realistic_home(home: Path, count: int = 40) -> homegen.HomeManifest:
    """Weeks of realistic sessions, active and archived, half the cold ones compressed (``homegen``)."""
    return homegen.realistic_home(home, count, seed=11, compressed_fraction=0.5, max_size=12 * 1024)


def line_text(rid: str, size: int = 0) -> str:
    """One JSON event line carrying a unique record id (and optional padding)."""
    return oracle.user_message_line(f"{rid} " + "x" * size).decode().rstrip("\n")


def store_error(fn, *args) -> StoreError:
    """The typed error ``fn(*args)`` must raise; its kind must be one of the closed set (ERR-001)."""
    try:
        fn(*args)
    except StoreError as exc:
        assert exc.kind in ERROR_KINDS, f"error kind {exc.kind!r} is not in the closed set"
        return exc
    raise AssertionError(f"{getattr(fn, '__name__', fn)} succeeded; a StoreError was expected")


def error_kind(fn, *args) -> str:
    return store_error(fn, *args).kind


def in_thread(fn, *args):
    """Run ``fn(*args)`` in a thread; returns (thread, outcome dict with "value" or "error")."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def lock_nb_fails(path: Path, exclusive: bool = True) -> bool:
    """True when a non-blocking flock on ``path`` is refused: someone holds a conflicting lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@contextlib.contextmanager
def holding_lock(path: Path, exclusive: bool = False):
    """Hold a flock on ``path`` from this test process (a live writer or owner, as far as the store sees)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield fd
    finally:
        os.close(fd)


class FailpointSession:
    """A store in a child process whose failpoints this test answers (hold, crash, error)."""

    def __init__(self, selection: str, home: Path, cold_after: float = 0) -> None:
        self._dir = tempfile.mkdtemp(prefix="fp-", dir="/tmp")
        self.bus: "queue.Queue[object]" = queue.Queue()
        self.controller = Controller(self._dir, self.bus)
        socket_path = self.controller.socket_for("store")
        previous = os.environ.get("ROLLOUT_FAILPOINT_SOCKET")
        os.environ["ROLLOUT_FAILPOINT_SOCKET"] = socket_path
        try:
            self.store = open_store("cmd:" + serve_command(selection))
        finally:
            if previous is None:
                del os.environ["ROLLOUT_FAILPOINT_SOCKET"]
            else:
                os.environ["ROLLOUT_FAILPOINT_SOCKET"] = previous
        self.store.configure(os.fspath(home), cold_after)

    def answer(self, point: str, action: str, errno: str | None = None) -> None:
        """Answer hits of ``point`` with ``action``; every other hit continues."""
        self.controller.policy = lambda hit: (action, errno) if hit.point == point else ("continue", None)

    def hold_at(self, point: str) -> None:
        """Hold the store at the first hit of ``point`` (wait for it with :meth:`wait_held`)."""
        self.controller.policy = lambda hit: None if hit.point == point else ("continue", None)

    def wait_held(self, timeout: float = 20.0) -> Hit:
        deadline = time.monotonic() + timeout
        while True:
            message = self.bus.get(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(message, Held):
                return message.hit

    def release(self, hit: Hit, action: str = "continue") -> None:
        self.controller.policy = lambda h: ("continue", None)
        self.controller.release(hit, action)

    def close(self) -> None:
        self.controller.close()
        with contextlib.suppress(Exception):
            self.store.close()


@contextlib.contextmanager
def failpoint_session(selection: str, home: Path, cold_after: float = 0):
    session = FailpointSession(selection, home, cold_after)
    try:
        yield session
    finally:
        session.close()


def fresh_store(selection: str, home: Path, cold_after: float = 7 * 86400):
    """A second, independent instance of the store under test on the same home."""
    store = open_store(selection)
    store.configure(os.fspath(home), cold_after)
    return store
