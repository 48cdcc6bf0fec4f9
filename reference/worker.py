"""One worker run over a home: claim the run lock, recover, clean temps, compress cold rollouts."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import failpoints, reading
from .compression import CompressResult, compress_one, is_cold
from .coordination import Coordination
from .discovery import Found, scan, unreadable
from .errors import NotFoundError, StoreError, from_os_error
from .home import Home
from .locks import OPEN_FLAGS
from .recovery import Reconciled, reconcile_all, remove_orphaned_temps

RUN_LOCK = "rollout-maintenance.lock"
# Upstream's O_EXCL run marker: honoured so the reference never runs beside an upstream worker.
UPSTREAM_MARKER = "rollout-compression.lock"
UPSTREAM_MARKER_STALE_SECONDS = 6 * 3600
PARALLEL_FILES = 2


@dataclass(frozen=True)
class RunReport:
    ran: bool
    results: dict[str, CompressResult] = field(default_factory=dict)
    temps_removed: tuple[str, ...] = ()
    reconciled: tuple[Reconciled, ...] = ()
    reason: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results.values() if r.outcome == outcome)


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
        raise from_os_error(exc) from None
    return time.time() - st.st_mtime < UPSTREAM_MARKER_STALE_SECONDS


def fork_bases(rollouts: list[Found]) -> frozenset[str]:
    """Ids named as ``forked_from_id`` by any readable rollout header."""
    bases = set()
    for found in rollouts:
        try:
            opened = reading.open_selected(found.location)
        except StoreError as exc:
            unreadable(exc, fatal=False)  # one bad header must not stop a run (ERR-008)
            continue
        try:
            meta = reading.session_meta(reading.byte_chunks(opened), found.location.rel)
        except StoreError as exc:
            unreadable(exc, fatal=False)
            continue
        finally:
            os.close(opened.fd)
        parent = meta.get("forked_from_id")
        if isinstance(parent, str):
            bases.add(parent.lower())
    return frozenset(bases)


def run(
    home: Home,
    coord: Coordination | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    """One run; ``ran=False`` (and nothing touched) when another run holds the home.

    ``coord`` defaults to every scheme the reference knows, so a run over a real home is safe
    next to codex writers and next to ``inode-flock`` writers alike.
    """
    coord = coord or Coordination.following_all(home)
    if upstream_marker_is_fresh(home):
        return RunReport(ran=False, reason="a fresh upstream run marker is present")
    run_lock = RunLock(home)
    if not run_lock.try_claim():
        return RunReport(ran=False, reason="another worker run holds the home")
    try:
        failpoints.hit("worker.after_claim", None)
        reconciled = () if dry_run else tuple(reconcile_all(home, coord))
        removed = () if dry_run else tuple(remove_orphaned_temps(home))
        rollouts = list(scan(home))
        candidates = sorted((f for f in rollouts if not f.compressed), key=lambda f: f.location.rel)
        # Finding fork bases reads every header (decoding each .zst's first frame); skip it when
        # no candidate is cold, which is every run after the first over a large home.
        now_ns = time.time_ns()
        any_cold = any(is_cold(home, f.mtime_ns, now_ns) for f in candidates)
        bases = fork_bases(rollouts) if any_cold else frozenset()
        results: dict[str, CompressResult] = {}

        def one(found: Found) -> tuple[str, CompressResult]:
            try:
                return found.location.rel, compress_one(home, found.location, coord, bases, dry_run)
            except NotFoundError:
                # Archived, deleted or compressed by someone else since the scan: nothing to do.
                return found.location.rel, CompressResult("skipped_changed", detail="vanished since the scan")
            except StoreError as exc:
                return found.location.rel, CompressResult("failed", detail=f"{exc.kind}: {exc}")

        with ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
            for done, (rel, result) in enumerate(pool.map(one, candidates), start=1):
                results[rel] = result
                run_lock.heartbeat()
                if progress:
                    progress(done, len(candidates), rel)
        return RunReport(True, results, removed, reconciled)
    finally:
        run_lock.release()



