"""Discovery: one entry per logical rollout, keyed by its logical path; temps are never rollouts."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from .home import Home, Location
from .naming import SUFFIX, ZST_SUFFIX, is_temp, logical_name, parse_name
from .errors import InvalidNameError, IoError, StoreError, from_os_error

# None: what cannot be read raises (the store API, ERR-012); a list: it is noted there and the
# operation carries on (the reference CLI, which prints each one and exits 5).
_unreadable: ContextVar[list[str] | None] = ContextVar("unreadable", default=None)


@contextmanager
def collecting_unreadable() -> Iterator[list[str]]:
    """Inside, unreadable folders, files and corrupt `.zst` are listed in the yielded list, not raised."""
    found: list[str] = []
    token = _unreadable.set(found)
    try:
        yield found
    finally:
        _unreadable.reset(token)


def unreadable(error: StoreError, fatal: bool = True) -> None:
    """Report what could not be read: note it when collecting, else raise ``error`` if ``fatal``."""
    found = _unreadable.get()
    if found is not None:
        found.append(f"[{error.kind}] {error}")
    elif fatal:
        raise error


@dataclass(frozen=True)
class Found:
    """A logical rollout and the representation that would be read."""

    location: Location
    physical: str  # absolute path of the selected representation
    compressed: bool
    mtime_ns: int


def _folder_error(exc: OSError) -> None:
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return  # an area that does not exist lists empty; a folder removed mid-walk is gone
    reason = f"{errno.errorcode.get(exc.errno or 0, 'E?')}: {exc.strerror or exc}"
    # the error concerns no rollout, so its path is null (ERR-011); the message names the folder
    unreadable(IoError(f"{reason}: cannot list folder {exc.filename}", path=None))


def walk(top: str, flat: bool = False) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) under ``top``; ``flat``: ``top`` alone (archived_sessions/ has no
    subfolders, NAME-004). A folder that cannot be listed is never silently skipped (ERR-012)."""
    # followlinks=False: a symlinked folder inside sessions/ could lead anywhere (SEC).
    for folder, dirs, files in os.walk(top, followlinks=False, onerror=_folder_error):
        yield folder, files
        if flat:
            dirs.clear()


def scan(home: Home, archived: bool | None = None) -> Iterator[Found]:
    """Every logical rollout under the active and/or archived area, in no particular order."""
    areas = [False, True] if archived is None else [archived]
    for in_archive in areas:
        for folder, files in walk(home.area(in_archive), flat=in_archive):
            names = set(files)
            for file_name in files:
                if is_temp(file_name) or not (
                    file_name.endswith(SUFFIX) or file_name.endswith(SUFFIX + ZST_SUFFIX)
                ):
                    continue
                compressed = file_name.endswith(ZST_SUFFIX)
                if compressed and logical_name(file_name) in names:
                    continue  # the plain sibling wins and is listed on its own
                try:
                    name = parse_name(file_name)
                except InvalidNameError:
                    continue
                physical = os.path.join(folder, file_name)
                try:
                    st = os.stat(physical, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished mid-transition; its other representation is seen instead
                except OSError as exc:
                    unreadable(from_os_error(exc, home.rel(os.path.join(folder, logical_name(file_name)))))
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                plain = os.path.join(folder, logical_name(file_name))
                location = Location(plain=plain, rel=home.rel(plain), name=name, archived=in_archive)
                yield Found(location, physical, compressed, st.st_mtime_ns)


def list_rollouts(home: Home, archived: bool | None = False) -> list[Found]:
    """Newest first by the selected representation's mtime, then by logical path."""
    return sorted(scan(home, archived), key=lambda f: (-f.mtime_ns, f.location.rel))


def find_by_id(home: Home, rollout_id: str) -> Found | None:
    """The rollout whose file name carries ``rollout_id``: active first, then archived."""
    wanted = rollout_id.lower()
    for found in scan(home, None):
        if found.location.name.id == wanted:
            return found
    return None


def scan_pairs(home: Home) -> Iterator[Location]:
    """Rollouts that currently have both a plain and a `.zst` representation."""
    for in_archive in (False, True):
        for folder, files in walk(home.area(in_archive), flat=in_archive):
            names = set(files)
            for file_name in files:
                if not file_name.endswith(SUFFIX) or file_name + ZST_SUFFIX not in names:
                    continue
                try:
                    name = parse_name(file_name)
                except InvalidNameError:
                    continue
                plain = os.path.join(folder, file_name)
                yield Location(plain=plain, rel=home.rel(plain), name=name, archived=in_archive)
