"""Mutants of the classes that once escaped every test (issue #22): the clock and the machine's time
zone in the cold rule, a bug in one coordination scheme that the other scheme hides, and a
check-then-act ``create``.

Each is the reference with one small override (a compressor step, one scheme's writer lock, or
``create``); the rest is the reference's own code.
"""

from __future__ import annotations

import os
import time

from reference import appending, failpoints, thread_locks
from reference.compression import Compressor
from reference.coordination import WRITER_LOCK_TIMEOUT, CodexThreadLocks, InodeFlock
from reference.store import ReferenceStore

from conformance.api.errors import BusyError
from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()


class _ZoneNaiveNow(Compressor):
    """"Now" as the UTC wall clock read back as local time (``datetime.utcnow().timestamp()``)."""

    def is_cold(self, st: os.stat_result) -> bool:
        wall = time.time()
        now = time.mktime(time.gmtime(wall)) + wall % 1  # utcnow().timestamp(): right only where the zone is UTC
        return now - st.st_mtime >= self.home.cold_after_seconds


@MUTANTS.store(
    "cold-rule-zone-naive-now", ("COMP-001",),
    "a worker that computes now as datetime.utcnow().timestamp() (a naive UTC time read as local "
    "time): correct on a UTC machine; east of UTC nothing is cold for hours, west of UTC live sessions "
    "are compressed hours early",
)
class ColdRuleZoneNaiveNow(ReferenceStore):
    compressor_class = _ZoneNaiveNow


class _AbsoluteAge(Compressor):
    """Age as ``abs(now - mtime)``: a mtime in the future counts as old."""

    def is_cold(self, st: os.stat_result) -> bool:
        return abs(time.time_ns() - st.st_mtime_ns) >= self.home.cold_after_seconds * 1e9


@MUTANTS.store(
    "cold-rule-absolute-age", ("COMP-001",),
    "a worker that judges age with abs(now - mtime): a rollout whose mtime lies in the future (clock "
    "skew, a copied home, a restored backup) counts as cold and is compressed while its session may "
    "still be live",
)
class ColdRuleAbsoluteAge(ReferenceStore):
    compressor_class = _AbsoluteAge


class _UnlinkOnClose(thread_locks.ThreadWriterLock):
    """Closing removes ``<id>.lock`` whenever it is still our file, without proving nobody else holds it."""

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            with thread_locks.CoordinationLock(self.home_root).acquire(0.0):
                if thread_locks._same_file(fd, self.path):  # the reference also takes LOCK_EX|LOCK_NB first
                    os.unlink(self.path)
        except BusyError:
            pass
        finally:
            os.close(fd)


class _CarelessThreadLocks(CodexThreadLocks):
    def writer_lock(self, home, location):
        held = _UnlinkOnClose(home.root, location.name.id, self.sweep_stale)
        held.acquire(WRITER_LOCK_TIMEOUT)
        return held


@MUTANTS.store(
    "close-unlinks-shared-thread-lock", ("CTL-004",),
    "a store following both schemes whose closing writer unlinks thread-writer-locks/<id>.lock while a "
    "second writer of the same thread still holds it: its own inode locks still stop its own "
    "compressor, but codex's compressor then finds no lock file and compresses under the live writer",
)
class CloseUnlinksSharedThreadLock(ReferenceStore):
    schemes = (InodeFlock, _CarelessThreadLocks)


class _TruncatesOnCreate(appending.Appender):
    def create_plain(self, location) -> int:
        os.makedirs(location.folder, mode=0o700, exist_ok=True)
        failpoints.hit("create.before_open", location.rel)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | appending.OPEN_FLAGS  # no O_EXCL
        return os.open(location.plain, flags, appending.CREATE_MODE)


@MUTANTS.store(
    "create-check-then-act", ("APPEND-006",),
    "a create that checks that the name is free, then opens with O_CREAT|O_TRUNC (no O_EXCL): a rollout "
    "another process created in between is truncated and both creates are acknowledged",
)
class CreateCheckThenAct(ReferenceStore):
    appender_class = _TruncatesOnCreate
