"""Writer mutants: appends, materialization, create and delete, each with one realistic bug."""

from __future__ import annotations

import fcntl
import os

from reference import appending, lifecycle
from reference.appending import Materializer
from conformance.api.errors import AlreadyExistsError, BusyError, NotFoundError, from_os_error
from reference.home import Location
from reference.locks import OPEN_FLAGS, fsync_folder
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()


class _Clobbers(Materializer):
    def publish(self, temp_path: str, plain: str) -> bool:
        os.rename(temp_path, plain)  # replaces a plain file that appeared meanwhile
        os.link(plain, temp_path)  # keep the rest of the reference's steps unchanged
        return True


class _KeepsTempMode(Materializer):
    def copy_mode(self, temp_fd: int, mode: int) -> None:
        pass


class _KeepsZstMtime(Materializer):
    def refresh_mtime(self, temp_fd: int, zst_stat: os.stat_result) -> None:
        pass


class _TempNameMustExist(Materializer):
    def drop_temp_name(self, temp_path: str) -> None:
        os.unlink(temp_path)  # ENOENT when a sweeper took the name first: the whole materialize fails


class ZstUnlocked(Materializer):
    """Decodes without locking the `.zst` (used by the coordination mutant materialize-no-lock)."""

    def lock_zst(self, zst_fd: int, location: Location) -> None:
        pass


@MUTANTS.store(
    "materialize-clobbers", ("MAT-002",),
    "publishing the decoded temp with rename(2): a plain file created meanwhile (a writer's "
    "reopen, another materializer) is replaced and its lines lost (upstream cases 17/18)",
)
class MaterializeClobbers(ReferenceStore):
    materializer_class = _Clobbers


@MUTANTS.store(
    "materialize-loses-mode", ("MAT-003",),
    "the decoded file keeps the temp's creation mode instead of the .zst's (0640 comes back "
    "as 0600; upstream case 16)",
)
class MaterializeLosesMode(ReferenceStore):
    materializer_class = _KeepsTempMode


@MUTANTS.store(
    "materialize-keeps-mtime", ("MAT-004",),
    "the materialized file keeps the old .zst mtime, so it looks cold and the next worker run "
    "compresses it again under its writer (R5; upstream case 14)",
    scenarios=("r5-materialize-mtime",),
)
class MaterializeKeepsMtime(ReferenceStore):
    materializer_class = _KeepsZstMtime


@MUTANTS.store(
    "materialize-needs-its-temp-name", ("MAT-001",),
    "after linking its temp as the plain file, fails when the temp's name is already gone (a "
    "foreign sweep: codex 0.171.0 removes *.tmp older than 6 h, and the temp shares the back-dated "
    "plain file's inode): the writer hears not_found and the .zst stays beside the plain file (the "
    "reference's own bug until racing codex showed it)",
)
class MaterializeNeedsItsTempName(ReferenceStore):
    materializer_class = _TempNameMustExist


@MUTANTS.store(
    "append-to-zst", ("APPEND-001", "MAT-001"),
    "an appender that opens whatever representation exists with O_APPEND: raw JSONL lands in "
    "X.jsonl.zst and corrupts it for every reader (the bug the design exists to prevent)",
    scenarios=("r4-append-after-unlink",),
)
class AppendToZst(ReferenceStore):
    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        payloads = [appending.encode_line(line) for line in lines]
        if os.path.lexists(location.plain) or not os.path.lexists(location.zst):
            return super().append(path, lines)
        held = self.coord.writer_locks(location)
        try:
            fd = os.open(location.zst, os.O_WRONLY | os.O_APPEND | OPEN_FLAGS)
            try:
                for data in payloads:
                    appending.write_line(fd, data, location.rel)
            finally:
                os.close(fd)
        finally:
            held.release()
        return location.rel


@MUTANTS.store(
    "reopen-with-create", ("MAT-005", "MAT-001"),
    "an appender that opens X.jsonl with O_CREAT: after the worker unlinked it, a new plain file "
    "with only the new lines hides the history in the .zst (R4), and a deleted rollout comes back (R9)",
    scenarios=("r4-append-after-unlink",),
)
class ReopenWithCreate(ReferenceStore):
    def append(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        payloads = [appending.encode_line(line) for line in lines]
        held = self.coord.writer_locks(location)
        try:
            try:
                os.makedirs(location.folder, mode=0o700, exist_ok=True)
                fd = os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS, 0o600)
            except OSError as exc:
                raise from_os_error(exc, location.rel) from None
            try:
                self.coord.guard_handle(fd, location)
                appending._refuse_read_only(os.fstat(fd).st_mode, location.rel)
                for data in payloads:
                    appending.write_line(fd, data, location.rel)
            finally:
                os.close(fd)
        finally:
            held.release()
        return location.rel


