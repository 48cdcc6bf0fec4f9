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

import pytest

from conformance.oracle import homegen
from conformance.oracle import disk as oracle
from conformance.runtime.processes import descendants
from conformance.api.errors import Inconclusive
from conformance.stores.selection import open_store, serve_command
from conformance.api.store import UndeclaredCapabilityError
from conformance.protocol.failpoint_channel import Controller, Held, Hit
from conformance.api.errors import ERROR_KINDS, StoreError

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


def compress_behind_the_store(home: Path, rel: str) -> None:
    """Replace plain ``rel`` by its `.zst` (same mode and mtime), taking no lock of any scheme."""
    plain = Path(home, rel)
    st = plain.stat()
    oracle.write_zst(home, rel + ".zst", plain.read_bytes(), st.st_mode & 0o7777, st.st_mtime_ns)
    plain.unlink()


def unwritten_rollout(archived: bool = False, minute: int = 0) -> Rollout:
    """A fresh logical path (nothing on disk) for tests of ``create``."""
    ident = str(uuidlib.uuid4())
    name = oracle.rollout_name(_BASE + timedelta(minutes=minute), ident)
    return Rollout(oracle.archived_path(name) if archived else oracle.active_path(name), ident, b"")


def require_failpoints(session: "FailpointSession", *points: str) -> None:
    """Inconclusive (never failed, never passed) when the store does not declare ``points``."""
    declared = set(session.store.hello().failpoints)
    missing = [p for p in points if p not in declared]
    if missing:
        raise Inconclusive(f"the store declares the failpoints capability but not the points {missing}")


def line_text(rid: str, size: int = 0) -> str:
    """One JSON event line carrying a unique record id (and optional padding)."""
    return oracle.user_message_line(f"{rid} " + "x" * size).decode().rstrip("\n")


def store_error(fn, *args) -> StoreError:
    """The typed error ``fn(*args)`` must raise; its kind must be one of the closed set (ERR-001)."""
    try:
        fn(*args)
    except UndeclaredCapabilityError:
        raise  # the store never declared this op: the test is skipped, not failed (see the plugin)
    except StoreError as exc:
        assert exc.kind in ERROR_KINDS, f"{call_text(fn, *args)}: error kind {exc.kind!r} is not in the closed set"
        return exc
    raise AssertionError(f"{call_text(fn, *args)} succeeded; a StoreError was expected")


def call_text(fn, *args) -> str:
    """What ``fn(*args)`` calls, for a failure message: a lambda's own source text with the values
    it closes over (``store.read(missing) with missing='sessions/...'``), else the function's name."""
    import dis
    import linecache

    name = getattr(fn, "__name__", repr(fn))
    code = getattr(fn, "__code__", None)
    if name != "<lambda>" or code is None:
        return f"{name}{args!r}" if args else name
    spans = [i.positions[:4] for i in dis.get_instructions(code)
             if i.opname not in ("RESUME", "RETURN_VALUE", "COPY_FREE_VARS") and None not in i.positions[:4]]
    lines = {p[0] for p in spans} | {p[1] for p in spans}
    if len(lines) != 1:
        return name
    line = linecache.getline(code.co_filename, lines.pop())
    body = line[min(p[2] for p in spans): max(p[3] for p in spans)]
    values = [f"{var}={cell.cell_contents!r}" for var, cell in zip(code.co_freevars, fn.__closure__ or ())
              if var != "store" and isinstance(cell.cell_contents, (str, int, bytes, Path))]
    return (body or name) + (f" with {', '.join(values)}" if values else "")


def error_kind(fn, *args) -> str:
    return store_error(fn, *args).kind


#: How long an operation a test started may take on a slow or loaded machine before the test gives
#: up, inconclusive: a bound that runs out shows that the machine was slow, not that the store is wrong.
OPERATION_BOUND_SECONDS = 120.0

#: After the store demonstrably reached a lock the test holds (it has the locked file open), how
#: long the test lets it run before checking it did nothing. A slow store only makes the check
#: weaker (it may not have called flock yet); it can never make a correct store fail.
LOCK_GRACE_SECONDS = 0.3


