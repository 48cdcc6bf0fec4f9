"""Writer mutants: appends, materialization, create and delete, each with one realistic bug."""

from __future__ import annotations

import os
import stat
import time

from reference import appending, codec, failpoints, lifecycle
from reference.errors import BusyError, NotFoundError, from_os_error
from reference.home import Location
from reference.locks import (
    OPEN_FLAGS,
    create_locked_temp,
    discard_temp,
    fsync_folder,
    lock_with_timeout,
    open_existing,
    still_at,
)
from reference.store import ReferenceStore

from ._gallery import Gallery

MUTANTS = Gallery()


def materialize_variant(
    location: Location,
    *,
    clobber: bool = False,
    exact_mode: bool = True,
    fresh_mtime: bool = True,
    lock_zst: bool = True,
) -> bool:
    """A copy of reference.appending.materialize (and _decode_and_publish) with one knob per bug.

    With every knob at its default it behaves like the reference; each mutant turns one knob.
    """
    if os.path.lexists(location.plain):
        return False
    zst_fd = open_existing(location.zst, os.O_RDONLY)
    if zst_fd is None:
        raise NotFoundError("no plain or compressed representation of this rollout", path=location.rel)
    try:
        if lock_zst:
            lock_with_timeout(zst_fd, True, appending.LOCK_TIMEOUT, location.rel)
        failpoints.hit("materialize.after_lock", location.rel)
        if lock_zst and not still_at(zst_fd, location.zst):
            return appending.materialize(location)
        if os.path.lexists(location.plain):
            return False
        zst_stat = os.fstat(zst_fd)
        mode = stat.S_IMODE(zst_stat.st_mode)
        temp_fd, temp_path = create_locked_temp(location.plain, "materialize", mode)
        try:
            codec.decode_into(zst_fd, temp_fd, location.rel)
            failpoints.hit("materialize.after_decode", location.rel)
            if exact_mode:
                os.fchmod(temp_fd, mode)
            os.fsync(temp_fd)
            failpoints.hit("materialize.before_link", location.rel)
            if clobber:
                os.rename(temp_path, location.plain)  # replaces a plain file that appeared meanwhile
                os.link(location.plain, temp_path)  # keep the rest of the copy unchanged
            else:
                try:
                    os.link(temp_path, location.plain)
                except FileExistsError:
                    return False
            failpoints.hit("materialize.after_link", location.rel)
            if fresh_mtime:
                now = max(time.time_ns(), zst_stat.st_mtime_ns + 1)
                os.utime(temp_fd, ns=(now, now))
            os.unlink(temp_path)
            fsync_folder(location.folder)
            failpoints.hit("materialize.before_unlink", location.rel)
            os.unlink(location.zst)
            failpoints.hit("materialize.after_unlink", location.rel)
            fsync_folder(location.folder)
            return True
        except OSError as exc:
            raise from_os_error(exc, location.rel) from None
        finally:
            discard_temp(temp_fd, temp_path)
    finally:
        os.close(zst_fd)


class MaterializeVariant(ReferenceStore):
    """The reference, materializing with :func:`materialize_variant` under ``KNOBS``.

    ``append`` and ``open_writer`` materialize first through the variant (refusing a read-only
    `.zst` exactly as the reference does), then hand over to the reference, which finds the plain file.
    """

    KNOBS: dict = {}

    def materialize(self, path: str) -> bool:
        location = self._locate(path)
        held = self.coord.writer_locks(location)
        try:
            return materialize_variant(location, **self.KNOBS)
        finally:
            held.release()

    def _materialize_first(self, path: str) -> None:
        location = self._locate(path)
        try:
            st = os.stat(location.zst, follow_symlinks=False)
        except FileNotFoundError:
            return
        if os.path.lexists(location.plain) or not st.st_mode & stat.S_IWUSR:
            return  # the reference refuses a read-only rollout itself
        held = self.coord.writer_locks(location)
        try:
            materialize_variant(location, **self.KNOBS)
        finally:
            held.release()

    def append(self, path: str, lines: list[str]) -> str:
        for line in lines:
            appending.encode_line(line)  # bad_request before anything changes, as the reference
        self._materialize_first(path)
        return super().append(path, lines)

    def open_writer(self, path: str) -> str:
        self._materialize_first(path)
        return super().open_writer(path)


@MUTANTS.store(
    "materialize-clobbers", ("MAT-002",),
    "publishing the decoded temp with rename(2): a plain file created meanwhile (a writer's "
    "reopen, another materializer) is replaced and its lines lost (upstream cases 17/18)",
)
class MaterializeClobbers(MaterializeVariant):
    KNOBS = {"clobber": True}


@MUTANTS.store(
    "materialize-loses-mode", ("MAT-003",),
    "the decoded file keeps the temp's creation mode instead of the .zst's (0640 comes back "
    "as 0600; upstream case 16)",
)
class MaterializeLosesMode(MaterializeVariant):
    KNOBS = {"exact_mode": False}


@MUTANTS.store(
    "materialize-keeps-mtime", ("MAT-004",),
    "the materialized file keeps the old .zst mtime, so it looks cold and the next worker run "
    "compresses it again under its writer (R5; upstream case 14)",
    scenarios=("r5-materialize-mtime",),
)
class MaterializeKeepsMtime(MaterializeVariant):
    KNOBS = {"fresh_mtime": False}


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
