"""Running ``rollout-conformance`` as a user does, in its own process, for the CLI contract tests."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the console script's main module with ``args``; text output captured."""
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def one_line_usage_error(done: subprocess.CompletedProcess) -> str:
    """The single stderr line of a usage error (exit 2), asserting there is exactly one and no traceback."""
    assert done.returncode == 2, f"exit {done.returncode}, not 2:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"not one line on stderr: {done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return lines[0]


def processes_with(variable: str, value_prefix: str) -> list[int]:
    """Pids of live processes whose environment has ``variable`` starting with ``value_prefix``."""
    needle = f"{variable}={value_prefix}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(v.startswith(needle) for v in environ):
            found.append(int(entry))
    return found
