"""Compressor mutants: the cold rule, verification, attributes, temps, durability, run exclusion."""

from __future__ import annotations

import fcntl
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor

from conformance.store_api import CleanupReport, WorkerReport
from reference import codec, failpoints, recovery, worker
from reference.compression import CompressResult, _check_header, _last_byte_is_newline, is_cold
from reference.coordination import Coordination
from reference.discovery import list_rollouts, scan
from reference.errors import NotARolloutError, NotFoundError, StoreError, from_os_error
from reference.home import Home, Location
from reference.locks import (
    OPEN_FLAGS,
    create_locked_temp,
    discard_temp,
    fsync_folder,
    open_existing,
    still_at,
)
from reference.store import ReferenceStore

from ._gallery import Gallery

MUTANTS = Gallery()

#: Every knob of :func:`compress_variant`, at the reference's behaviour.
REFERENCE_KNOBS = {
    "check_cold": True,  # honour cold_after_seconds
    "check_tail": True,  # refuse a last byte that is not \n
    "verify_bytes": True,  # compare the decoded temp with the source byte for byte
    "copy_mode": True,  # fchmod the temp to the exact source mode
    "copy_mtime": True,  # give the temp the source st_mtime_ns
    "private_temp": True,  # create the temp with the owner bits only, locked
    "fsync_folder": True,  # fsync the folder after publish and after unlink
    "exclusive_lock": True,  # publish only under LOCK_EX|LOCK_NB on the plain handle
    "check_identity": True,  # re-check (dev, ino) under the lock, not only size/mtime/mode
}


def _stale_size_encode(src_fd: int, size: int, dst_fd: int) -> int:
    """An encoder bug: it stops at the previous line end (a size read before the last append)."""
    head = os.pread(src_fd, size, 0)
    cut = head.rstrip(b"\n").rfind(b"\n") + 1
    return codec.encode(src_fd, cut if cut > 0 else size, dst_fd)


def compress_variant(
    home: Home, location: Location, coord: Coordination, fork_bases: frozenset[str], knobs: dict
) -> CompressResult:
    """A copy of reference.compression.compress_one with one knob per bug (see REFERENCE_KNOBS)."""
    k = {**REFERENCE_KNOBS, **knobs}
    fd = open_existing(location.plain, os.O_RDONLY)
    if fd is None:
        if os.path.lexists(location.zst):
            return CompressResult("skipped_already_compressed")
        raise NotFoundError("no such rollout", path=location.rel)
    try:
        failpoints.hit("compress.after_open", location.rel)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return CompressResult("failed", detail="not a regular file")
        if os.path.lexists(location.zst):
            return CompressResult("skipped_already_compressed", detail="both representations present")
        if k["check_cold"] and not is_cold(home, st.st_mtime_ns, time.time_ns()):
            return CompressResult("skipped_not_cold")
        if k["check_tail"] and not _last_byte_is_newline(fd, st.st_size):
            return CompressResult("skipped_incomplete_tail")
        try:
            _check_header(fd, st.st_size, location.rel)
        except NotARolloutError as exc:
            return CompressResult("skipped_not_rollout", detail=exc.message)
        if location.name.id in fork_bases:
            return CompressResult("skipped_fork_base")
        if k["exclusive_lock"] and coord.writer_present(location, fd):
            return CompressResult("skipped_busy")
        return _encode_and_publish(location, fd, st, coord, k)
    except StoreError as exc:
        return CompressResult("failed", detail=f"{exc.kind}: {exc}")
    except OSError as exc:
        error = from_os_error(exc, location.rel)
        return CompressResult("failed", detail=f"{error.kind}: {error}")
    finally:
        os.close(fd)


def _create_temp(location: Location, mode: int, private: bool) -> tuple[int, str]:
    if private:
        return create_locked_temp(location.zst, "compress", mode)
    # Upstream: a temp made with the default 0644 (umask permitting), chmod'ed only before publish.
    path = f"{location.zst}.compress.{os.getpid()}.{time.time_ns()}.tmp"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd, path


