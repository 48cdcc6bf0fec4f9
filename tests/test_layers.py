"""The floor plan holds: import-linter's contracts in pyproject.toml (layers, the reference on the
contract only, no cycles between siblings) are kept by the code as it is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from helpers import REPO


def test_import_linter_contracts_are_kept():
    # the venv's own script first: `.venv/bin/python -m pytest` does not put .venv/bin on PATH
    beside = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    lint = beside if os.access(beside, os.X_OK) else shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]' (.ci/run does)")
    done = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
