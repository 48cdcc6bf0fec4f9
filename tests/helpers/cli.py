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


def processes_of_run(pid: int, variable: str) -> list[int]:
    """Live processes of the run ``pid`` started: its descendants, and any process whose environment
    has ``variable`` naming the run (programs re-parented to init after their parent died)."""
    needle = f"{variable}={pid}".encode()
    parent_of, marked = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == b"Z":
            continue
        parent_of[int(entry)] = int(fields[1])
        if any(v == needle or v.startswith(needle + b"/") for v in environ):
            marked.add(int(entry))
    found = set(marked)
    for candidate in parent_of:
        ancestor, seen = parent_of.get(candidate), set()
        while ancestor and ancestor not in seen:
            if ancestor == pid:
                found.add(candidate)
                break
            seen.add(ancestor)
            ancestor = parent_of.get(ancestor)
    return sorted(found - {pid})
