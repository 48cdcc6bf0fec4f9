"""What one codex binary really does, found by running it once on a scratch home.

Contract: :func:`probe` returns the :class:`CodexFacts` of a binary (its version; whether it has the
``rollout/compress`` request; whether ``thread/resume`` holds ``thread-writer-locks/<id>.lock``;
whether ``thread/read`` reads a ``.jsonl.zst``), learned from behaviour on a throwaway home, never
from the version number, and remembered per binary file (path, size, mtime) so each binary is
probed once per machine.  A binary that cannot run raises :class:`CodexMissing`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from conformance.oracle import disk as oracle

from conformance.stores.codex import launch, passes
from conformance.stores.codex.install import CodexMissing, binary_version
from conformance.stores.codex.rpc import RpcError

#: Bump when the probe learns something new, so facts remembered by an older probe are re-learned.
_PROBE_FORMAT = 2
_DAY_NS = 86_400 * 10**9
_remembered: dict[tuple, "CodexFacts"] = {}


@dataclass(frozen=True)
class CodexFacts:
    """One binary's observed behaviour; every ``*_error`` is codex's answer when the feature is absent."""

    binary: str
    printed: str  # what ``--version`` prints, e.g. "codex-cli 0.130.0"
    has_compress: bool
    compress_error: str
    resume_works: bool
    resume_error: str
    resume_holds_writer_lock: bool
    reads_zst: bool
    zst_error: str

    @property
    def version(self) -> str:
        """The release number (``0.130.0``), or the whole printed line when it names none."""
        return self.printed.split()[-1] if self.printed.startswith("codex-cli ") else self.printed

    def capabilities(self) -> tuple[str, ...]:
        return (("compressor",) if self.has_compress else ()) + (("session-writer",) if self.resume_works else ())

    def coordination(self) -> tuple[str, ...]:
        return ("codex-thread-locks",) if self.resume_holds_writer_lock else ()

    def limits(self) -> tuple[str, ...]:
        """One sentence per thing this binary lacks, each with what it answered or did."""
        said = []
        if not self.has_compress:
            said.append(f"{self.printed} has no rollout/compress request (it answered: {self.compress_error})")
        if not self.resume_works:
            said.append(f"{self.printed} cannot resume a session (thread/resume answered: {self.resume_error})")
        elif not self.resume_holds_writer_lock:
            said.append(f"{self.printed} holds no thread-writer-locks/<id>.lock while a resumed session is open, "
                        "so a compressor cannot see its writer")
        if not self.reads_zst:
            said.append(f"{self.printed} cannot read a .jsonl.zst rollout (thread/read answered: {self.zst_error})")
        return tuple(said)


def probe(binary: str, timeout: float = 60.0) -> CodexFacts:
    """The facts of ``binary``, probed on a scratch home the first time this machine sees that file."""
    real = os.path.realpath(binary)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise CodexMissing(f"cannot run {binary} ({exc}); run `rollout-conformance codex install [VERSION]`") from exc
    key = (_PROBE_FORMAT, real, st.st_size, st.st_mtime_ns)
    if key in _remembered:
        return _remembered[key]
    note = os.path.join(tempfile.gettempdir(), "rollout-conformance-codex-facts",
                        hashlib.sha256(repr(key).encode()).hexdigest()[:24] + ".json")
    try:
        with open(note) as handle:
            facts = CodexFacts(**json.load(handle))
    except (OSError, ValueError, TypeError):
        facts = _run_probe(binary, timeout)
        os.makedirs(os.path.dirname(note), exist_ok=True)
        staged = f"{note}.{os.getpid()}"
        with open(staged, "w") as handle:
            json.dump(asdict(facts), handle)
        os.replace(staged, note)  # whole or absent for a concurrent prober
    _remembered[key] = facts
    return facts


def _run_probe(binary: str, timeout: float) -> CodexFacts:
    printed = binary_version(binary)
    home = tempfile.mkdtemp(prefix="codex-probe-home-")
    scratch = tempfile.mkdtemp(prefix="codex-probe-scratch-")
    try:
        compressed, fresh = _rollout(home, compressed=True), _rollout(home, compressed=False)
        server = launch.start(binary, home, scratch, timeout)
        try:
            reads_zst, zst_error = _answers(server, "thread/read", {"threadId": compressed, "includeTurns": True})
            resume_works, resume_error = _answers(
                server, "thread/resume", {"threadId": fresh, "approvalPolicy": "never", "sandbox": "read-only"})
            holds_lock = resume_works and passes.writer_lock_held(home, fresh)
            # last: the request starts a real pass (on this scratch home only)
            has_compress, compress_error = _answers(server, "rollout/compress", None)
        finally:
            server.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return CodexFacts(binary=os.path.realpath(binary), printed=printed, has_compress=has_compress,
                      compress_error=compress_error, resume_works=resume_works, resume_error=resume_error,
                      resume_holds_writer_lock=holds_lock, reads_zst=reads_zst, zst_error=zst_error)


def _answers(server, method: str, params) -> tuple[bool, str]:
    """(answered without error, the error otherwise) for one request."""
    try:
        server.request(method, params)
    except RpcError as exc:
        # codex lists every method it knows after "expected one of": the refusal is enough
        return False, f"{exc.code} {exc.message.split(', expected one of')[0][:300]}"
    return True, ""


def _rollout(home: str, compressed: bool) -> str:
    """A one-message rollout codex can read (compressed: as ``.jsonl.zst``, 8 days old); its id."""
    ident = str(uuid.uuid4())
    rel = oracle.active_path(oracle.rollout_name(datetime(2025, 1, 3, 12, 0, 0), ident))
    data = oracle.session_meta_line(ident) + oracle.user_message_line("probe")
    if compressed:
        oracle.write_zst(home, rel + ".zst", data, 0o600, time.time_ns() - 8 * _DAY_NS)
    else:
        oracle.write_plain(home, rel, data, 0o600)
    return ident
