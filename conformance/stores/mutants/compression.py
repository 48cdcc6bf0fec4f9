"""Compressor mutants: the cold rule, verification, attributes, temps, durability, run exclusion.

Each is the reference store with a :class:`reference.compression.Compressor` subclass that overrides
exactly one step (the seam the reference itself uses), so the rest of the compressor is the
reference's own code, never a copy.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time

from reference import codec, failpoints, recovery
from reference.compression import Compressor
from reference.locks import OPEN_FLAGS
from reference.run_lock import RunLock
from reference.store import ReferenceStore

from conformance.stores.mutants._gallery import Gallery

MUTANTS = Gallery()


class _IgnoresColdAge(Compressor):
    def is_cold(self, st: os.stat_result) -> bool:
        return True


class _NoTailCheck(Compressor):
    def tail_is_complete(self, fd: int, size: int) -> bool:
        return True


class _DecodesOnly(Compressor):
    """Upstream's verification ("it decodes"), shown with an encoder fed a stale size."""

    def encode(self, fd: int, size: int, temp_fd: int) -> int:
        head = os.pread(fd, size, 0)
        cut = head.rstrip(b"\n").rfind(b"\n") + 1
        return codec.encode(fd, cut if cut > 0 else size, temp_fd)

    def verify(self, temp_fd: int, fd: int, size: int, temp_path: str) -> bool:
        for _ in codec.decoded_chunks(temp_fd, temp_path):
            pass
        return True


class _KeepsTempMtime(Compressor):
    def copy_attributes(self, temp_fd: int, st: os.stat_result) -> None:
        os.fchmod(temp_fd, stat.S_IMODE(st.st_mode))


class _KeepsTempMode(Compressor):
    def copy_attributes(self, temp_fd: int, st: os.stat_result) -> None:
        os.utime(temp_fd, ns=(st.st_atime_ns, st.st_mtime_ns))


class _DefaultModeTemp(Compressor):
    def create_temp(self, location, mode: int) -> tuple[int, str]:
        # Upstream: a temp made with the default 0644 (umask permitting), chmod'ed only before publish.
        path = f"{location.zst}.compress.{os.getpid()}.{time.time_ns()}.tmp"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, path


class _NoFolderFsync(Compressor):
    def fsync_folder(self, folder: str) -> None:
        pass


class _CleanupByAge(Compressor):
    def remove_orphaned_temps(self) -> list[str]:
        """Upstream's cleanup: every *.tmp older than 6 h goes, whether or not its owner lives (R10)."""
        removed = []
        for path in recovery.temp_paths(self.home):
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if time.time_ns() - st.st_mtime_ns >= recovery.STALE_TEMP_SECONDS * 1e9:
                failpoints.hit("cleanup.before_unlink", self.home.rel(path))
                os.unlink(path)
                removed.append(self.home.rel(path))
        return removed


class _NoFlockRunLock(RunLock):
    """A run lock whose file is written but never flock'ed: two runs both claim the home."""

    def try_claim(self) -> bool:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | OPEN_FLAGS, 0o600)
        self.heartbeat()
        return True


class _ExistenceRunLock(Compressor):
    def run_lock(self) -> RunLock:
        return _NoFlockRunLock(self.home)


@MUTANTS.store(
    "compresses-fresh", ("COMP-001",),
    "a worker that ignores the cold age (or compares it the wrong way round) and compresses "
    "rollouts still being written (upstream case 9 keeps the fresh one plain)",
)
class CompressesFresh(ReferenceStore):
    compressor_class = _IgnoresColdAge


@MUTANTS.store(
    "compresses-torn-tail", ("COMP-006",),
    "upstream has no last-byte check: a torn or half-written last line is frozen into the .zst (R3)",
    scenarios=("r3-torn-tail",),
)
class CompressesTornTail(ReferenceStore):
    compressor_class = _NoTailCheck


