"""The server side of the failpoint channel: hold, release, crash or fail any store at any point.

Contract: every actor gets its own Unix socket (so a hit is attributed to an actor even when the
store is another program with its own pid); each hit is answered by the current policy at once,
or held until :meth:`Controller.release`.  Held hits are announced on the run's event bus; every
decision, automatic or not, is appended to :attr:`Controller.schedule` in the order it was sent,
which is what a repro bundle records and ``replay`` imposes again.  A policy may also answer
``(action, errno, delay_s)``: the answer is then sent ``delay_s`` seconds late (the store waits at
its failpoint, widening the window there), and the delay is recorded with the decision.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from conformance.api.failpoints import CONTINUE, CRASH, ERROR  # noqa: F401 (re-exported: the harness's policies answer with them)



@dataclass(frozen=True)
class Hit:
    """A store reached a failpoint and waits for an answer."""

    id: int
    actor: str
    point: str
    path: str | None
    pid: int
    time: float


@dataclass(frozen=True)
class Held:
    """Bus message: ``hit`` is held until someone releases it."""

    hit: Hit


@dataclass(frozen=True)
class Decision:
    """What the controller answered to one hit (the unit of a schedule)."""

    hit: int
    actor: str
    point: str
    action: str
    errno: str | None = None
    note: str = ""
    delay: float = 0.0  # seconds the answer was held back (campaign window widening)
    hit_time: float = 0.0  # time.monotonic() when the store reached the point
    time: float = 0.0  # time.monotonic() when the answer was decided (sent ``delay`` later)
    pid: int = 0  # the store process that reached the point (a cmd: store is not the actor)

    def label(self) -> str:
        """``actor@point:action`` (plus ``+Nms`` when the answer was delayed)."""
        text = f"{self.actor}@{self.point}:{self.action}"
        return text + (f"+{self.delay * 1000:.0f}ms" if self.delay else "")


#: A policy answers a hit with (action, errno) or (action, errno, delay_s), or None to hold it.
Policy = Callable[[Hit], "tuple[str, str | None] | tuple[str, str | None, float] | None"]


def continue_all(hit: Hit) -> tuple[str, None]:
    return CONTINUE, None


class Controller:
    """Listens on one socket per actor and answers failpoint hits."""

    def __init__(self, directory: str, bus: "queue.Queue[object]") -> None:
        self.directory = directory
        self.bus = bus
        self.policy: Policy = continue_all
        self.schedule: list[Decision] = []
        self.hits: list[Hit] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._held: dict[int, tuple[Hit, threading.Event, list]] = {}
        self._listeners: list[socket.socket] = []
        self._paths: list[str] = []
        self._closed = False

    def socket_for(self, actor: str) -> str:
        """A fresh socket path whose hits are attributed to ``actor``."""
        path = os.path.join(self.directory, f"fp-{len(self._paths)}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        self._listeners.append(listener)
        self._paths.append(path)
        threading.Thread(target=self._accept, args=(listener, actor), daemon=True).start()
        return path

    def _accept(self, listener: socket.socket, actor: str) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn, actor), daemon=True).start()

    def _serve(self, conn: socket.socket, actor: str) -> None:
        reader = conn.makefile("rb")
        try:
            for raw in reader:
                message = json.loads(raw)
                hit = Hit(next(self._ids), actor, message.get("point", ""), message.get("path"),
                          int(message.get("pid") or 0), time.monotonic())
                action, errno = self._decide(hit)
                reply = {"action": action} if errno is None else {"action": action, "errno": errno}
                conn.sendall(json.dumps(reply).encode() + b"\n")
        except (OSError, ValueError):
            pass  # the store died (possibly on our own "crash" answer) or closed its channel
        finally:
            reader.close()  # the file object holds the socket open too
            conn.close()

    def _decide(self, hit: Hit) -> tuple[str, str | None]:
        with self._lock:
            self.hits.append(hit)
            answer = (CONTINUE, None) if self._closed else self.policy(hit)
            if answer is not None:
                delay = float(answer[2]) if len(answer) > 2 and answer[2] else 0.0
                self.schedule.append(Decision(hit.id, hit.actor, hit.point, answer[0], answer[1], delay=delay,
                                              hit_time=hit.time, time=time.monotonic(), pid=hit.pid))
            else:
                gate, slot = threading.Event(), []
                self._held[hit.id] = (hit, gate, slot)
        if answer is not None:
            if delay > 0:
                time.sleep(delay)  # outside the lock: only this actor's store waits
            return answer[0], answer[1]
        self.bus.put(Held(hit))
        gate.wait()
        return slot[0]

    def release(self, hit: Hit, action: str = CONTINUE, errno: str | None = None, note: str = "") -> None:
        """Answer a held hit; releasing one already answered does nothing."""
        with self._lock:
            entry = self._held.pop(hit.id, None)
            if entry is None:
                return
            self.schedule.append(Decision(hit.id, hit.actor, hit.point, action, errno, note, hit_time=hit.time,
                                          time=time.monotonic(), pid=hit.pid))
        entry[2].append((action, errno))
        entry[1].set()

    def held(self) -> list[Hit]:
        with self._lock:
            return [hit for hit, _, _ in self._held.values()]

    def release_all(self, note: str) -> None:
        for hit in self.held():
            self.release(hit, note=note)

    def schedule_rows(self) -> list[dict]:
        with self._lock:
            return [asdict(d) for d in self.schedule]

    def close(self) -> None:
        """Stop listening; every hit still held, and any later one, is answered ``continue``."""
        with self._lock:
            self._closed = True
        self.release_all("controller closed")
        for listener in self._listeners:
            listener.close()
        for path in self._paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