def finish(thread: threading.Thread, what: str, bound: float = OPERATION_BOUND_SECONDS,
           waiting_on: tuple[Path, int] | None = None) -> None:
    """Wait for ``thread``; Inconclusive (never failed) when it is still running after ``bound`` s.

    ``waiting_on`` (a locked path and its :func:`open_count` before the operation started) is for
    requirements of a *bounded* wait: still running after the generous bound while holding more
    descriptors of the path than before means it sits at the test's lock, which fails."""
    thread.join(bound)
    if not thread.is_alive():
        return
    if waiting_on is not None and open_count(waiting_on[0]) > waiting_on[1]:
        raise AssertionError(f"{what} still waits at the lock on {Path(waiting_on[0]).name} the test holds "
                             f"after {bound:g} s: the wait must be bounded")
    raise Inconclusive(f"{what} had not returned after {bound:g} s: too slow to judge, not a failure")


def open_count(path: Path) -> int:
    """How many file descriptors of this process and its descendants refer to ``path`` now."""
    target = os.fspath(Path(path).resolve())
    count = 0
    for pid in [os.getpid(), *descendants(os.getpid())]:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/{pid}/fd/{name}") == target
    return count


def start_at_held_lock(path: Path, what: str, fn, *args):
    """Run ``fn(*args)`` in a thread (see :func:`in_thread`) and wait until it demonstrably reached
    the lock on ``path`` the test holds (one more descriptor of ``path`` is open than before it
    started: a flock needs an open file), or returned; then give it :data:`LOCK_GRACE_SECONDS` to
    act wrongly. Inconclusive when neither happens within the bound: nothing was shown."""
    baseline = open_count(path)
    thread, outcome = in_thread(fn, *args)
    deadline = time.monotonic() + OPERATION_BOUND_SECONDS
    while thread.is_alive() and open_count(path) <= baseline:
        if time.monotonic() >= deadline:
            raise Inconclusive(f"{what} never opened {Path(path).name} within {OPERATION_BOUND_SECONDS:g} s, "
                               "so it never reached the lock the test holds: too slow to judge, not a failure")
        time.sleep(0.01)
    time.sleep(LOCK_GRACE_SECONDS)
    return thread, outcome


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


THREAD_LOCK_DIR = "thread-writer-locks"
COORDINATION_LOCK = ".coordination.lock"


def thread_lock_path(home: Path, rollout_id: str) -> Path:
    return Path(home, THREAD_LOCK_DIR, rollout_id + ".lock")


def coordination_lock_path(home: Path) -> Path:
    return Path(home, THREAD_LOCK_DIR, COORDINATION_LOCK)


def _flock_polled(fd: int, flags: int) -> None:
    """Take a test lock the store may hold for a while; Inconclusive, not failed, when it never frees it."""
    timeout = OPERATION_BOUND_SECONDS
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, flags | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Inconclusive(f"could not take a test lock within {timeout:g} s: the store holds it, "
                                   "so the scheduled situation could not be set up") from None
            time.sleep(0.005)


