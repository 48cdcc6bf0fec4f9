"""Crash recovery: reconcile a rollout left with both representations, remove orphaned temps.

Both rules act only under locks that prove no live process is in the middle of the transition:
``LOCK_EX|LOCK_NB`` on both representations before reconciling, and on a temp before removing it
(every reference temp is locked by its owner for its whole life, R10).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from reference import codec, failpoints
from reference.discovery import scan_pairs, unreadable, walk
from reference.coordination import Coordination
from conformance.api.errors import CorruptError, StoreError
from reference.home import Home, Location
from reference.locks import fsync_folder, lock, open_existing, still_at
from reference.naming import ACTIVE_DIR, ARCHIVED_DIR, is_temp

STALE_TEMP_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Reconciled:
    rel: str
    verdict: str  # "equal" (plain removed), "stale_zst" (zst removed), "conflict", "busy"


def _compare(zst_fd: int, plain_fd: int, path: str) -> str:
    """``equal``, ``prefix`` (the `.zst` holds a strict prefix of plain) or ``diverged``."""
    plain_size = os.fstat(plain_fd).st_size
    offset = 0
    try:
        for chunk in codec.decoded_chunks(zst_fd, path):
            if os.pread(plain_fd, len(chunk), offset) != chunk:
                return "diverged"
            offset += len(chunk)
    except CorruptError:
        return "diverged"
    if offset == plain_size:
        return "equal"
    return "prefix"


def reconcile(location: Location, coord: Coordination) -> Reconciled | None:
    """Resolve plain + `.zst` of one rollout; None when only one representation exists.

    Acts only under ``LOCK_EX`` on both files *and* every scheme's claim: a codex resume holds no
    lock on the data while it materializes, only its thread lock, and both files exist meanwhile.
    """
    plain_fd = open_existing(location.plain, os.O_RDONLY)
    zst_fd = open_existing(location.zst, os.O_RDONLY)
    try:
        if plain_fd is None or zst_fd is None:
            return None
        if not (lock(plain_fd, True, wait=False) and lock(zst_fd, True, wait=False)):
            return Reconciled(location.rel, "busy")
        if not (still_at(plain_fd, location.plain) and still_at(zst_fd, location.zst)):
            return Reconciled(location.rel, "busy")
        claim = coord.claim(location, plain_fd)
        if claim is None:
            return Reconciled(location.rel, "busy")
        try:
            return _resolve(location, plain_fd, zst_fd)
        finally:
            claim.release()
    finally:
        for fd in (plain_fd, zst_fd):
            if fd is not None:
                os.close(fd)


def _resolve(location: Location, plain_fd: int, zst_fd: int) -> Reconciled:
    verdict = _compare(zst_fd, plain_fd, location.rel)
    if verdict == "equal":
        # An interrupted compression (or materialize): the `.zst` holds every byte, finish it.
        os.unlink(location.plain)
    elif verdict == "prefix":
        # Lines were appended after the `.zst` was made: it is stale and must never resurface.
        os.unlink(location.zst)
    else:
        return Reconciled(location.rel, "conflict")
    fsync_folder(location.folder)
    return Reconciled(location.rel, "equal" if verdict == "equal" else "stale_zst")


def reconcile_all(home: Home, coord: Coordination) -> list[Reconciled]:
    """Reconcile every rollout of the home that has both representations."""
    return [r for location in scan_pairs(home) if (r := reconcile(location, coord)) is not None]


def temp_paths(home: Home):
    """Every temp (a name ending in ``.tmp``) under the home's two areas, as absolute paths."""
    for area in (ACTIVE_DIR, ARCHIVED_DIR):
        for folder, files in walk(os.path.join(home.root, area)):
            for name in files:
                if is_temp(name):
                    yield os.path.join(folder, name)


def remove_orphaned_temps(home: Home, now_ns: int | None = None) -> list[str]:
    """Remove temps whose owner is gone (no lock) and that are older than six hours."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    removed = []
    for path in temp_paths(home):
        try:
            fd = open_existing(path, os.O_RDONLY)
        except StoreError as exc:
            unreadable(exc)
            continue
        if fd is None:
            continue
        try:
            if not lock(fd, True, wait=False):
                continue  # its owner is alive, whatever the mtime says
            st = os.fstat(fd)
            if now_ns - st.st_mtime_ns < STALE_TEMP_SECONDS * 1e9 or not still_at(fd, path):
                continue
            failpoints.hit("cleanup.before_unlink", home.rel(path))
            os.unlink(path)
            removed.append(home.rel(path))
        finally:
            os.close(fd)
    return removed
