"""The reference next to live writers of either coordination scheme: real processes, real locks.

A child process plays a live writer the way each scheme says (codex's thread lock file under the
coordination lock, or ``LOCK_SH`` on the data inode), keeps its ``O_APPEND`` handle open on a
rollout idle past the cold age, and writes one more line after a compressor ran.  The line must be
in the rollout afterwards whenever the compressor follows the writer's scheme; with no lock at all
it is seen only by the default reference, which also looks for open descriptors in /proc, and a
single-scheme reference loses it, which shows the check can fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conformance.oracle import disk as oracle
from conformance.api import requirements
from conformance.stores.selection import open_store

REPO = Path(__file__).resolve().parents[2]

_WRITER = r"""
import fcntl, os, sys
home, rel, thread_id, style = sys.argv[1:5]
if style == "thread-lock":
    os.makedirs(os.path.join(home, "thread-writer-locks"), exist_ok=True)
    coord = os.open(os.path.join(home, "thread-writer-locks", ".coordination.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(coord, fcntl.LOCK_EX)
    lock = os.open(os.path.join(home, "thread-writer-locks", thread_id + ".lock"), os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(coord)
fd = os.open(os.path.join(home, rel), os.O_WRONLY | os.O_APPEND)
if style == "inode-sh":
    fcntl.flock(fd, fcntl.LOCK_SH)
print("ready", flush=True)
line = sys.stdin.readline()
written = os.write(fd, line.encode())
print("wrote", written, os.fstat(fd).st_nlink, flush=True)
"""


def _cold_rollout(home: Path) -> tuple[str, str, bytes]:
    ident = str(uuid.uuid4())
    rel = oracle.active_path(oracle.rollout_name(datetime(2025, 1, 5, 14, 42, tzinfo=timezone.utc), ident))
    data = oracle.session_meta_line(ident) + oracle.user_message_line("before the idle week")
    oracle.write_plain(home, rel, data, 0o600)
    oracle.backdate(home, rel, 8)
    return rel, ident, data


class LiveWriter:
    """A child process holding an O_APPEND handle (and its scheme's lock) on one rollout."""

    def __init__(self, home: Path, rel: str, thread_id: str, style: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(home), rel, thread_id, style],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def write(self, line: str) -> int:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().split()
        self.proc.wait(timeout=20)
        assert answer[0] == "wrote" and int(answer[1]) == len(line) + 1, answer
        return int(answer[2])  # st_nlink of the inode the line went to


def _cli_compress(home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "compress", "--home", str(home)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("style", ["thread-lock", "inode-sh"])
def test_compress_cli_loses_nothing_next_to_a_live_writer(tmp_path, style):
    """`rollout-conformance compress --home` beside a live writer of either scheme: skipped_busy,
    and the writer's next line is in the rollout."""
    home = tmp_path / "home"
    rel, ident, data = _cold_rollout(home)
    writer = LiveWriter(home, rel, ident, style)
    summary = _cli_compress(home)
    assert "skipped_busy" in summary, summary
    line = json.dumps({"type": "event_msg", "payload": {"type": "user_message", "message": "after the idle week"}})
    assert writer.write(line) == 1, "the line went to an unlinked inode"
    assert oracle.representations(home, rel) == (rel,)
    assert oracle.logical_content(home, rel) == data + line.encode() + b"\n"


def test_compress_cli_sees_a_writer_that_takes_no_lock(tmp_path):
    """A writer that holds no lock of any scheme (codex before 0.147.0): the default reference finds
    it in /proc (COORD-013, SPEC.md 5.9), skips the rollout as busy, and its next line is kept."""
    home = tmp_path / "home"
    rel, ident, data = _cold_rollout(home)
    writer = LiveWriter(home, rel, ident, "none")
    assert "skipped_busy" in _cli_compress(home)
    line = '{"type":"event_msg","payload":{}}'
    assert writer.write(line) == 1, "the line went to an unlinked inode"
    assert oracle.logical_content(home, rel) == data + line.encode() + b"\n"


@pytest.mark.parametrize(
    "compressor, style, safe",
    [
        ("reference", "thread-lock", True),
        ("reference", "inode-sh", True),
        ("reference:codex-thread-locks", "thread-lock", True),
        ("reference:codex-thread-locks", "inode-sh", False),
        ("reference:inode-flock", "inode-sh", True),
        ("reference:inode-flock", "thread-lock", False),
        # no lock at all: only the default reference, which also looks in /proc (SPEC.md 5.9), sees it
        ("reference", "none", True),
        ("reference:inode-flock", "none", False),
        ("reference:codex-thread-locks", "none", False),
    ],
)
def test_a_writer_is_safe_exactly_from_compressors_of_its_scheme(tmp_path, compressor, style, safe):
    """Each single-scheme reference protects only its own scheme's writers (SPEC.md 5.7); the default
    protects writers of either scheme and writers that take no lock (5.9)."""
    home = tmp_path / "home"
    rel, ident, data = _cold_rollout(home)
    writer = LiveWriter(home, rel, ident, style)
    store = open_store(compressor)
    try:
        store.configure(str(home), 0)
        outcome = store.compress(rel)
    finally:
        store.close()
    assert outcome == ("skipped_busy" if safe else "compressed")
    nlink = writer.write('{"type":"event_msg","payload":{"n":1}}')
    assert (nlink == 1) is safe
    content = oracle.logical_content(home, rel)
    assert content.endswith(b'{"type":"event_msg","payload":{"n":1}}\n') is safe


@pytest.mark.parametrize("selection, declared", [
    ("reference", ("inode-flock", "codex-thread-locks")),
    ("reference:inode-flock", ("inode-flock",)),
    ("reference:codex-thread-locks", ("codex-thread-locks",)),
])
def test_hello_declares_the_schemes_followed(selection, declared):
    store = open_store(selection)
    try:
        assert store.hello().coordination == declared
    finally:
        store.close()
    served = open_store("cmd:" + f"{sys.executable} -m conformance.cli.serve --store {selection}")
    try:
        assert served.hello().coordination == declared
    finally:
        served.close()


def _suite(selection: str, report: Path, *tests: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "suite", "--store", selection, "--report", str(report),
         "--", "-q", "-n", "0", "-k", " or ".join(tests)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(report.read_text())["requirements"]


SCHEME_TESTS = ("test_coordination", "test_thread_locks")  # the suite modules of both schemes' requirements


@pytest.mark.parametrize("selection, own, other", [
    ("reference:inode-flock", "inode-flock", "codex-thread-locks"),
    ("reference:codex-thread-locks", "codex-thread-locks", "inode-flock"),
])
def test_each_single_scheme_reference_passes_its_scheme_and_skips_the_other(tmp_path, selection, own, other):
    verdicts = _suite(selection, tmp_path / "report.json", *SCHEME_TESTS)
    known = requirements.load()
    for rid, requirement in known.items():
        if requirement.scheme == own:
            assert verdicts[rid]["status"] == "passed", (rid, verdicts[rid])
        elif requirement.scheme == other:
            assert verdicts[rid]["status"] == "skipped", (rid, verdicts[rid])
