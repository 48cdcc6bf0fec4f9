"""The reference store behind the Store interface (conformance/api/store.py)."""

from __future__ import annotations

import functools
import itertools
import os
import types

from conformance.api.errors import BadRequestError, from_os_error
from conformance.api.store import CAPABILITIES, PROTOCOL_VERSION, CleanupReport, Hello, ReadResult, RolloutEntry, SearchHit, WorkerReport
from conformance.api.version import __version__
from reference import appending, failpoints, reading, searching, worker
from reference.appending import Appender, Materializer
from reference.compression import Compressor
from reference.coordination import SCHEME_CLASSES, CodexThreadLocks, Coordination, InodeFlock, Scheme
from reference.discovery import Found, find_by_id, list_rollouts, listing
from reference.home import DEFAULT_COLD_AFTER_SECONDS, Home, Location
from reference.lifecycle import Lifecycle
from reference.naming import ZST_SUFFIX, is_uuid



def _typed_errors(method):
    """Whatever step the OS refuses (or a failpoint injects), the caller sees a typed error."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise from_os_error(exc) from None

    return wrapper


class _TypedErrors(type):
    def __new__(mcs, name, bases, namespace):
        for attr, value in list(namespace.items()):
            if isinstance(value, types.FunctionType) and not attr.startswith("_"):
                namespace[attr] = _typed_errors(value)
        return super().__new__(mcs, name, bases, namespace)


class ReferenceStore(metaclass=_TypedErrors):
    """Every operation of SPEC.md over one home, in this process.

    ``schemes`` are the coordination scheme classes it follows (both by default, so it is safe next
    to codex and next to any ``inode-flock`` store); ``ReferenceStore(("inode-flock",))`` follows one
    and nothing else: only the default also looks for writers that take no lock (SPEC.md 5.9).
    """

    name = "reference"
    schemes: tuple[type[Scheme], ...] = (InodeFlock, CodexThreadLocks)
    #: The compression steps (a variant overrides one of them in a subclass).
    compressor_class: type[Compressor] = Compressor
    #: The materialization steps (a variant overrides one of them in a subclass).
    materializer_class: type[Materializer] = Materializer
    #: The steps of append, open_writer and create (a variant overrides one of them in a subclass).
    appender_class: type[Appender] = Appender
    #: The steps of archive, unarchive and delete (a variant overrides one of them in a subclass).
    lifecycle_class: type[Lifecycle] = Lifecycle

    def __init__(self, schemes: tuple[str, ...] | None = None) -> None:
        if schemes is not None:
            unknown = [name for name in schemes if name not in SCHEME_CLASSES]
            if unknown or not schemes:
                raise BadRequestError(f"unknown coordination scheme(s) {unknown}; known: {', '.join(SCHEME_CLASSES)}")
            self.schemes = tuple(SCHEME_CLASSES[name] for name in schemes)
        #: SPEC.md 5.9 (COORD-013): off for a selection that asks for one scheme's rules alone.
        self.sees_lockless_writers = schemes is None
        self._home: Home | None = None
        self._coord: Coordination | None = None
        self._writers: dict[str, tuple[int, Location, object]] = {}
        self._handles = itertools.count(1)

    # -- setup ---------------------------------------------------------------------------
    def declared_coordination(self) -> tuple[str, ...]:
        """The schemes hello() declares: the ones followed (a lying variant overrides this)."""
        return tuple(scheme.name for scheme in self.schemes)

    def hello(self) -> Hello:
        return Hello(PROTOCOL_VERSION, self.name, __version__, CAPABILITIES, failpoints.POINTS,
                     self.declared_coordination())

    def configure(self, home: str, cold_after_seconds: float = DEFAULT_COLD_AFTER_SECONDS) -> None:
        self._home = Home.open(home, cold_after_seconds)
        self._coord = Coordination(self._home, tuple(scheme() for scheme in self.schemes))

    @property
    def home(self) -> Home:
        if self._home is None:
            raise BadRequestError("configure the store with a home first")
        return self._home

    def _compressor(self) -> Compressor:
        return self.compressor_class(self.home, self.coord, self.sees_lockless_writers)

    def _materializer(self) -> Materializer:
        return self.materializer_class()

    def _appender(self) -> Appender:
        return self.appender_class(self.coord, self._materializer())

    def _lifecycle(self) -> Lifecycle:
        return self.lifecycle_class(self.home, self.coord)

    @property
    def coord(self) -> Coordination:
        if self._coord is None:
            raise BadRequestError("configure the store with a home first")
        return self._coord

    def _locate(self, path: str) -> Location:
        return self.home.locate(path)

    def _entry(self, found: Found) -> RolloutEntry:
        return RolloutEntry(
            path=found.location.rel,
            # the selected representation sits beside the logical path: no relpath per entry
            physical_path=found.location.rel + ZST_SUFFIX if found.compressed else found.location.rel,
            id=found.location.name.id,
            archived=found.location.archived,
            representation="zst" if found.compressed else "plain",
            mtime_ns=found.mtime_ns,
        )

    # -- reader --------------------------------------------------------------------------
    def _open_selected(self, location: Location) -> reading.Opened:
        """The reader's step that picks and opens a representation (plain first, retried, R11)."""
        return reading.open_selected(location)

    def _chunks(self, opened: reading.Opened):
        """The reader's step that turns an opened representation into content bytes (every frame)."""
        return reading.byte_chunks(opened)

    def read(self, path: str) -> ReadResult:
        location = self._locate(path)
        opened = self._open_selected(location)
        try:
            sink: list[bytes] = []
            counts = reading.count_lines(self._chunks(opened), sink)
        finally:
            os.close(opened.fd)
        return ReadResult(
            content=b"".join(sink),
            items=counts.items,
            parse_errors=counts.parse_errors,
            representation="zst" if opened.compressed else "plain",
            physical_path=self.home.rel(opened.path),
        )

    def header(self, path: str) -> dict:
        location = self._locate(path)
        opened = self._open_selected(location)
        try:
            chunks = self._chunks(opened)
            payload = reading.session_meta(chunks, location.rel)
            if opened.compressed:
                for _ in chunks:  # decode to the end: a .zst that does not decode is corrupt (ERR-003)
                    pass
            return payload
        finally:
            os.close(opened.fd)

    def list(self, archived: bool = False) -> list[RolloutEntry]:
        # positional (path, physical_path, id, archived, representation, mtime_ns): one entry per rollout
        return [
            RolloutEntry(rel, rel + ZST_SUFFIX, rid, in_archive, "zst", mtime_ns) if compressed
            else RolloutEntry(rel, rel, rid, in_archive, "plain", mtime_ns)
            for rel, rid, in_archive, compressed, mtime_ns in listing(self.home, archived)
        ]

    def find(self, rollout_id: str) -> RolloutEntry | None:
        if not isinstance(rollout_id, str) or not is_uuid(rollout_id):
            return None
        found = find_by_id(self.home, rollout_id)
        return None if found is None else self._entry(found)

    def search(self, text: str, archived: bool = False) -> list[SearchHit]:
        needle = text.encode("utf-8")
        # The rows of `list` (no per-rollout objects): a search spends most of its time on rollouts
        # without a hit, so what it does per rollout before reading it is what it costs.
        rels = [row[0] for row in listing(self.home, archived)]
        return [SearchHit(rel, number) for rel, number in searching.search(self.home.root + os.sep, rels, needle)]

    # -- writer --------------------------------------------------------------------------
    def create(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        self._appender().create(location, lines)
        return location.rel

    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        self._appender().append(location, lines)
        return location.rel

    def open_writer(self, path: str) -> str:
        location = self._locate(path)
        fd, held = self._appender().open(location)
        handle = f"w{next(self._handles)}"
        self._writers[handle] = (fd, location, held)
        return handle

    def _writer(self, handle: str) -> tuple[int, Location, object]:
        try:
            return self._writers[handle]
        except (KeyError, TypeError):
            raise BadRequestError(f"unknown writer handle {handle!r}") from None

    def write(self, handle: str, line: str) -> None:
        fd, location, _held = self._writer(handle)
        appending.write_line(fd, appending.encode_line(line), location.rel)

    def close_writer(self, handle: str) -> None:
        fd, _, held = self._writer(handle)
        del self._writers[handle]
        os.close(fd)
        held.release()

    def materialize(self, path: str) -> bool:
        location = self._locate(path)
        held = self.coord.writer_locks(location)
        try:
            return self._materializer().materialize(location)
        finally:
            held.release()

    # -- compressor ----------------------------------------------------------------------
    def compress(self, path: str) -> str:
        location = self._locate(path)
        rollouts = list_rollouts(self.home, None)
        bases = worker.fork_bases(rollouts)
        return self._compressor().compress(location, bases).outcome

    def run_worker(self) -> WorkerReport:
        report = worker.run(self.home, self._compressor())
        return WorkerReport(
            ran=report.ran,
            outcomes={rel: r.outcome for rel, r in report.results.items()},
            bytes_before=sum(r.bytes_before for r in report.results.values()),
            bytes_after=sum(r.bytes_after for r in report.results.values()),
            temps_removed=report.temps_removed,
            reconciled=tuple(r.rel for r in report.reconciled if r.verdict in ("equal", "stale_zst")),
        )

    def cleanup(self) -> CleanupReport:
        compressor = self._compressor()
        reconciled = compressor.reconcile_all()
        removed = compressor.remove_orphaned_temps()
        return CleanupReport(
            temps_removed=tuple(removed),
            reconciled=tuple(r.rel for r in reconciled if r.verdict in ("equal", "stale_zst")),
            conflicts=tuple(r.rel for r in reconciled if r.verdict == "conflict"),
        )

    # -- lifecycle -----------------------------------------------------------------------
    def archive(self, path: str) -> str:
        return self._lifecycle().archive(self._locate(path))

    def unarchive(self, path: str) -> str:
        return self._lifecycle().unarchive(self._locate(path))

    def delete(self, path: str) -> None:
        self._lifecycle().delete(self._locate(path))

    def close(self) -> None:
        for fd, _, held in self._writers.values():
            os.close(fd)
            held.release()
        self._writers.clear()
