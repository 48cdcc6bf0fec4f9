"""One codex session writing to one rollout: its own app-server, ``thread/resume``, ``turn/start``.

Contract: :meth:`CodexSession.resume` returns once codex holds the rollout open for appending
(``thread/resume`` answered); :meth:`CodexSession.write` returns once codex has written the
``event_msg``/``user_message`` line carrying the given text into the file it holds open (read
through ``/proc/<pid>/fd``, so a line codex wrote into an unlinked inode still counts as written:
that is codex's acknowledgement, and the checker then finds it lost).  Each session is its own
process because codex 0.171.0 never unloads a resumed thread inside one app-server
(``thread/unsubscribe`` keeps the file open and the writer lock held), so closing a writer means
ending its process.
"""

from __future__ import annotations

import json
import os
import time

from conformance.api.errors import BusyError, NotFoundError, StoreError

from conformance.stores.codex import launch
from conformance.stores.codex.rpc import RpcError

_CLOSE_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.01


class CodexSession:
    def __init__(self, server, thread_id: str, plain_path: str, timeout: float) -> None:
        self._server = server
        self.thread_id = thread_id
        self._plain_path = plain_path
        self._timeout = timeout
        self._fd_path = self._codex_descriptor()
        self._scanned = os.path.getsize(self._fd_path)
        self._partial = b""
        self._turn_id: str | None = None  # the last turn started, interrupted before the next

    @classmethod
    def resume(cls, binary: str, home: str, scratch: str, rel: str, timeout: float) -> "CodexSession":
        from conformance.oracle import disk as oracle

        thread_id = oracle.parse_name(os.path.basename(rel))[1]
        server = launch.start(binary, home, scratch, timeout)
        try:
            server.request("thread/resume", {"threadId": thread_id, "approvalPolicy": "never", "sandbox": "read-only"})
            return cls(server, thread_id, os.path.join(home, rel), timeout)
        except RpcError as exc:
            server.close()
            raise _store_error(exc, rel) from exc
        except BaseException:
            server.close()
            raise

    def write(self, text: str) -> None:
        self._interrupt_previous_turn()
        turn = {"threadId": self.thread_id, "input": [{"type": "text", "text": text, "text_elements": []}]}
        try:
            started = self._server.request("turn/start", turn)
        except RpcError as exc:
            raise _store_error(exc, self._plain_path) from exc
        self._turn_id = ((started or {}).get("turn") or {}).get("id")
        deadline = time.monotonic() + self._timeout
        while not self._wrote(text):
            if not self._server.alive():
                self._server.fail("exited before writing the user message of turn/start")
            if time.monotonic() > deadline:
                self._server.fail(f"answered turn/start but wrote no user_message line within {self._timeout:g} s")
            time.sleep(_POLL_SECONDS)

    def close(self) -> None:
        self._server.close(grace=_CLOSE_GRACE_SECONDS)

    def _interrupt_previous_turn(self) -> None:
        """End the previous turn, if any: offline its model call fails, but some releases (0.156.0
        seen) retry it for minutes and queue a new turn behind it, writing nothing of the new one."""
        if self._turn_id is None:
            return
        try:
            self._server.request("turn/interrupt", {"threadId": self.thread_id, "turnId": self._turn_id})
        except RpcError:
            pass  # already over (the model call failed for good): nothing to end
        self._turn_id = None

    def _codex_descriptor(self) -> str:
        """``/proc/<pid>/fd/<n>`` of the rollout codex holds open for appending."""
        found = self._find_descriptor()
        if found is None:
            self._server.fail(f"answered thread/resume but holds no descriptor on {self._plain_path}")
        return found

    def _find_descriptor(self) -> str | None:
        folder = f"/proc/{self._server.pid}/fd"
        for name in os.listdir(folder):
            try:
                target = os.readlink(os.path.join(folder, name))
            except OSError:
                continue  # closed meanwhile
            if target in (self._plain_path, self._plain_path + " (deleted)"):
                return os.path.join(folder, name)
        return None

    def _wrote(self, text: str) -> bool:
        """Scan the lines codex appended since the last call for our user_message."""
        try:
            handle = open(self._fd_path, "rb")
        except FileNotFoundError:
            # codex closed the file it held (0.171.0 seen, after a pass through another mount of the
            # home unlinked it); the turn's line goes to whichever file it opens next, read from its start
            reopened = self._find_descriptor()
            if reopened is not None:
                self._fd_path, self._scanned, self._partial = reopened, 0, b""
            return False
        with handle:
            handle.seek(self._scanned)
            chunk = handle.read()
        self._scanned += len(chunk)
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        return any(_user_message(raw) == text for raw in complete)


def _user_message(raw: bytes) -> str | None:
    if b'"user_message"' not in raw:
        return None
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    payload = line.get("payload") if isinstance(line, dict) else None
    if line.get("type") == "event_msg" and isinstance(payload, dict) and payload.get("type") == "user_message":
        return payload.get("message")
    return None


def _store_error(exc: RpcError, where: str) -> StoreError:
    text = exc.message.lower()
    if "lock" in text or "busy" in text or "in use" in text:
        return BusyError(exc.message, path=where)
    if "not found" in text or "no rollout" in text or "does not exist" in text:
        return NotFoundError(exc.message, path=where)
    return StoreError(str(exc), path=where)
