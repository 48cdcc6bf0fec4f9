"""Run the tool under check: command templates with placeholders, a timeout, crash detection."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass

#: Placeholders a command or an ``--env`` value may use; the per-rollout ones make a lookup command.
HOME_PLACEHOLDERS = ("home", "sessions", "archived_sessions", "user_home")
ROLLOUT_PLACEHOLDERS = ("id", "path", "logical", "stem", "marker")
_FIELD = re.compile(r"\{([a-z_]*)\}")
_OUTPUT_LIMIT = 8 << 20  # what one run may print before the rest is dropped

# Signatures of an uncaught crash, whatever the exit code: Python, Node, Rust, Go, Java.
_CRASH = (
    re.compile(r"^Traceback \(most recent call last\):", re.M),
    re.compile(r"^\s+at .+:\d+:\d+\)?$", re.M),
    re.compile(r"panicked at ", re.M),
    re.compile(r"^panic: .*\n+goroutine ", re.M),
    re.compile(r"^Exception in thread ", re.M),
)


class UsageError(Exception):
    """A command or setting that cannot be run as given; the message says the fix."""


@dataclass(frozen=True)
class Template:
    """One command line (split like a shell would) with ``{placeholders}``."""

    text: str
    argv: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Template":
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            raise UsageError(f"cannot split --cmd {text!r}: {exc}") from None
        if not argv:
            raise UsageError("--cmd is empty: give the tool and its arguments, e.g. --cmd 'mytool list {home}'")
        check_fields(text, "--cmd")
        return cls(text, argv)

    @property
    def per_rollout(self) -> bool:
        """True when the command looks one rollout up (it names ``{id}``, ``{path}``, ``{stem}``, ...)."""
        return any(name in ROLLOUT_PLACEHOLDERS for name in _FIELD.findall(self.text))

    def expand(self, values: dict[str, str]) -> list[str]:
        return [fill(arg, values) for arg in self.argv]


def check_fields(text: str, where: str) -> None:
    """Refuse an unknown ``{placeholder}`` with the list of known ones."""
    known = HOME_PLACEHOLDERS + ROLLOUT_PLACEHOLDERS
    for name in _FIELD.findall(text):
        if name not in known:
            raise UsageError(f"{where} {text!r}: unknown placeholder {{{name}}}; use one of "
                             + ", ".join("{" + k + "}" for k in known))


def fill(text: str, values: dict[str, str]) -> str:
    return _FIELD.sub(lambda m: values[m.group(1)], text)


def parse_env(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` settings (values may hold placeholders)."""
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--env {item!r}: write NAME=VALUE, e.g. --env CODEX_HOME={{home}}")
        check_fields(value, "--env")
        out.append((name, value))
    return tuple(out)


@dataclass(frozen=True)
class Run:
    """What one run of the tool did."""

    argv: tuple[str, ...]
    exit_code: int | None  # None when it timed out
    stdout: str
    stderr: str
    seconds: float
    crash: str  # the last lines of a traceback or panic ("" when none)

    @property
    def timed_out(self) -> bool:
        return self.exit_code is None


def run_tool(argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> Run:
    """Run ``argv`` in its own process group; on timeout the whole group is killed."""
    start = time.monotonic()
    if os.sep in argv[0]:  # a relative program path means the caller's folder, not the run's
        argv = [os.path.abspath(argv[0]), *argv[1:]]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        raise UsageError(f"cannot start {argv[0]!r}: {exc.strerror}; is it installed and on PATH?") from None
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the tool's children too: a hung helper holds the pipes
        out, err = proc.communicate()
        code = None
    stdout = out[:_OUTPUT_LIMIT].decode("utf-8", "replace")
    stderr = err[:_OUTPUT_LIMIT].decode("utf-8", "replace")
    return Run(tuple(argv), code, stdout, stderr, time.monotonic() - start, crash_tail(stderr) or crash_tail(stdout))


def crash_tail(text: str, lines: int = 4) -> str:
    """The last lines from an uncaught crash's report in ``text``, or ""."""
    match = None
    for pattern in _CRASH:
        found = pattern.search(text)
        if found and (match is None or found.start() < match.start()):
            match = found
    if match is None:
        return ""
    block = [line for line in text[match.start():].splitlines() if line.strip()]
    return "\n".join(block[-lines:])


def tool_env(settings: tuple[tuple[str, str], ...], values: dict[str, str]) -> dict[str, str]:
    """The caller's environment plus the ``--env`` settings, placeholders filled."""
    env = dict(os.environ)
    env.update({name: fill(value, values) for name, value in settings})
    return env
