"""Black-box window widening: run any store under strace with a delay injected at chosen syscalls.

For stores without failpoints, a race window can still be widened: ``strace --seccomp-bpf`` stops
the store only at the named syscalls and sleeps before each (``delay_enter``), so for example a
delay at ``unlink`` holds the compressor between its last re-check and the unlink (R2).

A named target picks the syscalls and the side of the call for a window that a delay *before* a
syscall widens on the wrong side: ``create-check`` sleeps *after* every existence check (the
stat family and ``access``) returns, which is the window of a check-then-act ``create`` between
"the name is free" and its ``open``; delaying ``openat`` instead holds the open of both racers.
It delays every such call of the store, start-up included: keep the delay to a few milliseconds.
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


#: Named targets: (the syscalls, strace syntax, and the side of each call the delay lands on).
TARGETS = {
    "create-check": (("%%stat", "access", "faccessat", "faccessat2"), "exit"),
}
_TARGET_SPEC = re.compile(r"^([a-z][a-z-]*):(\d+)$")


@dataclass(frozen=True)
class SyscallDelay:
    syscalls: tuple[str, ...]
    microseconds: int
    side: str = "enter"  # "enter": before the call runs; "exit": after it returned, before the caller goes on

    @classmethod
    def parse(cls, text: str) -> "SyscallDelay":
        """``unlink,renameat2:20000``: these syscalls, each delayed by this many microseconds before it
        runs; ``create-check:2000``: a named target of :data:`TARGETS`."""
        target = _TARGET_SPEC.match(text.strip())
        if target and target.group(1) in TARGETS:
            syscalls, side = TARGETS[target.group(1)]
            return cls(syscalls, int(target.group(2)), side)
        match = _SPEC.match(text.strip())
        if not match:
            raise SyscallDelayError(f"not a delay spec: {text!r} (use SYSCALL[,SYSCALL...]:MICROSECONDS, or "
                                    f"TARGET:MICROSECONDS with a target of {', '.join(TARGETS)})")
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
        f"-e inject={names}:delay_{delay.side}={delay.microseconds} {serve_command(selection)}"
    )
