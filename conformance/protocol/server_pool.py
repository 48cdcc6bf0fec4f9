"""Running protocol programs, and the idle ones kept for the next session of the same command.

Contract: :class:`ServerProcess` is one program started in its own process group, with its pipes
and captured stderr; :class:`ServerPool` hands a process back only for the exact spawn it was
started with (command line, environment, working directory, umask) and only after the program
confirmed ``reopen`` (PROTOCOL.md, "Reusing a program"), so a reused program sees what a fresh one
would; everything it still holds at interpreter exit is killed.
"""

from __future__ import annotations

import atexit
import os
import select
import shlex
import signal
import subprocess
import tempfile
import threading

#: What a child inherits at spawn and cannot be changed afterwards: a reused program must have been
#: started under the same ones, or it is not the program a fresh start would give.
SpawnKey = tuple[str, frozenset, str, int]

#: Variables that change under a program without saying anything about it: pytest renames the
#: running test in PYTEST_CURRENT_TEST at every phase, so keying on it would never reuse a program.
_VOLATILE = frozenset({"PYTEST_CURRENT_TEST"})


def spawn_key(command_line: str) -> SpawnKey:
    """The command line with everything it would inherit if it were started now."""
    umask = os.umask(0o022)
    os.umask(umask)
    environment = frozenset(item for item in os.environ.items() if item[0] not in _VOLATILE)
    return command_line, environment, os.getcwd(), umask


class ServerProcess:
    """One protocol program: started with ``argv`` in a new session, stdin non-blocking, stderr kept."""

    def __init__(self, argv: list[str], key: SpawnKey) -> None:
        self.key = key
        self.hello = None  # the decoded hello of its first session: a reopened program must say the same
        self.buffer = bytearray()  # bytes read from stdout past the last complete line
        self.stderr = tempfile.TemporaryFile(prefix="rollout-conformance-stderr-")
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, start_new_session=True,
            )
        except OSError:
            self.stderr.close()
            raise
        os.set_blocking(self.process.stdin.fileno(), False)
        # poll, not select: a long-lived process (an xdist worker) may hold descriptors past FD_SETSIZE
        self.readable, self.writable = select.poll(), select.poll()
        self.readable.register(self.process.stdout.fileno(), select.POLLIN)
        self.writable.register(self.process.stdin.fileno(), select.POLLOUT)

    def idle(self) -> bool:
        """Running, and nothing unread on stdout: a program that spoke out of turn is not reused."""
        return self.process.poll() is None and not self.buffer and not self.readable.poll(0)

    def forget_stderr(self) -> None:
        """Start the stderr capture afresh, so a reused program's tail shows only its new session."""
        self.stderr.truncate(0)
        self.stderr.seek(0)  # the program shares this file offset: its next line lands at 0

    def terminate(self) -> None:
        """Kill the process group once, reap the program and close the pipes (stderr stays readable)."""
        if self.process.stdout.closed:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group is already gone
        self.process.wait()
        self.process.stdout.close()
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # stdin of a dead program: nothing left to flush

    def discard(self) -> None:
        """Terminate the program and drop its stderr capture."""
        self.terminate()
        self.stderr.close()


class ServerPool:
    """At most ``per_key`` idle programs per spawn key and ``limit`` in all (the least recently used
    go first), for one process's successive sessions."""

    def __init__(self, per_key: int = 2, limit: int = 4) -> None:
        self.per_key = per_key
        self.limit = limit
        self._idle: list[ServerProcess] = []  # least recently put first
        self._lock = threading.Lock()
        atexit.register(self.clear)

    def take(self, key: SpawnKey) -> ServerProcess | None:
        """An idle program started exactly like ``key`` would be, or None (start a fresh one)."""
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index].key != key:
                    continue
                program = self._idle.pop(index)
                if program.idle():
                    return program
                program.discard()
        return None

    def put(self, program: ServerProcess) -> None:
        """Keep a program that confirmed ``reopen``; beyond the limits the least recently used are ended."""
        with self._lock:
            self._idle.append(program)
            same = [waiting for waiting in self._idle if waiting.key == program.key]
            for extra in same[: max(0, len(same) - self.per_key)]:
                self._idle.remove(extra)
                extra.discard()
            while len(self._idle) > self.limit:
                self._idle.pop(0).discard()

    def clear(self) -> None:
        """End every idle program (their sessions are over: nothing of a test is lost)."""
        with self._lock:
            for program in self._idle:
                program.discard()
            self._idle.clear()


def argv_of(command_line: str) -> list[str]:
    """The argv of a ``cmd:`` command line (split like a POSIX shell); ValueError when empty."""
    argv = shlex.split(command_line)
    if not argv:
        raise ValueError("empty command line: write cmd:<program> [arguments...]")
    return argv
