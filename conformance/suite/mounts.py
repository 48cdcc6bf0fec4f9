"""Homes on real filesystems for the suite and the tests: tmpfs, ext4/xfs/btrfs loop images, two bindfs mounts.

Contract: each context manager yields the folder(s) of a fresh home on that filesystem and unmounts
on exit; when this process may not mount (not root, no FUSE, no loop devices, no mkfs/bindfs) it
calls ``pytest.skip`` with the reason, so no test passes on the wrong filesystem.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Loop image sizes: each filesystem's mkfs refuses smaller (xfs needs 300 MiB); the images are sparse.
IMAGE_MIB = {"ext4": 64, "xfs": 320, "btrfs": 128}
MKFS = {"ext4": ["mkfs.ext4", "-q", "-F"], "xfs": ["mkfs.xfs", "-q", "-f"], "btrfs": ["mkfs.btrfs", "-q", "-f"]}
FILESYSTEMS = ("tmpfs", *IMAGE_MIB)


def _need(tool: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root (run the tests as root, as .ci/run does in CI)")
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed (.ci/run installs it with apt-get)")


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"{what} is not permitted here: {' '.join(argv)}: {done.stderr.strip()[-300:]}")


def require_bindfs() -> None:
    """Skip, saying why, unless this process can make bindfs (FUSE) mounts."""
    _need("bindfs")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing: FUSE mounts are not possible here")


@contextlib.contextmanager
def _mounted(point: Path) -> Iterator[None]:
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@contextlib.contextmanager
def filesystem_home(kind: str, tmp_path: Path) -> Iterator[Path]:
    """A mount of a fresh ``kind`` filesystem (tmpfs, ext4, xfs, btrfs); yields its root."""
    point = tmp_path / f"{kind}-home"
    point.mkdir()
    if kind == "tmpfs":
        _need("mount")
        _run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)], "mounting tmpfs")
    else:
        _need(MKFS[kind][0])
        image = tmp_path / f"{kind}.img"
        with open(image, "wb") as sparse:
            sparse.truncate(IMAGE_MIB[kind] << 20)
        _run([*MKFS[kind], str(image)], f"making {kind}")
        _run(["mount", "-o", "loop", str(image), str(point)], f"mounting a {kind} loop image")
    with _mounted(point):
        yield point


@contextlib.contextmanager
def two_mount_home(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """One folder seen through two bindfs (FUSE) mounts: (backing folder, first mount, second mount)."""
    require_bindfs()
    backing, one, two = tmp_path / "backing", tmp_path / "mount-one", tmp_path / "mount-two"
    for folder in (backing, one, two):
        folder.mkdir()
    _run(["bindfs", str(backing), str(one)], "a bindfs (FUSE) mount")
    with _mounted(one):
        _run(["bindfs", str(backing), str(two)], "a second bindfs (FUSE) mount")
        with _mounted(two):
            yield backing, one, two
