"""Hot subcommands start without importing the test machinery (about imports, never about time)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.cli.main import COMMANDS, build_parser

#: Heavy packages only the suite, the state machine and the protocol agreement tests need.
FORBIDDEN = ("pytest", "_pytest", "hypothesis", "jsonschema", "race_harness")
UUID = "0199a213-81c0-7800-8aa1-bbab2a035a53"

PROBE = textwrap.dedent("""
    import sys
    from conformance.cli.main import main
    try:
        status = main(sys.argv[1:])
    except SystemExit as exc:
        status = exc.code
    loaded = sorted({name.split(".")[0] for name in sys.modules} & set(%r))
    print("LOADED", ",".join(loaded), "STATUS", status, file=sys.stderr)
""" % (FORBIDDEN,))


def _hot_commands(home: Path) -> dict[str, list[str]]:
    rollout = f"sessions/2025/01/03/rollout-2025-01-03T12-00-00-{UUID}.jsonl"
    return {
        "serve": ["serve", "--store", "reference"],
        "read": ["read", "--home", str(home), rollout],
        "list": ["list", "--home", str(home)],
        "find": ["find", "--home", str(home), UUID],
        "search": ["search", "--home", str(home), "hello"],
        "compress": ["compress", "--home", str(home), "--cold-after", "0"],
    }


@pytest.mark.parametrize("command", ["serve", "read", "list", "find", "search", "compress"])
def test_a_hot_command_imports_no_test_machinery(tmp_path: Path, command: str) -> None:
    home = tmp_path / "home"
    day = home / "sessions" / "2025" / "01" / "03"
    day.mkdir(parents=True)
    (day / f"rollout-2025-01-03T12-00-00-{UUID}.jsonl").write_text(
        '{"timestamp":"2025-01-03T12:00:00.000Z","type":"session_meta","payload":{"id":"%s"}}\n'
        '{"type":"event_msg","payload":{"type":"user_message","message":"hello"}}\n' % UUID)
    argv = _hot_commands(home)[command]
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          input='{"id": 1, "op": "hello", "protocol": 1}\n', timeout=120)
    report = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert report, f"{command} did not finish: {done.stderr[-2000:]}"
    loaded, _, status = report[-1].removeprefix("LOADED ").partition(" STATUS ")
    assert status == "0", f"{command} failed: {done.stderr[-2000:]}"
    assert loaded == "", f"`rollout-conformance {' '.join(argv)}` imported {loaded}; import them inside the function that needs them"


def _subcommands(parser) -> dict:
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def _functions(parser):
    """The ``func`` defaults of a (sub)command and of its own subcommands (``codex install``)."""
    if parser.get_default("func") is not None:
        yield parser.get_default("func")
    if any(a.__class__.__name__ == "_SubParsersAction" for a in parser._actions):
        for sub in _subcommands(parser).values():
            yield from _functions(sub)


def test_every_registered_subcommand_is_in_the_lazy_table() -> None:
    registered = _subcommands(build_parser())
    assert set(registered) == set(COMMANDS), "add the new subcommand to conformance.cli.COMMANDS"
    for name, sub in registered.items():
        modules = {func.__module__ for func in _functions(sub)}
        assert modules == {COMMANDS[name]}, f"{name} runs functions of {modules}, not of {COMMANDS[name]}"
