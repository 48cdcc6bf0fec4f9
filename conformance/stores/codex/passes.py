"""What one codex compression pass did to a home, told from the disk and codex's log.

Contract: :func:`scan` records every rollout representation and temp under ``sessions/`` and
``archived_sessions/``; :func:`outcomes` turns the scans taken before and after a pass, plus the
pass's log, into one upstream outcome name per logical rollout that had a plain file before.
codex 0.171.0 logs only totals and the ids it skipped for unreadable metadata, so every other
outcome is inferred from the disk, as each rule below says.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from dataclasses import dataclass

from conformance.oracle import disk as oracle
from conformance.api.errors import Inconclusive

AREAS = ("sessions", "archived_sessions")
COLD_AGE_SECONDS = 7 * 86_400  # fixed in codex 0.171.0 (no setting changes it)
FINISHED = "rollout compression worker finished"
# codex's reasons for not running a pass at all (another holds the maintenance lock / the 6 h marker)
NOT_RUN = ("rollout maintenance is already running", "recently ran or is already running")
_METADATA_SKIP = re.compile(r"skipping rollout compression because session metadata could not be read.*?"
                            r"rollout_id=([0-9a-fA-F-]{36})")
_TOTALS = re.compile(r"scanned=(\d+), compressed=(\d+), skipped=(\d+), failed=(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class FileFacts:
    size: int
    mtime_ns: int
    mode: int
    ino: int


@dataclass(frozen=True)
class Scan:
    """Rollout representations (relative path -> facts) and temps of one home at one moment."""

    files: dict[str, FileFacts]
    temps: frozenset[str]

    def plains(self) -> list[str]:
        return sorted(rel for rel in self.files if rel.endswith(".jsonl"))


def scan(home: str) -> Scan:
    files, temps = {}, set()
    for area in AREAS:
        for folder, _dirs, names in os.walk(os.path.join(home, area)):
            for name in names:
                rel = os.path.relpath(os.path.join(folder, name), home)
                if oracle.is_temp(name):
                    temps.add(rel)
                    continue
                if oracle.parse_name(name) is None:
                    continue
                try:
                    st = os.lstat(os.path.join(home, rel))
                except FileNotFoundError:
                    continue  # gone between listing and stat
                if stat.S_ISREG(st.st_mode):
                    files[rel] = FileFacts(st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), st.st_ino)
    return Scan(files, frozenset(temps))


def clean_log(text: str) -> str:
    return _ANSI.sub("", text)


def totals(log: str) -> tuple[int, int, int, int] | None:
    """(scanned, compressed, skipped, failed) from the pass's finished line, None without one."""
    found = _TOTALS.findall(clean_log(log))
    return tuple(int(n) for n in found[-1]) if found else None


def writer_lock_held(home: str, rollout_id: str) -> bool:
    """True when a live process holds ``thread-writer-locks/<id>.lock`` (codex's writer protection)."""
    return lock_file_held(os.path.join(home, "thread-writer-locks", f"{rollout_id}.lock"))


def lock_file_held(path: str) -> bool:
    """True when a live process holds a ``flock`` on ``path`` (absent: nobody does)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def outcomes(home: str, before: Scan, after: Scan, log: str, started_ns: int, held_ids=frozenset()) -> dict[str, str]:
    """One outcome per logical rollout that had a plain file before the pass, except those whose
    writer lock the caller held through it (``held_ids``); see the rules inline."""
    metadata_skips = {m.lower() for m in _METADATA_SKIP.findall(clean_log(log))}
    failed_in_log = (totals(log) or (0, 0, 0, 0))[3] > 0
    found = {}
    for rel in before.plains():
        facts, zst = before.files[rel], rel + ".zst"
        rollout_id = oracle.parse_name(os.path.basename(rel))[1].lower()
        if rollout_id in held_ids:
            continue
        if zst in before.files:
            found[rel] = "skipped_already_compressed"  # codex leaves plain + .zst pairs as they are
        elif rel not in after.files and zst in after.files:
            found[rel] = "compressed"
        elif rel not in after.files:
            found[rel] = "skipped_changed"  # moved or deleted by someone else during the pass
        elif rollout_id in metadata_skips:
            found[rel] = "skipped_not_rollout"  # logged: "session metadata could not be read"
        elif started_ns - facts.mtime_ns < COLD_AGE_SECONDS * 10**9:
            found[rel] = "skipped_not_cold"
        elif writer_lock_held(home, rollout_id):
            found[rel] = "skipped_busy"
        elif after.files[rel] != facts:
            found[rel] = "skipped_changed"
        elif failed_in_log:
            found[rel] = "failed"  # cold, readable, unlocked, unchanged, still plain, and a failure logged
        else:
            raise Inconclusive(f"codex left the cold rollout {rel} plain and unchanged, logged no failure and "
                               "held no writer lock on it: its outcome cannot be told")
    return found
