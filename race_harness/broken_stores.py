"""Deliberately broken stores that prove the harness catches the bugs it exists for.

Contract: each class is the reference store with one behaviour replaced by a known-bad one;
select them as ``py:race_harness.broken_stores:UnlockedAppendStore`` (and so on).  They keep the
reference's failpoints, so scenarios force their bug deterministically.
"""

from __future__ import annotations

import os

from reference import appending, failpoints
from reference.errors import from_os_error
from reference.store import ReferenceStore


class UnlockedAppendStore(ReferenceStore):
    """Upstream's writer as merged: open plain with O_APPEND and no lock, so the worker unlinks
    the file under it and every later line is lost (R2, R12)."""

    name = "broken-unlocked-append"

    def _open_unlocked(self, path: str) -> tuple[int, str]:
        location = self._locate(path)
        if not os.path.exists(location.plain):
            appending.materialize(location)
        try:
            fd = os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        failpoints.hit("append.after_open", location.rel)
        return fd, location

    def append(self, path: str, lines: list[str]) -> str:
        fd, location = self._open_unlocked(path)
        try:
            for line in lines:
                appending.write_line(fd, appending.encode_line(line), location.rel)
        finally:
            os.close(fd)
        return location.rel

    def open_writer(self, path: str) -> str:
        fd, location = self._open_unlocked(path)
        handle = f"w{next(self._handles)}"
        self._writers[handle] = (fd, location)
        return handle


class RawZstAppendStore(ReferenceStore):
    """Appends raw JSONL to the `.zst` when there is no plain file, instead of materializing:
    the corruption every reader of a compressed rollout then trips over."""

    name = "broken-raw-zst-append"

    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        if os.path.exists(location.plain) or not os.path.exists(location.zst):
            return super().append(path, lines)
        fd = os.open(location.zst, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        try:
            for line in lines:
                appending.write_line(fd, appending.encode_line(line), location.rel)
        finally:
            os.close(fd)
        return location.rel