@MUTANTS.store(
    "resurrects-deleted", ("LIFE-005",),
    "delete that unlinks only the representation it found: with both X.jsonl and X.jsonl.zst "
    "present the .zst survives and the deleted rollout comes back (R9)",
    scenarios=("r9-delete-vs-materialize",),
)
class ResurrectsDeleted(ReferenceStore):
    def delete(self, path: str) -> None:
        location = self._locate(path)
        fd, found, compressed = lifecycle._open_selected_locked(location, lifecycle.DELETE_LOCK_TIMEOUT)
        claim = None
        try:
            claim = self.coord.claim(location, None if compressed else fd, wait=lifecycle.DELETE_LOCK_TIMEOUT)
            if claim is None:
                raise BusyError("a writer holds the rollout", path=location.rel)
            os.unlink(found)
            fsync_folder(location.folder)
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            if claim is not None:
                claim.release()
            os.close(fd)


@MUTANTS.store(
    "delete-ignores-writers", ("LIFE-006",),
    "a delete that unlinks whatever it finds, like rm, without the writers' lock: a session still "
    "being written goes on acknowledging lines into an unlinked inode, every one of them lost",
)
class DeleteIgnoresWriters(ReferenceStore):
    def delete(self, path: str) -> None:
        location = self._locate(path)
        removed = [p for p in (location.plain, location.zst) if os.path.lexists(p)]
        if not removed:
            raise NotFoundError("no representation", path=location.rel)
        for found in removed:
            os.unlink(found)
        fsync_folder(location.folder)


@MUTANTS.store(
    "archive-plain-only", ("LIFE-001",),
    "an archive written before compression existed: it renames X.jsonl and, finding none for a "
    "compressed-only rollout, returns the archived path as if done, the .zst left under sessions/",
)
class ArchivePlainOnly(ReferenceStore):
    def archive(self, path: str) -> str:
        location = self._locate(path)
        if not location.archived and not os.path.lexists(location.plain) and os.path.lexists(location.zst):
            return self.home.archived_location(location.name).rel
        return super().archive(path)


class _DecodesInPlace(Materializer):
    """Decodes straight into X.jsonl (no temp): the plain file is visible while half written."""

    def create_temp(self, location: Location, mode: int) -> tuple[int, str]:
        fd = os.open(location.plain, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, mode & 0o700)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, location.plain

    def publish(self, temp_path: str, plain: str) -> bool:
        return True  # it is already there

    def drop_temp_name(self, temp_path: str) -> None:
        pass  # the final name is the only name

    def discard(self, temp_fd: int, temp_path: str) -> None:
        os.close(temp_fd)


@MUTANTS.store(
    "materializes-in-place", ("RECOVER-006",),
    "a materializer that decodes straight into X.jsonl: killed in the middle of decoding, it leaves a "
    "half plain file that wins over the whole .zst, so reads lose the rest of the rollout",
)
class MaterializesInPlace(ReferenceStore):
    materializer_class = _DecodesInPlace


@MUTANTS.store(
    "create-not-exclusive", ("APPEND-006",),
    "create that opens X.jsonl with O_CREAT|O_APPEND instead of O_EXCL (refusing only an existing .zst): "
    "two concurrent creates both succeed and the second's lines land in the first's rollout",
)
class CreateNotExclusive(ReferenceStore):
    def create(self, path: str, lines: list[str]) -> str:
        location = self._locate(path)
        payloads = [appending.encode_line(line) for line in lines]
        if os.path.lexists(location.zst):
            raise AlreadyExistsError("a compressed representation already exists", path=location.rel)
        held = self.coord.writer_locks(location)
        try:
            os.makedirs(location.folder, mode=0o700, exist_ok=True)
            fd = os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS, 0o600)
            try:
                self.coord.guard_handle(fd, location)
                for data in payloads:
                    appending.write_line(fd, data, location.rel)
            finally:
                os.close(fd)
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            held.release()
        return location.rel
