"""The hard cases: each turns a copy of the all-plain home into one shape a compressed home takes.

Every transformation writes through the oracle (never a store under test), keeps each file's mode
and mtime as the compression worker does, and returns the rollouts it touched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import zstandard

from conformance.oracle import disk as oracle
from conformance.oracle.homegen import HomeManifest, RolloutTruth, write_temps

READ_ONLY = 0o400


@dataclass(frozen=True)
class Case:
    """One hard case: what it does to the home and the SPEC.md ids a reader breaks when it goes wrong."""

    name: str
    description: str
    requirements: tuple[str, ...]  # broken when a touched session disappears or changes
    duplicate_requirements: tuple[str, ...]  # broken when a session shows up twice
    transform: Callable[[Path, HomeManifest], tuple[RolloutTruth, ...]]
    zst_only: bool  # touched rollouts end up as a .zst with no plain sibling


def _cold(manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    return tuple(r for r in manifest.rollouts if r.old)


def _compress(home: Path, rollout: RolloutTruth, encoded: bytes, mode: int | None = None) -> None:
    plain = home / rollout.logical
    st = os.stat(plain)
    oracle.write_plain(home, rollout.logical + ".zst", encoded, mode if mode is not None else rollout.mode,
                       st.st_mtime_ns)
    plain.unlink()


def _content(home: Path, rollout: RolloutTruth) -> bytes:
    return (home / rollout.logical).read_bytes()


def _every_cold(encode: Callable[[bytes], bytes], mode: int | None = None):
    def transform(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
        touched = _cold(manifest)
        for rollout in touched:
            _compress(home, rollout, encode(_content(home, rollout)), mode)
        return touched
    return transform


def line_frames(data: bytes) -> bytes:
    """Three frames cut at line boundaries: the header line alone, then two halves of the rest.

    A decoder that stops after the first frame sees the header and nothing of the conversation.
    """
    header_end = data.index(b"\n") + 1
    rest = data[header_end:]
    middle = rest.rfind(b"\n", 0, len(rest) // 2) + 1
    cctx = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
    return b"".join(cctx.compress(piece) for piece in (data[:header_end], rest[:middle], rest[middle:]))


def _both_plain_wins(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    # A materialize or worker interrupted after the plain file grew: the .zst is a stale prefix
    # (its last turn missing) and the plain file is the rollout.
    touched = _cold(manifest)
    for rollout in touched:
        data = _content(home, rollout)
        stale = data[: data.rstrip(b"\n").rfind(b"\n", 0, len(data) * 3 // 4) + 1]
        plain_mtime = os.stat(home / rollout.logical).st_mtime_ns
        oracle.write_zst(home, rollout.logical + ".zst", stale, rollout.mode, plain_mtime - 3600 * 10**9)
    return touched


def _stale_temps(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    # Temps of every upstream naming holding a whole valid copy of the rollout (the worst kind), dated
    # against the home's own "now" so one seed gives the same case home.
    touched = _cold(manifest)
    now_ns = manifest.now_ns or max(r.mtime_ns for r in manifest.rollouts)
    for n, rollout in enumerate(touched):
        data = _content(home, rollout)
        write_temps(home, rollout.logical, data, n, now_ns, stale_first=n % 2 == 0, content=data)
    return touched


def _read_only(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    cold = _every_cold(oracle.encode_zst, READ_ONLY)(home, manifest)
    hot = tuple(r for r in manifest.rollouts if not r.old)
    for rollout in hot:
        os.chmod(home / rollout.logical, READ_ONLY)
    return cold + hot


def _archived_zst(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    touched = tuple(r for r in _cold(manifest) if r.archived)
    for rollout in touched:
        _compress(home, rollout, oracle.encode_zst(_content(home, rollout)))
    return touched


def _large(home: Path, manifest: HomeManifest) -> tuple[RolloutTruth, ...]:
    touched = tuple(r for r in _cold(manifest) if r is largest(manifest))
    for rollout in touched:
        _compress(home, rollout, oracle.encode_zst(_content(home, rollout)))
    return touched


def largest(manifest: HomeManifest) -> RolloutTruth:
    return max(manifest.rollouts, key=lambda r: r.size)


CASES = (
    Case("cold-zst", "every cold rollout (mtime 7+ days) compressed to an ordinary one-frame .jsonl.zst, "
         "as the compression worker leaves it", ("DISC-001", "READ-002"), ("DISC-001",),
         _every_cold(oracle.encode_zst), True),
    Case("multi-frame", "every cold rollout as a .zst of three frames cut at line boundaries",
         ("READ-005",), ("DISC-001",), _every_cold(line_frames), True),
    Case("skippable-frame", "every cold rollout as a .zst with skippable frames first and last",
         ("READ-005",), ("DISC-001",), _every_cold(lambda data: oracle.encode_zst(data, skippable=True)), True),
    Case("both-plain-wins", "every cold rollout keeps its plain file beside a stale .zst holding a prefix "
         "(the plain file is the rollout)", ("READ-001", "DISC-001"), ("DISC-001",), _both_plain_wins, False),
    Case("stale-temps", "beside every cold rollout, temps of each upstream naming holding a full copy of it",
         ("DISC-002",), ("DISC-002",), _stale_temps, False),
    Case("read-only", "cold rollouts compressed with mode 0400, hot ones made 0400",
         ("READ-002", "READ-003"), ("DISC-001",), _read_only, True),
    Case("archived-zst", "only the archived cold rollouts compressed",
         ("DISC-003", "READ-002"), ("DISC-001",), _archived_zst, True),
    Case("large-rollout", "only the largest rollout (with a multi-MB line) compressed",
         ("READ-002", "READ-007"), ("DISC-001",), _large, True),
)
