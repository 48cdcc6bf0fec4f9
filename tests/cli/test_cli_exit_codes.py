"""Issue 14, item 2: one exit-code table, the same in README, in every --help and in what commands return."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.cli import cli
from conformance.api import exit_codes
from conformance.cli.main import build_parser
from conformance.cli.contract import _subparsers_of, exit_code_epilog

README = Path(__file__).resolve().parents[2] / "README.md"


def _subcommands(parser=None, prefix=()):
    parser = parser or build_parser()
    for group in _subparsers_of(parser):
        for name, sub in group.choices.items():
            yield (*prefix, name), sub
            yield from _subcommands(sub, (*prefix, name))


def test_readme_states_the_table():
    text = README.read_text()
    rows = dict(re.findall(r"^\| `(\d)` \| (.+?) \|$", text, flags=re.M))
    assert {int(code) for code in rows} == {code for code, _ in exit_codes.TABLE}, rows
    for code, meaning in exit_codes.TABLE:
        assert rows[str(code)] == meaning, f"README says {rows[str(code)]!r} for {code}, the code says {meaning!r}"


def test_every_subcommand_help_ends_with_the_table():
    names = []
    for path, sub in _subcommands():
        names.append(" ".join(path))
        assert exit_code_epilog() in sub.format_help(), f"{' '.join(path)} --help lacks the exit-code table"
    assert {"suite", "check", "race", "replay", "serve", "selftest", "list", "compress"} <= set(names)


@pytest.mark.parametrize("path", [" ".join(p) for p, _ in _subcommands()])
def test_every_subcommand_answers_a_bad_option_with_exit_2(path):
    done = cli(*path.split(), "--no-such-option", timeout=120)
    assert done.returncode == exit_codes.USAGE, f"{path}: exit {done.returncode}\n{done.stderr[-1500:]}"
    assert "Traceback" not in done.stderr


def test_representative_runs_return_the_documented_codes(tmp_path):
    home = tmp_path / "home"
    assert cli("demo-home", str(home), "--count", "8").returncode == exit_codes.PASSED
    assert cli("race", "--list-scenarios").returncode == exit_codes.PASSED
    assert cli("list", "--home", str(home)).returncode == exit_codes.PASSED
    assert cli("find", "--home", str(home), "00000000-0000-4000-8000-000000000000").returncode == exit_codes.FAILED
    broken = cli("suite", "--store", "mutant:reader-prefers-zst", "--", "-q", "-n", "0", "-k", "test_plain_wins")
    assert broken.returncode == exit_codes.FAILED, broken.stdout[-2000:]
    crashing = cli("suite", "--store", "mutant:program-crashes", "--", "-q", "-n", "0", "-k", "test_plain_wins")
    assert crashing.returncode == exit_codes.INCONCLUSIVE, crashing.stdout[-2000:]
    assert cli("compress", "--home", str(home), "--cold-after", "0").returncode == exit_codes.PASSED
    zst = next(home.glob("sessions/**/*.jsonl.zst"))
    zst.write_bytes(b"not zstd at all\n")
    searched = cli("search", "--home", str(home), "user")
    assert searched.returncode == exit_codes.UNREADABLE, searched.stderr