@contextlib.contextmanager
def holding_coordination_lock(home: Path):
    """Hold ``thread-writer-locks/.coordination.lock`` from this test process, as codex takes it."""
    path = coordination_lock_path(home)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _flock_polled(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def holding_thread_lock(home: Path, rollout_id: str, exclusive: bool = True):
    """Hold ``thread-writer-locks/<id>.lock`` the way codex 0.171.0 does: created and locked
    (``LOCK_EX|LOCK_NB``) under the coordination lock, which is then released."""
    with holding_coordination_lock(home):
        fd = os.open(thread_lock_path(home, rollout_id), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def holding_writer_lock(home: Path, rollout: Rollout, scheme: str, declared: tuple[str, ...]):
    """Hold what a live writer of ``scheme`` holds on ``rollout``; skip when the store did not
    declare that scheme (a lock of a scheme it does not follow means nothing to it)."""
    if scheme not in declared:
        pytest.skip(f"store did not declare coordination scheme {scheme}")
    if scheme == "inode-flock":
        with holding_lock(Path(home, rollout.rel)) as fd:
            yield fd
    else:
        with holding_thread_lock(home, rollout.id) as fd:
            yield fd


def thread_lock_held(home: Path, rollout_id: str) -> bool:
    """True when some process holds a flock on the rollout's thread lock file (absent: False)."""
    path = thread_lock_path(home, rollout_id)
    return path.exists() and lock_nb_fails(path)


class FailpointSession:
    """A store in a child process whose failpoints this test answers (hold, crash, error).

    ``umask`` (when given) is the umask the store process starts with, e.g. 0 for the tests that
    check a store's own modes are private whatever the umask."""

    def __init__(self, selection: str, home: Path, cold_after: float = 0, umask: int | None = None) -> None:
        self._dir = tempfile.mkdtemp(prefix="fp-", dir="/tmp")
        self.bus: "queue.Queue[object]" = queue.Queue()
        self.controller = Controller(self._dir, self.bus)
        socket_path = self.controller.socket_for("store")
        previous = os.environ.get("ROLLOUT_FAILPOINT_SOCKET")
        previous_umask = os.umask(umask) if umask is not None else None
        os.environ["ROLLOUT_FAILPOINT_SOCKET"] = socket_path
        try:
            self.store = open_store("cmd:" + serve_command(selection))
        finally:
            if previous_umask is not None:
                os.umask(previous_umask)
            if previous is None:
                del os.environ["ROLLOUT_FAILPOINT_SOCKET"]
            else:
                os.environ["ROLLOUT_FAILPOINT_SOCKET"] = previous
        self.store.configure(os.fspath(home), cold_after)
        self._since = 0

    def answer(self, point: str, action: str, errno: str | None = None) -> None:
        """Answer hits of ``point`` with ``action``; every other hit continues (check it happened
        with :meth:`require`)."""
        self._since = len(self.controller.schedule)
        self.controller.policy = lambda hit: (action, errno) if hit.point == point else ("continue", None)

    def require(self, point: str, action: str) -> None:
        """Inconclusive unless, since the last :meth:`answer`, the store reported ``point`` and was
        answered ``action``: a scheduled crash or injected error that never happened proves nothing."""
        decisions = self.controller.schedule[self._since:]
        if not any(d.point == point and d.action == action for d in decisions):
            reported = sorted({d.point for d in decisions})
            raise Inconclusive(
                f"the store declares failpoint {point!r} but never reported it, so the scheduled "
                f"{action} did not happen (points it reported: {reported or 'none'}); "
                "report each declared failpoint where SPEC.md section 5.4 places it"
            )

    @contextlib.contextmanager
    def held_at(self, point: str, operation, *args):
        """Run ``operation(*args)`` (a call on :attr:`store`) in a thread and hold the store at its
        first hit of ``point``; while the block runs the store waits there, then it is released
        and the operation finished (:func:`finish`).  Yields the operation's outcome dict, which
        holds "value" or "error" once the block is over.

        Inconclusive, never failed nor passed, when the store does not declare ``point``, or the
        operation returns or runs out of time without reporting it: the scheduled interleaving did
        not happen.  An exception in the block releases the store and propagates (the session's
        close answers whatever it reaches later)."""
        require_failpoints(self, point)
        self.controller.policy = lambda hit: None if hit.point == point else ("continue", None)
        thread, outcome = in_thread(operation, *args)
        hit = self._wait_held(point, thread, outcome)
        try:
            yield outcome
        finally:
            self.controller.policy = lambda h: ("continue", None)
            self.controller.release(hit, "continue")
        finish(thread, f"{getattr(operation, '__name__', 'the operation')} released at {point}")

    def _wait_held(self, point: str, thread: threading.Thread, outcome: dict) -> Hit:
        """The held hit of ``point``; Inconclusive when ``thread`` finishes, or the bound runs out,
        without the store reporting it."""
        deadline = time.monotonic() + OPERATION_BOUND_SECONDS
        while True:
            try:
                message = self.bus.get(timeout=0.05)
            except queue.Empty:
                message = None
            if isinstance(message, Held):
                return message.hit
            finished = not thread.is_alive()
            if finished or time.monotonic() >= deadline:
                error = repr(outcome["error"]) if "error" in outcome else "without error"
                why = f"finished ({error})" if finished else f"ran {OPERATION_BOUND_SECONDS:g} s"
                raise Inconclusive(
                    f"the operation {why} without the store reporting failpoint {point!r}, "
                    "which it declares; the scheduled interleaving did not happen"
                )

    def close(self) -> None:
        self.controller.close()
        with contextlib.suppress(Exception):
            self.store.close()


@contextlib.contextmanager
def failpoint_session(selection: str, home: Path, cold_after: float = 0, umask: int | None = None):
    """A :class:`FailpointSession` closed at exit (every hit still held is answered ``continue``)."""
    session = FailpointSession(selection, home, cold_after, umask)
    try:
        yield session
    finally:
        session.close()


def kill_store(store) -> None:
    """SIGKILL a store served over the protocol, with its whole process group (its own session)."""
    store.kill()


def fresh_store(selection: str, home: Path, cold_after: float = 7 * 86400):
    """A second, independent instance of the store under test on the same home."""
    store = open_store(selection)
    store.configure(os.fspath(home), cold_after)
    return store
