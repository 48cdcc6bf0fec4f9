"""Discovery: one entry per logical rollout, keyed by its logical path; temps are never rollouts."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from operator import itemgetter

from reference.home import Home, Location
from reference.naming import SUFFIX, ZST_SUFFIX, parse_name, rollout_id
from conformance.api.errors import InvalidNameError, IoError, StoreError, from_os_error

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


def noted_unreadable() -> list[str] | None:
    """The list :func:`collecting_unreadable` fills, None when not collecting."""
    return _unreadable.get()


def unreadable(error: StoreError, fatal: bool = True) -> None:
    """Report what could not be read: note it when collecting, else raise ``error`` if ``fatal``."""
    found = _unreadable.get()
    if found is not None:
        found.append(f"[{error.kind}] {error}")
    elif fatal:
        raise error


_ZST_NAME_SUFFIX = SUFFIX + ZST_SUFFIX


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


def _walk(home: Home, in_archive: bool) -> Iterator[tuple[str, str, list[str]]]:
    """(folder, the folder relative to the home, file names) for every folder of one area.

    The archive is flat: archived_sessions/ alone, none of its subfolders (NAME-004).
    """
    for folder, files in walk(home.area(in_archive), flat=in_archive):
        # One relpath per folder, not per file: listing 100k rollouts is dominated by per-file work.
        yield folder, home.rel(folder), files


def _rollout_files(files: list[str], wanted_id: str | None = None) -> Iterator[tuple[str, bool]]:
    """(file name, compressed) of the names that may be rollouts, the plain one of each pair only."""
    names = None
    for file_name in files:
        if wanted_id is not None and wanted_id not in file_name.lower():
            continue  # find by id: only names carrying the id are parsed and stat'ed
        if file_name.endswith(SUFFIX):
            compressed = False
        elif file_name.endswith(_ZST_NAME_SUFFIX):
            if names is None:
                names = set(files)
            if file_name[: -len(ZST_SUFFIX)] in names:
                continue  # the plain sibling wins and is listed on its own
            compressed = True
        else:
            continue  # temps (``*.tmp``) and everything else are never rollouts
        yield file_name, compressed


#: (folder, folder relative to the home, logical file name, id, archived, compressed, mtime_ns).
_Seen = tuple[str, str, str, str, bool, bool, int]


def _seen(home: Home, archived: bool | None, wanted_id: str | None = None) -> Iterator[_Seen]:
    """Every logical rollout as a plain tuple: per-file objects dominate listing 100k rollouts."""
    areas = [False, True] if archived is None else [archived]
    for in_archive in areas:
        for folder, rel_folder, files in _walk(home, in_archive):
            with _stat_in(folder) as stat_name:
                for file_name, compressed in _rollout_files(files, wanted_id):
                    logical = file_name[: -len(ZST_SUFFIX)] if compressed else file_name
                    rid = rollout_id(logical)
                    if rid is None:
                        continue
                    try:
                        st = stat_name(file_name)
                    except FileNotFoundError:
                        continue  # vanished mid-transition; its other representation is seen instead
                    except OSError as exc:
                        unreadable(from_os_error(exc, rel_folder + os.sep + logical))
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield folder, rel_folder, logical, rid, in_archive, compressed, st.st_mtime_ns


_FOLDER_HANDLE = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW


@contextmanager
def _stat_in(folder: str) -> Iterator[Callable[[str], os.stat_result]]:
    """``lstat`` of a name in ``folder``, relative to a handle on the folder: the kernel then resolves one
    name per file instead of the whole path (listing a big home is mostly these stats).  A folder that
    cannot be opened so (gone, or a symlink swapped in since the walk) falls back to whole paths, whose
    errors are the ones reported."""
    try:
        handle = os.open(folder, _FOLDER_HANDLE)
    except OSError:
        # os.walk's folders are normalised: concatenation is os.path.join, faster
        yield lambda name: os.stat(folder + os.sep + name, follow_symlinks=False)
        return
    try:
        yield partial(os.stat, dir_fd=handle, follow_symlinks=False)
    finally:
        os.close(handle)


def scan(home: Home, archived: bool | None = None, wanted_id: str | None = None) -> Iterator[Found]:
    """Every logical rollout under the active and/or archived area (only ``wanted_id``'s if given), in no order."""
    for folder, rel_folder, logical, _rid, in_archive, compressed, mtime_ns in _seen(home, archived, wanted_id):
        plain = folder + os.sep + logical
        location = Location(plain=plain, rel=rel_folder + os.sep + logical, name=parse_name(logical),
                            archived=in_archive)
        yield Found(location, plain + ZST_SUFFIX if compressed else plain, compressed, mtime_ns)


def list_rollouts(home: Home, archived: bool | None = False) -> list[Found]:
    """Newest first by the selected representation's mtime, then by logical path."""
    return sorted(scan(home, archived), key=lambda f: (-f.mtime_ns, f.location.rel))


def listing(home: Home, archived: bool | None = False) -> list[tuple[str, str, bool, bool, int]]:
    """``(logical path, id, archived, compressed, mtime_ns)`` in :func:`list_rollouts` order, without objects."""
    rows = [(rel_folder + os.sep + logical, rid, in_archive, compressed, mtime_ns)
            for _folder, rel_folder, logical, rid, in_archive, compressed, mtime_ns in _seen(home, archived)]
    # Two stable passes with C keys (path, then newest first) order like the key (-mtime_ns, path) at
    # less than half its cost: no tuple and no Python call per row.
    rows.sort(key=itemgetter(0))
    rows.sort(key=itemgetter(4), reverse=True)
    return rows


def find_by_id(home: Home, rollout_id: str) -> Found | None:
    """The rollout whose file name carries ``rollout_id``: active first, then archived."""
    wanted = rollout_id.lower()
    for found in scan(home, None, wanted):
        if found.location.name.id == wanted:
            return found
    return None


def scan_pairs(home: Home) -> Iterator[Location]:
    """Rollouts that currently have both a plain and a `.zst` representation."""
    for in_archive in (False, True):
        for folder, rel_folder, files in _walk(home, in_archive):
            names = set(files)
            for file_name in files:
                if not file_name.endswith(SUFFIX) or file_name + ZST_SUFFIX not in names:
                    continue
                try:
                    name = parse_name(file_name)
                except InvalidNameError:
                    continue
                yield Location(plain=folder + os.sep + file_name, rel=rel_folder + os.sep + file_name,
                               name=name, archived=in_archive)
