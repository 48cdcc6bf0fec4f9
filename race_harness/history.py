"""The history of a run: every operation as invoke / ok / fail / info events, one JSON line each.

Contract: each actor appends its own events to its own file with one ``write`` per event, so a
SIGKILLed actor leaves every event it recorded (the controller does so for an actor on another host,
as each event arrives); :func:`load_operations` pairs invokes with their
completions and turns an invoke without completion into an indeterminate (``info``) operation.
Every line an actor writes to a rollout carries a unique record id (``rid``) in its payload, so the
checker can find each acknowledged line on disk without asking the store.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
#: Ops whose invoke carries rids of lines meant to land in a rollout.
WRITING_OPS = frozenset({"create", "append", "write"})
#: StoreError kinds that do not prove the operation left nothing behind (mid-append io_error).
INDETERMINATE_KINDS = frozenset({"io_error", "internal"})
#: A line that is JSON but carries no rid (someone else's line) or is not JSON at all.
FOREIGN, GARBLED = "?", "!"


@dataclass(frozen=True)
class Event:
    """One history event; ``seq`` pairs an invoke with its completion inside one process."""

    type: str  # invoke | ok | fail | info
    proc: str
    seq: int
    #: time.monotonic() of the controller's machine: an actor there reads it itself; the controller
    #: stamps the events of an actor on another host as it receives them (race_harness/gateways.py)
    time: float
    op: str
    rollout: str = ""  # the uuid, stable across archive / unarchive / compression
    path: str = ""
    rids: tuple[str, ...] = ()
    value: Any = None
    error: str = ""
    host: str = ""  # the named host the actor ran on ("" for a run without --host)
    clock: float | None = None  # the actor's own wall clock (time.time() on its host): shown, never ordered by


@dataclass(frozen=True)
class Operation:
    """An invoke joined with its completion (``status`` info when none was recorded)."""

    proc: str
    seq: int
    op: str
    rollout: str
    path: str
    rids: tuple[str, ...]
    start: float
    end: float  # +inf when the operation never completed (killed)
    status: str  # ok | fail | info
    value: Any = None
    error: str = ""
    host: str = ""  # the named host its actor ran on

    def describe(self) -> str:
        """One line a person can read: who did what to which rollout, and how it ended."""
        what = f"{self.proc}#{self.seq} {self.op}"
        if self.rollout:
            what += f" {self.rollout[:8]}"
        if self.rids:
            what += f" rids={','.join(self.rids[:3])}{'...' if len(self.rids) > 3 else ''}"
        end = "never completed" if self.end == float("inf") else f"t={self.end:.4f}"
        outcome = self.status + (f" ({self.error})" if self.error else "")
        if self.status == OK and self.value not in (None, "", {}):
            outcome += f" -> {_short(self.value)}"
        return f"[t={self.start:.4f}..{end}] {what}: {outcome}"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 120 else text[:117] + "..."


class HistoryWriter:
    """Appends one actor's events to its own file; each event is one ``write`` (kill safe)."""

    def __init__(self, path: str, proc: str, host: str = "") -> None:
        self.proc = proc
        self.host = host
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._seq = 0

    def invoke(self, op: str, rollout: str = "", path: str = "", rids: tuple[str, ...] = ()) -> int:
        self._seq += 1
        self._emit(Event(INVOKE, self.proc, self._seq, time.monotonic(), op, rollout, path, rids, host=self.host,
                         clock=time.time()))
        return self._seq

    def complete(self, seq: int, kind: str, op: str, rollout: str, value: Any = None, error: str = "") -> None:
        self._emit(Event(kind, self.proc, seq, time.monotonic(), op, rollout, value=value, error=error,
                         host=self.host, clock=time.time()))

    def _emit(self, event: Event) -> None:
        append_event(self._fd, event)

    def close(self) -> None:
        os.close(self._fd)


def append_event(fd: int, event: Event) -> None:
    """One event as one ``write`` (a SIGKILL between events leaves whole lines)."""
    os.write(fd, (json.dumps(asdict(event), separators=(",", ":")) + "\n").encode())


