"""A run's work folder: removed after a passing run, kept and named after any other outcome.

Contract: :meth:`WorkFolder.finish` removes the folder only when the run passed, the folder was made
for this run (not given with ``--workdir``) and ``--keep`` was not asked; otherwise it returns the
line naming where the folder is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkFolder:
    """Where a run writes homes, logs and reports, and whether it outlives a passing run."""

    path: str
    given: bool  # named by the user (--workdir): never removed
    keep: bool  # --keep: never removed

    @classmethod
    def create(cls, given: str | None, keep: bool, prefix: str) -> "WorkFolder":
        """The folder ``given`` (created if missing) or a fresh temporary one."""
        if given:
            os.makedirs(given, exist_ok=True)
            return cls(os.path.abspath(given), True, keep)
        return cls(tempfile.mkdtemp(prefix=prefix), False, keep)

    def finish(self, status: str) -> str:
        """Remove the folder after a passing run (unless kept); the line to print, or ""."""
        if status == "passed" and not self.given and not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)
            return ""
        why = "as asked" if self.given or self.keep else f"the run ended {status}"
        return f"work folder kept ({why}): {self.path}"
