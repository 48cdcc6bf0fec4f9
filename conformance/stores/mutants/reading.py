"""Reader mutants: which representation is read, how frames are decoded, what listing reports."""

from __future__ import annotations

import json
import os

import zstandard

from conformance.api.store import ReadResult, RolloutEntry, SearchHit
from reference import codec, reading
from reference.discovery import list_rollouts
from conformance.api.errors import ConflictError, CorruptError, NotARolloutError, NotFoundError, StoreError
from reference.home import Location
from reference.locks import open_existing
from reference.naming import is_temp, parse_name
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()


@MUTANTS.store(
    "reader-prefers-zst", ("READ-001",),
    "a reader that tries X.jsonl.zst before X.jsonl, so after a crash between publish and unlink "
    "(or after appends to a materialized file) it returns stale content",
)
class ReaderPrefersZst(ReferenceStore):
    def _open_selected(self, location: Location) -> reading.Opened:
        for path, compressed in ((location.zst, True), (location.plain, False)):
            fd = open_existing(path, os.O_RDONLY)
            if fd is not None:
                return reading.Opened(fd, path, compressed, os.fstat(fd))
        return super()._open_selected(location)


def _first_frame_only(fd: int, path: str):
    """One zstandard decompressobj for the whole file: it ends at the first frame's end (DOMAIN.md)."""
    frame = zstandard.ZstdDecompressor().decompressobj()
    try:
        for chunk in codec.read_chunks(fd):
            if out := frame.decompress(chunk):
                yield out
            if frame.eof:
                return  # the rest (frame.unused_data and beyond) is silently dropped
    except zstandard.ZstdError as exc:
        raise CorruptError(f"zstd data does not decode: {exc}", path=path) from None


@MUTANTS.store(
    "reader-first-frame-only", ("READ-005",),
    "readers built on Python zstandard without read_across_frames=True: content after the first "
    "frame (and after a leading skippable frame) silently disappears",
)
class ReaderFirstFrameOnly(ReferenceStore):
    def _chunks(self, opened: reading.Opened):
        if opened.compressed:
            return _first_frame_only(opened.fd, opened.path)
        return super()._chunks(opened)


@MUTANTS.store(
    "reader-no-retry", ("READ-004",),
    "a reader that looks for the pair once: a read racing compress or materialize (R11) reports "
    "not_found although the rollout always had a representation; upstream retries 3 x 50 ms",
    scenarios=("r11-read-during-transition",),
)
class ReaderNoRetry(ReferenceStore):
    def _open_selected(self, location: Location) -> reading.Opened:
        for path, compressed in ((location.plain, False), (location.zst, True)):
            fd = open_existing(path, os.O_RDONLY)
            if fd is not None:
                return reading.Opened(fd, path, compressed, os.fstat(fd))
        raise NotFoundError("no plain or compressed representation of this rollout", path=location.rel)


@MUTANTS.store(
    "follows-symlink-out-of-home", ("SEC-004", "SEC-005"),
    "paths resolved by joining strings (no realpath check) and files opened without O_NOFOLLOW: a "
    "symlinked folder or rollout leads reads and appends out of the home",
)
class FollowsSymlinkOutOfHome(ReferenceStore):
    def _locate(self, path: str) -> Location:
        home = self.home
        joined = os.path.normpath(path if os.path.isabs(path) else os.path.join(home.root, path))
        folder, file_name = os.path.split(joined)
        name = parse_name(file_name)
        plain = os.path.join(folder, file_name.removesuffix(".zst"))
        top = os.path.relpath(folder, home.root).split(os.sep, 1)[0]
        return Location(plain=plain, rel=home.rel(plain), name=name, archived=top == "archived_sessions")

    def _open_selected(self, location: Location) -> reading.Opened:
        for path, compressed in ((location.plain, False), (location.zst, True)):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # follows a symlinked rollout
            except FileNotFoundError:
                continue
            return reading.Opened(fd, path, compressed, os.fstat(fd))
        return super()._open_selected(location)


@MUTANTS.store(
    "lists-temps", ("DISC-002",),
    "discovery that matches '*.jsonl*' instead of parsing names: in-flight compression and "
    "materialization temps show up as rollouts (upstream case 24 guards against this)",
)
class ListsTemps(ReferenceStore):
    def list(self, archived: bool = False) -> list[RolloutEntry]:
        entries = super().list(archived)
        area = self.home.area(archived)
        for folder, _dirs, files in os.walk(area, followlinks=False):
            for file_name in files:
                if not is_temp(file_name) or ".jsonl" not in file_name:
                    continue
                logical = file_name[: file_name.index(".jsonl")] + ".jsonl"
                try:
                    name = parse_name(logical)
                except StoreError:
                    continue
                physical = os.path.join(folder, file_name)
                entries.append(RolloutEntry(self.home.rel(os.path.join(folder, logical)), self.home.rel(physical),
                                            name.id, archived, "plain", os.stat(physical).st_mtime_ns))
        return sorted(entries, key=lambda e: (-e.mtime_ns, e.path))


