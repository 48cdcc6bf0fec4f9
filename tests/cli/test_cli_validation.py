"""Issue 14, items 1 and 8: every store selection and bound is checked before any work, one line, exit 2."""

from __future__ import annotations

import pytest

from helpers.cli import cli, one_line_usage_error

BAD_STORES = {
    "unknown mutant": "mutant:nope",
    "unimportable module": "py:no_such_module_here:make",
    "missing program": "cmd:/nonexistent/store-adapter",
    "handshake fails": "mutant:program-lies-version",
    "unknown form": "garbage",
}


@pytest.mark.parametrize("command", [
    ["suite"], ["check"], ["race"], ["race", "--random", "--seconds", "60"], ["serve"],
])
@pytest.mark.parametrize("why", list(BAD_STORES))
def test_a_store_that_cannot_open_is_one_line_and_exit_2(command, why):
    """Before: `suite --store mutant:nope` ran 73 s and exited 1; `serve --store cmd:/nonexistent` crashed."""
    done = cli(*command, "--store", BAD_STORES[why], timeout=120)
    line = one_line_usage_error(done)
    assert BAD_STORES[why].split(":")[-1].split("/")[-1] in line or "protocol" in line, line


@pytest.mark.parametrize("argv, words", [
    (["race", "--store", "reference", "--random", "--seconds", "-1"], "negative"),
    (["race", "--store", "reference", "--random", "--seconds", "0"], "never end"),
    (["race", "--store", "reference", "--random", "--writers", "-1"], "negative"),
    (["race", "--store", "reference", "--random", "--writers", "0", "--compressors", "0", "--readers", "0",
      "--listers", "0", "--archivers", "0"], "every role"),
    (["race", "--store", "reference", "--exhaustive", "writer-vs-compress", "--limit", "0"], "--limit"),
    (["check", "--seconds", "0"], "positive"),
    (["check", "--seconds", "-5"], "positive"),
])
def test_impossible_bounds_are_usage_errors(argv, words):
    """Before: `race --random --seconds -1` and a campaign with every role at 0 printed passed, exit 0."""
    assert words in one_line_usage_error(cli(*argv, timeout=120))


def test_report_paths_are_checked_before_the_run(tmp_path):
    """Before: `race --report /nonexistent/x.json` lost the report after the whole run."""
    for argv in (["race", "--store", "reference", "--scenario", "r1-write-between-stats"],
                 ["suite", "--store", "reference"]):
        line = one_line_usage_error(cli(*argv, "--report", str(tmp_path / "missing" / "x.json")))
        assert "does not exist" in line
    assert "folder" in one_line_usage_error(cli("suite", "--store", "reference", "--junitxml", str(tmp_path)))


def test_pytest_options_without_double_dash_get_a_hint():
    line = one_line_usage_error(cli("suite", "--store", "reference", "-k", "read"))
    assert "pytest options go after --" in line and "-- -k read" in line


def test_a_window_id_is_a_scenario_alias_and_a_typo_gets_did_you_mean(tmp_path):
    done = cli("race", "--store", "mutant:append-to-zst", "--scenario", "R4", "--workdir", str(tmp_path),
               "--bundle-dir", str(tmp_path / "bundles"))
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "r4-append-after-unlink: violation" in done.stdout
    line = one_line_usage_error(cli("race", "--store", "reference", "--scenario", "r2-writer-vs-unlnk"))
    assert "did you mean r2-writer-vs-unlink" in line


def test_version_and_same_defaults_for_the_same_flag():
    from importlib.metadata import version

    done = cli("--version")
    assert done.returncode == 0 and version("rollout-conformance") in done.stdout
    check_help, race_help = cli("check", "--help").stdout, cli("race", "--help").stdout
    assert "(default: 30.0)" in check_help.replace("\n", " ").replace("  ", " ")
    assert "default: 30, as in check" in " ".join(race_help.split())


def test_every_option_has_help_and_shows_its_default():
    """Each option of every subcommand says what it does; options with a value show their default."""
    from conformance.cli.main import build_parser
    from conformance.cli.contract import _Formatter, _subparsers_of

    parser = build_parser()
    missing = []
    for group in _subparsers_of(parser):
        for name, sub in group.choices.items():
            for action in sub._actions:
                if action.option_strings and action.help is None:
                    missing.append(f"{name} {action.option_strings[0]}")
            shown = _Formatter("x")._get_help_string
            for action in sub._actions:
                if action.option_strings and action.nargs != 0 and action.default not in (None, [], ()):
                    assert "default" in shown(action).lower(), f"{name} {action.option_strings[0]} hides its default"
    assert not missing, f"options without help: {missing}"


def test_demo_home_refuses_a_non_empty_folder_unless_forced(tmp_path):
    """Before: `demo-home ~/.codex` wrote demo rollouts into a real home."""
    (tmp_path / "config.toml").write_text("model = 'x'\n")
    line = one_line_usage_error(cli("demo-home", str(tmp_path), "--count", "5"))
    assert "not empty" in line and "--force" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]
    done = cli("demo-home", str(tmp_path), "--count", "5", "--force")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sessions").is_dir()
