"""One worker run over a home: claim the run lock, recover, clean temps, compress cold rollouts."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reference import failpoints, reading, shared_home
from reference.compression import CompressResult, Compressor, is_cold
from reference.coordination import Coordination
from reference.discovery import Found, scan, unreadable
from conformance.api.errors import NotFoundError, StoreError
from reference.home import Home
from reference.recovery import Reconciled
from reference.run_lock import upstream_marker_is_fresh

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
    compressor: Compressor | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    """One run; ``ran=False`` (and nothing touched) when another run holds the home.

    ``compressor`` defaults to the reference's, following every coordination scheme, so a run over
    a real home is safe next to codex writers and next to ``inode-flock`` writers alike.
    """
    compressor = compressor or Compressor(home, Coordination.following_all(home))
    if upstream_marker_is_fresh(home):
        return RunReport(ran=False, reason="a fresh upstream run marker is present")
    refused = shared_home.refusal(home.root)
    if refused:
        return RunReport(ran=False, reason=refused)  # SPEC.md 5.8: locks that stay local protect no one
    run_lock = compressor.run_lock()
    if not run_lock.try_claim():
        return RunReport(ran=False, reason="another worker run holds the home")
    try:
        failpoints.hit("worker.after_claim", None)
        reconciled = () if dry_run else tuple(compressor.reconcile_all())
        removed = () if dry_run else tuple(compressor.remove_orphaned_temps())
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
                return found.location.rel, compressor.compress(found.location, bases, dry_run)
            except NotFoundError:
                # Archived, deleted or compressed by someone else since the scan: nothing to do.
                return found.location.rel, CompressResult("skipped_changed", detail="vanished since the scan")
            except StoreError as exc:
                return found.location.rel, CompressResult("failed", detail=f"{exc.kind}: {exc}")

        from concurrent.futures import ThreadPoolExecutor  # here: a store that never runs the worker skips its import

        with ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
            for done, (rel, result) in enumerate(pool.map(one, candidates), start=1):
                results[rel] = result
                run_lock.heartbeat()
                if progress:
                    progress(done, len(candidates), rel)
        return RunReport(True, results, removed, reconciled)
    finally:
        run_lock.release()



