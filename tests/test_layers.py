"""The floor plan holds: import-linter's contracts in pyproject.toml (layers, the reference on the
contract only, no cycles between siblings) are kept by the code as it is."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import REPO


def test_import_linter_contracts_are_kept():
    lint = shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed: pip install -e '.[dev]' (.ci/run does)")
    done = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
