"""One actor: a child process with its own instance of the store under test.

Contract: the child opens the store from its selection string (so the store's failpoint client sees
this actor's socket), configures it on the shared home, says Ready, then either obeys operations
sent over its pipe (driven) or runs a program of its own (a campaign role).  Every operation goes
through :class:`Executor`, which records invoke before calling the store and ok / fail / info after.
An actor without a selection (an ager) opens no store: it only runs the harness's own disk
operations (``age``), recorded in its history like any other operation.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conformance.api.failpoints import FILTER_ENV, SOCKET_ENV
from conformance.oracle import disk
from race_harness.history import INDETERMINATE_KINDS, INFO, FAIL, OK, HistoryWriter, make_header, make_line, rids_in

#: How often an actor checks that the harness that started it is still its parent.
ORPHAN_POLL_SECONDS = 0.2



@dataclass(frozen=True)
class Op:
    """One operation to perform; ``lines``/``size`` say how many lines of what size to write,
    ``seconds`` how far an ``age`` operation back-dates the plain file's mtime."""

    kind: str
    path: str = ""
    rollout: str = ""
    lines: int = 1
    size: int = 200
    archived: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class ActorSpec:
    """Everything a child needs; ``program`` (run in the child) makes the actor autonomous."""

    name: str
    selection: str | None  # None: the harness's own actor (an ager), no store
    home: str
    cold_after: float
    workdir: str
    socket: str | None = None
    failpoint_filter: tuple[str, ...] = ()
    program: Callable[["Executor", Any], None] | None = field(default=None, compare=False)
    host: str = ""  # the named host it runs on (recorded with each event)


@dataclass(frozen=True)
class Ready:
    actor: str
    pid: int
    capabilities: tuple[str, ...]
    failpoints: tuple[str, ...]
    store: str
    selection: str | None = None
    coordination: tuple[str, ...] = ()


@dataclass(frozen=True)
class Done:
    """The result of one driven operation (``seq`` matches the history)."""

    actor: str
    seq: int
    kind: str
    status: str
    value: Any = None
    error: str = ""


@dataclass(frozen=True)
class Broken:
    """The child could not even open or configure its store."""

    actor: str
    error: str


@dataclass(frozen=True)
class Exited:
    actor: str


@dataclass(frozen=True)
class Stop:
    pass


class Executor:
    """Runs operations on one store and records each one in the actor's history."""

    def __init__(self, store: Any, history: HistoryWriter, name: str, home: str = "",
                 reopen: Callable[[], Any] | None = None) -> None:
        self.store = store
        self.history = history
        self.name = name
        self.home = home
        self.reopen = reopen  # a fresh, configured store session, after the old one died
        self._handles: dict[str, str] = {}
        self._next_rid = 0

    def _rid(self) -> str:
        self._next_rid += 1
        return f"{self.name}-{self._next_rid}"

    def run(self, op: Op) -> Done:
        """Perform ``op``; a ``write`` of several lines is several operations (one per line)."""
        if op.kind == "write" and op.lines > 1:
            result = None
            for _ in range(op.lines):
                result = self.run(Op("write", op.path, op.rollout, 1, op.size))
            return result
        rids: tuple[str, ...] = ()
        lines: list[str] = []
        if op.kind in ("create", "append", "write"):
            rids = tuple(self._rid() for _ in range(op.lines + (op.kind == "create")))
            lines = [make_line(rid, op.size) for rid in rids]
            if op.kind == "create":
                lines[0] = make_header(op.rollout, rids[0])
        seq = self.history.invoke(op.kind, op.rollout, op.path, rids)
        try:
            value = self._call(op, lines)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none may stop the actor
            kind = getattr(exc, "kind", None)
            status = FAIL if isinstance(kind, str) and kind not in INDETERMINATE_KINDS else INFO
            error = f"{kind or type(exc).__name__}: {exc}"
            if _session_died(exc):
                # The store program died (a crash answer at a failpoint, a kill): the op's fate is
                # unknown (info); later ops go to a new session instead of into the dead one.
                error = f"store session died during {op.kind} ({_death(exc)}); {self._restart()}"
            self.history.complete(seq, status, op.kind, op.rollout, error=error)
            return Done(self.name, seq, op.kind, status, error=error)
        self.history.complete(seq, OK, op.kind, op.rollout, value=value)
        return Done(self.name, seq, op.kind, OK, value)

    def _restart(self) -> str:
        if self.reopen is None:
            return "no new session"
        try:
            self.store.close()
        except Exception:  # noqa: BLE001 - the old session is dead; closing it only tidies up
            pass
        self._handles.clear()  # writer handles died with their session
        try:
            self.store = self.reopen()
        except Exception as exc:  # noqa: BLE001 - the next op fails again and is recorded
            return f"a new session could not start: {exc}"
        return "a new session took over"

    def _call(self, op: Op, lines: list[str]) -> Any:
        store = self.store
        kind = op.kind
        if kind == "age":
            return self._age(op)
        if kind == "create" and store is None:
            return self._create_on_disk(op.path, lines)
        if kind == "create":
            return store.create(op.path, lines)
        if kind == "append":
            return store.append(op.path, lines)
        if kind == "open_writer":
            self._handles[op.path] = store.open_writer(op.path)
            return None
        if kind == "write":
            return store.write(self._handles[op.path], lines[0])
        if kind == "close_writer":
            return store.close_writer(self._handles.pop(op.path))
        if kind == "read":
            result = store.read(op.path)
            return {"rids": rids_in(result.content), "representation": result.representation,
                    "items": result.items, "parse_errors": result.parse_errors}
        if kind == "header":  # the session_meta id: the checker compares it with the rollout's
            return store.header(op.path).get("id")
        if kind == "materialize":
            return store.materialize(op.path)
        if kind == "compress":
            return store.compress(op.path)
        if kind == "run_worker":
            report = store.run_worker()
            return {"ran": report.ran, "outcomes": dict(report.outcomes)}
        if kind == "cleanup":
            report = store.cleanup()
            return {"temps_removed": list(report.temps_removed), "reconciled": list(report.reconciled),
                    "conflicts": list(report.conflicts)}
        if kind == "list":
            return {"count": len(store.list(op.archived))}
        if kind == "search":  # the record ids of one rollout: every line a writer wrote carries its id
            return {"hits": len(store.search(op.rollout))}
        if kind == "find":
            entry = store.find(op.rollout)
            return entry.physical_path if entry else None
        if kind == "archive":
            return store.archive(op.path)
        if kind == "unarchive":
            return store.unarchive(op.path)
        if kind == "delete":
            return store.delete(op.path)
        raise ValueError(f"unknown operation {kind!r}")

    def _create_on_disk(self, path: str, lines: list[str]) -> str:
        """The harness creates a seed rollout itself (exclusively, 0600) for a store without ``create``."""
        full = os.path.join(self.home, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, "".join(line + "\n" for line in lines).encode())
        finally:
            os.close(fd)
        return path

    def _age(self, op: Op) -> str:
        """Back-date the plain file (the idle-week case, R12); the outcome says what was there."""
        try:
            disk.backdate(self.home, op.path, seconds=op.seconds)
        except FileNotFoundError:
            return "no plain file"  # compressed, archived or deleted meanwhile: nothing to age
        return "aged"


