"""COORD-013: a writer that takes no lock of any scheme, seen by the compressor through /proc.

The writer is a real child process that opens the cold plain file ``O_WRONLY|O_APPEND`` and takes no
lock (as codex releases before 0.147.0 do for a resumed session); the reader is one that opens it
``O_RDONLY``.  Skipped where the system does not list open files (no ``/proc/<pid>/fd``).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conformance.oracle import disk as oracle
from conformance.suite import kit

pytestmark = pytest.mark.skipif(not os.path.isdir(f"/proc/{os.getpid()}/fd"),
                                reason="this system lists no open files under /proc/<pid>/fd (not Linux)")

# Opens the file, says so, then for each line on stdin appends it and says so; exits on EOF.
_HOLDER = r"""
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND if sys.argv[2] == "write" else os.O_RDONLY)
print("open", flush=True)
for line in sys.stdin:
    os.write(fd, line.encode())
    print("wrote", flush=True)
"""


class _Holder:
    """A child process holding ``path`` open (``write``: for appending, no lock; ``read``: read only)."""

    def __init__(self, path, how: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _HOLDER, os.fspath(path), how],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("open")

    def write(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        self._expect("wrote")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(kit.OPERATION_BOUND_SECONDS)

    def _expect(self, word: str) -> None:
        said = self.process.stdout.readline().strip()
        assert said == word, f"the holder process said {said!r}, not {word!r} (exit {self.process.poll()})"


@pytest.mark.req("COORD-013")
def test_an_idle_lockless_writer_makes_compression_skip_busy(store, home):
    """The writer holds the cold plain file open with no lock: compress says skipped_busy and changes
    nothing; once it has written a line and exited, the rollout is compressed with that line."""
    r = kit.make_rollout(home, old=True)
    writer = _Holder(home / r.rel, "write")
    try:
        before = oracle.file_state(home / r.rel)
        assert store.compress(r.rel) == "skipped_busy", "compressed a plain file a lockless writer holds open"
        assert oracle.representations(home, r.rel) == (r.rel,)
        assert oracle.file_state(home / r.rel) == before
        assert oracle.temps(home) == []
        line = kit.line_text("from-the-lockless-writer")
        writer.write(line)
    finally:
        writer.close()
    oracle.backdate(home, r.rel, 8)
    assert store.compress(r.rel) == "compressed"
    assert oracle.logical_content(home, r.rel) == r.data + line.encode() + b"\n"


@pytest.mark.req("COORD-013")
def test_a_reader_does_not_make_a_rollout_busy(store, home):
    """A process holding the plain file open read-only loses nothing to the unlink: it is compressed."""
    r = kit.make_rollout(home, old=True)
    reader = _Holder(home / r.rel, "read")
    try:
        assert store.compress(r.rel) == "compressed"
    finally:
        reader.close()
    assert oracle.logical_content(home, r.rel) == r.data


@pytest.mark.req("COORD-013")
@pytest.mark.needs("failpoints")
def test_a_lockless_append_just_before_the_unlink_is_not_lost(store_selection, home):
    """A process that takes no lock appends a line and closes the file while the compressor is held
    just before its unlink (after it published the .zst): no descriptor is left to find, so the
    compressor must see the longer file, withdraw its .zst and keep the plain file with the line."""
    r = kit.make_rollout(home, old=True)
    line = kit.line_text("appended-and-closed")
    with kit.failpoint_session(store_selection, home) as session:
        with session.held_at("compress.before_unlink", session.store.compress, r.rel) as box:
            writer = _Holder(home / r.rel, "write")
            writer.write(line)
            writer.close()
            oracle.backdate(home, r.rel, 8)
    assert box.get("value") in ("skipped_changed", "skipped_busy"), box
    assert oracle.representations(home, r.rel) == (r.rel,), "a .zst stayed beside, or instead of, the longer plain file"
    assert (home / r.rel).read_bytes() == r.data + line.encode() + b"\n"
    assert oracle.temps(home) == []
