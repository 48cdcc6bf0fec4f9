"""A home folder and the safe resolution of rollout paths inside it."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from conformance.api.errors import InvalidHomeError, InvalidNameError, OutsideHomeError
from reference.naming import ACTIVE_DIR, ARCHIVED_DIR, ZST_SUFFIX, RolloutName, logical_name, parse_name

DEFAULT_COLD_AFTER_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Location:
    """Where one logical rollout lives: its plain path, its `.zst` path, its parsed name."""

    plain: str  # absolute path of X.jsonl
    rel: str  # X.jsonl relative to the home (the logical key)
    name: RolloutName
    archived: bool

    @property
    def zst(self) -> str:
        return self.plain + ZST_SUFFIX

    @property
    def folder(self) -> str:
        return os.path.dirname(self.plain)


@dataclass(frozen=True)
class Home:
    """A validated home: ``root`` is its real path; nothing here touches rollouts."""

    root: str
    cold_after_seconds: float = DEFAULT_COLD_AFTER_SECONDS

    @classmethod
    def open(cls, path: str, cold_after_seconds: float = DEFAULT_COLD_AFTER_SECONDS) -> "Home":
        """Validate ``path`` as a home (a folder); raise InvalidHomeError with the fix otherwise."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise InvalidHomeError("home does not exist; create it or pass an existing folder", path=path)
        except OSError as exc:
            raise InvalidHomeError(f"home is unusable: {exc.strerror}", path=path)
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidHomeError("home is not a folder (a regular file was given?)", path=path)
        return cls(os.path.realpath(path), float(cold_after_seconds))

    @property
    def tmp_dir(self) -> str:
        return os.path.join(self.root, ".tmp")

    def area(self, archived: bool) -> str:
        return os.path.join(self.root, ARCHIVED_DIR if archived else ACTIVE_DIR)

    def rel(self, absolute: str) -> str:
        return os.path.relpath(absolute, self.root)

    def inside(self, absolute: str) -> bool:
        return absolute == self.root or absolute.startswith(self.root + os.sep)

    def locate(self, path: str) -> Location:
        """Resolve a logical or `.zst` path (relative to home, or absolute inside it)."""
        if not isinstance(path, str) or not path or "\0" in path:
            raise InvalidNameError(f"not a rollout path: {path!r}")
        joined = os.path.normpath(path if os.path.isabs(path) else os.path.join(self.root, path))
        if not self.inside(joined):
            raise OutsideHomeError("path is outside the home", path=path)
        folder, file_name = os.path.split(joined)
        name = parse_name(file_name)
        # Resolve the folder through any symlinks: a link that leads out of the home is refused,
        # so no operation ever reads or writes outside it (SEC).
        real_folder = os.path.realpath(folder)
        if not self.inside(real_folder):
            raise OutsideHomeError("a symlink on the path leads out of the home", path=path)
        rel_folder = os.path.relpath(real_folder, self.root)
        top = rel_folder.split(os.sep, 1)[0]
        if top not in (ACTIVE_DIR, ARCHIVED_DIR):
            raise InvalidNameError(
                f"rollouts live under {ACTIVE_DIR}/ or {ARCHIVED_DIR}/ of the home", path=path
            )
        if top == ARCHIVED_DIR and rel_folder != ARCHIVED_DIR:
            raise InvalidNameError(f"archived rollouts live directly in {ARCHIVED_DIR}/, not in a subfolder", path=path)
        plain = os.path.join(real_folder, logical_name(file_name))
        return Location(plain=plain, rel=self.rel(plain), name=name, archived=top == ARCHIVED_DIR)

    def active_location(self, name: RolloutName) -> Location:
        """Where an unarchived rollout of this name lives: sessions/YYYY/MM/DD/<name>."""
        year, month, day = name.date_dirs
        if not year:
            raise InvalidNameError("the timestamp does not give a date folder", path=name.file_name)
        plain = os.path.join(self.root, ACTIVE_DIR, year, month, day, name.file_name)
        return Location(plain=plain, rel=self.rel(plain), name=name, archived=False)

    def archived_location(self, name: RolloutName) -> Location:
        plain = os.path.join(self.root, ARCHIVED_DIR, name.file_name)
        return Location(plain=plain, rel=self.rel(plain), name=name, archived=True)
