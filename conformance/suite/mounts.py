"""Homes on real filesystems for the suite and the tests: tmpfs, overlayfs, ext4/xfs/btrfs loop images,
two bindfs mounts of one folder.

Contract: each context manager yields the folder(s) of a fresh home on that filesystem and unmounts
on exit; when this process may not mount (see :mod:`conformance.runtime.mounts`) it calls
``pytest.skip`` with the reason, so no test passes on the wrong filesystem.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.runtime import mounts
from conformance.runtime.mounts import FILESYSTEMS, MountUnavailable

__all__ = ["FILESYSTEMS", "filesystem_home", "require_bindfs", "two_mount_home"]


def require_bindfs() -> None:
    """Skip, saying why, unless this process can make bindfs (FUSE) mounts."""
    try:
        mounts.require_bindfs()
    except MountUnavailable as exc:
        pytest.skip(str(exc))


@contextlib.contextmanager
def filesystem_home(kind: str, tmp_path: Path) -> Iterator[Path]:
    """The root of a fresh ``kind`` filesystem (tmpfs, overlay, ext4, xfs, btrfs)."""
    with contextlib.ExitStack() as stack:
        try:
            point = stack.enter_context(mounts.filesystem_folder(kind, str(tmp_path)))
        except MountUnavailable as exc:
            pytest.skip(str(exc))
        yield Path(point)


@contextlib.contextmanager
def two_mount_home(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """One folder seen through two bindfs (FUSE) mounts: (backing folder, first mount, second mount)."""
    backing = tmp_path / "backing"
    backing.mkdir()
    with contextlib.ExitStack() as stack:
        try:
            one, two = (stack.enter_context(mounts.bindfs(str(backing), str(tmp_path / f"mount-{n}")))
                        for n in ("one", "two"))
        except MountUnavailable as exc:
            pytest.skip(str(exc))
        yield backing, Path(one), Path(two)
