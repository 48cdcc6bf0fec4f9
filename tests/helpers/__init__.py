"""Helpers the project's own tests share: the CLI in a subprocess, seeded campaigns, page DOM checks."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent


def env_with_tests_on_path() -> dict[str, str]:
    """The environment for a subprocess that must import ``doubles.*`` (a ``py:doubles....`` selection)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH", "")]))}
