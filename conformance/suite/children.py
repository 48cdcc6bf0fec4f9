"""Real child processes for the suite's multi-process tests: the race harness's actors.

Contract: :class:`Children` starts actors of :class:`race_harness.run.Run` on the test's own home,
each with its own instance of the store under test, running one of the small programs below (the
roles a test needs: appender, session writer, looping compressor, materializer).  Every program
waits for the test's go, so all of them start together; every operation goes through the
harness's executor, so each child's history says what the store acknowledged, and the test judges
from that history and the disk, never from what a child says about itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from conformance.api.errors import Inconclusive
from conformance.suite.kit import OPERATION_BOUND_SECONDS
from race_harness.actor import Executor, Op
from race_harness.history import Operation
from race_harness.run import Run

Program = Callable[[Executor], None]


def appender(rel: str, rollout: str, count: int) -> Program:
    """``count`` appends of one line each."""

    def body(executor: Executor) -> None:
        for _ in range(count):
            executor.run(Op("append", rel, rollout))

    return body


def session_writer(rel: str, rollout: str, count: int) -> Program:
    """A long-lived writer: ``count`` lines through one handle, closed, then ``count`` appends."""

    def body(executor: Executor) -> None:
        executor.run(Op("open_writer", rel, rollout))
        executor.run(Op("write", rel, rollout, count))
        executor.run(Op("close_writer", rel, rollout))
        for _ in range(count):
            executor.run(Op("append", rel, rollout))

    return body


def looping_compressor(rel: str, rollout: str, stop: Path) -> Program:
    """``compress`` the rollout again and again, every fifth round a whole worker run instead,
    until the test creates ``stop``."""

    def body(executor: Executor) -> None:
        rounds = 0
        while not stop.exists():
            executor.run(Op("run_worker") if rounds % 5 == 4 else Op("compress", rel, rollout))
            rounds += 1

    return body


def materializer(rel: str, rollout: str) -> Program:
    """``materialize`` the rollout, then append one line to it."""

    def body(executor: Executor) -> None:
        executor.run(Op("materialize", rel, rollout))
        executor.run(Op("append", rel, rollout))

    return body


class Children:
    """Actors of one harness run on ``home``, started together by :meth:`start`; close at the end."""

    def __init__(self, selection: str, home: Path) -> None:
        # A Run keeps its home in <workdir>/home, which is where the suite's home fixture puts it.
        if Path(home).name != "home":
            raise ValueError(f"{home}: the children's home must be a folder named home (the suite's home fixture)")
        self.run = Run(selection, os.fspath(Path(home).parent), cold_after=7 * 86400)
        self.go = Path(self.run.workdir, "go")
        self.stop = Path(self.run.workdir, "stop")

    def spawn(self, name: str, role: str, program: Program, cold_after: float | None = None) -> str:
        """Start actor ``name`` as ``role`` (writer or compressor) with its own store; it runs
        ``program`` once the test says go.  Returns the name."""
        go = self.go

        def after_go(executor: Executor, conn) -> None:
            while not go.exists():
                time.sleep(0.002)
            program(executor)

        self.run.spawn(name, failpoints=False, program=after_go, cold_after=cold_after, role=role)
        return name

    def start(self) -> None:
        """Go: every spawned child starts its program now."""
        self.go.touch()

    def wait(self, *names: str) -> None:
        """Wait until the children ``names`` ran their programs to the end; Inconclusive when a
        loaded machine keeps one running past the bound (:meth:`close` ends it)."""
        for name in names:
            process = self.run.actors[name].process
            process.join(OPERATION_BOUND_SECONDS)
            if process.is_alive():
                raise Inconclusive(f"child {name} had not finished after {OPERATION_BOUND_SECONDS:g} s: "
                                   "too slow to judge, not a failure")
            assert process.exitcode == 0, f"child {name} exited with {process.exitcode}"

    def operations(self, name: str) -> list[Operation]:
        """What child ``name`` did, in order, each with its outcome (from its history)."""
        return [op for op in self.run.operations() if op.proc == name]

    def close(self) -> None:
        """Kill any child still running and remove the run's sockets."""
        self.run.close()
