"""The checker's own view of a home, read straight from the disk with ``zstandard``.

Contract: nothing here imports or calls a store; a `.zst` is walked frame by frame so raw JSONL
bytes appended after a frame and a truncated frame are told apart, and every file found is
described by what is on disk, not by what a store would report.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import struct
import time
from dataclasses import dataclass

import zstandard

from conformance.api.store import UUID_PATTERN

AREAS = ("sessions", "archived_sessions")
_NAME = re.compile(
    r"rollout-.+-(" + UUID_PATTERN + r")\.jsonl(\.zst)?"
)
_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50


@dataclass(frozen=True)
class Decoded:
    """A `.zst` decoded as far as it goes; ``problem`` says why it stopped early, if it did."""

    content: bytes
    problem: str = ""  # "" | "raw_bytes" | "torn_frame"
    detail: str = ""


@dataclass(frozen=True)
class Representation:
    """One physical file of a rollout."""

    rel: str  # relative to home
    rollout: str  # lower-case uuid
    archived: bool
    compressed: bool
    size: int
    mtime_ns: int
    mode: int


@dataclass(frozen=True)
class HomeView:
    """Every rollout file and temp under the session areas of a home."""

    representations: tuple[Representation, ...]
    temps: tuple[str, ...]  # relative paths of `*.tmp` files

    def of(self, rollout: str) -> tuple[Representation, ...]:
        return tuple(r for r in self.representations if r.rollout == rollout)

    def rollouts(self) -> set[str]:
        return {r.rollout for r in self.representations}


def decode_zst(data: bytes) -> Decoded:
    """Decode every frame; stop at the first byte that is neither a frame nor a skippable frame."""
    out = bytearray()
    offset = 0
    dctx = zstandard.ZstdDecompressor()
    while offset < len(data):
        if len(data) - offset < 4:
            return Decoded(bytes(out), "torn_frame", f"{len(data) - offset} stray bytes at offset {offset}")
        magic = struct.unpack_from("<I", data, offset)[0]
        if magic & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
            if len(data) - offset < 8:
                return Decoded(bytes(out), "torn_frame", f"truncated skippable frame at offset {offset}")
            offset += 8 + struct.unpack_from("<I", data, offset + 4)[0]
            continue
        if magic != _ZSTD_MAGIC:
            return Decoded(bytes(out), _classify_stray(data[offset:]), f"non-frame bytes at offset {offset}: "
                           f"{data[offset:offset + 40]!r}")
        obj = dctx.decompressobj()
        try:
            out += obj.decompress(data[offset:])
        except zstandard.ZstdError as exc:
            return Decoded(bytes(out), "torn_frame", f"frame at offset {offset} does not decode: {exc}")
        if not obj.eof:
            return Decoded(bytes(out), "torn_frame", f"frame at offset {offset} is truncated")
        offset = len(data) - len(obj.unused_data)
    return Decoded(bytes(out))


def _classify_stray(tail: bytes) -> str:
    """Text where a frame should start is a writer's JSONL landing in the `.zst` (the bug)."""
    sample = tail[:64].lstrip(b"\n\r\t ")
    return "raw_bytes" if sample[:1] == b"{" or (sample and sample.isascii() and sample.isprintable()) else "torn_frame"


def scan(home: str) -> HomeView:
    """Every rollout representation and temp under ``sessions/`` and ``archived_sessions/``."""
    reps, temps = [], []
    for area in AREAS:
        top = os.path.join(home, area)
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                rel = os.path.relpath(full, home)
                if name.endswith(".tmp"):
                    temps.append(rel)
                    continue
                match = _NAME.fullmatch(name)
                try:
                    st = os.lstat(full)
                except FileNotFoundError:
                    continue
                if match and stat.S_ISREG(st.st_mode):
                    reps.append(Representation(rel, match.group(1).lower(), area == "archived_sessions",
                                               bool(match.group(2)), st.st_size, st.st_mtime_ns,
                                               stat.S_IMODE(st.st_mode)))
    return HomeView(tuple(reps), tuple(temps))


def read_bytes(home: str, rep: Representation) -> bytes:
    with open(os.path.join(home, rep.rel), "rb") as handle:
        return handle.read()


def visible(reps: tuple[Representation, ...]) -> Representation | None:
    """What a reader sees: active before archived, plain before `.zst` (DOMAIN.md section 2)."""
    ordered = sorted(reps, key=lambda r: (r.archived, r.compressed))
    return ordered[0] if ordered else None


def age_temps(home: str, seconds: float) -> list[str]:
    """Back-date every temp by ``seconds`` (the harness plays the clock for a crashed owner)."""
    aged = []
    for rel in scan(home).temps:
        full = os.path.join(home, rel)
        then = time.time() - seconds
        try:
            os.utime(full, (then, then), follow_symlinks=False)
        except FileNotFoundError:
            continue
        aged.append(rel)
    return aged


def backdate(home: str, rel: str, seconds: float) -> None:
    """Set a file's mtime ``seconds`` into the past (cold rollouts without waiting days)."""
    then = time.time() - seconds
    os.utime(os.path.join(home, rel), (then, then), follow_symlinks=False)


def manifest(home: str) -> list[dict]:
    """Every file under the home with size, mode, mtime and sha256 (a snapshot in words)."""
    rows = []
    for folder, dirs, files in os.walk(home):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            try:
                st = os.lstat(full)
                digest = _sha256(full) if stat.S_ISREG(st.st_mode) else ""
            except OSError:
                continue
            rows.append({"path": os.path.relpath(full, home), "size": st.st_size, "mode": oct(stat.S_IMODE(st.st_mode)),
                         "mtime_ns": st.st_mtime_ns, "sha256": digest})
    return rows


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def copy_home(home: str, dest: str, limit_bytes: int) -> bool:
    """Copy the home into ``dest`` when it is small enough; False (nothing copied) otherwise."""
    total = sum(row["size"] for row in manifest(home))
    if total > limit_bytes:
        return False
    shutil.copytree(home, dest, symlinks=True, dirs_exist_ok=True)
    return True
