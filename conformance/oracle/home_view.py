"""The race harness's view of a home: every rollout representation and temp, and a record of its files.

Contract: built only on the oracle's primitives (:mod:`conformance.oracle.disk`: its walk of the
areas, its name parser, its temp predicate, its frame decoder); nothing here imports or calls a
store, and every file is described by what is on disk, not by what a store would report.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

from conformance.oracle import disk


@dataclass(frozen=True)
class Representation:
    """One physical file of a rollout."""

    rel: str  # relative to home
    rollout: str  # lower-case uuid (SPEC.md 4.2: the id matches case-insensitively)
    archived: bool
    compressed: bool
    size: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True)
class HomeView:
    """Every rollout file and temp under the session areas of a home."""

    representations: tuple[Representation, ...]
    temps: tuple[str, ...]  # relative paths of temps (disk.is_temp)

    def of(self, rollout: str) -> tuple[Representation, ...]:
        return tuple(r for r in self.representations if r.rollout == rollout)

    def rollouts(self) -> set[str]:
        return {r.rollout for r in self.representations}


def scan(home: str) -> HomeView:
    """Every regular rollout file (plain or `.zst`) and every temp under ``sessions/`` and ``archived_sessions/``."""
    reps, temps = [], []
    for rel, name in disk.area_files(home):
        if disk.is_temp(name):
            temps.append(rel)
            continue
        parsed = disk.parse_name(name)
        if parsed is None:
            continue
        try:
            st = os.lstat(os.path.join(home, rel))
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            reps.append(Representation(rel, parsed[1].lower(), rel.startswith("archived_sessions/"),
                                       name.endswith(".zst"), st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode)))
    return HomeView(tuple(reps), tuple(temps))


def content(home: str, rep: Representation) -> disk.Decoded:
    """What ``rep`` holds: a plain file's bytes, a `.zst`'s frames decoded as far as they go (and why not further)."""
    path = os.path.join(home, rep.rel)
    if rep.compressed:
        return disk.decode_partial(path)
    with open(path, "rb") as handle:
        return disk.Decoded(handle.read())


def visible(reps: tuple[Representation, ...]) -> Representation | None:
    """What a reader sees: active before archived, plain before `.zst` (DOMAIN.md section 2)."""
    ordered = sorted(reps, key=lambda r: (r.archived, r.compressed))
    return ordered[0] if ordered else None


def manifest(home: str) -> list[dict]:
    """Every file under the home with size, mode, mtime and sha256 (a snapshot in words)."""
    rows = []
    for folder, dirs, files in os.walk(home):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            try:
                st = os.lstat(full)
                digest = disk.sha256_file(full) if stat.S_ISREG(st.st_mode) else ""
            except OSError:
                continue
            rows.append({"path": os.path.relpath(full, home), "size": st.st_size, "mode": oct(stat.S_IMODE(st.st_mode)),
                         "mtime_ns": st.st_mtime_ns, "sha256": digest})
    return rows


def copy_home(home: str, dest: str, limit_bytes: int) -> bool:
    """Copy the home into ``dest`` when it is small enough; False (nothing copied) otherwise."""
    total = sum(row["size"] for row in manifest(home))
    if total > limit_bytes:
        return False
    shutil.copytree(home, dest, symlinks=True, dirs_exist_ok=True)
    return True
