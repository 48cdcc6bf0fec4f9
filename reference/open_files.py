"""Which other processes hold a file open for writing, seen through Linux's ``/proc/<pid>/fd``.

Contract: :func:`writers_elsewhere` returns the pids of processes other than this one holding the
inode of ``fd`` through a descriptor opened for writing (``O_WRONLY`` or ``O_RDWR``), as far as this
process may look: processes whose ``/proc/<pid>/fd`` it cannot read (another user's, without
privileges) are not seen, and without ``/proc`` (not Linux) nothing is.  Readers do not count: a
reader keeps reading an unlinked inode to its end and loses nothing.
"""

from __future__ import annotations

import os

_ACCESS_MODE = 0o3  # O_ACCMODE: O_RDONLY 0, O_WRONLY 1, O_RDWR 2


def available() -> bool:
    """True when this system lists open files under ``/proc/<pid>/fd`` (Linux)."""
    return os.path.isdir(f"/proc/{os.getpid()}/fd")


def writers_elsewhere(fd: int) -> tuple[int, ...]:
    """Pids of other processes holding ``fd``'s inode open for writing (see the module contract)."""
    st = os.fstat(fd)
    target = (st.st_dev, st.st_ino)
    me = os.getpid()
    found = []
    try:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return ()
    for pid in pids:
        if pid != me and _writes(pid, target):
            found.append(pid)
    return tuple(found)


def _writes(pid: int, target: tuple[int, int]) -> bool:
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return False  # gone, or not ours to look at
    for name in names:
        link = os.path.join(folder, name)
        try:
            st = os.stat(link)  # follows the link to the open file: one call per descriptor
        except OSError:
            continue  # closed meanwhile
        if (st.st_dev, st.st_ino) == target and _open_for_writing(pid, name):
            return True
    return False


def _open_for_writing(pid: int, fd_name: str) -> bool:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd_name}") as handle:
            for line in handle:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8) & _ACCESS_MODE != os.O_RDONLY
    except (OSError, ValueError, IndexError):
        pass
    return True  # closed meanwhile or unreadable flags: count it, a false busy loses nothing
