"""Helpers for suite tests that observe a store's system calls (strace) or run it under a umask.

Both run the store under test in a child process through the stdio protocol
(``kit.serve_command(selection)`` wrapped in another command line, selected as ``cmd:``), so they
judge any store, in any language, the same way.  Nothing here asks the store anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.stores.selection import open_store
from conformance.suite import kit

#: The calls the durability and write-shape checks look at (open/openat for flags, -y for fd paths).
TRACE = "write,fsync,fdatasync,link,linkat,unlink,unlinkat,open,openat,rename,renameat,renameat2"

_CALL = re.compile(r"^(?P<pid>\d+)\s+(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?P<rest>.*)$")
_UNFINISHED = re.compile(r"^(?P<pid>\d+)\s+(?P<head>.*) <unfinished \.\.\.>$")
_RESUMED = re.compile(r"^(?P<pid>\d+)\s+<\.\.\. (?P<name>\w+) resumed>(?P<tail>.*)$")
_FD_PATH = re.compile(r"(?:-?\d+|AT_FDCWD)<([^>]*)>")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Call:
    """One completed system call as strace printed it (``-y``: descriptors carry their paths)."""

    pid: int
    name: str
    args: str
    ret: int | None

    @property
    def fd_paths(self) -> list[str]:
        """Paths of the descriptor arguments, in order (``-y`` annotation)."""
        return _FD_PATH.findall(self.args)

    @property
    def strings(self) -> list[str]:
        """String arguments (paths for open/link/unlink), in order."""
        return _STRING.findall(self.args)

    @property
    def last_int(self) -> int | None:
        """The last plain integer argument (the count of ``write``)."""
        found = re.findall(r"(?:^|, )(\d+)$", self.args)
        return int(found[-1]) if found else None

    def path_args(self) -> list[str]:
        """Every path this call names; a relative one is joined to its dirfd (the *at calls pair
        the i-th string with the i-th descriptor)."""
        out = []
        dirfds = self.fd_paths
        for i, text in enumerate(self.strings):
            if text.startswith("/") or i >= len(dirfds):
                out.append(text)
            else:
                out.append(os.path.join(dirfds[i], text))
        return out


def parse(log: Path) -> list[Call]:
    """Every completed call in ``log``, in order of completion (unfinished/resumed pairs joined)."""
    pending: dict[str, str] = {}
    calls = []
    for raw in log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _UNFINISHED.match(raw)
        if m:
            pending[m["pid"]] = m["head"]
            continue
        m = _RESUMED.match(raw)
        if m and m["pid"] in pending:
            raw = f"{m['pid']} {pending.pop(m['pid'])}{m['tail']}"
        m = _CALL.match(raw)
        if m:
            ret = None if m["ret"] == "?" else int(m["ret"])
            calls.append(Call(int(m["pid"]), m["name"], m["args"], ret))
    return calls


@contextlib.contextmanager
def traced_store(selection: str, home: Path, log: Path, cold_after: float = 7 * 86400, trace: str = TRACE):
    """The store under strace (``-f -y``); the log is complete once the block exits."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace not installed")
    command = (f"{shlex.quote(strace)} -f -y -qq -s 64 -e trace={trace} -o {shlex.quote(os.fspath(log))} "
               f"{kit.serve_command(selection)}")
    store = open_store("cmd:" + command)
    try:
        store.configure(os.fspath(home), cold_after)
        yield store
    finally:
        store.close()


def under_umask(selection: str, umask: int):
    """A fresh store for ``selection`` running in a child process whose umask is ``umask``."""
    inner = f"umask {umask:03o}; exec {kit.serve_command(selection)}"
    return open_store("cmd:sh -c " + shlex.quote(inner))


def real(home: Path, rel: str) -> str:
    """The absolute real path strace reports for ``home/rel``."""
    return os.path.join(os.path.realpath(home), rel)
