"""Homes and big rollouts for the benchmarks, built with ``conformance.oracle.homegen``'s realistic rollouts.

Same seed and size -> same bytes, so runs compare like with like.
"""

from __future__ import annotations

import os
import random
import time
import uuid as uuidlib
from datetime import datetime, timedelta
from pathlib import Path

import zstandard

from conformance.oracle import disk as oracle
from conformance.oracle.homegen import KB, MB, Session, rollout_lines, text_pool

_DAY_NS = 86_400 * 10**9


def write_rollout(path: Path, target: int, seed: int, rollout_id: str | None = None, mtime_ns: int | None = None,
                  mode: int = 0o600) -> int:
    """Stream a rollout of about ``target`` bytes to ``path``; return its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    batch: list[bytes] = []
    with open(path, "wb") as f:
        for raw in rollout_lines(target, seed, rollout_id):
            batch.append(raw)
            if len(batch) >= 256:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))
        size = f.tell()
    os.chmod(path, mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return size


def rollout_name(index: int, seed: int) -> tuple[str, str]:
    """``(rel_path_in_sessions_or_archive_file_name, id)`` for rollout ``index`` of a home."""
    rng = random.Random(seed * 7919 + index)
    rid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
    ts = datetime(2025, 1, 1) + timedelta(seconds=index * 3607 + rng.randint(0, 3000))
    return oracle.rollout_name(ts, rid), rid


def big_rollout_home(root: Path, target: int, seed: int = 1, days_old: float = 30) -> tuple[str, int]:
    """A home with one rollout of about ``target`` bytes; returns ``(rel, size)``."""
    name, rid = rollout_name(0, seed)
    rel = oracle.active_path(name)
    mtime = _old(days_old)
    size = write_rollout(Path(root, rel), target, seed, rid, mtime)
    return rel, size


def _old(days: float) -> int:
    return time.time_ns() - int(days * _DAY_NS)


def small_home(root: Path, count: int, seed: int = 2, min_size: int = 2 * KB, max_size: int = 40 * KB,
               compressed_fraction: float = 0.0, archived_fraction: float = 0.1,
               needle: str | None = None, needle_every: int = 100, tiny: bool = False) -> dict:
    """A home of ``count`` small rollouts (log-uniform sizes), some archived, some already `.zst`.

    Every ``needle_every``-th rollout carries ``needle`` in one tool output (for search).
    ``tiny``: discovery homes of ~1 KB rollouts, built by :func:`tiny_home` (100,000 in seconds).
    Returns a manifest: rels, ids, total bytes, one archived id to look up.
    """
    if tiny:
        return tiny_home(root, count, seed, compressed_fraction, archived_fraction, needle, needle_every)
    rng = random.Random(seed)
    now_ns = time.time_ns()
    total = 0
    rels, ids = [], []
    archived_id = None
    for i in range(count):
        name, rid = rollout_name(i, seed)
        archived = rng.random() < archived_fraction
        rel = oracle.archived_path(name) if archived else oracle.active_path(name)
        target = int(min_size * (max_size / min_size) ** rng.random())
        data = b"".join(rollout_lines(target, seed * 100_000 + i, rid, big_lines=False))
        if needle and i % needle_every == 0:
            data += oracle.tool_output_line(f"call_needle_{i}", f"log line with {needle} inside")
        mtime_ns = now_ns - 8 * _DAY_NS - i * 10**9  # all cold, distinct mtimes
        if rng.random() < compressed_fraction:
            oracle.write_zst(root, rel + ".zst", data, mtime_ns=mtime_ns)
        else:
            oracle.write_plain(root, rel, data, mtime_ns=mtime_ns)
        if archived and archived_id is None:
            archived_id = rid
        total += len(data)
        rels.append(rel)
        ids.append(rid)
    return {"count": count, "bytes": total, "rels": rels, "ids": ids,
            "lookup_id": archived_id or ids[-1]}


#: Distinct exchanges (a user message, an answer, a token count) a tiny home's rollouts cycle through.
_TINY_BODIES = 64
_ID_SLOT = "00000000-0000-4000-8000-000000000000"


def tiny_home(root: Path, count: int, seed: int, compressed_fraction: float, archived_fraction: float,
              needle: str | None, needle_every: int) -> dict:
    """``small_home(tiny=True)``: ~1 KB rollouts (a header and one exchange from a few made once), written
    as plain files with one reused compressor and no fsync (benchmark data): ~5x less CPU per rollout
    than generating each one, so a 100,000-rollout home builds in well under a minute of CPU."""
    rng = random.Random(seed)
    text = text_pool(seed % 4)
    bodies = [b"".join([oracle.user_message_line(text.prose(rng, 12)),
                        oracle.response_item_line(text.prose(rng, rng.randint(20, 120))),
                        Session(0, seed * 100_000 + k, _ID_SLOT).token_count_line()]) for k in range(_TINY_BODIES)]
    header = oracle.session_meta_line(_ID_SLOT)
    compressor = zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True)
    now_ns = time.time_ns()
    folders: set[str] = set()
    total = 0
    rels, ids = [], []
    archived_id = None
    start = datetime(2025, 1, 1)
    for i in range(count):
        pick = random.Random(seed * 7919 + i)  # the names of rollout_name(i, seed)
        rid = str(uuidlib.UUID(int=pick.getrandbits(128), version=4))
        ts = start + timedelta(seconds=i * 3607 + pick.randint(0, 3000))
        name = oracle.rollout_name(ts, rid)
        archived = rng.random() < archived_fraction
        folder = "archived_sessions" if archived else f"sessions/{ts:%Y/%m/%d}"
        data = header.replace(_ID_SLOT.encode(), rid.encode()) + bodies[i % _TINY_BODIES]
        if needle and i % needle_every == 0:
            data += oracle.tool_output_line(f"call_needle_{i}", f"log line with {needle} inside")
        compressed = rng.random() < compressed_fraction
        if folder not in folders:
            os.makedirs(os.path.join(root, folder), exist_ok=True)
            folders.add(folder)
        rel = f"{folder}/{name}"
        mtime_ns = now_ns - 8 * _DAY_NS - i * 10**9  # all cold, distinct mtimes
        fd = os.open(os.path.join(root, rel + ".zst" if compressed else rel),
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, compressor.compress(data) if compressed else data)  # ~1 KB: one write
            os.fchmod(fd, 0o600)  # exact mode whatever the umask
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        finally:
            os.close(fd)
        if archived and archived_id is None:
            archived_id = rid
        total += len(data)
        rels.append(rel)
        ids.append(rid)
    return {"count": count, "bytes": total, "rels": rels, "ids": ids, "lookup_id": archived_id or ids[-1]}


def repetitive_rollout_home(root: Path, target: int, seed: int = 5, days_old: float = 30) -> tuple[str, int]:
    """A rollout of one line repeated (a captured progress bar, `yes`): zstd packs it >1000x.

    Legal and plausible, and the case that shows whether a decoder bounds its *output* per step.
    """
    name, rid = rollout_name(0, seed)
    rel = oracle.active_path(name)
    path = Path(root, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    tick = oracle.line("event_msg", {"type": "token_count", "info": None})
    block = tick * max(1, MB // len(tick))
    with open(path, "wb") as f:
        f.write(oracle.session_meta_line(rid))
        while f.tell() < target:
            f.write(block)
        size = f.tell()
    os.chmod(path, 0o600)
    mtime = _old(days_old)
    os.utime(path, ns=(mtime, mtime))
    return rel, size
