"""One probe of a home: each property a coordination scheme rests on, tried on the real filesystem.

Contract: :func:`probe` works in a scratch folder it creates inside the home and removes, and
returns a :class:`ProbeReport` with one :class:`Property` per check, each ``ok``, ``unsafe``,
``unknown`` (could not be told, with why) or ``not_asked`` (needs an option the user did not give);
a home or other path that cannot be probed raises :class:`ProbeUsageError` with the fix.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass

from conformance.probe.host import HostPathMissing, host_flock
from reference.shared_home import MOUNTINFO, ONE_WRITER_MACHINE, Mount, local_lock_option, mount_of, parse_mountinfo

VERDICTS = ("ok", "unsafe", "unknown", "not_asked")
#: Format name and version of ``probe --json`` (conformance/protocol/schemas/probe-report.schema.json).
FORMAT, FORMAT_VERSION = "rollout-conformance/probe-report", 1
RENAME_NOREPLACE = 1  # linux/fs.h
AT_FDCWD = -100
#: An mtime with every nanosecond digit in use: a filesystem that rounds it shows where.
PROBE_MTIME_NS = 1_700_000_000_123_456_789


class ProbeUsageError(Exception):
    """The home (or --other-path) cannot be probed; the message says what to fix."""


@dataclass(frozen=True)
class Property:
    name: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class Filesystem:
    type: str
    source: str
    mount_point: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class ProbeReport:
    home: str
    other_path: str | None
    filesystem: Filesystem | None
    properties: tuple[Property, ...]
    host: str | None = None  # the execnet gateway spec of --host
    host_path: str | None = None  # the home's path on that host (--host-path; None: the same as --home)

    @property
    def verdict(self) -> str:
        """``unsafe`` if any property is, else ``unknown`` if any is, else ``ok``."""
        verdicts = {p.verdict for p in self.properties}
        return next((v for v in ("unsafe", "unknown") if v in verdicts), "ok")

    def as_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "home": self.home,
                "other_path": self.other_path, "host": self.host, "host_path": self.host_path,
                "filesystem": asdict(self.filesystem) if self.filesystem else None,
                "verdict": self.verdict, "properties": [asdict(p) for p in self.properties]}


def _checked_folder(path: str, option: str) -> str:
    if not os.path.exists(path):
        raise ProbeUsageError(f"{option} {path}: does not exist; name the folder of the home (e.g. ~/.codex)")
    if not os.path.isdir(path):
        raise ProbeUsageError(f"{option} {path}: is not a folder; name the folder of the home")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ProbeUsageError(f"{option} {path}: not readable and writable by this user; the probe writes "
                              "a scratch folder there, so run it as a user who can write the home")
    return os.path.realpath(path)


def _mount(home: str) -> Mount | None:
    try:
        with open(MOUNTINFO, encoding="utf-8", errors="surrogateescape") as table:
            return mount_of(home, parse_mountinfo(table.read()))
    except OSError:
        return None


def filesystem_property(home: str, mount: Mount | None) -> Property:
    if mount is None:
        return Property("filesystem", "unknown", f"{MOUNTINFO} could not be read: the mount is not known")
    why = local_lock_option(mount)
    if why and os.path.lexists(os.path.join(home, ONE_WRITER_MACHINE)):
        return Property("filesystem", "ok", f"{why}; the home declares one writer machine ({ONE_WRITER_MACHINE}), "
                                            "so a conforming compressor runs (SPEC.md 5.8)")
    if why:
        return Property("filesystem", "unsafe", f"{why}; safe only when every writer and compressor of the "
                                                "home uses this one mount on this machine (SPEC.md 5.8)")
    return Property("filesystem", "ok", f"{mount.fstype}: no mount option keeps flock(2) locks local")


def _lock_conflicts(held_path: str, tried_path: str) -> tuple[bool | None, str]:
    """Whether a LOCK_EX held by another process through ``held_path`` refuses one through ``tried_path``."""
    holder = subprocess.Popen([sys.executable, "-m", "conformance.probe.holder", held_path, "ex"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().strip()
        if line != "held":
            return None, f"flock(LOCK_EX) was refused: {line.removeprefix('error ') or 'the holder died'}"
        fd = os.open(tried_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, "a LOCK_EX held by another process refuses LOCK_SH|LOCK_NB"
        except OSError as exc:
            return None, f"flock(LOCK_SH|LOCK_NB) failed: {exc.strerror}"
        finally:
            os.close(fd)
        return False, "a LOCK_EX held by another process does not refuse LOCK_SH|LOCK_NB: both are granted"
    finally:
        holder.stdin.close()
        holder.wait()


def flock_property(name: str, held_path: str, tried_path: str, how: str) -> Property:
    conflicts, detail = _lock_conflicts(held_path, tried_path)
    return Property(name, "ok" if conflicts else "unsafe", f"{how}: {detail}")  # a refused flock is unsafe too


def rename_property(scratch: str) -> Property:
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:
        return Property("rename_noreplace", "unknown", "this C library has no renameat2()")
    source, target, fresh = (os.path.join(scratch, n) for n in ("source", "target", "fresh"))
    for path, data in ((source, b"source"), (target, b"target")):
        with open(path, "wb") as f:
            f.write(data)
    if renameat2(AT_FDCWD, source.encode(), AT_FDCWD, target.encode(), RENAME_NOREPLACE) == 0:
        return Property("rename_noreplace", "unsafe", "renameat2(RENAME_NOREPLACE) replaced an existing file")
    refused = ctypes.get_errno()
    # The kernel may refuse an existing target before the filesystem is asked (FUSE does), so only
    # a rename to a free name shows whether the filesystem supports the flag at all.
    moved = renameat2(AT_FDCWD, source.encode(), AT_FDCWD, fresh.encode(), RENAME_NOREPLACE) == 0
    code = refused if refused != errno.EEXIST else (0 if moved else ctypes.get_errno())
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return Property("rename_noreplace", "unsafe", f"renameat2(RENAME_NOREPLACE) is not supported "
                        f"({errno.errorcode[code]}); a store must publish with link(2), as the reference does")
    if code:
        return Property("rename_noreplace", "unknown", f"renameat2(RENAME_NOREPLACE) failed: {os.strerror(code)}")
    return Property("rename_noreplace", "ok", "refuses an existing target (EEXIST), renames to a free name")


def mtime_property(scratch: str) -> Property:
    path = os.path.join(scratch, "mtime")
    open(path, "wb").close()
    os.utime(path, ns=(PROBE_MTIME_NS, PROBE_MTIME_NS))
    kept = os.stat(path).st_mtime_ns
    if kept == PROBE_MTIME_NS:
        return Property("mtime_nanoseconds", "ok", f"st_mtime_ns {PROBE_MTIME_NS} kept to the nanosecond")
    return Property("mtime_nanoseconds", "unsafe", f"st_mtime_ns {PROBE_MTIME_NS} was stored as {kept}: a .zst "
                    "cannot keep its plain file's mtime exactly (COMP-005) and the re-check before unlink "
                    "misses changes within one tick (COORD-004)")


def folder_fsync_property(scratch: str) -> Property:
    fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        return Property("folder_fsync", "unsafe", f"fsync on a folder failed ({exc.strerror}): a publish or an "
                        "unlink cannot be made durable (DUR)")
    finally:
        os.close(fd)
    return Property("folder_fsync", "ok", "fsync on a folder is accepted")


def _other_scratch(scratch: str, home: str, other: str) -> str:
    seen = os.path.join(other, os.path.relpath(scratch, home))
    if not os.path.isfile(os.path.join(seen, "lock")):
        raise ProbeUsageError(f"--other-path {other}: does not show the home's files (a probe file written "
                              f"through {home} is not there); name another path to the same folder")
    return seen


def host_property(scratch: str, home: str, host: str | None, host_path: str | None) -> Property:
    if not host:
        return Property("flock_between_hosts", "not_asked", "name another machine that reaches the home with "
                                                            "--host (an execnet gateway: ssh=user@host, socket=HOST:PORT)")
    try:
        verdict, detail = host_flock(scratch, home, host, host_path)
    except HostPathMissing as exc:
        raise ProbeUsageError(str(exc)) from None
    return Property("flock_between_hosts", verdict, detail)


def probe(home: str, other_path: str | None = None, host: str | None = None,
          host_path: str | None = None) -> ProbeReport:
    """Probe every property of ``home`` (and between it and ``other_path``, and between this machine and
    ``host`` seeing it at ``host_path``); see the module docstring."""
    home = _checked_folder(home, "--home")
    other = _checked_folder(other_path, "--other-path") if other_path else None
    mount = _mount(home)
    try:
        scratch = tempfile.mkdtemp(prefix=".rollout-probe-", dir=home)
    except OSError as exc:
        raise ProbeUsageError(f"--home {home}: cannot create a scratch folder there ({exc.strerror})") from None
    try:
        open(os.path.join(scratch, "lock"), "wb").close()
        lock = os.path.join(scratch, "lock")
        other_lock = os.path.join(_other_scratch(scratch, home, other), "lock") if other else None
        properties = (
            filesystem_property(home, mount),
            flock_property("flock_between_processes", lock, lock, "two processes, one path"),
            flock_property("flock_between_paths", lock, other_lock, f"held through {home}, tried through {other}")
            if other_lock else Property("flock_between_paths", "not_asked",
                                        "name a second path to the home with --other-path"),
            host_property(scratch, home, host, host_path),
            rename_property(scratch),
            mtime_property(scratch),
            folder_fsync_property(scratch),
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    filesystem = Filesystem(mount.fstype, mount.source, mount.point, mount.options) if mount else None
    return ProbeReport(home, other, filesystem, properties, host, host_path)
