"""Black-box window widening: run any store under strace with a delay injected at chosen syscalls.

For stores without failpoints, a race window can still be widened: ``strace --seccomp-bpf`` stops
the store only at the named syscalls and sleeps before each (``delay_enter``), so for example a
delay at ``unlink`` holds the compressor between its last re-check and the unlink (R2).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass

from conformance.stores.selection import serve_command

_SPEC = re.compile(r"^([a-z0-9_]+(?:,[a-z0-9_]+)*):(\d+)$")


class SyscallDelayError(ValueError):
    """The delay cannot be applied; the message says how to fix it."""


@dataclass(frozen=True)
class SyscallDelay:
    syscalls: tuple[str, ...]
    microseconds: int

    @classmethod
    def parse(cls, text: str) -> "SyscallDelay":
        """``unlink,renameat2:20000``: these syscalls, each delayed by this many microseconds."""
        match = _SPEC.match(text.strip())
        if not match:
            raise SyscallDelayError(f"not a delay spec: {text!r} (use SYSCALL[,SYSCALL...]:MICROSECONDS)")
        return cls(tuple(match.group(1).split(",")), int(match.group(2)))


def delayed_selection(selection: str, delay: SyscallDelay, trace_log: str = os.devnull) -> str:
    """A ``cmd:`` selection running ``selection`` under strace with ``delay`` injected.

    strace follows every child (``-f``), so the processes a store starts itself (codex's
    app-servers) are delayed too; ``trace_log`` receives one line per delayed syscall, each
    prefixed with the pid that made it and marked ``(DELAYED)``, to show where the delays landed.
    """
    strace = shutil.which("strace")
    if strace is None:
        raise SyscallDelayError("strace is not installed (apt-get install strace); run without --syscall-delay")
    names = ",".join(delay.syscalls)
    return (
        f"cmd:{shlex.quote(strace)} -f -qq --seccomp-bpf -o {shlex.quote(trace_log)} -e trace={names} "
        f"-e inject={names}:delay_enter={delay.microseconds} {serve_command(selection)}"
    )