@MUTANTS.store(
    "lists-both-representations", ("DISC-001",),
    "a listing keyed by physical file: a rollout with both X.jsonl and X.jsonl.zst (after a crash "
    "between publish and unlink) is listed twice (upstream case 6)",
)
class ListsBothRepresentations(ReferenceStore):
    def list(self, archived: bool = False) -> list[RolloutEntry]:
        entries = super().list(archived)
        shown = {e.physical_path for e in entries}
        for entry in entries[:]:
            zst = entry.path + ".zst"
            if entry.representation == "plain" and zst not in shown and os.path.lexists(os.path.join(self.home.root, zst)):
                st = os.stat(os.path.join(self.home.root, zst), follow_symlinks=False)
                entries.append(RolloutEntry(entry.path, zst, entry.id, entry.archived, "zst", st.st_mtime_ns))
        return sorted(entries, key=lambda e: (-e.mtime_ns, e.path))


@MUTANTS.store(
    "search-physical-keys", ("DISC-006", "NAME-001"),
    "search that reports the file it opened: hits in a compressed rollout name X.jsonl.zst instead "
    "of the logical X.jsonl (upstream case 8 expects logical paths)",
)
class SearchPhysicalKeys(ReferenceStore):
    def search(self, text: str, archived: bool = False) -> list[SearchHit]:
        return _search_with(self, text, archived, lambda found, opened: self.home.rel(opened.path),
                            lambda lines: enumerate(lines, start=1))


@MUTANTS.store(
    "splitlines-reader", ("READ-007",),
    "a reader that decodes the rollout and splits it with str.splitlines(), which also breaks on "
    "U+2028, U+2029 and U+0085 (legal raw inside JSON strings) and on \\x0b, \\x0c, \\x1c-\\x1e: one "
    "line with such a character is counted as two broken ones",
)
class SplitlinesReader(ReferenceStore):
    def read(self, path: str) -> ReadResult:
        result = super().read(path)
        items = errors = 0
        for number, line in enumerate(result.content.decode("utf-8", "surrogateescape").splitlines()):
            if not line.strip(" \t\r"):
                continue
            raw = line.encode("utf-8", "surrogateescape")
            if reading.parse_line(raw, number == 0) is None:
                errors += 1
            else:
                items += 1
        return ReadResult(result.content, items, errors, result.representation, result.physical_path)


@MUTANTS.store(
    "header-splitlines", ("READ-011", "READ-012"),
    "a header lookup that decodes the content and walks str.splitlines(): a line whose strings hold "
    "a raw U+2028, U+2029 or U+0085 (legal in JSON) is cut in two unparsable pieces and skipped, so "
    "a session_meta is missed (not_a_rollout) and a response_item before it is too (a payload)",
)
class HeaderSplitlines(ReferenceStore):
    def header(self, path: str) -> dict:
        text = self.read(path).content.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
        lines = text.splitlines()
        for line in lines[:-1] if text and not text.endswith("\n") else lines:  # a torn tail is no line
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if not isinstance(value, dict):
                continue
            if value.get("type") == "session_meta" and isinstance(value.get("payload"), dict):
                return value["payload"]
            if value.get("type") == "response_item":
                raise NotARolloutError("rollout does not start with session metadata", path=path)
        raise NotARolloutError("rollout is empty: no session metadata line", path=path)


@MUTANTS.store(
    "header-refuses-a-pair", ("READ-001", "READ-011"),
    "a header that reuses the lifecycle's one-representation check (archive must refuse a pair: run "
    "cleanup first), so it fails with conflict whenever both representations exist: after a crash "
    "between publish and unlink, and inside every compression's and materialization's own window",
)
class HeaderRefusesAPair(ReferenceStore):
    def header(self, path: str) -> dict:
        location = self._locate(path)
        if os.path.lexists(location.plain) and os.path.lexists(location.zst):
            raise ConflictError("both representations present; run cleanup first", path=location.rel)
        return super().header(path)


@MUTANTS.store(
    "search-skips-blank-lines", ("DISC-006",),
    "a search that numbers only the lines it considers (non-blank ones), so every hit after an empty "
    "or whitespace line is reported one line too early",
)
class SearchSkipsBlankLines(ReferenceStore):
    def search(self, text: str, archived: bool = False) -> list[SearchHit]:
        return _search_with(self, text, archived, lambda found, opened: found.location.rel,
                            lambda lines: enumerate((line for line in lines if line.strip(reading.BLANK)), start=1))


def _search_with(store: ReferenceStore, text: str, archived: bool, key, numbered) -> list[SearchHit]:
    """The reference's search loop with the two steps a search gets wrong as parameters: the path
    that names a hit (``key``) and which lines get which numbers (``numbered``)."""
    needle = text.encode("utf-8")
    hits = []
    for found in list_rollouts(store.home, archived):
        try:
            opened = reading.open_selected(found.location)
        except NotFoundError:
            continue
        try:
            lines = (line for line, _complete in reading.lines_of(reading.byte_chunks(opened)))
            hits += [SearchHit(key(found, opened), n) for n, line in numbered(lines) if needle in line]
        except StoreError:
            continue
        finally:
            os.close(opened.fd)
    return hits
