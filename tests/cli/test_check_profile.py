"""Issue 14, item 7: `check --profile reader` judges a reader-only store, showing every row it did not
judge as skipped with the reason; a header says what runs before the first test."""

from __future__ import annotations

import os
import shutil

import pytest

from helpers.cli import cli
from conformance.api import requirements

READER = "cmd:perl conformance/stores/adapters/reader.pl"


@pytest.mark.skipif(not shutil.which("perl") or not shutil.which("zstd"),
                    reason="the Perl reader adapter needs perl and the zstd command-line tool")
def test_the_perl_reader_passes_check_with_the_reader_profile(tmp_path):
    """Before: `check` could not judge a reader-only store: the project's own Perl adapter ended exit 3."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = cli("check", "--store", READER, "--profile", "reader", cwd=root, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"check: {READER}:") and "perl-reader" in lines[0]
    assert "will run: the suite (profile reader)" in lines[1] and "race: not run" in lines[1]
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in requirements.load()}
    assert set(rows) == set(requirements.load())
    for rid, requirement in requirements.load().items():
        if requirement.capability != "reader":
            assert " skipped  (not in profile reader)" in rows[rid], rows[rid]
        else:
            assert rows[rid].split()[4] in ("passed", "skipped"), rows[rid]
    assert "work folder kept" not in done.stdout, "a passing check keeps no work folder"


def test_check_names_the_store_and_the_plan_first_and_leaves_nothing_after_a_pass(tmp_path):
    """Before: `check` was silent for ~80 s before its first line and left its work folder (and the
    suite's pytest homes) behind after a passing run."""
    done = cli("check", "--store", "reference", "--profile", "reader", env=dict(os.environ, TMPDIR=str(tmp_path)),
               timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("check: reference:") and "capabilities" in lines[0], lines[:2]
    assert lines[1].startswith("check: will run: the suite (profile reader)") and "work folder" in lines[1], lines[:2]
    assert "work folder kept" not in done.stdout
    assert list(tmp_path.iterdir()) == [], "a passing check left files in the temporary folder"
