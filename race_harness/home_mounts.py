"""Per-role paths to one home: the roles a run names see its home through their own bindfs (FUSE) mount.

Contract: :class:`HomeMounts` mounts the run's home once per distinct mount name, gives each role its
path (the home itself for a role not named: the checker and the harness's own actors read it there),
and unmounts on :meth:`close`.  On one machine, two bindfs mounts of one folder stand for two machines
whose flock(2) locks do not meet (issue #25): a lock taken through one mount is not seen through the
other.  A mount that cannot be made raises :class:`~conformance.api.errors.Inconclusive` with the
reason, so such a run is never judged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from conformance.api.errors import Inconclusive
from conformance.runtime.mounts import MountUnavailable, bindfs
from race_harness.roles import STORE_ROLES

#: The file by which an operator declares that the home has one writer machine (SPEC.md 5.8).
ONE_WRITER_MACHINE = ".one-writer-machine"


def pairs(mounts) -> tuple[tuple[str, str], ...]:
    """``mounts`` as (role, mount name) pairs, however a bundle's JSON stored them; raises ValueError."""
    found = tuple((str(role), str(name)) for role, name in mounts)
    unknown = [role for role, _ in found if role not in STORE_ROLES]
    if unknown:
        raise ValueError(f"home mounts name unknown role(s) {unknown}; roles: {', '.join(STORE_ROLES)}")
    return found


class HomeMounts:
    """The bindfs mounts of one run's home, one per mount name (none when ``mounts`` is empty)."""

    def __init__(self, home: str, mounts=()) -> None:
        self.home = home
        self.by_role = dict(pairs(mounts))
        self.points: dict[str, str] = {}
        self._stack = contextlib.ExitStack()
        if not self.by_role:
            return
        # Outside the work folder, so a bundle's copy of that folder never walks into a mount.
        self.folder = tempfile.mkdtemp(prefix="rh-mounts-", dir="/tmp")
        self._stack.callback(shutil.rmtree, self.folder, True)
        try:
            for name in dict.fromkeys(self.by_role.values()):
                self.points[name] = self._stack.enter_context(bindfs(home, os.path.join(self.folder, name)))
        except MountUnavailable as exc:
            self.close()
            raise Inconclusive(f"a per-role home mount could not be made: {exc}") from None

    def path_for(self, role: str) -> str:
        """The path through which ``role``'s actors see the home."""
        name = self.by_role.get(role)
        return self.points[name] if name else self.home

    def close(self) -> None:
        self.points = {}
        self._stack.close()