def _encode_and_publish(
    location: Location, fd: int, st: os.stat_result, coord: Coordination, k: dict
) -> CompressResult:
    size, mode = st.st_size, stat.S_IMODE(st.st_mode)
    temp_fd, temp_path = _create_temp(location, mode, k["private_temp"])
    published = False
    claim = None
    try:
        encode = codec.encode if k["verify_bytes"] else _stale_size_encode
        compressed_size = encode(fd, size, temp_fd)
        failpoints.hit("compress.after_encode", location.rel)
        if k["verify_bytes"]:
            if not codec.same_bytes(temp_fd, fd, size, temp_path):
                return CompressResult("failed", detail="round trip differs from the source")
        else:
            for _ in codec.decoded_chunks(temp_fd, temp_path):  # upstream: "it decodes" is enough
                pass
        failpoints.hit("compress.after_verify", location.rel)
        if k["copy_mode"]:
            os.fchmod(temp_fd, mode)
        if k["copy_mtime"]:
            os.utime(temp_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.fsync(temp_fd)
        failpoints.hit("compress.before_lock", location.rel)
        if k["exclusive_lock"]:
            claim = coord.claim(location, fd)
            if claim is None:
                return CompressResult("skipped_busy")
        failpoints.hit("compress.after_lock", location.rel)
        now = os.stat(location.plain, follow_symlinks=False) if not k["check_identity"] else os.fstat(fd)
        if (
            (k["check_identity"] and not still_at(fd, location.plain))
            or now.st_size != size
            or now.st_mtime_ns != st.st_mtime_ns
            or stat.S_IMODE(now.st_mode) != mode
        ):
            return CompressResult("skipped_changed")
        failpoints.hit("compress.before_publish", location.rel)
        try:
            os.link(temp_path, location.zst)
        except FileExistsError:
            return CompressResult("skipped_already_compressed")
        published = True
        failpoints.hit("compress.after_publish", location.rel)
        if k["fsync_folder"]:
            fsync_folder(location.folder)
        failpoints.hit("compress.before_unlink", location.rel)
        if k["check_identity"] and not still_at(fd, location.plain):
            return CompressResult("skipped_changed")
        os.unlink(location.plain)
        published = False
        failpoints.hit("compress.after_unlink", location.rel)
        if k["fsync_folder"]:
            fsync_folder(location.folder)
        return CompressResult("compressed", size, compressed_size)
    finally:
        if published and still_at(temp_fd, location.zst):
            os.unlink(location.zst)
        discard_temp(temp_fd, temp_path)
        if claim is not None:
            claim.release()


def _remove_temps_by_age(home: Home) -> list[str]:
    """Upstream's cleanup: every *.tmp older than 6 h goes, whether or not its owner lives (R10)."""
    removed = []
    for path in recovery._temp_paths(home):
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if time.time_ns() - st.st_mtime_ns >= recovery.STALE_TEMP_SECONDS * 1e9:
            failpoints.hit("cleanup.before_unlink", home.rel(path))
            os.unlink(path)
            removed.append(home.rel(path))
    return removed


class _NoFlockRunLock(worker.RunLock):
    """A run lock whose file is written but never flock'ed: two runs both claim the home."""

    def try_claim(self) -> bool:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | OPEN_FLAGS, 0o600)
        self.heartbeat()
        return True


