"""Named failpoints that a harness in another process can hold, crash or fail.

Contract: with ``ROLLOUT_FAILPOINT_SOCKET`` unset, :func:`hit` is one global lookup and returns.
With it set to the path of a Unix stream socket, each :func:`hit` sends one JSON line
``{"point": NAME, "pid": PID, "path": LOGICAL_PATH_OR_NULL}`` and blocks until the controller
answers with one JSON line:

* ``{"action": "continue"}``: go on;
* ``{"action": "crash"}``: the process kills itself with SIGKILL on the spot (a real crash:
  no cleanup, no ``finally``, no flush);
* ``{"action": "error", "errno": "ENOSPC"}``: the step fails as if the OS had refused it.

The channel is language neutral on purpose: any store, in any language, can implement the same
six lines of client and be driven by the race harness (PROTOCOL.md, "Failpoints").
``ROLLOUT_FAILPOINTS`` may restrict which points are reported (comma-separated names); the others
cost one set lookup.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import threading

from conformance.api.failpoints import FILTER_ENV, POINTS, SOCKET_ENV  # noqa: F401 (POINTS: the reference reports them all)


class _Channel:
    """One connection per process (re-opened after fork), serialised by a lock."""

    def __init__(self, address: str, only: frozenset[str] | None) -> None:
        self.address = address
        self.only = only
        self._lock = threading.Lock()
        self._sock = None
        self._reader = None
        self._pid = -1

    def _connect(self) -> None:
        import socket  # only a process with a failpoint channel pays for it at start-up

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.address)
        self._sock = sock
        self._reader = sock.makefile("rb")
        self._pid = os.getpid()

    def hit(self, point: str, path: str | None) -> None:
        if self.only is not None and point not in self.only:
            return
        with self._lock:
            if self._sock is None or self._pid != os.getpid():
                self._connect()
            message = json.dumps({"point": point, "pid": os.getpid(), "path": path})
            self._sock.sendall(message.encode() + b"\n")
            reply = self._reader.readline()
        if not reply:
            # The controller went away: a harness that stopped listening must not wedge the store.
            return
        decision = json.loads(reply)
        action = decision.get("action")
        if action == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "error":
            name = decision.get("errno", "EIO")
            code = getattr(errno, name, errno.EIO)
            raise OSError(code, f"{os.strerror(code)} (injected at {point})")


def _from_environment() -> _Channel | None:
    address = os.environ.get(SOCKET_ENV)
    if not address:
        return None
    only = os.environ.get(FILTER_ENV)
    return _Channel(address, frozenset(filter(None, only.split(","))) if only else None)


_channel = _from_environment()


def hit(point: str, path: str | None = None) -> None:
    """Report reaching ``point``; may block, raise OSError, or kill the process."""
    if _channel is not None:
        _channel.hit(point, path)


def reload_from_environment() -> None:
    """Re-read the environment (for a process that set the variables after import)."""
    global _channel
    _channel = _from_environment()
