"""Folders on real filesystems: tmpfs, overlayfs, ext4/xfs/btrfs loop images, bindfs (FUSE) mounts.

Contract: :func:`filesystem_folder` yields the root of a fresh filesystem of one kind and
:func:`bindfs` the mount point of one folder seen through FUSE; each unmounts (and removes what it
made) on exit.  When this process may not mount (not root, no FUSE, no loop devices, a missing
mkfs or bindfs) they raise :class:`MountUnavailable` saying why, before anything is mounted, so a
caller skips that cell with the reason instead of running it on the wrong filesystem.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

#: Loop image sizes: room for a suite run with codex (its homes hold ~150 MiB); the images are sparse,
#: so only what is written takes disk (xfs refuses images under 300 MiB).
IMAGE_MIB = {"ext4": 1024, "xfs": 1024, "btrfs": 1024}
MKFS = {"ext4": ["mkfs.ext4", "-q", "-F"], "xfs": ["mkfs.xfs", "-q", "-f"], "btrfs": ["mkfs.btrfs", "-q", "-f"]}
FILESYSTEMS = ("tmpfs", "overlay", *IMAGE_MIB)


class MountUnavailable(Exception):
    """This process cannot make the mount asked for; the message says why and what would fix it."""


def _need(tool: str) -> None:
    if os.geteuid() != 0:
        raise MountUnavailable("mounting needs root (run as root, as .ci/run does in CI)")
    if not shutil.which(tool):
        raise MountUnavailable(f"{tool} is not installed (.ci/run installs it with apt-get)")


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise MountUnavailable(f"{what} is not permitted here: {' '.join(argv)}: {done.stderr.strip()[-300:]}")


@contextlib.contextmanager
def _mounted(point: str) -> Iterator[None]:
    try:
        yield
    finally:
        subprocess.run(["umount", point], capture_output=True)


def require_bindfs() -> None:
    """Raise MountUnavailable unless this process can make bindfs (FUSE) mounts."""
    _need("bindfs")
    if not os.path.exists("/dev/fuse"):
        raise MountUnavailable("/dev/fuse is missing: FUSE mounts are not possible here")


@contextlib.contextmanager
def filesystem_folder(kind: str, scratch: str) -> Iterator[str]:
    """The root of a fresh ``kind`` filesystem (one of FILESYSTEMS), made in ``scratch``."""
    point = tempfile.mkdtemp(prefix=f"{kind}-", dir=scratch)
    if kind == "tmpfs":
        _need("mount")
        _run(["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", point], "mounting tmpfs")
    elif kind == "overlay":
        _need("mount")
        layers = {name: os.path.join(scratch, f"{os.path.basename(point)}.{name}") for name in ("lower", "upper", "work")}
        for folder in layers.values():
            os.mkdir(folder)
        _run(["mount", "-t", "overlay", "overlay", "-o",
              "lowerdir={lower},upperdir={upper},workdir={work}".format(**layers), point], "mounting overlayfs")
    else:
        _need(MKFS[kind][0])
        image = point + ".img"
        with open(image, "wb") as sparse:
            sparse.truncate(IMAGE_MIB[kind] << 20)
        _run([*MKFS[kind], image], f"making {kind}")
        _run(["mount", "-o", "loop", image, point], f"mounting a {kind} loop image")
    with _mounted(point):
        yield point


@contextlib.contextmanager
def bindfs(folder: str, point: str) -> Iterator[str]:
    """``folder`` seen through a bindfs (FUSE) mount at ``point`` (created if missing)."""
    require_bindfs()
    os.makedirs(point, exist_ok=True)
    _run(["bindfs", folder, point], "a bindfs (FUSE) mount")
    with _mounted(point):
        yield point