@MUTANTS.store(
    "verify-decodes-only", ("COMP-003",),
    "upstream verifies only that the temp decodes, never that it decodes to the source: an encoder "
    "fed a stale size drops the last line and the truncated .zst is still published",
)
class VerifyDecodesOnly(ReferenceStore):
    compressor_class = _DecodesOnly


@MUTANTS.store(
    "loses-mtime", ("COMP-005",),
    "the .zst gets the time of compression instead of the source's st_mtime_ns, so listings "
    "reorder and the rollout looks recent (upstream case 19)",
)
class LosesMtime(ReferenceStore):
    compressor_class = _KeepsTempMtime


@MUTANTS.store(
    "loses-mode", ("COMP-005",),
    "the .zst keeps the temp's owner-only creation mode instead of the source mode (0640 "
    "becomes 0600; upstream case 15)",
)
class LosesMode(ReferenceStore):
    compressor_class = _KeepsTempMode


@MUTANTS.store(
    "temp-world-readable", ("SEC-001",),
    "upstream creates the temp with the default mode and copies the source mode only after "
    "encoding: a 0600 rollout is readable by everyone while it is compressed",
)
class TempWorldReadable(ReferenceStore):
    compressor_class = _DefaultModeTemp


@MUTANTS.store(
    "no-dir-fsync", ("DUR-001",),
    "upstream fsyncs the temp but not the folder: after a power loss the link or the unlink "
    "can be undone",
)
class NoDirFsync(ReferenceStore):
    compressor_class = _NoFolderFsync


@MUTANTS.store(
    "cleanup-by-age", ("COMP-015",),
    "upstream removes every *.tmp older than 6 h and back-dates its own temp, so cleanup deletes a "
    "live compressor's temp (R10)",
    scenarios=("r10-cleanup-vs-live-temp",),
)
class CleanupByAge(ReferenceStore):
    compressor_class = _CleanupByAge


@MUTANTS.store(
    "two-workers", ("COMP-011", "COMP-012"),
    "run exclusion by file existence only (written, never flock'ed): two worker runs on one home "
    "both proceed (R7)",
    scenarios=("r7-aba",),
)
class TwoWorkers(ReferenceStore):
    compressor_class = _ExistenceRunLock


class _UnlocksAfterRecheck(Compressor):
    """Takes its claim, re-checks under it, then lets it go before publishing (one step early)."""

    def claim(self, location, fd):
        self._claim = super().claim(location, fd)
        return self._claim

    def unchanged(self, fd, location, st) -> bool:
        same = super().unchanged(fd, location, st)
        self._claim.release()  # the bug: the lock protected the re-check, not the publish and unlink
        return same


@MUTANTS.store(
    "unlocks-after-recheck", ("COORD-006", "CTL-003"),
    "a compressor that holds its exclusive lock for the re-check only and releases it before publishing: "
    "a writer that locks and opens the file in between writes into the inode the compressor then unlinks",
)
class UnlocksAfterRecheck(ReferenceStore):
    compressor_class = _UnlocksAfterRecheck


class _EncodesInPlace(Compressor):
    """Writes the `.zst` at its final name from the first byte (no temp, no link)."""

    def create_temp(self, location, mode: int) -> tuple[int, str]:
        fd = os.open(location.zst, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, mode & 0o700)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, location.zst

    def publish(self, temp_path: str, zst: str) -> bool:
        return True  # it is already there

    def discard(self, temp_fd: int, temp_path: str) -> None:
        os.close(temp_fd)  # the final name is the only name


@MUTANTS.store(
    "compresses-in-place", ("RECOVER-005",),
    "a compressor that writes X.jsonl.zst directly instead of a temp it links into place: killed in "
    "the middle of encoding, it leaves a torn .zst beside the plain file that no recovery can reconcile",
)
class CompressesInPlace(ReferenceStore):
    compressor_class = _EncodesInPlace
