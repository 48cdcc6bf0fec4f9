"""The real Codex CLI as a store under test, driven through ``codex app-server``.

Contract: :class:`CodexStore` satisfies :class:`conformance.store_api.Store` and declares only what
the given codex binary was seen to do (:mod:`conformance.stores.codex.facts`): ``compressor`` when it
has the ``rollout/compress`` request (one real pass per worker run), ``session-writer`` when
``thread/resume`` works (``open_writer``/``write``/``close_writer`` as a codex session: ``thread/resume``
then ``turn/start``), and the ``codex-thread-locks`` scheme only when a resumed session holds its
writer lock.  Everything else answers ``unsupported``, naming the binary's own version.  A missing
binary, a hang or a crash of codex raises :class:`conformance.protocol_client.Inconclusive` with the
reason, never a result.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import tempfile
import time

from conformance.oracle import disk as oracle
from conformance.api.errors import Inconclusive
from conformance.api.store import CleanupReport, Hello, UndeclaredCapabilityError, WorkerReport
from conformance.api.errors import BusyError, InvalidHomeError, InvalidNameError, NotFoundError, OutsideHomeError
from reference.thread_locks import CoordinationLock, thread_lock_path

from conformance.stores.codex import launch, passes
from conformance.stores.codex.facts import CodexFacts, probe
from conformance.stores.codex.install import CodexMissing, find_binary, is_version
from conformance.stores.codex.session import CodexSession

NAME = "codex"
_PASS_POLL_SECONDS = 0.02


class CodexStore:
    """One codex app-server per store instance, plus one per open writer (a codex session each)."""

    def __init__(self, binary: str | None = None, timeout: float = 60.0) -> None:
        """``binary``: a path, a release number (its install under ``codex install VERSION``) or None
        (the pinned install, else ``codex`` on PATH)."""
        self.timeout = timeout
        self._missing: str | None = None
        self._binary = self._version = ""
        self._facts: CodexFacts | None = None
        try:
            self._binary = find_binary(binary) if binary and is_version(binary) else binary or find_binary()
            self._facts = probe(self._binary, timeout)
            self._version = self._facts.printed
        except (CodexMissing, Inconclusive) as exc:
            self._missing = str(exc)
        self._home: str | None = None
        self._cold_after: float | None = None
        self._scratch: str | None = None
        self._server = None
        self._writers: dict[str, CodexSession] = {}
        self._handles = itertools.count(1)

    # -- handshake and binding ------------------------------------------------------------------

    def hello(self) -> Hello:
        self._require_binary()
        return Hello(protocol=1, name=NAME, version=self._version, capabilities=self._facts.capabilities(),
                     failpoints=(), coordination=self._facts.coordination())

    @property
    def facts(self) -> CodexFacts:
        """What the binary was seen to do (raises Inconclusive when it cannot run)."""
        self._require_binary()
        return self._facts

    def configure(self, home: str, cold_after_seconds: float) -> None:
        """Bind to ``home``; codex starts on first use (so it leaves nothing in a home it never served).

        codex's cold age is fixed at 7 days and cannot be configured: passes judge by it whatever
        ``cold_after_seconds`` says (back-dating rollouts is the caller's business), and
        ``compress(path)`` is inconclusive when the configured age and codex's disagree on ``path``.
        """
        self._require_binary()
        if not os.path.isdir(home):
            raise InvalidHomeError(f"the home {home!r} is not a folder; create it first", path=str(home))
        self._close_processes()
        self._home = os.path.realpath(home)
        self._cold_after = cold_after_seconds
        self._scratch = tempfile.mkdtemp(prefix="codex-scratch-home-")

    # -- compressor -----------------------------------------------------------------------------

    def run_worker(self) -> WorkerReport:
        """One real compression pass over the whole home (the 6 h cooldown marker removed first)."""
        self._require_capability("compressor")
        return self._pass(masked=())

    def compress(self, path: str) -> str:
        """One real pass in which every *other* rollout is held busy through codex's own writer locks.

        codex has no per-rollout compression; holding ``thread-writer-locks/<id>.lock`` for every
        other id makes its pass skip them (skipped_busy), so only ``path`` can change.  The pass
        still takes codex's maintenance lock and sweeps temps older than 6 h, as every codex pass does.
        """
        self._require_capability("compressor")
        rel = self._logical(path)
        present = oracle.representations(self._home, rel)
        if not present:
            raise NotFoundError(f"no representation of {rel} exists", path=rel)
        if rel not in present:
            return "skipped_already_compressed"  # codex compresses only plain files
        target_id = oracle.parse_name(os.path.basename(rel))[1].lower()
        others = {oracle.parse_name(os.path.basename(r))[1].lower() for r in passes.scan(self._home).files
                  if oracle.logical_of(r) != rel}
        if target_id in others:
            raise Inconclusive(f"another rollout shares the id {target_id} with {rel}; codex's per-id writer "
                               "locks cannot single it out, so compress(path) cannot be asked of codex here")
        self._require_same_coldness(rel)
        report = self._pass(masked=others)
        if not report.ran:
            raise Inconclusive("codex did not run a pass: another process holds its maintenance lock "
                               "(.tmp/rollout-maintenance.lock) and codex has no per-rollout compression without it")
        return report.outcomes[rel]

    def cleanup(self) -> CleanupReport:
        """The only cleanup codex does: the temp sweep at the start of a pass (every rollout held busy)."""
        self._require_capability("compressor")
        ids = {oracle.parse_name(os.path.basename(r))[1].lower() for r in passes.scan(self._home).files}
        report = self._pass(masked=ids)
        if not report.ran:
            raise Inconclusive("codex did not run a pass (its maintenance lock is held elsewhere), so it swept nothing")
        after = passes.scan(self._home)
        pairs = sorted(r for r in after.plains() if r + ".zst" in after.files)
        return CleanupReport(temps_removed=report.temps_removed, reconciled=(), conflicts=tuple(pairs))

    # -- session writer -------------------------------------------------------------------------

    def open_writer(self, path: str) -> str:
        """A codex session on the rollout: its own app-server, ``thread/resume`` (materializes a .zst)."""
        self._require_capability("session-writer")
        rel = self._logical(path)
        session = CodexSession.resume(self._binary, self._home, self._scratch, rel, self.timeout)
        handle = f"{session.thread_id}#{next(self._handles)}"
        self._writers[handle] = session
        return handle

    def write(self, handle: str, line: str) -> None:
        """``turn/start`` with ``line`` as the user's text; returns once codex wrote it (see CodexSession)."""
        self._session(handle).write(line)

    def close_writer(self, handle: str) -> None:
        self._session(handle).close()
        del self._writers[handle]

    # -- what codex does not offer ---------------------------------------------------------------

    def _unsupported(self, *_args, **_kwargs):
        self._require_binary()
        declared = ", ".join(self._facts.capabilities()) or "nothing"
        raise UndeclaredCapabilityError(
            f"{self._version} offers no byte-level reader, create/append/materialize or lifecycle here: "
            f"this adapter declares only {declared} for it", None)

    read = header = list = find = search = _unsupported
    create = append = materialize = _unsupported
    archive = unarchive = delete = _unsupported

    def read_messages(self, path: str) -> list[str]:
        """The user-message texts codex's ``thread/read`` returns for the rollout (plain or .zst).

        A semantic read, not a byte-level one: it is no ``reader`` op and no capability gates it.
        """
        rel = self._logical(path)
        thread_id = oracle.parse_name(os.path.basename(rel))[1]
        answer = self._require_server().request("thread/read", {"threadId": thread_id, "includeTurns": True})
        return [part.get("text", "")
                for turn in answer["thread"].get("turns") or ()
                for item in turn.get("items") or () if item.get("type") == "userMessage"
                for part in item.get("content") or () if part.get("type") == "text"]

    @property
    def server_pid(self) -> int:
        """The pid of the store's own app-server (its process group id too)."""
        return self._require_server().pid

    def close(self) -> None:
        self._close_processes()

    # -- internals -------------------------------------------------------------------------------

    def _require_same_coldness(self, rel: str) -> None:
        """Inconclusive when ``rel`` is cold under the configured age but not under codex's 7 days (or
        the other way round): codex's answer would then say nothing about the configured rule."""
        try:
            age_ns = time.time_ns() - os.stat(os.path.join(self._home, rel)).st_mtime_ns
        except FileNotFoundError:
            return  # gone meanwhile: codex's pass will say so
        if (age_ns >= self._cold_after * 1e9) != (age_ns >= passes.COLD_AGE_SECONDS * 1e9):
            raise Inconclusive(
                f"{self._version} fixes the cold age at 7 days ({passes.COLD_AGE_SECONDS} s) and this run "
                f"configured {self._cold_after:g} s, which disagree on {rel} ({age_ns / 1e9:.0f} s old); "
                "back-date rollouts past 7 days instead"
            )

    def _pass(self, masked) -> WorkerReport:
        server = self._require_server()
        _remove_codex_cooldown_marker(self._home)
        with _held_writer_locks(self._home, masked, self.timeout):
            before, started = passes.scan(self._home), time.time_ns()
            offset = len(server.stderr_text())
            server.request("rollout/compress", None, timeout=self.timeout)
            log = self._wait_for_pass_end(server, offset)
            after = passes.scan(self._home)
        if passes.FINISHED not in log:
            return WorkerReport(ran=False)
        found = passes.outcomes(self._home, before, after, log, started, frozenset(masked))
        compressed = [rel for rel, outcome in found.items() if outcome == "compressed"]
        return WorkerReport(
            ran=True,
            outcomes=found,
            bytes_before=sum(before.files[rel].size for rel in compressed),
            bytes_after=sum(after.files[rel + ".zst"].size for rel in compressed if rel + ".zst" in after.files),
            temps_removed=tuple(sorted(before.temps - after.temps)),
        )

    def _wait_for_pass_end(self, server, offset: int) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            log = passes.clean_log(server.stderr_text()[offset:])
            if any(words in log for words in (passes.FINISHED, *passes.NOT_RUN)):
                return log
            if not server.alive():
                server.fail("exited during a compression pass")
            if time.monotonic() > deadline:
                server.fail(f"started a compression pass that did not finish within {self.timeout:g} s")
            time.sleep(_PASS_POLL_SECONDS)

    def _logical(self, path: str) -> str:
        if self._home is None:
            raise Inconclusive("the codex store was used before configure")
        full = os.path.normpath(os.path.join(self._home, str(path)))
        if not (full + os.sep).startswith(self._home + os.sep):
            raise OutsideHomeError(f"{path} is outside the home {self._home}", path=str(path))
        rel = oracle.logical_of(os.path.relpath(full, self._home))
        if oracle.parse_name(os.path.basename(rel)) is None or not rel.endswith(".jsonl"):
            raise InvalidNameError(f"{path} is not a rollout file name", path=str(path))
        return rel

    def _session(self, handle: str) -> CodexSession:
        try:
            return self._writers[handle]
        except KeyError:
            raise NotFoundError(f"no open writer with handle {handle!r}") from None

    def _require_binary(self) -> None:
        if self._missing is not None:
            raise Inconclusive(self._missing)

    def _require_capability(self, capability: str) -> None:
        """UndeclaredCapabilityError naming what the binary lacks, when it lacks ``capability``."""
        self._require_binary()
        if capability not in self._facts.capabilities():
            raise UndeclaredCapabilityError("; ".join(self._facts.limits()), capability)

    def _require_server(self):
        if self._home is None:
            raise Inconclusive("the codex store was used before configure")
        if self._server is None:
            self._server = launch.start(self._binary, self._home, self._scratch, self.timeout)
        return self._server

    def _close_processes(self) -> None:
        for session in self._writers.values():
            session.close()
        self._writers.clear()
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _remove_codex_cooldown_marker(home: str) -> None:
    """Remove the marker (``pid=… started_at=…``) a pass this adapter asked for left behind.

    codex blocks every pass for 6 h after one; a pass the harness asks for must run, so the cooldown
    of its own earlier passes goes.  Any other marker (a user's codex, another tool, a test) stays
    for codex to honour.
    """
    marker = os.path.join(home, ".tmp", "rollout-compression.lock")
    try:
        with open(marker, "rb") as handle:
            found = re.match(rb"pid=(\d+) ", handle.read(64))
        if found and launch.started_by_an_adapter(int(found.group(1)), home):
            os.unlink(marker)
    except FileNotFoundError:
        pass


class _held_writer_locks:
    """Hold codex's writer lock of every id in ``ids`` (a codex pass then skips them as busy).

    Lock files are created and removed only under ``.coordination.lock``, as codex and the reference
    do: otherwise a writer could open a lock file here, see it unlinked before its ``flock``, and then
    hold a lock on a name no compressor probes again.  The coordination lock is released in between,
    since the pass itself takes it.
    """

    def __init__(self, home: str, ids, timeout: float) -> None:
        self._home = home
        self._ids = sorted(ids)
        self._timeout = timeout
        self._held: list[tuple[int, str, bool]] = []

    def __enter__(self):
        if not self._ids:
            return self
        with self._coordination():
            for rollout_id in self._ids:
                path = thread_lock_path(self._home, rollout_id)
                created = not os.path.exists(path)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # a live writer already holds it: busy for codex either way
                self._held.append((fd, path, created))
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._held:
            return
        with self._coordination():
            for fd, path, created in self._held:
                if created:
                    try:
                        os.unlink(path)  # while still locked, so no one else can take a half-removed file
                    except FileNotFoundError:
                        pass
                os.close(fd)
        self._held.clear()

    def _coordination(self) -> CoordinationLock:
        try:
            return CoordinationLock(self._home).acquire(self._timeout)
        except BusyError as exc:
            raise Inconclusive(f"codex's .coordination.lock stayed held for {self._timeout:g} s, so the adapter "
                               "could not hold the other rollouts' writer locks around the pass") from exc
