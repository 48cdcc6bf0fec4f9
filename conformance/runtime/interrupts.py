"""SIGINT and SIGTERM end a run the same way: unwind, stop every child process, exit 4.

Contract: inside :func:`guarded`, the first SIGINT or SIGTERM raises KeyboardInterrupt in the main
thread (so commands can print a partial verdict); :func:`stop_children` then stops every process
this run started, including ones re-parented to init after their parent died, within a bounded time.
A second signal, or a run that does not unwind within :data:`UNWIND_SECONDS`, stops the children and
exits 4 at once.
"""

from __future__ import annotations

import logging  # noqa: F401 - its at-fork hooks must be registered before ours (see below)
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from conformance.api.exit_codes import INTERRUPTED

#: Every process a run starts inherits this variable; its value names the run (and its parents' runs).
RUN_ENV = "ROLLOUT_CONFORMANCE_RUN"
UNWIND_SECONDS = 20.0
TERM_GRACE_SECONDS = 2.0

_signalled = threading.Event()
_guarding = threading.Event()
_at_once = threading.Event()
_forking = threading.Event()


def interrupted() -> bool:
    """Whether this process received SIGINT or SIGTERM inside :func:`guarded`."""
    return _signalled.is_set()


def _run_token() -> str:
    return os.environ.get(RUN_ENV, "")


def _process_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, environment) of every process this user can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue  # gone, or another user's process
        # the command name may hold spaces or parentheses: the fields start after the last ')'
        fields = stat[stat.rfind(b")") + 2 :].split()
        table[int(entry)] = (int(fields[1]), environ)
    return table


def children_of_this_run() -> list[int]:
    """Descendants of this process plus any process carrying this run's token (orphans included)."""
    if not os.path.isdir("/proc"):
        return []
    me = os.getpid()
    table = _process_table()
    token = _run_token().encode()
    found = set()
    if token:
        needle = f"{RUN_ENV}=".encode() + token
        for pid, (_parent, environ) in table.items():
            for variable in environ.split(b"\0"):
                if variable == needle or variable.startswith(needle + b"/"):
                    found.add(pid)
    frontier = [me]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _environ) in table.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    ancestors = set()
    pid = me
    while pid in table and pid not in ancestors:
        ancestors.add(pid)
        pid = table[pid][0]
    return sorted(found - ancestors - {me})


def stop_children(grace: float = TERM_GRACE_SECONDS) -> int:
    """SIGTERM every child of this run, SIGKILL what is left after ``grace`` s; how many were found."""
    victims = children_of_this_run()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in victims:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not [pid for pid in victims if _alive(pid)]:
                return len(victims)
            time.sleep(0.05)
    return len(victims)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def stop_children_at_once() -> None:
    """Ask that the first signal stop every child right away, before the run unwinds (race actors)."""
    _at_once.set()


def _on_signal(signum, _frame) -> None:
    if _signalled.is_set():
        _give_up(f"second {signal.Signals(signum).name}")
    _signalled.set()
    print(f"\n{signal.Signals(signum).name}: stopping (children are being stopped; a second signal "
          f"stops everything at once)", file=sys.stderr, flush=True)
    if _at_once.is_set():
        threading.Thread(target=stop_children, daemon=True, name="interrupt-stop-children").start()
    threading.Thread(target=_watchdog, daemon=True, name="interrupt-watchdog").start()
    if _forking.is_set():
        # Raised inside an at-fork hook (logging's _releaseLock), the KeyboardInterrupt would be
        # printed as "Exception ignored" and lost: the forking caller checks interrupted() instead.
        return
    raise KeyboardInterrupt


def _watchdog() -> None:
    time.sleep(UNWIND_SECONDS)
    _give_up(f"the run did not unwind within {UNWIND_SECONDS:.0f} s")


def _give_up(why: str) -> None:
    stop_children(grace=0.5)
    print(f"interrupted: {why}; children stopped, exit {INTERRUPTED}", file=sys.stderr, flush=True)
    os._exit(INTERRUPTED)


def _forked_child_defaults() -> None:
    # A forked actor must die of SIGTERM as usual, not run this process's unwinding handler.
    _forking.clear()
    if _guarding.is_set():
        _guarding.clear()
        _signalled.clear()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


# Registered after logging's hooks (imported above for that): before-fork hooks run in reverse
# order of registration and after-fork ones in order, so _forking spans logging's lock handling.
os.register_at_fork(before=_forking.set, after_in_parent=_forking.clear, after_in_child=_forked_child_defaults)


@contextmanager
def guarded() -> Iterator[None]:
    """Mark this run's children, turn SIGINT/SIGTERM into KeyboardInterrupt, stop children on exit."""
    parent = _run_token()
    os.environ[RUN_ENV] = f"{parent}/{os.getpid()}" if parent else str(os.getpid())
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    _guarding.set()
    try:
        yield
    finally:
        _guarding.clear()
        if _signalled.is_set():
            stop_children()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
