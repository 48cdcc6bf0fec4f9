"""Whether flock(2) locks on a home are shared by all its writers, as far as the mount table tells.

Contract: :func:`locks_stay_local` names the mount option that keeps locks local to one mount or
one machine (SPEC.md section 5.8), or returns ""; :func:`refusal` is the reason a compressor must
not run on the home, "" when the home declares one writer machine or its mount shares locks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The file whose presence declares that every writer and compressor of the home reaches it through
#: one mount on one machine (SPEC.md section 5.8).
ONE_WRITER_MACHINE = ".one-writer-machine"
MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mountinfo: where, what type, from where, with which options."""

    point: str
    fstype: str
    source: str
    options: tuple[str, ...]  # per-mount and per-superblock options together


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash in paths as octal escapes (\040 ...).
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="surrogateescape")


def parse_mountinfo(text: str) -> list[Mount]:
    """Every mount of a mountinfo text (proc(5) format), in the order listed."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if dash < 6 or len(fields) < dash + 3:
            continue
        options = fields[5].split(",") + (fields[dash + 3].split(",") if len(fields) > dash + 3 else [])
        mounts.append(Mount(_unescape(fields[4]), fields[dash + 1], _unescape(fields[dash + 2]),
                            tuple(dict.fromkeys(options))))
    return mounts


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount that holds ``path`` (its real path): the last listed with the longest prefix."""
    real = os.path.realpath(path)
    best = None
    for mount in mounts:
        prefix = mount.point.rstrip("/") + "/"
        if (real == mount.point or real.startswith(prefix)) and (
            best is None or len(mount.point) >= len(best.point)
        ):
            best = mount
    return best


def local_lock_option(mount: Mount) -> str:
    """The option of ``mount`` that keeps flock(2) locks local (one line, with why), or ""."""
    options = set(mount.options)
    if mount.fstype in ("nfs", "nfs4"):
        for value in ("flock", "all"):
            if f"local_lock={value}" in options:
                return (f"{mount.fstype} mounted with local_lock={value}: flock(2) locks are local to "
                        "this client machine")
    if mount.fstype == "fuse" or mount.fstype.startswith("fuse."):
        return (f"{mount.fstype} (FUSE) from {mount.source}: flock(2) locks are kept by this mount "
                "alone, unseen through any other mount or machine")
    if mount.fstype == "lustre" and "localflock" in options:
        return "lustre mounted with localflock: flock(2) locks are local to this client machine"
    return ""


def locks_stay_local(path: str) -> str:
    """Why locks on ``path`` stay local to its mount, from the mount table, or "" (also when unreadable)."""
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as table:
            mount = mount_of(path, parse_mountinfo(table.read()))
    except OSError:
        return ""  # no /proc: nothing can be told from the mount, as SPEC.md 5.8 allows
    return local_lock_option(mount) if mount else ""


def refusal(root: str) -> str:
    """The reason a compressor must not unlink in the home at ``root`` (SPEC.md 5.8), or ""."""
    if os.path.lexists(os.path.join(root, ONE_WRITER_MACHINE)):
        return ""
    why = locks_stay_local(root)
    if not why:
        return ""
    return (f"the home's locks are not shared across its writers ({why}), so a writer on another "
            f"machine or mount would be invisible; if every writer and compressor of this home runs "
            f"on this machine through this one path, say so with: touch {os.path.join(root, ONE_WRITER_MACHINE)}")
