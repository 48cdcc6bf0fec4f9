"""Writer mutants: appends, materialization, create and delete, each with one realistic bug."""

from __future__ import annotations

import fcntl
import os

from conformance.api.errors import from_os_error
from reference.appending import Appender, Materializer
from reference.coordination import Held
from reference.home import Location
from reference.lifecycle import Lifecycle
from reference.locks import OPEN_FLAGS
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


class _OpensEitherRepresentation(Appender):
    def open_plain(self, location: Location) -> tuple[int, str] | None:
        opened = super().open_plain(location)
        if opened is None and os.path.lexists(location.zst):
            return os.open(location.zst, os.O_WRONLY | os.O_APPEND | OPEN_FLAGS), location.zst  # no materialize
        return opened


@MUTANTS.store(
    "append-to-zst", ("APPEND-001", "MAT-001"),
    "an appender that opens whatever representation exists with O_APPEND: raw JSONL lands in "
    "X.jsonl.zst and corrupts it for every reader (the bug the design exists to prevent)",
    scenarios=("r4-append-after-unlink",),
)
class AppendToZst(ReferenceStore):
    appender_class = _OpensEitherRepresentation


class _ReopensWithCreate(Appender):
    def open_plain(self, location: Location) -> tuple[int, str] | None:
        try:
            os.makedirs(location.folder, mode=0o700, exist_ok=True)
            fd = os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS, 0o600)
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        return fd, location.plain  # never absent, so never materialized


@MUTANTS.store(
    "reopen-with-create", ("MAT-005", "MAT-001"),
    "an appender that opens X.jsonl with O_CREAT: after the worker unlinked it, a new plain file "
    "with only the new lines hides the history in the .zst (R4), and a deleted rollout comes back (R9)",
    scenarios=("r4-append-after-unlink",),
)
class ReopenWithCreate(ReferenceStore):
    appender_class = _ReopensWithCreate


class _RemovesWhatItFinds(Lifecycle):
    def delete(self, location: Location) -> None:
        self.remove_selected(location)  # once: the other representation, if any, survives


@MUTANTS.store(
    "resurrects-deleted", ("LIFE-005",),
    "delete that unlinks only the representation it found: with both X.jsonl and X.jsonl.zst "
    "present the .zst survives and the deleted rollout comes back (R9)",
    scenarios=("r9-delete-vs-materialize",),
)
class ResurrectsDeleted(ReferenceStore):
    lifecycle_class = _RemovesWhatItFinds


class _DeletesLikeRm(Lifecycle):
    def lock_for_delete(self, fd: int, compressed: bool, location: Location) -> None:
        pass

    def claim_for_delete(self, location: Location, fd: int, compressed: bool) -> Held:
        return Held()  # whoever writes it


@MUTANTS.store(
    "delete-ignores-writers", ("LIFE-006",),
    "a delete that unlinks whatever it finds, like rm, without the writers' lock: a session still "
    "being written goes on acknowledging lines into an unlinked inode, every one of them lost",
)
class DeleteIgnoresWriters(ReferenceStore):
    lifecycle_class = _DeletesLikeRm


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


class _CreatesShared(Appender):
    def create_plain(self, location: Location) -> int:
        os.makedirs(location.folder, mode=0o700, exist_ok=True)
        return os.open(location.plain, os.O_WRONLY | os.O_APPEND | os.O_CREAT | OPEN_FLAGS, 0o600)  # no O_EXCL


@MUTANTS.store(
    "create-not-exclusive", ("APPEND-006",),
    "create that opens X.jsonl with O_CREAT|O_APPEND instead of O_EXCL (refusing only an existing .zst): "
    "two concurrent creates both succeed and the second's lines land in the first's rollout",
)
class CreateNotExclusive(ReferenceStore):
    appender_class = _CreatesShared