def read_events(path: str) -> list[Event]:
    """Events of one file; a torn last line (the writer was killed mid-write) is skipped."""
    events = []
    with open(path, "rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            data = json.loads(raw)
            data["rids"] = tuple(data.get("rids") or ())
            events.append(Event(**data))
    return events


def load_events(run_dir: str) -> list[Event]:
    """Every event of every actor of a run, by time."""
    events: list[Event] = []
    for path in sorted(glob.glob(os.path.join(run_dir, "history-*.jsonl"))):
        events.extend(read_events(path))
    events.sort(key=lambda e: (e.time, e.proc, e.seq, e.type != INVOKE))
    return events


def operations(events: list[Event]) -> list[Operation]:
    """Join invokes with completions; an invoke left open becomes an ``info`` operation."""
    done = {(e.proc, e.seq): e for e in events if e.type != INVOKE}
    ops = []
    for e in events:
        if e.type != INVOKE:
            continue
        end = done.get((e.proc, e.seq))
        if end is None:
            ops.append(Operation(e.proc, e.seq, e.op, e.rollout, e.path, e.rids, e.time, float("inf"), INFO,
                                 error="never completed (process killed or stopped)", host=e.host))
        else:
            ops.append(Operation(e.proc, e.seq, e.op, e.rollout, e.path, e.rids, e.time, end.time, end.type,
                                 end.value, end.error, e.host))
    return ops


def write_history(path: str, events: list[Event]) -> None:
    """The merged history of a run as one JSON-lines file (the bundle's history.jsonl)."""
    with open(path, "w") as handle:
        for event in events:
            handle.write(json.dumps(asdict(event), separators=(",", ":")) + "\n")


def make_line(rid: str, size: int) -> str:
    """An ``event_msg`` line of about ``size`` bytes whose payload carries ``rid``."""
    line = {
        "timestamp": "2025-01-03T12:00:00.000Z",
        "type": "event_msg",
        "payload": {"type": "race_record", "rid": rid, "pad": ""},
    }
    base = len(json.dumps(line, separators=(",", ":")))
    line["payload"]["pad"] = "x" * max(0, size - base)
    return json.dumps(line, separators=(",", ":"))


def make_header(rollout_id: str, rid: str) -> str:
    """The ``session_meta`` first line of a rollout created by the harness, carrying a rid too."""
    return json.dumps(
        {
            "timestamp": "2025-01-03T12:00:00.000Z",
            "type": "session_meta",
            # codex skips (and refuses to read) a rollout whose session_meta has no timestamp
            "payload": {"id": rollout_id, "timestamp": "2025-01-03T12:00:00.000Z", "cwd": "/race",
                        "originator": "race_harness", "cli_version": "0",
                        "source": "cli", "model_provider": "none", "rid": rid},
        },
        separators=(",", ":"),
    )


def rids_in(content: bytes) -> list[str]:
    """The rid of every complete line, in order (FOREIGN / GARBLED for lines without one).

    A final fragment without ``\\n`` is a torn tail still being written: it is not a line yet.
    """
    found = []
    lines = content.split(b"\n")
    for raw in lines[:-1]:
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            found.append(GARBLED)
            continue
        rid = _rid_of(data)
        found.append(rid if isinstance(rid, str) else FOREIGN)
    return found


def _rid_of(line) -> object:
    """The rid a line carries: in its payload, or in the line a session writer recorded as a user message.

    A ``session-writer`` store (PROTOCOL.md) such as codex records the whole line given to ``write``
    as the ``message`` of its own ``event_msg``/``user_message`` line; that line carries the rid.
    Its other lines (codex also copies the text into a ``response_item`` message) are foreign.
    """
    payload = line.get("payload") if isinstance(line, dict) else None
    if not isinstance(payload, dict):
        return None
    if "rid" in payload:
        return payload["rid"]
    message = payload.get("message")
    if line.get("type") != "event_msg" or payload.get("type") != "user_message" or not isinstance(message, str):
        return None
    try:
        recorded = json.loads(message)
    except ValueError:
        return None
    inner = recorded.get("payload") if isinstance(recorded, dict) else None
    return inner.get("rid") if isinstance(inner, dict) else None


@dataclass(frozen=True)
class RunSummary:
    """Counts for the end-of-run summary: operations by kind and status, outcomes by name."""

    ops: dict[str, dict[str, int]] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, ops: list[Operation]) -> "RunSummary":
        by_op: dict[str, dict[str, int]] = {}
        outcomes: dict[str, int] = {}
        for op in ops:
            row = by_op.setdefault(op.op, {})
            row[op.status] = row.get(op.status, 0) + 1
            if op.status != OK:
                continue
            if op.op == "compress" and isinstance(op.value, str):
                outcomes[op.value] = outcomes.get(op.value, 0) + 1
            elif op.op == "run_worker" and isinstance(op.value, dict):
                for outcome in (op.value.get("outcomes") or {}).values():
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
        return cls(by_op, outcomes)