def _session_died(exc: BaseException) -> bool:
    """The stdio client's verdict that its program exited (not a protocol lie of a live program)."""
    return type(exc).__name__ == "Inconclusive" and getattr(exc, "returncode", None) is not None


def _death(exc: BaseException) -> str:
    code = getattr(exc, "returncode", None)
    return f"killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exit status {code}"


def open_store(selection: str) -> Any:
    """The store for ``selection``, through the suite's one selection syntax (imported late)."""
    from conformance.stores.selection import open_store as select

    return select(selection)


def _point_failpoints_here(spec: ActorSpec) -> None:
    """Aim this process's failpoint client at the actor's own socket before the store starts."""
    os.environ.pop(SOCKET_ENV, None)
    os.environ.pop(FILTER_ENV, None)
    if spec.socket:
        os.environ[SOCKET_ENV] = spec.socket
        if spec.failpoint_filter:
            os.environ[FILTER_ENV] = ",".join(spec.failpoint_filter)
    # A forked child inherits failpoint clients configured from the parent's environment.
    failpoints = sys.modules.get("reference.failpoints")
    if failpoints is not None:
        failpoints.reload_from_environment()


def _exit_when_orphaned(parent: int) -> None:
    """An actor never outlives its harness: once re-parented (the harness died or was killed), it exits."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_POLL_SECONDS)
    os._exit(1)


def actor_main(spec: ActorSpec, conn: Any, history: Any = None) -> None:
    """Child entry point: own session (so a kill takes the store's helpers too), own stdout and stderr,
    and no life after the harness (an orphaned actor holding the harness's pipes kept a caller's
    ``communicate`` waiting for minutes after an interrupted run had exited).  ``history``: where its
    events go (default: its own file in the work folder; race_harness/remote_actor.py on another host)."""
    parent = os.getppid()
    os.setsid()
    err = os.open(os.path.join(spec.workdir, f"stderr-{spec.name}.txt"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(err, 1)
    os.dup2(err, 2)
    os.close(err)
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True, name="orphan-watch").start()
    _point_failpoints_here(spec)
    if history is None:
        history = HistoryWriter(os.path.join(spec.workdir, f"history-{spec.name}.jsonl"), spec.name, spec.host)
    store = None
    try:
        if spec.selection is not None:
            store = open_store(spec.selection)
            store.configure(spec.home, spec.cold_after)
            hello = store.hello()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which says inconclusive
        traceback.print_exc()
        conn.send(Broken(spec.name, f"{type(exc).__name__}: {exc}"))
        return
    if store is None:
        conn.send(Ready(spec.name, os.getpid(), (), (), "harness", selection=None))
    else:
        conn.send(Ready(spec.name, os.getpid(), tuple(hello.capabilities), tuple(hello.failpoints),
                        f"{hello.name} {hello.version}", selection=spec.selection,
                        coordination=tuple(getattr(hello, "coordination", ()) or ())))
    def reopen() -> Any:
        fresh = open_store(spec.selection)
        fresh.configure(spec.home, spec.cold_after)
        return fresh

    executor = Executor(store, history, spec.name, spec.home, reopen if store is not None else None)
    try:
        if spec.program is not None:
            spec.program(executor, conn)
        else:
            while True:
                message = conn.recv()
                if isinstance(message, Stop):
                    break
                conn.send(executor.run(message))
    except (EOFError, BrokenPipeError):
        pass  # the parent went away or stopped listening: nothing left to report to
    finally:
        try:
            if store is not None:
                store.close()
        except Exception:  # noqa: BLE001 - a store failing to close must not hide the run's history
            traceback.print_exc()
        history.close()