class CompressVariant(ReferenceStore):
    """The reference, with compress, run_worker and cleanup going through the knobbed copies."""

    KNOBS: dict = {}
    AGE_ONLY_CLEANUP = False
    RUN_LOCK = worker.RunLock

    def _compress(self, location: Location, bases: frozenset[str]) -> CompressResult:
        return compress_variant(self.home, location, self.coord, bases, self.KNOBS)

    def _remove_temps(self) -> list[str]:
        if self.AGE_ONLY_CLEANUP:
            return _remove_temps_by_age(self.home)
        return recovery.remove_orphaned_temps(self.home)

    def compress(self, path: str) -> str:
        location = self._locate(path)
        bases = worker.fork_bases(list_rollouts(self.home, None))
        return self._compress(location, bases).outcome

    def cleanup(self) -> CleanupReport:
        reconciled = recovery.reconcile_all(self.home, self.coord)
        removed = self._remove_temps()
        return CleanupReport(
            temps_removed=tuple(removed),
            reconciled=tuple(r.rel for r in reconciled if r.verdict in ("equal", "stale_zst")),
            conflicts=tuple(r.rel for r in reconciled if r.verdict == "conflict"),
        )

    def run_worker(self) -> WorkerReport:
        """A copy of reference.worker.run with the variant's run lock, cleanup and compress."""
        home = self.home
        if worker.upstream_marker_is_fresh(home):
            return WorkerReport(ran=False)
        run_lock = self.RUN_LOCK(home)
        if not run_lock.try_claim():
            return WorkerReport(ran=False)
        try:
            failpoints.hit("worker.after_claim", None)
            reconciled = tuple(recovery.reconcile_all(home, self.coord))
            removed = tuple(self._remove_temps())
            rollouts = list(scan(home))
            candidates = sorted((f for f in rollouts if not f.compressed), key=lambda f: f.location.rel)
            bases = worker.fork_bases(rollouts)

            def one(found):
                try:
                    return found.location.rel, self._compress(found.location, bases)
                except StoreError as exc:
                    return found.location.rel, CompressResult("failed", detail=f"{exc.kind}: {exc}")

            with ThreadPoolExecutor(max_workers=worker.PARALLEL_FILES) as pool:
                results = dict(pool.map(one, candidates))
                run_lock.heartbeat()
        finally:
            run_lock.release()
        return WorkerReport(
            ran=True,
            outcomes={rel: r.outcome for rel, r in results.items()},
            bytes_before=sum(r.bytes_before for r in results.values()),
            bytes_after=sum(r.bytes_after for r in results.values()),
            temps_removed=removed,
            reconciled=tuple(r.rel for r in reconciled if r.verdict in ("equal", "stale_zst")),
        )


@MUTANTS.store(
    "compresses-fresh", ("COMP-001",),
    "a worker that ignores the cold age (or compares it the wrong way round) and compresses "
    "rollouts still being written (upstream case 9 keeps the fresh one plain)",
)
class CompressesFresh(CompressVariant):
    KNOBS = {"check_cold": False}


@MUTANTS.store(
    "compresses-torn-tail", ("COMP-006",),
    "upstream has no last-byte check: a torn or half-written last line is frozen into the .zst (R3)",
    scenarios=("r3-torn-tail",),
)
class CompressesTornTail(CompressVariant):
    KNOBS = {"check_tail": False}


@MUTANTS.store(
    "verify-decodes-only", ("COMP-003",),
    "upstream verifies only that the temp decodes, never that it decodes to the source: an encoder "
    "fed a stale size drops the last line and the truncated .zst is still published",
)
class VerifyDecodesOnly(CompressVariant):
    KNOBS = {"verify_bytes": False}


@MUTANTS.store(
    "loses-mtime", ("COMP-005",),
    "the .zst gets the time of compression instead of the source's st_mtime_ns, so listings "
    "reorder and the rollout looks recent (upstream case 19)",
)
class LosesMtime(CompressVariant):
    KNOBS = {"copy_mtime": False}


@MUTANTS.store(
    "loses-mode", ("COMP-005",),
    "the .zst keeps the temp's owner-only creation mode instead of the source mode (0640 "
    "becomes 0600; upstream case 15)",
)
class LosesMode(CompressVariant):
    KNOBS = {"copy_mode": False}


@MUTANTS.store(
    "temp-world-readable", ("SEC-001",),
    "upstream creates the temp with the default mode and copies the source mode only after "
    "encoding: a 0600 rollout is readable by everyone while it is compressed",
)
class TempWorldReadable(CompressVariant):
    KNOBS = {"private_temp": False}


@MUTANTS.store(
    "no-dir-fsync", ("DUR-001",),
    "upstream fsyncs the temp but not the folder: after a power loss the link or the unlink "
    "can be undone",
)
class NoDirFsync(CompressVariant):
    KNOBS = {"fsync_folder": False}


@MUTANTS.store(
    "cleanup-by-age", ("COMP-015",),
    "upstream removes every *.tmp older than 6 h and back-dates its own temp, so cleanup deletes a "
    "live compressor's temp (R10)",
    scenarios=("r10-cleanup-vs-live-temp",),
)
class CleanupByAge(CompressVariant):
    AGE_ONLY_CLEANUP = True


@MUTANTS.store(
    "two-workers", ("COMP-011", "COMP-012"),
    "run exclusion by file existence only (written, never flock'ed): two worker runs on one home "
    "both proceed (R7)",
    scenarios=("r7-aba",),
)
class TwoWorkers(CompressVariant):
    RUN_LOCK = _NoFlockRunLock
