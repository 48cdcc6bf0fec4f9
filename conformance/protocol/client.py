"""A :class:`conformance.store_api.Store` backed by a program speaking the stdio protocol.

Contract: errors the program reports come back as typed :class:`reference.errors.StoreError`;
anything else it does wrong (hang, exit, garbage, schema violation, lie) raises
:class:`Inconclusive`, after which the session is dead and the process group is killed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
from dataclasses import replace
from typing import Any

from conformance.protocol.wire import OPS, PROTOCOL_VERSION, REOPEN, ProtocolError, SchemaSampling, allowed, decode_result, strict_from_environment, validate_request, validate_response
from conformance.api.store import CleanupReport, Hello, ReadResult, RolloutEntry, SearchHit, UndeclaredCapabilityError, WorkerReport
from conformance.protocol.server_pool import ServerPool, ServerProcess, argv_of, spawn_key
from conformance.api.errors import Inconclusive, StoreError, error_for_kind

_STDERR_TAIL_BYTES = 4000
_SHUTDOWN_GRACE_SECONDS = 2.0


class CommandStore:
    """Runs ``command_line`` (shlex-split, own process group) and talks to it over stdin/stdout.

    ``strict`` (default: ``ROLLOUT_PROTOCOL_STRICT``) checks every message against its schema;
    otherwise :class:`conformance.protocol.SchemaSampling` picks them.  With a ``pool``, a program that
    declared ``reopen`` is reopened at :meth:`close` and kept there, and the next session of the same
    spawn starts on it (falling back to a fresh program whenever the reused one does not answer
    ``hello`` exactly as it did when fresh).
    """

    def __init__(self, command_line: str, timeout: float = 30.0, strict: bool | None = None,
                 pool: ServerPool | None = None) -> None:
        argv = argv_of(command_line)
        self.command_line = command_line
        self.timeout = timeout
        self._lock = threading.Lock()
        self._strict = strict
        self._pool = pool
        key = spawn_key(command_line)
        reused = pool.take(key) if pool is not None else None
        if reused is not None and self._handshake(reused):
            return
        try:
            program = ServerProcess(argv, key)
        except OSError as exc:
            raise Inconclusive(f"cannot start {argv[0]!r} ({exc}); check the cmd: command line") from exc
        if not self._handshake(program, fresh=True):
            raise self._broken

    def _handshake(self, program: ServerProcess, fresh: bool = False) -> bool:
        """Start a session on ``program`` with ``hello``; a reused program must answer exactly as it did
        when fresh, else it is discarded (False) and the caller starts a new one."""
        self._program = program
        self._next_id = 1
        self._broken: Inconclusive | None = None
        self._sampling = SchemaSampling(strict_from_environment() if self._strict is None else self._strict)
        try:
            hello = self._exchange("hello", protocol=PROTOCOL_VERSION)
        except Inconclusive:
            program.discard()  # the reason, with the stderr tail, is in self._broken
            return False
        if fresh:
            program.hello = hello
        elif hello != program.hello:
            program.discard()
            return False
        self._reopenable = REOPEN in hello.capabilities
        # reopen is the transport's, not a store capability: the suite sees the store's own handshake
        self._hello = replace(hello, capabilities=tuple(c for c in hello.capabilities if c != REOPEN))
        return True

    # -- the Store interface -------------------------------------------------------------------

    def hello(self) -> Hello:
        return self._hello

    def configure(self, home: str, cold_after_seconds: float) -> None:
        self._exchange("configure", home=str(home), cold_after_seconds=cold_after_seconds)

    def read(self, path: str) -> ReadResult:
        return self._exchange("read", path=str(path))

    def header(self, path: str) -> dict:
        return self._exchange("header", path=str(path))

    def list(self, archived: bool = False) -> list[RolloutEntry]:
        return self._exchange("list", archived=archived)

    def find(self, rollout_id: str) -> RolloutEntry | None:
        return self._exchange("find", rollout_id=rollout_id)

    def search(self, text: str, archived: bool = False) -> list[SearchHit]:
        return self._exchange("search", text=text, archived=archived)

    def create(self, path: str, lines: list[str]) -> str:
        return self._exchange("create", path=str(path), lines=list(lines))

    def append(self, path: str, lines: list[str]) -> str:
        return self._exchange("append", path=str(path), lines=list(lines))

    def open_writer(self, path: str) -> str:
        return self._exchange("open_writer", path=str(path))

    def write(self, handle: str, line: str) -> None:
        self._exchange("write", handle=handle, line=line)

    def close_writer(self, handle: str) -> None:
        self._exchange("close_writer", handle=handle)

    def materialize(self, path: str) -> bool:
        return self._exchange("materialize", path=str(path))

    def compress(self, path: str) -> str:
        return self._exchange("compress", path=str(path))

    def run_worker(self) -> WorkerReport:
        return self._exchange("run_worker")

    def cleanup(self) -> CleanupReport:
        return self._exchange("cleanup")

    def archive(self, path: str) -> str:
        return self._exchange("archive", path=str(path))

    def unarchive(self, path: str) -> str:
        return self._exchange("unarchive", path=str(path))

    def delete(self, path: str) -> None:
        self._exchange("delete", path=str(path))

    def close(self) -> None:
        """End the session: hand a program that declared ``reopen`` and confirmed it to the pool; otherwise
        ask it to shut down, then kill its whole process group whatever it answered."""
        with self._lock:
            if self._broken is None and self._program.process.poll() is None:
                if self._pool is not None and self._reopenable and self._reopened():
                    self._broken = Inconclusive("the session was closed")
                    self._pool.put(self._program)
                    return
                try:
                    self._round_trip("shutdown", {}, time.monotonic() + _SHUTDOWN_GRACE_SECONDS)
                    self._program.process.wait(_SHUTDOWN_GRACE_SECONDS)
                except (Inconclusive, StoreError, subprocess.TimeoutExpired):
                    pass  # closing anyway: the process group is killed below
            self._program.terminate()
            self._program.stderr.close()
            if self._broken is None:
                self._broken = Inconclusive("the session was closed")

    def _reopened(self) -> bool:
        """Whether the program confirmed ``reopen`` and then stayed quiet (else it is not reused)."""
        try:
            self._round_trip(REOPEN, {}, time.monotonic() + _SHUTDOWN_GRACE_SECONDS)
        except (Inconclusive, StoreError):
            return False
        if not self._program.idle():
            return False
        self._program.forget_stderr()
        return True

    @property
    def pid(self) -> int:
        """The program's process id, which is also its process group's (it runs in its own session)."""
        return self._program.process.pid

    def kill(self) -> None:
        """SIGKILL the program's whole process group and reap it: a crash, as the recovery tests make one.
        Safe while another thread waits for an answer (it sees the exit); a dead program is never reused."""
        try:
            os.killpg(self._program.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group is already gone
        self._program.process.wait()

    # -- one request, one response -------------------------------------------------------------

    def _exchange(self, op: str, **fields: Any) -> Any:
        capability = OPS[op]
        if capability is not None and not allowed(op, self._hello.capabilities):
            raise UndeclaredCapabilityError(
                f"{self._hello.name} did not declare the {capability!r} capability needed by {op}", capability)
        with self._lock:
            if self._broken is not None:
                raise Inconclusive(f"session already ended: {self._broken.reason}",
                                   self._broken.stderr_tail, self._broken.returncode)
            return self._round_trip(op, fields, time.monotonic() + self.timeout)

    def ask_undeclared(self, op: str, **fields: Any) -> Any:
        """Send ``op`` even though the handshake did not declare its capability: only ERR-009's test
        does, to see what the program itself answers (it must be ``unsupported``)."""
        with self._lock:
            if self._broken is not None:
                raise Inconclusive(f"session already ended: {self._broken.reason}",
                                   self._broken.stderr_tail, self._broken.returncode)
            return self._round_trip(op, fields, time.monotonic() + self.timeout)

    def _round_trip(self, op: str, fields: dict, deadline: float) -> Any:
        request = {"id": self._next_id, "op": op, **fields}
        self._next_id += 1
        if self._sampling.due(f"{op}.request"):
            validate_request(request)
        self._send(json.dumps(request).encode("utf-8") + b"\n", op, deadline)
        line = self._receive_line(op, deadline)
        try:
            response = json.loads(line)
        except ValueError:
            self._fail(f"answered {op} with a line that is not JSON: {_excerpt(line)}")
        if not isinstance(response, dict) or response.get("id") != request["id"]:
            self._fail(f"answered request id {request['id']} ({op}) with a mismatched id: {_excerpt(line)}")
        if op == "hello" and response.get("ok") is True:
            spoken = (response.get("result") or {}).get("protocol")
            if spoken != PROTOCOL_VERSION:
                self._fail(f"speaks protocol {spoken!r}; this suite speaks protocol {PROTOCOL_VERSION}")
        ok = response.get("ok") is True
        try:
            if not ok or op == "hello" or self._sampling.due(f"{op}.response"):
                validate_response(op, response)
            if ok:
                return decode_result(op, response["result"])
        except (ProtocolError, ValueError, TypeError, KeyError, AttributeError) as exc:
            self._fail(f"answered {op} outside the protocol: {type(exc).__name__}: {exc}")
        error = response["error"]
        if op == "hello":
            self._fail(f"refused the handshake: {error['kind']}: {error['message']}")
        needed = OPS[op]
        if error["kind"] == "unsupported" and needed is not None and allowed(op, self._hello.capabilities):
            # a store that declared reader was asked list or find, which reader includes
            claimed = "reader" if needed == "discovery" and needed not in self._hello.capabilities else needed
            self._fail(f"declared the {claimed!r} capability in hello but answered {op} with unsupported")
        raise error_for_kind(error["kind"], error["message"], error["path"])

    def _send(self, data: bytes, op: str, deadline: float) -> None:
        fd = self._program.process.stdin.fileno()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]  # a request fits the pipe buffer: no select first
            except BlockingIOError:
                self._program.writable.poll(_milliseconds(self._remaining(op, deadline)))  # full: wait until writable
            except BrokenPipeError:
                self._fail_exited(op)

    def _receive_line(self, op: str, deadline: float) -> bytes:
        fd = self._program.process.stdout.fileno()
        scanned = 0
        while (end := self._program.buffer.find(b"\n", scanned)) < 0:
            scanned = len(self._program.buffer)
            if not self._program.readable.poll(_milliseconds(self._remaining(op, deadline))):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self._fail_exited(op)
            self._program.buffer += chunk
        line = bytes(self._program.buffer[:end])
        del self._program.buffer[: end + 1]
        return line

    def _remaining(self, op: str, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            self._fail(f"did not answer {op} within {self.timeout:g} s (hung?)")
        return left

    # -- failure and teardown ------------------------------------------------------------------

    def _fail_exited(self, op: str) -> None:
        try:
            code = self._program.process.wait(1.0)
        except subprocess.TimeoutExpired:
            self._fail(f"closed its stdout before answering {op}")
        how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        self._fail(f"{how} before answering {op}")

    def _fail(self, reason: str) -> None:
        self._program.terminate()
        self._program.stderr.seek(0, os.SEEK_END)
        self._program.stderr.seek(max(0, self._program.stderr.tell() - _STDERR_TAIL_BYTES))
        tail = self._program.stderr.read().decode("utf-8", "replace")
        self._broken = Inconclusive(f"{self.command_line!r} {reason}", tail, self._program.process.returncode)
        raise self._broken

def _milliseconds(seconds: float) -> int:
    """A poll timeout: at least 1 ms, so a deadline still ahead is never a busy loop."""
    return max(1, math.ceil(seconds * 1000))


def _excerpt(line: bytes) -> str:
    return repr(line[:200]) + (" ..." if len(line) > 200 else "")
