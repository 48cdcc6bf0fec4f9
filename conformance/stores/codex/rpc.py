"""One ``codex app-server --listen stdio://`` process, spoken to in JSON-RPC over JSON lines.

Contract: :meth:`AppServer.request` returns the ``result`` of a response or raises :class:`RpcError`
for an error response; a hang, an exit or garbage on stdout raises
:class:`conformance.protocol_client.Inconclusive` (with the tail of codex's stderr) and ends the
session.  Requests the server sends on its own are answered at once with an error, so codex never
waits on this client.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import json
import os
import signal
import subprocess
import tempfile
import threading
from typing import Any

from conformance.api.errors import Inconclusive

_STDERR_TAIL_BYTES = 4000
_METHOD_NOT_FOUND = -32601
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True)
#: One thread that lives as long as the process and forks every codex (see AppServer.__init__).
_SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="codex-spawner")


def _new_spawner_in_child() -> None:
    """A forked child has none of its parent's threads: an inherited executor would queue every
    spawn for a worker that does not exist (a race actor forked by a process that ran codex hung so)."""
    global _SPAWNER
    _SPAWNER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="codex-spawner")


os.register_at_fork(after_in_child=_new_spawner_in_child)


def _die_with_parent() -> None:
    """In the forked child: SIGKILL when the process that started it dies (its spawner thread lives as long).

    Otherwise a SIGKILLed owner (a race actor the harness kills) leaves codex to see EOF on stdin
    and shut down cleanly, writing its closing lines: a kill of the owner must crash codex too.
    """
    if _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() == 1:
        os._exit(127)  # the owner is already gone (or prctl failed): never run unowned


class RpcError(Exception):
    """codex answered a request with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"codex answered {method} with error {code}: {message}")
        self.code = code
        self.message = message


class AppServer:
    """A running app-server; its stderr is kept in a file the caller can scan (:meth:`stderr_text`)."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float) -> None:
        self.timeout = timeout
        self._stderr = tempfile.TemporaryFile(prefix="codex-app-server-stderr-")
        self._cond = threading.Condition()
        self._responses: dict[int, dict] = {}
        self._next_id = 1
        self._closed_reason: str | None = None
        self._write_lock = threading.Lock()
        try:
            # forked from the spawner thread: PR_SET_PDEATHSIG fires when the *thread* that forked
            # exits, and a caller's short-lived thread (the suite's kit.in_thread) must not kill codex
            self._process = _SPAWNER.submit(
                subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                env=env, start_new_session=True,  # its own process group, so close() kills every child too
                preexec_fn=_die_with_parent,
            ).result()
        except OSError as exc:
            self._stderr.close()
            raise Inconclusive(f"cannot start codex {argv[0]!r} ({exc}); run `rollout-conformance codex install`") from exc
        self._reader = threading.Thread(target=self._read_stdout, name="codex-app-server-stdout", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        """Send one request and wait for its response (timeout: the session's by default)."""
        with self._cond:
            ident = self._next_id
            self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}, method)
        wait = self.timeout if timeout is None else timeout
        with self._cond:
            self._cond.wait_for(lambda: ident in self._responses or self._closed_reason is not None, wait)
            response = self._responses.pop(ident, None)
            closed = self._closed_reason
        if response is None:
            self._fail(f"{closed} before answering {method}" if closed else f"did not answer {method} within {wait:g} s")
        if "error" in response:
            error = response["error"] or {}
            raise RpcError(method, error.get("code", 0), str(error.get("message", "")))
        return response.get("result")

    def notify(self, method: str, params: Any = None) -> None:
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message, method)

    def stderr_text(self) -> str:
        """Everything codex has written on stderr so far."""
        self._stderr.flush()
        return os.pread(self._stderr.fileno(), os.fstat(self._stderr.fileno()).st_size, 0).decode("utf-8", "replace")

    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self, grace: float = 0.0) -> None:
        """End codex: close its stdin and wait ``grace`` seconds for it to exit, then kill its group."""
        if grace > 0:
            try:
                self._process.stdin.close()
                self._process.wait(grace)
            except (OSError, subprocess.TimeoutExpired):
                pass  # killed below
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already gone
        self._process.wait()
        self._reader.join(5)
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass  # a pipe to a dead process: nothing left to flush
        self._stderr.close()

    def fail(self, reason: str) -> None:
        """Raise Inconclusive for ``reason`` with codex's stderr tail, killing the server."""
        self._fail(reason)

    # -- internals -----------------------------------------------------------------------------

    def _send(self, message: dict, method: str) -> None:
        data = json.dumps(message).encode("utf-8") + b"\n"
        with self._write_lock:
            try:
                self._process.stdin.write(data)
                self._process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._fail(f"{self._exit_words()} before {method} could be sent")

    def _read_stdout(self) -> None:
        for raw in self._process.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                self._close_with(f"wrote a line that is not JSON on stdout: {raw[:200]!r}")
                return
            if not isinstance(message, dict):
                continue
            if "method" in message and "id" in message:
                self._refuse(message)
            elif "id" in message and ("result" in message or "error" in message):
                with self._cond:
                    self._responses[message["id"]] = message
                    self._cond.notify_all()
            # notifications (method, no id) carry nothing the adapter needs: the disk is the truth
        self._close_with(self._exit_words())

    def _refuse(self, request: dict) -> None:
        """Answer a server-initiated request (approval, elicitation, ...) with an error at once."""
        answer = {"jsonrpc": "2.0", "id": request["id"],
                  "error": {"code": _METHOD_NOT_FOUND, "message": "rollout-conformance answers no server requests"}}
        try:
            self._send(answer, request.get("method", "?"))
        except Inconclusive:
            pass  # the server is gone; the waiting request reports it

    def _close_with(self, reason: str) -> None:
        with self._cond:
            if self._closed_reason is None:
                self._closed_reason = reason
            self._cond.notify_all()

    def _exit_words(self) -> str:
        try:
            code = self._process.wait(1.0)
        except subprocess.TimeoutExpired:
            return "closed its stdout"
        if code < 0:
            return f"was killed by signal {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def _fail(self, reason: str) -> None:
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        tail = self.stderr_text()[-_STDERR_TAIL_BYTES:] if not self._stderr.closed else ""
        raise Inconclusive(f"codex app-server {reason}", tail, self._process.poll())
