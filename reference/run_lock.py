"""Run exclusion for the compression worker: the flock'd run lock and upstream's run marker."""

from __future__ import annotations

import fcntl
import json
import os
import time

from conformance.api.errors import from_os_error
from reference.home import Home
from reference.locks import OPEN_FLAGS

RUN_LOCK = "rollout-maintenance.lock"
# Upstream's O_EXCL run marker: honoured so the reference never runs beside an upstream worker.
UPSTREAM_MARKER = "rollout-compression.lock"
UPSTREAM_MARKER_STALE_SECONDS = 6 * 3600


class RunLock:
    """``flock`` on ``.tmp/rollout-maintenance.lock``: the liveness signal dies with its holder."""

    def __init__(self, home: Home) -> None:
        self.path = os.path.join(home.tmp_dir, RUN_LOCK)
        self.fd: int | None = None

    def try_claim(self) -> bool:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | OPEN_FLAGS, 0o600)
        except OSError as exc:
            raise from_os_error(exc, self.path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        self.heartbeat()
        return True

    def heartbeat(self) -> None:
        """Record who runs and when, for people; the flock is what other runs check."""
        note = json.dumps({"pid": os.getpid(), "heartbeat_ns": time.time_ns()}).encode() + b"\n"
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, note, 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def upstream_marker_is_fresh(home: Home) -> bool:
    try:
        st = os.stat(os.path.join(home.tmp_dir, UPSTREAM_MARKER))
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise from_os_error(exc) from None  # an unreadable home is one error line, not a traceback
    return time.time() - st.st_mtime < UPSTREAM_MARKER_STALE_SECONDS
